"""Property tests: hostile login, callback, token, key-set and claim inputs.

Whatever arrives, ``handle_login`` and ``handle_callback`` either succeed or raise a
:class:`~credlti.errors.CredltiError`; no ``KeyError``/``ValueError``/``TypeError``/
``AttributeError`` (or anything else) escapes. One module-level platform and tool are
reused so no example pays for RSA key generation.
"""

from __future__ import annotations

import json
import string
import unicodedata
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context
from joserfc.jwk import ECKey, RSAKey

from credlti.errors import (
    CredltiError,
    InvalidParameterError,
    NonceMismatchError,
)
from credlti.lti import LaunchContext, LoginRedirect, Tool
from credlti.lti._claims import (
    AGS_CLAIM,
    CONTEXT,
    CUSTOM,
    DEPLOYMENT_ID,
    DL_SETTINGS_CLAIM,
    LAUNCH_PRESENTATION,
    LIS,
    LTI1P1,
    MESSAGE_TYPE,
    NRPS_CLAIM,
    RESOURCE_LINK,
    ROLE_SCOPE_MENTOR,
    ROLES,
    TARGET_LINK_URI,
    TOOL_PLATFORM,
    VERSION,
)
from credlti.testing import SimulatedPlatform

from .helpers import LAUNCH_URL, b64
from .jwks_helpers import form, sign_claims

T = TypeVar("T")

FUZZ = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# --------------------------------------------------------------------------- one platform

PLATFORM = SimulatedPlatform()
#: Signs arbitrary payload bytes (joserfc's JWT encoder refuses lone surrogates).
SIGNER: RSAKey = RSAKey.generate_key(2048, private=True)
SIGNER_KID = "fuzz-signer"
SIGNER_JWK: dict[str, Any] = {
    **SIGNER.as_dict(private=False),
    "kid": SIGNER_KID,
    "use": "sig",
    "alg": "RS256",
}
EC_JWK: dict[str, Any] = {
    **ECKey.generate_key("P-256", private=True).as_dict(private=False),
    "kid": "ec",
    "use": "sig",
}


def _serve_signer(request: httpx.Request) -> httpx.Response:
    if str(request.url) == PLATFORM.jwks_uri:
        return httpx.Response(200, json={"keys": [SIGNER_JWK, *PLATFORM.jwks()["keys"]]})
    return httpx.Response(404)


TOOL: Tool[Any, Any] = PLATFORM.tool(
    http_client=httpx.Client(transport=httpx.MockTransport(_serve_signer))
)


def _event(name: str) -> None:
    if currently_in_test_context():
        event(name)


def _clean(call: Callable[[], T]) -> T | None:
    """Run *call*; return its result, ``None`` on a CredltiError, fail on anything else."""
    try:
        result = call()
    except CredltiError as exc:
        _event(f"outcome: {type(exc).__name__}")
        error: CredltiError = exc
    except Exception as exc:
        msg = f"{type(exc).__name__} escaped instead of a CredltiError: {exc!r}"
        raise AssertionError(msg) from exc
    else:
        _event("outcome: success")
        return result
    assert 400 <= error.http_status <= 599
    assert error.code
    assert str(error)  # rendering never fails either
    _assert_no_raw_echo(error)
    return None


_UNSAFE_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}


def _assert_no_raw_echo(error: CredltiError) -> None:
    """Whatever the fuzzer sent, the error holds no control character, surrogate or '<'."""
    texts = [error.message, str(error), repr(error)]
    texts += [str(value) for value in error.details.values() if value is not None]
    for text in texts:
        assert not [c for c in text if unicodedata.category(c) in _UNSAFE_CATEGORIES], text
        assert "<" not in text, text
        assert len(text) < 2000, text


def _login() -> LoginRedirect:
    return TOOL.handle_login(PLATFORM.login_params(), LAUNCH_URL)


def _signed(claims: dict[str, Any], *, kid: str = SIGNER_KID) -> str:
    return sign_claims(SIGNER, claims, alg="RS256", kid=kid)


# --------------------------------------------------------------------------- strategies

