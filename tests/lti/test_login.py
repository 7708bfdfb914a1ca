"""OIDC third-party login initiation (checklist §A1-A2, Sec §5.1.1.1-2)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from functools import partial
from types import MappingProxyType
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import attrs
import pytest

from credlti.adapters.memory import MemoryLaunchStorage
from credlti.errors import (
    ConfigurationError,
    InvalidParameterError,
    MissingParameterError,
    NonceNotFoundError,
    RegistrationNotFoundError,
    StateExpiredError,
    TargetLinkUriNotAllowedError,
)
from credlti.lti import Registration, Tool, state_cookie_name
from credlti.lti._state import mac_key, open_state, seal_state
from credlti.ports import NonceStatus
from credlti.testing import SimulatedPlatform

from .helpers import LAUNCH_URL, SECRET_A, START, accept, expect_error, login, query_of, storage_for

URL_SAFE = re.compile(r"^[A-Za-z0-9_-]{43,}$")
WEIRD_HINT = "a b&c=d?e#f/ü 漢字 😀 %20+;,'\"<x>"
WEIRD_MESSAGE_HINT = '{"msg": "x&y=z?#", "n": 1}  trailing space '


@pytest.fixture(scope="module", name="plat")
def _plat() -> SimulatedPlatform:
    """One platform (one RSA keygen) for the module; tests never touch its keys."""
    return SimulatedPlatform()


@pytest.fixture(autouse=True)
def _reset_clock(plat: SimulatedPlatform) -> Iterator[None]:
    plat.clock.now = START
    yield
    plat.clock.now = START


@pytest.fixture(name="tool")
def _tool(plat: SimulatedPlatform) -> Tool[Any, Any]:
    return plat.tool(state_secret=SECRET_A)


def _get_style(params: Mapping[str, str]) -> Mapping[str, Any]:
    # What a framework hands over after urllib.parse.parse_qs: one-element lists.
    return parse_qs(urlencode(params), keep_blank_values=True)


SHAPES = {
    "post-form-dict": dict,
    "get-parse-qs-lists": _get_style,
    "read-only-mapping": MappingProxyType,
}


# --------------------------------------------------------------------------- request shapes


@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
def test_login_accepts_get_and_post_mappings(
    shape: Any, plat: SimulatedPlatform, tool: Tool[Any, Any]
) -> None:
    """Sec §5.1.1.1: GET query (lists) and POST form (plain) mappings both log in and launch."""
    params = plat.login_params(login_hint=WEIRD_HINT, lti_message_hint=WEIRD_MESSAGE_HINT)
    redirect = tool.handle_login(shape(params), LAUNCH_URL)
    query = query_of(redirect)
    assert query["login_hint"] == [WEIRD_HINT]
    assert query["lti_message_hint"] == [WEIRD_MESSAGE_HINT]
    launch = accept(tool, plat.launch(redirect), redirect)
    assert launch.claims.target_link_uri == params["target_link_uri"]


@pytest.mark.parametrize(
    "name", ["iss", "login_hint", "target_link_uri", "lti_message_hint", "client_id"]
)
def test_repeated_parameter_is_invalid(
    name: str, plat: SimulatedPlatform, tool: Tool[Any, Any]
) -> None:
    """A parameter sent twice (multi-value mapping) is refused, not silently picked."""
    params: dict[str, Any] = dict(_get_style(plat.login_params()))
    params[name] = [params[name][0], "https://other.example.com/"]
    exc = expect_error(
        partial(tool.handle_login, params, LAUNCH_URL),
        InvalidParameterError,
        "invalid_parameter",
        status=400,
    )
    assert exc.details["parameter"] == name


@pytest.mark.parametrize("value", [7, b"bytes", ["a", 1], {"x": "y"}], ids=repr)
def test_non_text_parameter_is_invalid(
    value: object, plat: SimulatedPlatform, tool: Tool[Any, Any]
) -> None:
    """A login_hint that is not text is a typed 400, not a crash."""
    params: dict[str, Any] = {**plat.login_params(), "login_hint": value}
    expect_error(
        partial(tool.handle_login, params, LAUNCH_URL),
        InvalidParameterError,
        "invalid_parameter",
        status=400,
    )


class _HostileParams(dict[str, Any]):
    def get(self, key: str, default: Any = None) -> Any:
        raise RuntimeError("the framework's request object blew up")


def test_unreadable_mapping_is_a_typed_error(tool: Tool[Any, Any]) -> None:
    """A mapping whose get() raises becomes InvalidParameterError, never a bare exception."""
    expect_error(
        partial(tool.handle_login, _HostileParams(iss="x"), LAUNCH_URL),
        InvalidParameterError,
        "invalid_parameter",
        status=400,
    )


@pytest.mark.parametrize("name", ["iss", "login_hint", "target_link_uri"])
@pytest.mark.parametrize("how", ["absent", "empty", "empty-list-item"])
def test_missing_required_parameter_is_400(
    name: str, how: str, plat: SimulatedPlatform, tool: Tool[Any, Any]
) -> None:
    """Sec §5.1.1.1: a missing or empty iss/login_hint/target_link_uri is a 400."""
    params: dict[str, Any] = dict(plat.login_params())
    if how == "absent":
        del params[name]
    elif how == "empty":
        params[name] = ""
    else:
        params[name] = [""]
    exc = expect_error(
        partial(tool.handle_login, params, LAUNCH_URL),
        MissingParameterError,
        "missing_parameter",
        status=400,
    )
    assert exc.details["parameter"] == name


# --------------------------------------------------------------------------- registration lookup


def test_unknown_issuer_is_rejected(plat: SimulatedPlatform, tool: Tool[Any, Any]) -> None:
    """An issuer with no registration gets RegistrationNotFoundError and no redirect."""
    params = {**plat.login_params(), "iss": "https://unknown.example.org"}
    exc = expect_error(
        partial(tool.handle_login, params, LAUNCH_URL),
        RegistrationNotFoundError,
        "registration_not_found",
        status=400,
    )
    assert exc.details["issuer"] == "https://unknown.example.org"
    assert len(tool.storage) == 0  # no nonce was stored for it


def test_unknown_client_id_is_rejected(plat: SimulatedPlatform, tool: Tool[Any, Any]) -> None:
    """A known issuer with a client_id we do not have is not silently mapped to another one."""
    params = {**plat.login_params(), "client_id": "someone-else"}
    exc = expect_error(
        partial(tool.handle_login, params, LAUNCH_URL),
        RegistrationNotFoundError,
        "registration_not_found",
        status=400,
    )
    assert exc.details["client_id"] == "someone-else"


def test_issuer_case_and_slash_are_exact(plat: SimulatedPlatform, tool: Tool[Any, Any]) -> None:
    """The issuer lookup is exact: a trailing slash or other case is another issuer."""
    for issuer in (plat.issuer + "/", plat.issuer.upper()):
        params = {**plat.login_params(), "iss": issuer}
        expect_error(
            partial(tool.handle_login, params, LAUNCH_URL),
            RegistrationNotFoundError,
            "registration_not_found",
        )


@pytest.mark.parametrize("with_client_id", [True, False], ids=["with-client-id", "no-client-id"])
def test_lookup_with_and_without_client_id(
    with_client_id: bool, plat: SimulatedPlatform, tool: Tool[Any, Any]
) -> None:
    """Core §4.1.3: client_id is optional when the issuer has a single registration."""
    params = plat.login_params(include_client_id=with_client_id)
    assert ("client_id" in params) is with_client_id
    redirect = tool.handle_login(params, LAUNCH_URL)
    assert query_of(redirect)["client_id"] == [plat.client_id]
    assert redirect.client_id == plat.client_id
    assert redirect.issuer == plat.issuer
    accept(tool, plat.launch(redirect), redirect)


def test_issuer_with_two_registrations_needs_client_id(plat: SimulatedPlatform) -> None:
    """One issuer, two client ids: no client_id → error saying to send it; with it → works."""
    other = attrs.evolve(plat.registration, client_id="credlti-tool-2")
    storage = storage_for(plat)
    storage.add_registration(other)
    tool = plat.tool(storage)

    exc = expect_error(
        partial(tool.handle_login, plat.login_params(include_client_id=False), LAUNCH_URL),
        RegistrationNotFoundError,
        "registration_not_found",
        status=400,
    )
    assert "client_id" in exc.message
    assert "send" in exc.message

    for client_id in (plat.client_id, other.client_id):
        params = {**plat.login_params(), "client_id": client_id}
        redirect = tool.handle_login(params, LAUNCH_URL)
        assert query_of(redirect)["client_id"] == [client_id]
        assert redirect.client_id == client_id


def test_registration_from_storage_with_other_client_id_is_refused(
    plat: SimulatedPlatform,
) -> None:
    """A storage that answers with a registration for another client id is not trusted."""

    class Sloppy(MemoryLaunchStorage[Any, Any]):
        def get_registration(self, issuer: str, client_id: str | None) -> Any:
            return super().get_registration(issuer, None)  # ignores client_id

    storage: Sloppy = Sloppy()
    storage.add_registration(plat.registration)
    tool = plat.tool(storage)
    params = {**plat.login_params(), "client_id": "credlti-tool-other"}
    expect_error(
        partial(tool.handle_login, params, LAUNCH_URL),
        RegistrationNotFoundError,
        "registration_not_found",
    )


# --------------------------------------------------------------------------- state and nonce


def test_state_and_nonce_are_fresh_random_and_distinct(
    plat: SimulatedPlatform, tool: Tool[Any, Any]
) -> None:
    """state and nonce: ≥43 url-safe chars, distinct, never repeated across 200 logins."""
    seen: set[str] = set()
    for _ in range(200):
        redirect = login(tool, plat)
        query = query_of(redirect)
        (state,) = query["state"]
        (nonce,) = query["nonce"]
        assert URL_SAFE.match(state), state
        assert URL_SAFE.match(nonce), nonce
        assert state != nonce
        assert redirect.state == state
        assert state not in seen
        assert nonce not in seen
        seen.update((state, nonce))
    assert len(seen) == 400


def test_auth_request_has_every_required_parameter(
    plat: SimulatedPlatform, tool: Tool[Any, Any]
) -> None:
    """Sec §5.1.1.2: the redirect goes to the registered endpoint with every parameter, once."""
    params = plat.login_params(login_hint=WEIRD_HINT, lti_message_hint=WEIRD_MESSAGE_HINT)
    redirect = tool.handle_login(params, LAUNCH_URL)
    parts = urlsplit(redirect.url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == plat.auth_endpoint
    assert not parts.fragment
    query = query_of(redirect)
    assert all(len(values) == 1 for values in query.values())
    flat = {k: v[0] for k, v in query.items()}
    assert flat == {
        "scope": "openid",
        "response_type": "id_token",
        "response_mode": "form_post",
        "prompt": "none",
        "client_id": plat.client_id,
        "redirect_uri": LAUNCH_URL,
        "login_hint": WEIRD_HINT,
        "lti_message_hint": WEIRD_MESSAGE_HINT,
        "state": redirect.state,
        "nonce": flat["nonce"],
    }
    assert flat["login_hint"].encode() == WEIRD_HINT.encode()  # byte for byte
    assert flat["lti_message_hint"].encode() == WEIRD_MESSAGE_HINT.encode()
    assert plat.authorize(redirect)["state"] == redirect.state
    assert redirect.cookie_name == state_cookie_name(redirect.state)


def test_message_hint_absent_is_not_sent(plat: SimulatedPlatform, tool: Tool[Any, Any]) -> None:
    """Core §4.1.1: no lti_message_hint at login means none in the auth request."""
    redirect = tool.handle_login(plat.login_params(lti_message_hint=None), LAUNCH_URL)
    assert "lti_message_hint" not in query_of(redirect)
    assert "lti_message_hint" not in redirect.url


def test_empty_message_hint_is_echoed_as_sent(
    plat: SimulatedPlatform, tool: Tool[Any, Any]
) -> None:
    """Core §4.1.1: an empty lti_message_hint is still echoed unaltered."""
    redirect = tool.handle_login(plat.login_params(lti_message_hint=""), LAUNCH_URL)
    assert query_of(redirect)["lti_message_hint"] == [""]


def test_auth_endpoint_query_is_kept(plat: SimulatedPlatform) -> None:
    """A registered auth endpoint with its own query keeps it alongside the OIDC params."""
    registration = Registration(
        issuer=plat.issuer,
        client_id=plat.client_id,
        auth_endpoint="https://platform.example.edu/auth?tenant=7&region=eu%2Fwest",
        jwks_uri=plat.jwks_uri,
    )
    tool = plat.tool(storage_for(plat, registration))
    redirect = login(tool, plat)
    parts = urlsplit(redirect.url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "https://platform.example.edu/auth"
    query = query_of(redirect)
    assert query["tenant"] == ["7"]
    assert query["region"] == ["eu/west"]
    for name in ("scope", "response_type", "response_mode", "prompt", "client_id"):
        assert len(query[name]) == 1
    for name in ("redirect_uri", "login_hint", "state", "nonce"):
        assert query[name][0]
    accept(tool, plat.launch(redirect), redirect)


# --------------------------------------------------------------------------- target_link_uri


def test_allowed_target_link_uris_policy(plat: SimulatedPlatform) -> None:
    """Open-redirect guard: foreign targets are refused, the tool's own are accepted."""
    tool = plat.tool(allowed_target_link_uris=["https://tool.example.com/"])
    for foreign in ("https://evil.example.com/launch", "https://tool.example.org/launch"):
        expect_error(
            partial(tool.handle_login, plat.login_params(target_link_uri=foreign), LAUNCH_URL),
            TargetLinkUriNotAllowedError,
            "target_link_uri_not_allowed",
            status=400,
        )
    for own in (LAUNCH_URL, "https://tool.example.com/deep-link?x=1"):
        redirect = tool.handle_login(plat.login_params(target_link_uri=own), LAUNCH_URL)
        accept(tool, plat.launch(redirect), redirect)


