"""Launch edges a hostile caller reaches: URL matching, echoed text, parameter sizes, encodings.

Each test is written from the attacker's side: what an open-redirect, header
injection, cookie-bloat or signature-malleability attempt sends, and what must come
back (a typed refusal whose message holds nothing dangerous).
"""

from __future__ import annotations

import base64
import json
import re
import unicodedata
from collections.abc import Iterator, Mapping
from functools import partial
from typing import Any
from urllib.parse import unquote, urlsplit

import attrs
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from hypothesis import given, settings
from hypothesis import strategies as st
from joserfc.jwk import RSAKey

from credlti._text import normalise_url
from credlti.errors import (
    AlgorithmNotAllowedError,
    ConfigurationError,
    CredltiError,
    DeploymentNotFoundError,
    InvalidClaimError,
    InvalidParameterError,
    KidNotFoundError,
    MalformedTokenError,
    PlatformAuthenticationError,
    RegistrationNotFoundError,
    StateMismatchError,
    TargetLinkUriMismatchError,
    TargetLinkUriNotAllowedError,
    UnsupportedMessageTypeError,
)
from credlti.lti import LaunchPolicy, Registration, Tool
from credlti.lti._claims import CONTEXT, DEPLOYMENT_ID, MESSAGE_TYPE, TARGET_LINK_URI, VERSION
from credlti.lti._jws import parse_compact
from credlti.lti._login import LOGIN_PARAMETER_LIMITS
from credlti.testing import SimulatedPlatform

from .helpers import (
    LAUNCH_URL,
    SECRET_A,
    START,
    accept,
    b64,
    b64_decode,
    expect_error,
    key_set_client,
    login,
    new_key,
    public_jwk,
    storage_for,
)

ALLOWED = "https://tool.example.com/launch"
_B64_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


@pytest.fixture(scope="module", name="plat")
def _plat() -> SimulatedPlatform:
    """One platform (one RSA keygen) for the module."""
    return SimulatedPlatform()


@pytest.fixture(scope="module", name="own_key")
def _own_key() -> RSAKey:
    """A key we hold privately, served as the platform's key set."""
    return new_key()


@pytest.fixture(autouse=True)
def _reset_clock(plat: SimulatedPlatform) -> Iterator[None]:
    plat.clock.now = START
    yield
    plat.clock.now = START


@pytest.fixture(name="tool")
def _tool(plat: SimulatedPlatform) -> Tool[Any, Any]:
    return plat.tool(state_secret=SECRET_A)


def _own_key_tool(plat: SimulatedPlatform, key: RSAKey, **options: Any) -> Tool[Any, Any]:
    return plat.tool(
        storage_for(plat),
        http_client=key_set_client(plat, [public_jwk(key)]),
        state_secret=SECRET_A,
        **options,
    )


def _sign_text(key: RSAKey, h64: str, p64: str) -> str:
    """Sign the exact signing input ``h64.p64`` (RS256), whatever its encoding."""
    private = key.private_key
    assert isinstance(private, rsa.RSAPrivateKey)
    signature = private.sign(f"{h64}.{p64}".encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{h64}.{p64}.{b64(signature)}"


def _sign(key: RSAKey, header: Mapping[str, Any], payload: Mapping[str, Any]) -> str:
    h64 = b64(json.dumps(dict(header)).encode())
    p64 = b64(json.dumps(dict(payload)).encode())
    return _sign_text(key, h64, p64)


def _form(state: str, token: str) -> dict[str, str]:
    return {"id_token": token, "state": state}


_UNSAFE_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}


def _assert_safe_text(text: str, *, max_length: int = 1200) -> None:
    """No control, format or separator character, no lone surrogate, no '<', bounded."""
    bad = [c for c in text if unicodedata.category(c) in _UNSAFE_CATEGORIES]
    assert not bad, f"unsafe characters {bad!r} in {text!r}"
    assert "<" not in text
    assert ">" not in text
    text.encode("utf-8")
    assert len(text) <= max_length


