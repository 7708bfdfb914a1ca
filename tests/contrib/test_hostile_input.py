"""Hostile values through every integration's routes: a 4xx error page, never a 500.

Each route a browser or a platform can reach (login by GET and POST, launch, the
cookieless finish, the launch page, the deep-link return) takes arbitrary text for
every field it reads and for fields it does not know: NUL, control and non-BMP
characters, numbers that overflow, JSON-looking nesting and huge strings. The answer
is the integration's error page (an error code, a 4xx status), and nothing the tool
keeps secret is echoed.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from credlti.testing import SimulatedPlatform
from tests.contrib.drivers import Driver
from tests.contrib.test_integrations import KINDS, make_driver

STATE_SECRET = b"s" * 32

HOSTILE = st.one_of(
    st.text(max_size=200),
    st.sampled_from(
        [
            "\x00",
            "a\x00b",
            "NaN",
            "-Infinity",
            "1e999",
            "9" * 400,
            "[" * 5000 + "]" * 5000,
            '{"a":' * 2000 + "1" + "}" * 2000,
            "x" * 200_000,
            "\U0001f600" * 1000,
            "<script>alert(1)</script>",
            "../../etc/passwd",
            "https://evil.example/\r\nSet-Cookie: a=b",
        ]
    ),
)
FIELDS = [
    "iss",
    "login_hint",
    "target_link_uri",
    "lti_message_hint",
    "client_id",
    "lti_deployment_id",
    "lti_storage_target",
    "id_token",
    "state",
    "error",
    "credlti_pending",
    "credlti_binding",
    "launch_id",
    "credlti_launch",
    "credlti_token",
    "item",
]
FORMS = st.dictionaries(st.one_of(st.sampled_from(FIELDS), st.text(max_size=20)), HOSTILE)
ROUTES = [
    ("GET", "/login"),
    ("POST", "/login"),
    ("POST", "/launch"),
    ("GET", "/launch"),
    ("POST", "/launch/finish"),
    ("POST", "/deep-link"),
]


@pytest.fixture(name="driver", scope="module", params=KINDS)
def _driver(request: pytest.FixtureRequest) -> Iterator[Driver]:
    driver = make_driver(request.param, SimulatedPlatform(), state_secret=STATE_SECRET)
    yield driver
    driver.close()


@pytest.mark.parametrize(("method", "route"), ROUTES)
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(form=FORMS)
def test_hostile_fields_get_an_error_page(
    driver: Driver, method: str, route: str, form: dict[str, str]
) -> None:
    driver.fresh()
    if method == "GET":  # a query string is bounded by every server before the app sees it
        query = {k[:2000]: v[:2000] for k, v in form.items()}
        reply = driver.get(route, query)
    else:
        reply = driver.post(route, form)
    assert 400 <= reply.status < 500, (reply.status, reply.text[:300])
    assert "<code>" in reply.text  # the error's code, for the user to quote
    assert STATE_SECRET.decode() not in reply.text
    assert not any("credlti-launch" in cookie for cookie in reply.set_cookies)