@pytest.mark.parametrize(
    "target",
    [
        "https://tool.example.com.evil.example/launch",
        "https://tool.example.com@evil.example/launch",
        "https://tool.example.com:8443@evil.example/launch",
    ],
)
def test_allowed_target_prefix_cannot_be_extended_to_another_host(
    target: str, plat: SimulatedPlatform
) -> None:
    """An origin-style allow-list entry must not let a look-alike host through (open redirect)."""
    tool = plat.tool(allowed_target_link_uris=["https://tool.example.com"])
    assert urlsplit(target).hostname != "tool.example.com"
    expect_error(
        partial(tool.handle_login, plat.login_params(target_link_uri=target), LAUNCH_URL),
        TargetLinkUriNotAllowedError,
        "target_link_uri_not_allowed",
        status=400,
    )


@pytest.mark.parametrize(
    "target",
    [
        "not a url",
        "/relative/launch",
        "javascript:alert(1)",
        "https://",
        "ftp://tool.example.com/launch",
        "data:text/html,hi",
        "https://[::1",
    ],
)
def test_non_url_target_is_refused(
    target: str, plat: SimulatedPlatform, tool: Tool[Any, Any]
) -> None:
    """A target_link_uri that is not an absolute http(s) URL is refused even without a policy."""
    expect_error(
        partial(tool.handle_login, plat.login_params(target_link_uri=target), LAUNCH_URL),
        TargetLinkUriNotAllowedError,
        "target_link_uri_not_allowed",
        status=400,
    )