def assert_safe(exc: CredltiError) -> None:
    """Everything an error exposes (message, str, repr, details) is safe to log or show."""
    for text in (exc.message, str(exc), repr(exc)):
        _assert_safe_text(text)
    for value in exc.details.values():
        if value is not None:
            _assert_safe_text(str(value), max_length=400)


HOSTILE = [
    "line1\r\nSet-Cookie: admin=1",
    "<script>alert(document.cookie)</script>",
    '"><img src=x onerror=alert(1)>',
    "lone \ud800 surrogate",
    "bidi \u202egnp.exe",
    "nul \x00 byte and \x1b[31m escape",
    "line\u2028separator",
    "x" * 20_000,
]
HOSTILE_IDS = ["crlf", "script", "attribute", "surrogate", "bidi", "controls", "u2028", "huge"]


# --------------------------------------------------------------------------- target_link_uri


@pytest.mark.parametrize(
    "target",
    [
        "https://tool.example.com/launch/../../x",
        "https://tool.example.com/launch/../admin",
        "https://tool.example.com/launch/./x",
        "https://tool.example.com/launch/..",
        "https://tool.example.com/launch/%2e%2e/admin",
        "https://tool.example.com/launch/%2E%2E/admin",
        "https://tool.example.com/launch/.%2e/admin",
        "https://tool.example.com/launch/%2e./admin",
        "https://tool.example.com/launch/%2e/admin",
        "https://tool.example.com/launch/..;/admin",
        "https://tool.example.com/launch/..;jsessionid=1/admin",
        "https://tool.example.com/launch/..%3b/admin",
        "https://tool.example.com/launch/%2e%2e%3B/admin",
        "https://tool.example.com/launch\\..\\admin",
        "https://tool.example.com/launch/..\\admin",
        "https://tool.example.com\\@evil.example/launch",
        "https://tool.example.com/launch//evil.example/x",
        "https://tool.example.com/launch/%2f%2fevil.example",
        "https://tool.example.com/launch/..%2fadmin",
        "https://tool.example.com/launch/..%2Fadmin",
        "https://tool.example.com/launch/%5c..%5cadmin",
        "https://tool.example.com/launch/%252e%252e/admin",
        "https://tool.example.com/launch/%00/x",
        "https://tool.example.com/launch/%zz",
        "https://tool.example.com/launch/\t../admin",
        "https://tool%2eexample.com/launch",
    ],
)
def test_dot_segments_and_encoded_separators_are_refused(
    target: str, plat: SimulatedPlatform
) -> None:
    """Every spelling of a path escape is refused, with or without an allow-list."""
    for allowed in ([ALLOWED], []):
        tool = plat.tool(allowed_target_link_uris=allowed)
        exc = expect_error(
            partial(tool.handle_login, plat.login_params(target_link_uri=target), LAUNCH_URL),
            TargetLinkUriNotAllowedError,
            "target_link_uri_not_allowed",
            status=400,
        )
        assert_safe(exc)


@pytest.mark.parametrize(
    "target",
    [
        "https://tool.example.com/launch",
        "https://tool.example.com/launch/",
        "https://TOOL.Example.COM/launch/quiz",
        "HTTPS://tool.example.com:443/launch/7",
        "https://tool.example.com/%6Caunch/7",
        "https://tool.example.com/launch/%7Euser",
        "https://tool.example.com/launch/a%2Db",
        "https://tool.example.com/launch?next=/../../admin",
        "https://tool.example.com/launch#/../x",
        "https://tool.example.com/launch/...",
        "https://tool.example.com/launch/.well-known",
    ],
)
def test_equivalent_spellings_of_an_allowed_url_are_accepted(
    target: str, plat: SimulatedPlatform
) -> None:
    """RFC 3986 §6 normal form: case, default port and unreserved escapes do not matter."""
    tool = plat.tool(allowed_target_link_uris=[ALLOWED])
    redirect = tool.handle_login(plat.login_params(target_link_uri=target), LAUNCH_URL)
    launch = accept(tool, plat.launch(redirect), redirect)
    assert launch.claims.target_link_uri == target  # handed on exactly as sent