SURROGATE = st.characters(categories=["Cs"])
TEXT = st.text(max_size=20)
#: Text that sometimes holds lone surrogates (valid in JSON as \\uXXXX escapes).
WILD_TEXT = st.one_of(TEXT, st.text(st.one_of(st.characters(), SURROGATE), max_size=8))
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), TEXT, st.integers(-(2**70), 2**70)
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(TEXT, inner, max_size=4)),
    max_leaves=12,
)
WILD_JSON = st.recursive(
    st.one_of(SCALARS, WILD_TEXT),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(WILD_TEXT, inner, max_size=4)
    ),
    max_leaves=12,
)
PARAM_VALUES = st.one_of(
    st.none(),
    TEXT,
    st.integers(),
    st.lists(TEXT, max_size=3),
    st.lists(st.integers(), max_size=2),
    st.tuples(TEXT),
    st.sampled_from(
        [
            "",
            PLATFORM.issuer,
            PLATFORM.issuer + "/",
            PLATFORM.client_id,
            PLATFORM.deployment_id,
            LAUNCH_URL,
            "javascript:alert(1)",
            "https://evil.example.com/",
            "http://[::1",
            "https://tool.example.com:99999/",
            "https://tool.example.com/launch/%2e%2e/admin",
            "https://tool.example.com/launch/..;/admin",
            "<script>alert(1)</script>\r\nSet-Cookie: a=1",
            "\u202e\x00\u2028",
            "x" * 5000,
        ]
    ),
)
LOGIN_KEYS = [
    "iss",
    "login_hint",
    "target_link_uri",
    "lti_message_hint",
    "lti_deployment_id",
    "client_id",
    "lti_storage_target",
]


def _single(value: object) -> object:
    if isinstance(value, (list, tuple)) and len(value) == 1:
        return value[0]
    return value


@FUZZ
@given(
    keep=st.one_of(st.just(set(LOGIN_KEYS)), st.sets(st.sampled_from(LOGIN_KEYS))),
    overrides=st.dictionaries(
        st.one_of(st.sampled_from(LOGIN_KEYS), TEXT), PARAM_VALUES, max_size=6
    ),
)
def test_login_params_fuzz(keep: set[str], overrides: dict[str, Any]) -> None:
    """Arbitrary login parameters give a LoginRedirect or a CredltiError; hints echo exactly."""
    base = PLATFORM.login_params(lti_deployment_id=PLATFORM.deployment_id)
    params: dict[str, Any] = {k: v for k, v in base.items() if k in keep}
    params.update(overrides)
    redirect = _clean(lambda: TOOL.handle_login(params, LAUNCH_URL))
    if redirect is None:
        return
    assert redirect.url.startswith(PLATFORM.auth_endpoint + "?")
    query = parse_qs(urlsplit(redirect.url).query, keep_blank_values=True)
    assert query["login_hint"] == [_single(params["login_hint"])]
    hint = _single(params.get("lti_message_hint"))
    if hint is not None:
        assert query["lti_message_hint"] == [hint]


# --------------------------------------------------------------------------- callback

CALLBACK_KEYS = ["id_token", "JWT", "state", "error", "error_description", "lti_storage_target"]


@FUZZ
@given(data=st.data())
def test_callback_params_and_state_fuzz(data: st.DataObject) -> None:
    """Arbitrary callback forms and kept-state values give a launch or a CredltiError."""
    redirect = _login()
    cookie = redirect.cookie_value
    kept = data.draw(
        st.one_of(
            st.just(cookie),
            st.none(),
            TEXT,
            st.integers(),
            st.binary(max_size=10),
            st.lists(TEXT, max_size=2),
            st.builds(lambda s: "v1." + s, TEXT),
            st.builds(
                lambda i, c: cookie[:i] + c + cookie[i + 1 :],
                st.integers(0, len(cookie) - 1),
                st.sampled_from(list(string.ascii_letters + string.digits + "-_.=")),
            ),
            st.integers(0, len(cookie)).map(lambda i: cookie[:i]),
        ),
        label="kept",
    )
    values = st.one_of(PARAM_VALUES, st.just(redirect.state), st.just([redirect.state] * 2))
    params: dict[str, Any] = {}
    if data.draw(st.booleans(), label="real token"):
        params = {"id_token": _signed(PLATFORM.launch_claims(redirect)), "state": redirect.state}
    params.update(
        data.draw(
            st.dictionaries(st.one_of(st.sampled_from(CALLBACK_KEYS), TEXT), values, max_size=5),
            label="params",
        )
    )
    launch = _clean(lambda: TOOL.handle_callback(params, kept))
    if launch is not None:
        assert isinstance(launch, LaunchContext)
        assert launch.claims.nonce
        assert kept == cookie