def test_registration_redirect_uris_are_enforced(plat: SimulatedPlatform) -> None:
    """Sec §5.1.1.2: redirect_uri must exactly match one the registration lists."""
    registration = attrs.evolve(plat.registration, redirect_uris=(LAUNCH_URL,))
    tool = plat.tool(storage_for(plat, registration))
    for wrong in (LAUNCH_URL + "/", LAUNCH_URL + "?x=1", "https://tool.example.com/other"):
        expect_error(
            partial(tool.handle_login, plat.login_params(), wrong),
            ConfigurationError,
            "configuration_error",
            status=500,
        )
    redirect = tool.handle_login(plat.login_params(), LAUNCH_URL)
    assert query_of(redirect)["redirect_uri"] == [LAUNCH_URL]


# --------------------------------------------------------------------------- the state cookie


def test_set_cookie_header_attributes(plat: SimulatedPlatform, tool: Tool[Any, Any]) -> None:
    """Sec §7.3.1: the state cookie is Secure, HttpOnly, SameSite=None, Partitioned, Max-Age."""
    redirect = login(tool, plat)
    header = redirect.set_cookie_header()
    first, *attributes = header.split("; ")
    assert first == f"{redirect.cookie_name}={redirect.cookie_value}"
    assert {"Secure", "HttpOnly", "SameSite=None", "Partitioned"} <= set(attributes)
    assert f"Max-Age={int(tool.policy.state_ttl)}" in attributes
    assert "Path=/" in attributes
    assert redirect.max_age == int(tool.policy.state_ttl)

    plain = redirect.set_cookie_header(path="/lti", partitioned=False)
    assert "Partitioned" not in plain.split("; ")
    assert "Path=/lti" in plain.split("; ")