@pytest.mark.parametrize(
    "target",
    [
        "https://tool.example.com/launcher",
        "https://tool.example.com/LAUNCH",
        "https://tool.example.com:8443/launch",
        "http://tool.example.com/launch",
        "https://tool.example.com./launch",
        "https://tool.example.com/%4Caunch",
    ],
)
def test_near_misses_of_an_allowed_url_are_refused(target: str, plat: SimulatedPlatform) -> None:
    """Another path segment, path case, port, scheme or a trailing-dot host is another URL."""
    tool = plat.tool(allowed_target_link_uris=[ALLOWED])
    expect_error(
        partial(tool.handle_login, plat.login_params(target_link_uri=target), LAUNCH_URL),
        TargetLinkUriNotAllowedError,
        "target_link_uri_not_allowed",
    )


@pytest.mark.parametrize(
    "entry",
    [
        "https://tool.example.com/launch/../x",
        "https://tool.example.com/a%2fb",
        "not a url",
        "ftp://tool.example.com/",
        "https://user@tool.example.com/",
        7,
    ],
    ids=repr,
)
def test_unusable_allow_list_entries_are_configuration_errors(entry: object) -> None:
    """A broken allow-list entry fails when the policy is built, not at the first login."""
    with pytest.raises(ConfigurationError) as info:
        LaunchPolicy(allowed_target_link_uris=[entry])  # type: ignore[list-item]
    assert_safe(info.value)


def test_allow_list_entries_are_normalised_too(plat: SimulatedPlatform) -> None:
    """An entry spelled with upper case and a default port matches the plain spelling."""
    tool = plat.tool(allowed_target_link_uris=["HTTPS://Tool.Example.com:443/%6Caunch/"])
    redirect = tool.handle_login(plat.login_params(target_link_uri=ALLOWED + "/7"), LAUNCH_URL)
    accept(tool, plat.launch(redirect), redirect)


def test_claim_target_is_compared_exactly_with_the_login(
    plat: SimulatedPlatform, tool: Tool[Any, Any]
) -> None:
    """Core §5.3.4: the signed claim must be the login's value itself, not an equivalent."""
    redirect = tool.handle_login(plat.login_params(target_link_uri=ALLOWED), LAUNCH_URL)
    for other in (ALLOWED.upper(), "https://tool.example.com:443/launch", ALLOWED + "/"):
        form = plat.launch(redirect, claims={TARGET_LINK_URI: other})
        expect_error(
            partial(tool.handle_callback, form, redirect.cookie_value),
            TargetLinkUriMismatchError,
            "target_link_uri_mismatch",
        )


# Path pieces an attacker combines; the oracle below reads them every way a browser,
# a proxy or an application server might.
_SEGMENTS = [
    "launch", "LAUNCH", "launcher", "a", "%41", "~", "%7e", "é", " ", "...", ".x",
    ".", "..", "%2e", "%2E", ".%2e", "%2e%2e", "%2E%2E", "..;", "..;x", "..%3b", "%3b..",
    "", "%2f", "%2F", "%5c", "\\", "..\\", "%252e%252e", "%25", "%", "%0a", "a;b",
]  # fmt: skip
_HOSTS = [
    "tool.example.com",
    "TOOL.Example.com",
    "tool.example.com:443",
    "tool.example.com:8443",
    "tool.example.com.evil.example",
    "evil.example",
    "user@tool.example.com",
    "tool.example.com@evil.example",
]


def _remove_dot_segments(path: str) -> str:
    out: list[str] = []
    for segment in path.split("/")[1:]:
        if segment == "..":
            if out:
                out.pop()
        elif segment != ".":
            out.append(segment)
    if path.split("/")[-1] in (".", ".."):
        out.append("")
    return "/" + "/".join(out)


def _server_views(path: str) -> set[str]:
    """The paths a request for *path* may reach, under every reading servers use."""
    decoded = {path}
    current = path
    for _ in range(3):  # double and triple decoding
        current = unquote(current)
        decoded.add(current)
    views: set[str] = set()
    for text in decoded:
        for variant in (text, text.replace("\\", "/")):
            for form in (variant, "/".join(s.split(";")[0] for s in variant.split("/"))):
                collapsed = re.sub("/+", "/", form or "/")
                views.add(_remove_dot_segments(collapsed))
    return views