# --------------------------------------------------------------------------- tokens

B64_TEXT = st.text(string.ascii_letters + string.digits + "-_=+/. ", max_size=40)
SEGMENT = st.one_of(
    JSON.map(lambda v: b64(json.dumps(v).encode())),
    WILD_JSON.map(lambda v: b64(json.dumps(v).encode())),
    st.binary(max_size=64).map(b64),
    B64_TEXT,
)
HEADERS = st.fixed_dictionaries(
    {
        "alg": st.one_of(
            st.sampled_from(["RS256", "RS512", "PS256", "ES256", "HS256", "none", "", "rs256"]),
            JSON,
        )
    },
    optional={
        "kid": st.one_of(st.sampled_from([SIGNER_KID, PLATFORM.kid, ""]), WILD_JSON),
        "crit": JSON,
        "typ": JSON,
        "jku": TEXT,
        "b64": st.booleans(),
    },
)
#: Headers that pass the alg and kid checks, so the key lookup and signature run.
PLAUSIBLE_HEADERS = st.fixed_dictionaries(
    {
        "alg": st.just("RS256"),
        "kid": st.one_of(st.sampled_from([SIGNER_KID, PLATFORM.kid]), WILD_TEXT),
    },
    optional={"typ": JSON, "crit": JSON, "x5u": TEXT},
)
TOKENS = st.one_of(
    st.text(max_size=60),
    st.tuples(
        PLAUSIBLE_HEADERS.map(lambda h: b64(json.dumps(h).encode())),
        st.dictionaries(WILD_TEXT, WILD_JSON, max_size=5).map(
            lambda p: b64(json.dumps(p).encode())
        ),
        st.one_of(st.binary(max_size=300), st.binary(min_size=256, max_size=256)).map(b64),
    ).map(".".join),
    st.tuples(SEGMENT, SEGMENT, SEGMENT).map(".".join),
    st.tuples(
        HEADERS.map(lambda h: b64(json.dumps(h).encode())),
        st.dictionaries(WILD_TEXT, WILD_JSON, max_size=5).map(
            lambda p: b64(json.dumps(p).encode())
        ),
        st.binary(max_size=300).map(b64),
    ).map(".".join),
    st.lists(SEGMENT, max_size=5).map(".".join),
)


@FUZZ
@given(token=TOKENS, field=st.sampled_from(["id_token", "JWT"]))
def test_token_strings_fuzz(token: str, field: str) -> None:
    """Arbitrary token strings (text, base64url JSON, random bytes) only raise CredltiError."""
    redirect = _login()
    params = {field: token, "state": redirect.state}
    result = _clean(lambda: TOOL.handle_callback(params, redirect.cookie_value))
    assert result is None  # nothing unsigned can ever be accepted


# --------------------------------------------------------------------------- key sets