def test_cookie_max_age_follows_state_ttl(plat: SimulatedPlatform) -> None:
    """The cookie lives exactly as long as the configured state lifetime."""
    tool = plat.tool(state_ttl=120)
    redirect = login(tool, plat)
    assert "Max-Age=120" in redirect.set_cookie_header().split("; ")


def test_login_redirect_repr_hides_cookie_value(
    plat: SimulatedPlatform, tool: Tool[Any, Any]
) -> None:
    """The signed binding never shows up in a repr (logs)."""
    redirect = login(tool, plat)
    text = repr(redirect)
    assert redirect.cookie_value not in text
    assert redirect.cookie_value.rsplit(".", 1)[1] not in text
    assert redirect.state in text  # the repr is still useful


def test_state_expires_after_state_ttl(plat: SimulatedPlatform, tool: Tool[Any, Any]) -> None:
    """A launch arriving after state_ttl is StateExpiredError; one just before is fine."""
    ttl = tool.policy.state_ttl
    ok = login(tool, plat)
    late = login(tool, plat)
    plat.clock.advance(ttl - 1)
    accept(tool, plat.launch(ok), ok)
    plat.clock.advance(1)  # exactly state_ttl after the login
    form = plat.launch(late)  # a fresh, valid token: only the state is stale
    expect_error(
        partial(tool.handle_callback, form, late.cookie_value),
        StateExpiredError,
        "state_expired",
        status=401,
    )