@settings(max_examples=400, deadline=None)
@given(
    scheme=st.sampled_from(["https", "HTTPS", "http"]),
    host=st.sampled_from(_HOSTS),
    segments=st.lists(st.sampled_from(_SEGMENTS), max_size=6),
    tail=st.sampled_from(["", "/", "?x=/../..", "#/../x", "?a=%2e%2e/"]),
)
def test_no_accepted_url_reaches_outside_the_allowed_prefix(
    scheme: str, host: str, segments: list[str], tail: str
) -> None:
    """Property: whatever a URL looks like, if it matches, every reading stays under /launch."""
    url = f"{scheme}://{host}/{'/'.join(segments)}{tail}"
    base = normalise_url(ALLOWED)
    try:
        normal = normalise_url(url)
    except ValueError as exc:
        reason = str(exc)
    else:
        reason = ""
    if reason:
        assert url not in reason  # the reason never repeats the URL
        return
    assert normalise_url(_unsplit(normal)) == normal  # the normal form is stable
    if not normal.is_within(base):
        return
    parts = urlsplit(url)
    assert parts.hostname == "tool.example.com"
    assert "@" not in parts.netloc
    assert parts.port in (None, 443)
    assert parts.scheme.lower() == "https"
    for view in _server_views(parts.path):
        assert view == "/launch" or view.startswith("/launch/"), (url, view)


def _unsplit(normal: Any) -> str:
    host = f"[{normal.host}]" if ":" in normal.host else normal.host
    port = "" if normal.port is None else f":{normal.port}"
    return f"{normal.scheme}://{host}{port}{normal.path}"


# --------------------------------------------------------------------------- echoed text


@pytest.mark.parametrize("text", HOSTILE, ids=HOSTILE_IDS)
def test_platform_error_texts_are_sanitised(
    text: str, plat: SimulatedPlatform, tool: Tool[Any, Any]
) -> None:
    """Sec §5.1.1.5: an OIDC error response's fields never reach the message raw."""
    redirect = login(tool, plat)
    for form in (
        {"error": text, "error_description": text, "state": redirect.state},
        {"error": "login_required", "error_description": text},
        {"error": text},
    ):
        with pytest.raises(CredltiError) as info:
            tool.handle_callback(form, redirect.cookie_value)
        # A lone surrogate cannot be form text at all: refused before it is read.
        expected = InvalidParameterError if "\ud800" in text else PlatformAuthenticationError
        assert type(info.value) is expected
        assert_safe(info.value)


def test_sanitised_error_keeps_readable_text(plat: SimulatedPlatform, tool: Tool[Any, Any]) -> None:
    """Sanitising escapes what is dangerous and keeps the rest readable."""
    form = {"error": "invalid_request", "error_description": "bad <b>\r\nthing", "state": "s"}
    exc = expect_error(
        partial(tool.handle_callback, form, None),
        PlatformAuthenticationError,
        "platform_authentication_failed",
    )
    assert exc.message == (
        "the platform refused the launch: invalid_request (bad \\x3cb\\x3e\\r\\nthing)"
    )
    assert exc.details == {
        "error": "invalid_request",
        "error_description": "bad \\x3cb\\x3e\\r\\nthing",
    }


@settings(max_examples=300, deadline=None)
@given(error=st.text(min_size=1), description=st.text())
def test_arbitrary_error_texts_never_reach_a_message_raw(error: str, description: str) -> None:
    """Property: any text in error/error_description gives a safe, bounded message."""
    tool = _PROPERTY_PLATFORM.tool(state_secret=SECRET_A)
    form = {"error": error, "error_description": description}
    with pytest.raises(CredltiError) as info:
        tool.handle_callback(form, None)
    # A lone surrogate is refused as InvalidParameterError before it is read.
    assert isinstance(info.value, (PlatformAuthenticationError, InvalidParameterError))
    assert_safe(info.value)


_PROPERTY_PLATFORM = SimulatedPlatform()