KEY_FIELDS = ["kty", "kid", "use", "alg", "n", "e", "crv", "x", "y", "d", "key_ops", "x5c"]
FIELD_VALUES = st.one_of(
    JSON,
    st.sampled_from(
        ["RSA", "EC", "oct", "OKP", "sig", "enc", "RS256", "ES256", "P-256", "P-521", "AQAB"]
    ),
    st.sampled_from([SIGNER_KID, "ec"]),
    st.integers(0, 2**4100).map(lambda i: b64(i.to_bytes((i.bit_length() + 7) // 8 or 1, "big"))),
    st.binary(max_size=70).map(b64),
)


def _near_valid(base: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.builds(
        lambda changed, dropped: {k: v for k, v in {**base, **changed}.items() if k not in dropped},
        st.dictionaries(st.sampled_from(KEY_FIELDS), FIELD_VALUES, max_size=3),
        st.sets(st.sampled_from(KEY_FIELDS), max_size=2),
    )


#: Odd moduli of any size up to 4096 bits, as base64url (weak ones must be skipped quietly).
RSA_MODULI = (
    st.integers(3, 2**4096)
    .map(lambda i: i | 1)
    .map(lambda i: b64(i.to_bytes((i.bit_length() + 7) // 8, "big")))
)
KEY_ENTRIES = st.one_of(
    st.builds(lambda n: {**SIGNER_JWK, "kid": "random-modulus", "n": n}, RSA_MODULI),
    st.just(SIGNER_JWK),
    _near_valid(SIGNER_JWK),
    _near_valid(EC_JWK),
    JSON,
)
DOCUMENTS = st.one_of(
    JSON,
    st.fixed_dictionaries({"keys": st.lists(KEY_ENTRIES, max_size=4)}),
    st.fixed_dictionaries({"keys": st.lists(KEY_ENTRIES, max_size=3)}, optional={"extra": JSON}),
)
BODIES = st.one_of(
    DOCUMENTS.map(lambda d: json.dumps(d).encode()),
    st.binary(max_size=200),
)


@FUZZ
@given(
    body=BODIES,
    status=st.sampled_from([200, 200, 200, 201, 302, 404, 500]),
    cache_control=st.one_of(
        st.none(), st.text(string.printable.strip("\r\n\x0b\x0c"), max_size=30)
    ),
)
def test_key_set_documents_fuzz(body: bytes, status: int, cache_control: str | None) -> None:
    """Arbitrary key-set responses give a launch or a CredltiError (never a crash)."""
    headers = {"Cache-Control": cache_control} if cache_control else {}

    def serve(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=body, headers=headers)

    tool = PLATFORM.tool(http_client=httpx.Client(transport=httpx.MockTransport(serve)))
    redirect = tool.handle_login(PLATFORM.login_params(), LAUNCH_URL)
    token = _signed(PLATFORM.launch_claims(redirect))
    launch = _clean(lambda: tool.handle_callback(form(redirect, token), redirect.cookie_value))
    if launch is not None:
        assert status == 200
        assert tool.key_set_fetches == 1


# --------------------------------------------------------------------------- claims

DELETE = "<delete>"
TOP_CLAIMS = [
    "iss",
    "aud",
    "azp",
    "sub",
    "exp",
    "iat",
    "nbf",
    "nonce",
    "name",
    "email",
    "locale",
    MESSAGE_TYPE,
    VERSION,
    DEPLOYMENT_ID,
    TARGET_LINK_URI,
    RESOURCE_LINK,
    ROLES,
    CONTEXT,
    TOOL_PLATFORM,
    LAUNCH_PRESENTATION,
    LIS,
    CUSTOM,
    ROLE_SCOPE_MENTOR,
    AGS_CLAIM,
    NRPS_CLAIM,
    DL_SETTINGS_CLAIM,
    LTI1P1,
    "https://vendor.example.com/claim",
]
NESTED_FIELDS = [
    (RESOURCE_LINK, ["id", "title", "description"]),
    (CONTEXT, ["id", "label", "title", "type"]),
    (TOOL_PLATFORM, ["guid", "name", "version", "url"]),
    (LAUNCH_PRESENTATION, ["document_target", "height", "width", "return_url", "locale"]),
    (LIS, ["person_sourcedid", "course_offering_sourcedid"]),
    (CUSTOM, ["a", "b", "$"]),
    (AGS_CLAIM, ["scope", "lineitems", "lineitem"]),
    (NRPS_CLAIM, ["context_memberships_url", "service_versions", "service_version"]),
    (
        LTI1P1,
        [
            "user_id",
            "context_id",
            "resource_link_id",
            "oauth_consumer_key",
            "oauth_consumer_key_sign",
        ],
    ),
    (
        DL_SETTINGS_CLAIM,
        [
            "deep_link_return_url",
            "accept_types",
            "accept_presentation_document_targets",
            "accept_multiple",
            "accept_lineitem",
            "auto_create",
            "data",
            "title",
        ],
    ),
]
NESTED_PAIRS = [(claim, field) for claim, fields in NESTED_FIELDS for field in fields]
OPTIONAL_BASE: dict[str, Any] = {
    LAUNCH_PRESENTATION: {"document_target": "iframe", "height": 400},
    LIS: {"person_sourcedid": "p-1"},
    CUSTOM: {"a": "1"},
    ROLE_SCOPE_MENTOR: ["user-2"],
    AGS_CLAIM: {"scope": [], "lineitems": "https://lms.example.edu/li"},
    NRPS_CLAIM: {
        "context_memberships_url": "https://lms.example.edu/m",
        "service_versions": ["2.0"],
    },
}
CLAIM_VALUES = st.one_of(WILD_JSON, st.just(DELETE))


def _mutate(
    claims: dict[str, Any], nested: dict[tuple[str, str], Any], top: dict[str, Any]
) -> None:
    for (claim, field), value in nested.items():
        current = claims.get(claim)
        obj = dict(current) if isinstance(current, dict) else {}
        if value == DELETE:
            obj.pop(field, None)
        else:
            obj[field] = value
        claims[claim] = obj
    for claim, value in top.items():
        if value == DELETE:
            claims.pop(claim, None)
        else:
            claims[claim] = value


@FUZZ
@given(
    message_type=st.sampled_from(["LtiResourceLinkRequest", "LtiDeepLinkingRequest"]),
    nested=st.dictionaries(st.sampled_from(NESTED_PAIRS), CLAIM_VALUES, max_size=4),
    top=st.dictionaries(st.sampled_from(TOP_CLAIMS), CLAIM_VALUES, max_size=3),
)
def test_signed_claim_payloads_fuzz(
    message_type: str, nested: dict[tuple[str, str], Any], top: dict[str, Any]
) -> None:
    """Validly signed payloads with mutated claims give a launch or a CredltiError."""
    redirect = _login()
    claims = PLATFORM.launch_claims(redirect, message_type=message_type)
    claims.update(json.loads(json.dumps(OPTIONAL_BASE)))
    _mutate(claims, nested, top)
    token = _signed(claims)
    launch = _clean(lambda: TOOL.handle_callback(form(redirect, token), redirect.cookie_value))
    if launch is not None:
        parsed = launch.claims
        assert parsed.nonce == claims["nonce"]
        assert parsed.unresolved_custom == tuple(
            k for k, v in parsed.custom.items() if v.startswith("$")
        )
        assert len(launch.launch_id) == 32
        assert parsed.roles.recognized is not None


# --------------------------------------------------------------------------- found by fuzzing


@pytest.mark.parametrize("field", ["login_hint", "lti_message_hint"])
def test_lone_surrogate_in_login_param_is_a_clean_error(field: str) -> None:
    """A login hint holding a lone surrogate is InvalidParameterError, not UnicodeEncodeError."""
    params = {**PLATFORM.login_params(), field: "hint-\udcff"}
    with pytest.raises(InvalidParameterError):
        TOOL.handle_login(params, LAUNCH_URL)


def test_lone_surrogate_in_posted_state_is_invalid_parameter() -> None:
    """A posted ``state`` with a lone surrogate is InvalidParameterError, not UnicodeEncodeError."""
    redirect = _login()
    token = _signed(PLATFORM.launch_claims(redirect))
    params = {"id_token": token, "state": redirect.state[:5] + "\ud800"}
    with pytest.raises(InvalidParameterError):
        TOOL.handle_callback(params, redirect.cookie_value)


def test_lone_surrogate_in_signed_nonce_is_nonce_mismatch() -> None:
    """A signed ``nonce`` holding a lone surrogate (a JSON \\ud800 escape) is NonceMismatchError."""
    redirect = _login()
    claims = PLATFORM.launch_claims(redirect)
    claims["nonce"] = "\ud800"
    token = _signed(claims)
    with pytest.raises(NonceMismatchError):
        TOOL.handle_callback(form(redirect, token), redirect.cookie_value)


@pytest.mark.parametrize("claim", ["exp", "iat", "nbf"])
def test_huge_integer_timestamps_are_clean_errors(claim: str) -> None:
    """A 400-digit integer ``exp``/``iat``/``nbf`` is a CredltiError, never OverflowError."""
    redirect = _login()
    claims = PLATFORM.launch_claims(redirect)
    claims[claim] = 10**400
    token = _signed(claims)
    assert (
        _clean(lambda: TOOL.handle_callback(form(redirect, token), redirect.cookie_value)) is None
    )