@attrs.define
class _RecordingNonces:
    """A nonce store that records what the tool stores, delegating to memory storage."""

    inner: MemoryLaunchStorage[Any, Any]
    stored: list[tuple[str, datetime]] = attrs.field(factory=list)

    def store_nonce(
        self, nonce: str, registration: Registration, *, expires_at: datetime, now: datetime
    ) -> None:
        self.stored.append((nonce, expires_at))
        self.inner.store_nonce(nonce, registration, expires_at=expires_at, now=now)

    def validate_nonce(self, nonce: str, registration: Registration, *, now: datetime) -> Any:
        return self.inner.validate_nonce(nonce, registration, now=now)


def test_nonce_is_stored_with_state_ttl_expiry(plat: SimulatedPlatform) -> None:
    """Sec §5.1.1.2: the nonce is stored server-side, for this registration, for state_ttl."""
    storage = storage_for(plat)
    nonces = _RecordingNonces(storage)
    tool = plat.tool(storage, nonce_store=nonces, state_ttl=300)
    redirect = login(tool, plat)
    (nonce,) = query_of(redirect)["nonce"]
    assert nonces.stored == [(nonce, START + timedelta(seconds=300))]
    assert nonces.stored[0][1].tzinfo is not None
    assert len(storage) == 1
    # Just before expiry the nonce is live, at expiry it is gone.
    later = login(tool, plat)
    (later_nonce,) = query_of(later)["nonce"]
    reg = plat.registration
    assert storage.validate_nonce(nonce, reg, now=START + timedelta(seconds=299)) is (
        NonceStatus.CONSUMED
    )
    assert storage.validate_nonce(later_nonce, reg, now=START + timedelta(seconds=300)) is (
        NonceStatus.NOT_FOUND
    )


def test_launch_after_nonce_ttl_fails_even_with_a_longer_lived_state(
    plat: SimulatedPlatform,
) -> None:
    """The server-side nonce expiry holds alone: a stale nonce fails though the state is fresh."""
    tool = plat.tool(state_secret=SECRET_A)
    redirect = login(tool, plat)
    # Re-seal the binding with a far expiry (we own the secret), isolating the nonce TTL.
    key = mac_key(SECRET_A)
    kept = open_state(redirect.cookie_value, [key])
    cookie = seal_state(kept._replace(expires_at=kept.expires_at + 3600), key)
    plat.clock.advance(tool.policy.state_ttl + 1)
    form = plat.launch(redirect)
    expect_error(
        partial(tool.handle_callback, form, cookie),
        NonceNotFoundError,
        "nonce_not_found",
        status=401,
    )