@pytest.mark.parametrize("text", HOSTILE[:3] + HOSTILE[4:5] + HOSTILE[7:], ids=repr)
def test_login_parameters_are_never_echoed_raw(text: str, plat: SimulatedPlatform) -> None:
    """iss, client_id and target_link_uri appear in errors only as safe excerpts."""
    tool = plat.tool(allowed_target_link_uris=[ALLOWED])
    attempts = {
        "iss": {**plat.login_params(), "iss": "https://lms.example/" + text},
        "client_id": {**plat.login_params(), "client_id": text},
        "target": plat.login_params(target_link_uri=ALLOWED + "/" + text),
        "foreign-target": plat.login_params(target_link_uri="https://evil.example/" + text),
    }
    for params in attempts.values():
        with pytest.raises(CredltiError) as info:
            tool.handle_login(params, LAUNCH_URL)
        assert isinstance(
            info.value,
            (InvalidParameterError, RegistrationNotFoundError, TargetLinkUriNotAllowedError),
        )
        assert_safe(info.value)


def test_unknown_issuer_error_quotes_a_safe_excerpt(
    plat: SimulatedPlatform, tool: Tool[Any, Any]
) -> None:
    """A markup-bearing issuer is reported escaped, in the message and the details."""
    params = {**plat.login_params(), "iss": "https://x.example/<script>"}
    exc = expect_error(
        partial(tool.handle_login, params, LAUNCH_URL),
        RegistrationNotFoundError,
        "registration_not_found",
    )
    assert exc.details["issuer"] == "https://x.example/\\x3cscript\\x3e"
    assert_safe(exc)


@pytest.mark.parametrize("text", HOSTILE, ids=HOSTILE_IDS)
def test_signed_claim_values_are_never_echoed_raw(
    text: str, plat: SimulatedPlatform, own_key: RSAKey
) -> None:
    """message_type, version, context, kid, alg and deployment_id of a token: safe excerpts."""
    tool = _own_key_tool(plat, own_key)
    header = {"typ": "JWT", "alg": "RS256", "kid": own_key.kid}
    cases: list[tuple[dict[str, Any], dict[str, Any], type[CredltiError]]] = [
        (header, {MESSAGE_TYPE: text}, UnsupportedMessageTypeError),
        (header, {VERSION: text}, InvalidClaimError),
        (header, {CONTEXT: text}, InvalidClaimError),
        ({**header, "kid": text}, {}, KidNotFoundError),
        ({**header, "alg": text}, {}, AlgorithmNotAllowedError),
    ]
    if text.isprintable():  # deployment ids with controls are refused without an echo
        cases.append((header, {DEPLOYMENT_ID: text[:255]}, DeploymentNotFoundError))
    for head, claims, error in cases:
        redirect = login(tool, plat)
        payload = {**plat.launch_claims(redirect), **claims}
        try:
            token = _sign(own_key, head, payload)
        except UnicodeEncodeError:  # json.dumps escapes surrogates; nothing else fails
            pytest.fail("could not build the token")
        with pytest.raises(CredltiError) as info:
            tool.handle_callback(_form(redirect.state, token), redirect.cookie_value)
        assert isinstance(info.value, error), info.value
        assert_safe(info.value)


# --------------------------------------------------------------------------- login parameter sizes


@pytest.mark.parametrize("name", sorted(LOGIN_PARAMETER_LIMITS))
def test_oversized_login_parameters_are_refused(
    name: str, plat: SimulatedPlatform, tool: Tool[Any, Any]
) -> None:
    """Every login parameter has a documented maximum; one character more is a typed 400."""
    limit = LOGIN_PARAMETER_LIMITS[name]
    value = ALLOWED + "/" + "x" * limit if name == "target_link_uri" else "x" * (limit + 1)
    params = {**plat.login_params(lti_deployment_id=plat.deployment_id), name: value}
    exc = expect_error(
        partial(tool.handle_login, params, LAUNCH_URL),
        InvalidParameterError,
        "invalid_parameter",
        status=400,
    )
    assert exc.details["parameter"] == name
    assert exc.details["limit"] == limit
    assert "xxxx" not in exc.message  # the value itself is never repeated
    assert len(tool.storage) == 0  # refused before any storage work


