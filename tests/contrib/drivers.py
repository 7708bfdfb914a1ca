"""One small driver per framework test client, so each test runs against all three.

A driver sends GETs and form POSTs to an app through its framework's own test
client (Flask ``test_client``, Starlette ``TestClient``, Django ``Client``), keeps
the browser's cookies, and hands back a :class:`Reply` with what the tests read.
"""

from __future__ import annotations

import types
from collections.abc import Mapping
from http.cookies import SimpleCookie
from typing import Any

import attrs

BASE = "https://tool.example.com"


@attrs.frozen
class Reply:
    """The parts of a response the tests look at, whatever the framework."""

    status: int
    location: str | None
    set_cookies: tuple[str, ...]
    text: str
    headers: tuple[tuple[str, str], ...] = ()

    def header(self, name: str) -> str | None:
        """The first header called *name* (any case), if any."""
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    def headers_named(self, name: str) -> list[str]:
        """Every header called *name* (any case)."""
        return [value for key, value in self.headers if key.lower() == name.lower()]


class FlaskDriver:
    """Talks to a Flask app through its test client."""

    kind = "flask"
    launch_url = f"{BASE}/launch"

    def __init__(self, app: Any) -> None:
        self.app = app
        self.client = app.test_client()

    def fresh(self) -> None:
        """Forget every cookie (a browser that blocks third-party cookies)."""
        self.client = self.app.test_client()

    def set_cookie(self, name: str, value: str) -> None:
        """Put a cookie in the browser (as another tab or a forger would)."""
        self.client.set_cookie(name, value, domain="tool.example.com")

    def _reply(self, response: Any) -> Reply:
        return Reply(
            status=response.status_code,
            location=response.headers.get("Location"),
            set_cookies=tuple(response.headers.getlist("Set-Cookie")),
            text=response.get_data(as_text=True),
            headers=tuple(response.headers.items()),
        )

    def get(self, path: str, params: Mapping[str, str] | None = None) -> Reply:
        return self._reply(self.client.get(path, query_string=params, base_url=BASE))

    def post(self, path: str, data: Mapping[str, str]) -> Reply:
        return self._reply(self.client.post(path, data=dict(data), base_url=BASE))

    def close(self) -> None:
        """Nothing to release: this driver holds no client."""


class StarletteDriver:
    """Talks to a Starlette app through its TestClient (the lifespan runs)."""

    kind = "starlette"
    launch_url = f"{BASE}/launch"

    def __init__(self, app: Any) -> None:
        from starlette.testclient import TestClient

        self.app = app
        self.client = TestClient(app, base_url=BASE, follow_redirects=False)
        self.client.__enter__()  # run the lifespan, as a server would

    def fresh(self) -> None:
        self.client.cookies.clear()

    def set_cookie(self, name: str, value: str) -> None:
        self.client.cookies.set(name, value, domain="tool.example.com")

    def _reply(self, response: Any) -> Reply:
        return Reply(
            status=response.status_code,
            location=response.headers.get("location"),
            set_cookies=tuple(response.headers.get_list("set-cookie")),
            text=response.text,
            headers=tuple(response.headers.multi_items()),
        )

    def get(self, path: str, params: Mapping[str, str] | None = None) -> Reply:
        return self._reply(self.client.get(path, params=params))

    def post(self, path: str, data: Mapping[str, str]) -> Reply:
        return self._reply(self.client.post(path, data=dict(data)))

    def close(self) -> None:
        self.client.__exit__(None, None, None)


#: What each Django request runs with (whoever configured Django first in this process).
DJANGO_SETTINGS: dict[str, Any] = {
    "ALLOWED_HOSTS": ["tool.example.com", "testserver"],
    # Django's defaults that matter for an iframe tool: CSRF and X-Frame-Options.
    "MIDDLEWARE": [
        "django.middleware.security.SecurityMiddleware",
        "django.middleware.common.CommonMiddleware",
        "django.middleware.csrf.CsrfViewMiddleware",
        "django.middleware.clickjacking.XFrameOptionsMiddleware",
    ],
}


def configure_django() -> None:
    """Configure Django once for the test process (each driver brings its URLs)."""
    import django
    from django.conf import settings

    if settings.configured:
        return
    settings.configure(
        DEBUG=False,
        SECRET_KEY="tests-only-" + "x" * 40,
        ROOT_URLCONF="tests.contrib.drivers",  # replaced per request by each driver
        INSTALLED_APPS=[],
        USE_TZ=True,
        **DJANGO_SETTINGS,
    )
    django.setup()


#: Routes whose Django URL ends with a slash (Django's convention).
_SLASHED = {"/login", "/launch", "/deep-link", "/register", "/grade", "/page"}


class DjangoDriver:
    """Talks to Django URL patterns through Django's test Client, over https."""

    kind = "django"
    launch_url = f"{BASE}/launch/"

    def __init__(self, urlpatterns: list[Any], *, prefix: str = "") -> None:
        from django.test import Client

        configure_django()
        self.urls = types.ModuleType("credlti_test_urls")
        self.urls.urlpatterns = urlpatterns  # type: ignore[attr-defined]
        self.prefix = prefix
        # CSRF checks on, as in production: the views must not need a CSRF token.
        self.client = Client(HTTP_HOST="tool.example.com", enforce_csrf_checks=True)

    def fresh(self) -> None:
        self.client.cookies = SimpleCookie()

    def set_cookie(self, name: str, value: str) -> None:
        self.client.cookies[name] = value

    def _path(self, path: str) -> str:
        route, sep, query = path.partition("?")
        if route.removeprefix(self.prefix) in _SLASHED:
            route += "/"
        return route + sep + query

    def _reply(self, response: Any) -> Reply:
        headers = [*response.items()]
        cookies = tuple(morsel.OutputString() for morsel in response.cookies.values())
        return Reply(
            status=response.status_code,
            location=response.get("Location"),
            set_cookies=cookies,
            text=response.content.decode(),
            headers=(*headers, *(("Set-Cookie", c) for c in cookies)),
        )

    def _send(self, method: str, path: str, data: Mapping[str, str] | None) -> Reply:
        from django.test import override_settings

        with override_settings(ROOT_URLCONF=self.urls, **DJANGO_SETTINGS):
            send = self.client.get if method == "GET" else self.client.post
            return self._reply(send(self._path(path), dict(data or {}), secure=True))

    def get(self, path: str, params: Mapping[str, str] | None = None) -> Reply:
        return self._send("GET", path, params)

    def post(self, path: str, data: Mapping[str, str]) -> Reply:
        return self._send("POST", path, data)

    def close(self) -> None:
        """Nothing to release: this driver holds no client."""


Driver = FlaskDriver | StarletteDriver | DjangoDriver