@pytest.mark.parametrize("name", ["login_hint", "lti_message_hint", "target_link_uri"])
def test_login_parameters_at_their_maximum_are_accepted(
    name: str, plat: SimulatedPlatform, tool: Tool[Any, Any]
) -> None:
    """The maxima are inclusive: a value of exactly the limit logs in and launches."""
    limit = LOGIN_PARAMETER_LIMITS[name]
    if name == "target_link_uri":
        target = ALLOWED + "/" + "p" * (limit - len(ALLOWED) - 1)
        params = plat.login_params(target_link_uri=target)
    elif name == "login_hint":
        params = plat.login_params(login_hint="h" * limit)
    else:
        params = plat.login_params(lti_message_hint="m" * limit)
    assert len(params[name]) == limit
    redirect = tool.handle_login(params, LAUNCH_URL)
    accept(tool, plat.launch(redirect), redirect)


def test_long_deployment_hint_follows_enforce_id_limits(plat: SimulatedPlatform) -> None:
    """With enforce_id_limits off, lti_deployment_id may be up to 1024 characters."""
    long_id = "d" * 600
    tool = plat.tool(enforce_id_limits=False)
    redirect = tool.handle_login(plat.login_params(lti_deployment_id=long_id), LAUNCH_URL)
    assert redirect.url
    too_long = plat.login_params(lti_deployment_id="d" * 1025)
    expect_error(
        partial(tool.handle_login, too_long, LAUNCH_URL), InvalidParameterError, "invalid_parameter"
    )


@pytest.mark.parametrize("name", ["iss", "client_id"])
@pytest.mark.parametrize("value", ["https://lms.exämple.edu", "tool\tid", "a\u00a0b"], ids=repr)
def test_registration_names_must_be_printable_ascii(
    name: str, value: str, plat: SimulatedPlatform, tool: Tool[Any, Any]
) -> None:
    """iss and client_id name a registration: printable ASCII, like the stored records."""
    params = {**plat.login_params(), name: value}
    exc = expect_error(
        partial(tool.handle_login, params, LAUNCH_URL), InvalidParameterError, "invalid_parameter"
    )
    assert exc.details["parameter"] == name


def test_storage_answering_for_another_issuer_is_refused(plat: SimulatedPlatform) -> None:
    """A storage whose lookup is looser than exact (case-folding SQL) is not trusted."""

    class Folding:
        def __init__(self) -> None:
            self.inner = storage_for(plat)

        def get_registration(self, issuer: str, client_id: str | None) -> Any:
            return self.inner.get_registration(issuer.lower(), client_id)

        def __getattr__(self, name: str) -> Any:
            return getattr(self.inner, name)

    tool = plat.tool(Folding())
    params = {**plat.login_params(), "iss": plat.issuer.upper()}
    expect_error(
        partial(tool.handle_login, params, LAUNCH_URL),
        RegistrationNotFoundError,
        "registration_not_found",
    )


# --------------------------------------------------------------------------- canonical base64url


def _non_canonical(segment: str) -> str:
    """The same bytes, spelled with an unused bit of the last character set."""
    assert len(segment) % 4 in (2, 3)
    index = _B64_ALPHABET.index(segment[-1])
    spelled = segment[:-1] + _B64_ALPHABET[index | 1]
    # A lenient decoder (what verified these before) reads the very same bytes.
    assert b64_decode(spelled) == b64_decode(segment)
    assert spelled != segment
    return spelled


def test_non_canonical_signature_is_refused(plat: SimulatedPlatform, tool: Tool[Any, Any]) -> None:
    """A signature with trailing bits set decodes to the right bytes but is refused (400)."""
    redirect = login(tool, plat)
    token = plat.launch(redirect)["id_token"]
    h64, p64, s64 = token.split(".")
    for bad in (_non_canonical(s64), s64 + "=" * (-len(s64) % 4), s64 + "=="):
        form = _form(redirect.state, f"{h64}.{p64}.{bad}")
        exc = expect_error(
            partial(tool.handle_callback, form, redirect.cookie_value),
            MalformedTokenError,
            "malformed_token",
            status=400,
        )
        assert_safe(exc)
    accept(tool, _form(redirect.state, token), redirect)  # the canonical token still works


def _padded_json(value: dict[str, Any], remainder: int) -> str:
    """Base64url of *value*'s JSON, padded with spaces until its length % 4 == remainder."""
    text = json.dumps(value)
    while len(b64(text.encode())) % 4 != remainder:
        text += " "
    return b64(text.encode())


@pytest.mark.parametrize("remainder", [2, 3])
@pytest.mark.parametrize("part", ["header", "payload"])
def test_non_canonical_header_or_payload_is_refused(
    part: str, remainder: int, plat: SimulatedPlatform, own_key: RSAKey
) -> None:
    """Validly signed over a non-canonical spelling of the right JSON: still refused."""
    tool = _own_key_tool(plat, own_key)
    redirect = login(tool, plat)
    header = {"typ": "JWT", "alg": "RS256", "kid": own_key.kid}
    h64 = _padded_json(header, remainder)
    p64 = _padded_json(plat.launch_claims(redirect), remainder)
    accept(tool, _form(redirect.state, _sign_text(own_key, h64, p64)), redirect)

    redirect = login(tool, plat)
    p64 = _padded_json(plat.launch_claims(redirect), remainder)
    if part == "header":
        h64 = _non_canonical(h64)
    else:
        p64 = _non_canonical(p64)
    token = _sign_text(own_key, h64, p64)  # the signature is over the odd spelling
    expect_error(
        partial(tool.handle_callback, _form(redirect.state, token), redirect.cookie_value),
        MalformedTokenError,
        "malformed_token",
        status=400,
    )


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=64))
def test_exactly_one_spelling_decodes(data: bytes) -> None:
    """Property: the canonical encoding parses; every other spelling of the bytes is refused."""
    body = b64(json.dumps({"d": base64.b64encode(data).decode()}).encode())
    signature = b64(data) if data else "AA"
    parse_compact(f"{body}.{body}.{signature}")
    if len(signature) % 4 in (2, 3):
        index = _B64_ALPHABET.index(signature[-1])
        unused = 0x0F if len(signature) % 4 == 2 else 0x03
        for bits in range(1, unused + 1):
            spelled = signature[:-1] + _B64_ALPHABET[index | bits]
            with pytest.raises(MalformedTokenError):
                parse_compact(f"{body}.{body}.{spelled}")


def test_non_canonical_state_cookie_is_refused(
    plat: SimulatedPlatform, tool: Tool[Any, Any]
) -> None:
    """The state binding's MAC is canonical base64url too."""
    redirect = login(tool, plat)
    signed, mac = redirect.cookie_value.rsplit(".", 1)
    form = plat.launch(redirect)
    expect_error(
        partial(tool.handle_callback, form, f"{signed}.{_non_canonical(mac)}"),
        StateMismatchError,
        "state_mismatch",
    )
    accept(tool, form, redirect)


# --------------------------------------------------------------------------- registration records


def test_registration_record_errors_quote_safe_excerpts() -> None:
    """Registration validation quotes bad values escaped (they may come from a form)."""
    with pytest.raises(ConfigurationError) as info:
        Registration(
            issuer="https://lms.example/\r\n<script>",
            client_id="c",
            auth_endpoint="http://evil.example/<b>",
            jwks_uri="https://lms.example/jwks",
        )
    assert_safe(info.value)
    with pytest.raises(ConfigurationError) as info:
        Registration(
            issuer="https://lms.example",
            client_id="<script>\n",
            auth_endpoint="https://lms.example/auth",
            jwks_uri="https://lms.example/jwks",
        )
    assert_safe(info.value)


def test_evolved_registration_with_redirect_uris_still_compares_exactly(
    plat: SimulatedPlatform,
) -> None:
    """redirect_uri is compared byte for byte, as the platform does (no normalising)."""
    registration = attrs.evolve(plat.registration, redirect_uris=(LAUNCH_URL,))
    tool = plat.tool(storage_for(plat, registration))
    for spelled in (LAUNCH_URL.upper(), "https://tool.example.com:443/launch"):
        exc = expect_error(
            partial(tool.handle_login, plat.login_params(), spelled),
            ConfigurationError,
            "configuration_error",
            status=500,
        )
        assert_safe(exc)
