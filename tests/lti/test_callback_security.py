"""Attacker-side launch validation tests beyond the certification list (checklist §B, I-7)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from datetime import datetime
from functools import partial
from typing import Any

import attrs
import pytest
from joserfc.jwk import RSAKey

from credlti.adapters.memory import MemoryLaunchStorage
from credlti.errors import (
    AlgorithmNotAllowedError,
    AudienceMismatchError,
    CredltiError,
    DeploymentMismatchError,
    DeploymentNotFoundError,
    InvalidClaimError,
    InvalidParameterError,
    IssuerMismatchError,
    KidMissingError,
    KidNotFoundError,
    MalformedTokenError,
    MissingClaimError,
    MissingParameterError,
    NonceMismatchError,
    NonceMissingError,
    NonceNotFoundError,
    NonceReusedError,
    PlatformAuthenticationError,
    SignatureInvalidError,
    StateMismatchError,
    StorageUnavailableError,
    TargetLinkUriMismatchError,
    TokenExpiredError,
    TokenNotYetValidError,
    TokenTooOldError,
    UnsupportedMessageTypeError,
)
from credlti.lti import (
    DEEP_LINKING_REQUEST,
    RESOURCE_LINK_REQUEST,
    SUBMISSION_REVIEW_REQUEST,
    Deployment,
    LaunchContext,
    LoginRedirect,
    Registration,
    Tool,
)
from credlti.lti._claims import (
    AGS_CLAIM,
    CONTEXT,
    DEPLOYMENT_ID,
    DL_SETTINGS_CLAIM,
    LTI_CLAIM,
    MESSAGE_TYPE,
    RESOURCE_LINK,
    ROLES,
    TARGET_LINK_URI,
)
from credlti.ports import NonceStatus
from credlti.testing import BadLaunch, SimulatedPlatform

from .helpers import (
    LAUNCH_URL,
    SECRET_A,
    SECRET_B,
    START,
    accept,
    b64,
    b64_decode,
    expect_error,
    key_set_client,
    login,
    new_key,
    public_jwk,
    sign_raw,
    storage_for,
)

LONG_ID = "x" * 256
MAX_ID = "y" * 255


@pytest.fixture(scope="module", name="plat")
def _plat() -> SimulatedPlatform:
    """One platform (one RSA keygen) for the module; tests never touch its keys."""
    return SimulatedPlatform()


@pytest.fixture(scope="module", name="own_key")
def _own_key() -> RSAKey:
    """A key we hold privately, served as the platform's key set by `_own_key_tool`."""
    return new_key()


@pytest.fixture(autouse=True)
def _reset_clock(plat: SimulatedPlatform) -> Iterator[None]:
    plat.clock.now = START
    yield
    plat.clock.now = START


@pytest.fixture(name="tool")
def _tool(plat: SimulatedPlatform) -> Tool[Any, Any]:
    return plat.tool(state_secret=SECRET_A)


def _reject(
    tool: Tool[Any, Any],
    form: Mapping[str, Any],
    cookie: object,
    error: type[CredltiError],
    code: str,
) -> CredltiError:
    """The callback fails with exactly *error* (no LaunchContext is produced)."""
    return expect_error(partial(tool.handle_callback, form, cookie), error, code)  # type: ignore[arg-type]


def _own_key_tool(
    plat: SimulatedPlatform,
    key: RSAKey,
    *,
    jwk_alg: str | None = None,
    registration: Registration | None = None,
) -> Tool[Any, Any]:
    """A tool whose platform key set holds only *key* (so we can sign any header)."""
    return plat.tool(
        storage_for(plat, registration),
        http_client=key_set_client(plat, [public_jwk(key, alg=jwk_alg)]),
        state_secret=SECRET_A,
    )


def _form(redirect: LoginRedirect, token: str) -> dict[str, str]:
    return {"id_token": token, "state": redirect.state}


def _header(key: RSAKey, alg: str = "RS256", **extra: Any) -> dict[str, Any]:
    return {"typ": "JWT", "alg": alg, "kid": key.kid, **extra}


# --------------------------------------------------------------------------- signature and token


def test_tampered_payload_is_rejected(plat: SimulatedPlatform, tool: Tool[Any, Any]) -> None:
    """A payload edited after signing (sub -> admin) fails signature verification."""
    redirect = login(tool, plat)
    _reject(
        tool,
        plat.bad_launch(redirect, BadLaunch.TAMPERED),
        redirect.cookie_value,
        SignatureInvalidError,
        "signature_invalid",
    )


def test_replayed_launch_is_rejected(plat: SimulatedPlatform, tool: Tool[Any, Any]) -> None:
    """Sec §5.1.3(9): the same launch POST twice is a replay (NonceReusedError)."""
    redirect = login(tool, plat)
    form = plat.launch(redirect)
    accept(tool, form, redirect)
    for _ in range(2):
        _reject(tool, form, redirect.cookie_value, NonceReusedError, "nonce_reused")


def test_wrong_key_with_the_right_kid_is_rejected(
    plat: SimulatedPlatform, tool: Tool[Any, Any]
) -> None:
    """A token signed by another key under the platform's kid fails verification."""
    redirect = login(tool, plat)
    _reject(
        tool,
        plat.bad_launch(redirect, BadLaunch.WRONG_KEY),
        redirect.cookie_value,
        SignatureInvalidError,
        "signature_invalid",
    )


@pytest.mark.parametrize(
    "kind", [BadLaunch.ALG_NONE, BadLaunch.ALG_HS256, BadLaunch.ALG_RS512], ids=lambda k: k.value
)
def test_disallowed_algorithm_is_rejected_before_key_lookup(
    kind: BadLaunch, plat: SimulatedPlatform, tool: Tool[Any, Any]
) -> None:
    """alg none, HS256 key confusion and RS512 (not in the allow-list) are refused up front."""
    redirect = login(tool, plat)
    exc = _reject(
        tool,
        plat.bad_launch(redirect, kind),
        redirect.cookie_value,
        AlgorithmNotAllowedError,
        "algorithm_not_allowed",
    )
    assert exc.http_status == 401
    assert tool.key_set_fetches == 0
    accept(tool, plat.launch(redirect), redirect)  # the real user's nonce survived


def test_rs512_is_accepted_when_the_registration_allows_it(
    plat: SimulatedPlatform, own_key: RSAKey
) -> None:
    """Sec §5.1.3(6): an alg agreed at registration (RS512) is accepted; the default refuses it."""
    allowing = attrs.evolve(plat.registration, allowed_algorithms=("RS256", "RS512"))
    tool = _own_key_tool(plat, own_key, registration=allowing)
    redirect = login(tool, plat)
    token = sign_raw(own_key, _header(own_key, "RS512"), plat.launch_claims(redirect))
    launch = accept(tool, _form(redirect, token), redirect)
    assert launch.claims.subject == "user-1"

    strict = _own_key_tool(plat, own_key)
    redirect = login(strict, plat)
    token = sign_raw(own_key, _header(own_key, "RS512"), plat.launch_claims(redirect))
    _reject(
        strict,
        _form(redirect, token),
        redirect.cookie_value,
        AlgorithmNotAllowedError,
        "algorithm_not_allowed",
    )


def test_key_declaring_another_alg_is_not_used(plat: SimulatedPlatform, own_key: RSAKey) -> None:
    """Sec §6.3: a JWK that declares alg RS256 is not used to verify an RS512 token."""
    allowing = attrs.evolve(plat.registration, allowed_algorithms=("RS256", "RS512"))
    tool = _own_key_tool(plat, own_key, jwk_alg="RS256", registration=allowing)
    redirect = login(tool, plat)
    token = sign_raw(own_key, _header(own_key, "RS512"), plat.launch_claims(redirect))
    _reject(tool, _form(redirect, token), redirect.cookie_value, KidNotFoundError, "kid_not_found")


def test_crit_header_is_rejected(plat: SimulatedPlatform, own_key: RSAKey) -> None:
    """RFC 7515 §4.1.11: a validly signed token with a `crit` extension we don't know is refused."""
    tool = _own_key_tool(plat, own_key)
    control = login(tool, plat)
    token = sign_raw(own_key, _header(own_key), plat.launch_claims(control))
    accept(tool, _form(control, token), control)  # the same construction without crit works

    redirect = login(tool, plat)
    header = _header(own_key)
    header["crit"] = ["https://ext.example.com/x"]
    header["https://ext.example.com/x"] = 1
    token = sign_raw(own_key, header, plat.launch_claims(redirect))
    exc = _reject(
        tool,
        _form(redirect, token),
        redirect.cookie_value,
        SignatureInvalidError,
        "signature_invalid",
    )
    assert "crit" in exc.message


@pytest.mark.parametrize("kid", [None, "", 123], ids=["absent", "empty", "number"])
def test_missing_kid_is_rejected(kid: object, plat: SimulatedPlatform, own_key: RSAKey) -> None:
    """Sec §6.3: no usable kid in the header is KidMissingError, even if the signature is good."""
    tool = _own_key_tool(plat, own_key)
    redirect = login(tool, plat)
    header = _header(own_key)
    if kid is None:
        del header["kid"]
    else:
        header["kid"] = kid
    token = sign_raw(own_key, header, plat.launch_claims(redirect))
    _reject(tool, _form(redirect, token), redirect.cookie_value, KidMissingError, "kid_missing")


def test_missing_kid_from_the_platform_kit(plat: SimulatedPlatform, tool: Tool[Any, Any]) -> None:
    """Cert "No KID": the kit's kid-less token is KidMissingError without any key fetch."""
    redirect = login(tool, plat)
    _reject(
        tool,
        plat.bad_launch(redirect, BadLaunch.NO_KID),
        redirect.cookie_value,
        KidMissingError,
        "kid_missing",
    )
    assert tool.key_set_fetches == 0


def _malformed_tokens(valid: str) -> dict[str, str]:
    h, p, s = valid.split(".")
    return {
        "garbage": "this-is-not-a-jwt",
        "two-parts": f"{h}.{p}",
        "four-parts": f"{h}.{p}.{s}.{s}",
        "truncated-payload": f"{h}.{p[: len(p) // 2 + 1]}",
        "truncated-mid-payload-three-parts": f"{h}.{p[:-3]}x.{s}",
        "non-json-header": f"{b64(b'not json at all')}.{p}.{s}",
        "non-utf8-header": f"{b64(bytes([0xFF, 0xFE, 0x00]))}.{p}.{s}",
        "json-array-payload": f"{h}.{b64(b'[1, 2, 3]')}.{s}",
        "json-array-header": f"{b64(b'[]')}.{p}.{s}",
        "json-string-payload": f"{h}.{b64(json.dumps('claims').encode())}.{s}",
        "bad-base64-chars": f"{h}.{p}.***",
        "padded-base64": f"{h}=.{p}.{s}",
        "empty-parts": "..",
        "deep-nesting": f"{h}.{b64(b'[' * 10_000 + b']' * 10_000)}.{s}",
    }


def test_malformed_tokens_are_400(plat: SimulatedPlatform, tool: Tool[Any, Any]) -> None:
    """Cert "Invalid LTI message": every malformed token is MalformedTokenError, never a 500."""
    redirect = login(tool, plat)
    valid = plat.launch(redirect)["id_token"]
    for name, token in _malformed_tokens(valid).items():
        exc = _reject(
            tool,
            _form(redirect, token),
            redirect.cookie_value,
            MalformedTokenError,
            "malformed_token",
        )
        assert exc.http_status == 400, name
    accept(tool, plat.launch(redirect), redirect)


def test_truncated_signature_is_a_signature_failure(
    plat: SimulatedPlatform, tool: Tool[Any, Any]
) -> None:
    """A token whose signature part was cut short (at a whole base64 group) does not verify."""
    redirect = login(tool, plat)
    token = plat.launch(redirect)["id_token"]
    signature = token.rsplit(".", 1)[1]
    cut = len(signature) % 4 + 8  # still canonical base64url, two groups shorter
    _reject(
        tool,
        _form(redirect, token[:-cut]),
        redirect.cookie_value,
        SignatureInvalidError,
        "signature_invalid",
    )


def test_oversized_token_is_rejected(plat: SimulatedPlatform, tool: Tool[Any, Any]) -> None:
    """A validly signed but huge (>64 KiB) token is refused as malformed before any work."""
    redirect = login(tool, plat)
    form = plat.launch(redirect, claims={"https://vendor.example.com/blob": "z" * 70_000})
    assert len(form["id_token"]) > 64 * 1024
    _reject(tool, form, redirect.cookie_value, MalformedTokenError, "malformed_token")
    assert tool.key_set_fetches == 0


@pytest.mark.parametrize(
    ("value", "error", "code"),
    [
        ("", MissingParameterError, "missing_parameter"),
        (None, MissingParameterError, "missing_parameter"),
        (["a.b.c", "d.e.f"], InvalidParameterError, "invalid_parameter"),
        (b"a.b.c", InvalidParameterError, "invalid_parameter"),
    ],
    ids=["empty", "absent", "repeated", "bytes"],
)
def test_id_token_field_shape(
    value: object,
    error: type[CredltiError],
    code: str,
    plat: SimulatedPlatform,
    tool: Tool[Any, Any],
) -> None:
    """The id_token form field must be present, non-empty, single text."""
    redirect = login(tool, plat)
    form: dict[str, Any] = {"state": redirect.state}
    if value is not None:
        form["id_token"] = value
    _reject(tool, form, redirect.cookie_value, error, code)


# --------------------------------------------------------------------------- nonce not burnt


def test_forged_token_with_the_real_nonce_does_not_burn_it(
    plat: SimulatedPlatform, tool: Tool[Any, Any]
) -> None:
    """Forgeries carrying the genuine nonce and state are refused and leave the nonce usable."""
    redirect = login(tool, plat)
    forgeries = {
        BadLaunch.WRONG_KEY: SignatureInvalidError,
        BadLaunch.TAMPERED: SignatureInvalidError,
        BadLaunch.ALG_NONE: AlgorithmNotAllowedError,
        BadLaunch.ALG_HS256: AlgorithmNotAllowedError,
    }
    for kind, error in forgeries.items():
        form = plat.bad_launch(redirect, kind)
        assert form["state"] == redirect.state
        _reject(tool, form, redirect.cookie_value, error, error.code)
    launch = accept(tool, plat.launch(redirect), redirect)
    assert launch.claims.nonce == plat.authorize(redirect)["nonce"]


def test_claim_failure_does_not_consume_the_nonce(
    plat: SimulatedPlatform, tool: Tool[Any, Any]
) -> None:
    """A valid token failing a fixable check (unknown deployment) can be retried once fixed."""
    redirect = login(tool, plat)
    form = plat.bad_launch(redirect, BadLaunch.UNKNOWN_DEPLOYMENT)
    exc = _reject(
        tool, form, redirect.cookie_value, DeploymentNotFoundError, "deployment_not_found"
    )
    assert exc.details["deployment_id"] == "deployment-nobody-made"
    tool.storage.add_deployment(
        plat.registration, Deployment(deployment_id="deployment-nobody-made")
    )
    launch = accept(tool, form, redirect)
    assert launch.claims.deployment_id == "deployment-nobody-made"
    _reject(tool, form, redirect.cookie_value, NonceReusedError, "nonce_reused")


def test_nonce_never_issued_by_this_store_is_rejected(plat: SimulatedPlatform) -> None:
    """A correctly bound launch whose nonce this nonce store never issued is NonceNotFoundError."""
    issuing = plat.tool(state_secret=SECRET_A)
    other_store = plat.tool(state_secret=SECRET_A)  # same secret, its own (empty) storage
    redirect = login(issuing, plat)
    _reject(
        other_store,
        plat.launch(redirect),
        redirect.cookie_value,
        NonceNotFoundError,
        "nonce_not_found",
    )


@pytest.mark.parametrize(
    ("kind", "error"),
    [
        (BadLaunch.NO_NONCE, NonceMissingError),
        (BadLaunch.WRONG_NONCE, NonceMismatchError),
    ],
    ids=["no-nonce", "wrong-nonce"],
)
def test_nonce_claim_is_required_and_bound(
    kind: BadLaunch, error: type[CredltiError], plat: SimulatedPlatform, tool: Tool[Any, Any]
) -> None:
    """Sec §5.1.3(9): the nonce claim is required and must be the one issued to this browser."""
    redirect = login(tool, plat)
    _reject(tool, plat.bad_launch(redirect, kind), redirect.cookie_value, error, error.code)


# --------------------------------------------------------------------------- iss, aud, azp


def test_issuer_must_match_exactly(plat: SimulatedPlatform, tool: Tool[Any, Any]) -> None:
    """Sec §5.1.3(2): iss with a trailing slash, other case, or absent is IssuerMismatchError."""
    for claims, remove in (
        ({"iss": plat.issuer + "/"}, ()),
        ({"iss": plat.issuer.upper()}, ()),
        ({}, ("iss",)),
    ):
        redirect = login(tool, plat)
        form = plat.launch(redirect, claims=claims, remove=remove)
        _reject(tool, form, redirect.cookie_value, IssuerMismatchError, "issuer_mismatch")


@pytest.mark.parametrize(
    "kind",
    [BadLaunch.WRONG_AUDIENCE, BadLaunch.EXTRA_AUDIENCE, BadLaunch.WRONG_AZP],
    ids=lambda k: k.value,
)
def test_audience_checks(kind: BadLaunch, plat: SimulatedPlatform, tool: Tool[Any, Any]) -> None:
    """Sec §5.1.3(3-5): wrong aud, an untrusted extra aud, or a wrong azp are 401s."""
    redirect = login(tool, plat)
    exc = _reject(
        tool,
        plat.bad_launch(redirect, kind),
        redirect.cookie_value,
        AudienceMismatchError,
        "audience_mismatch",
    )
    assert exc.http_status == 401


@pytest.mark.parametrize("aud", ["someone-else", 5, [], [1], None], ids=repr)
def test_audience_shapes(aud: object, plat: SimulatedPlatform, tool: Tool[Any, Any]) -> None:
    """aud that is not our client id (string) or an array of strings containing it is refused."""
    redirect = login(tool, plat)
    form = plat.launch(redirect, claims={"aud": aud}, remove=("azp",))
    _reject(tool, form, redirect.cookie_value, AudienceMismatchError, "audience_mismatch")


def test_audience_as_plain_string_is_accepted(
    plat: SimulatedPlatform, tool: Tool[Any, Any]
) -> None:
    """Sec §5.1.2: aud may be a single string; azp is then optional."""
    redirect = login(tool, plat)
    form = plat.launch(redirect, claims={"aud": plat.client_id}, remove=("azp",))
    launch = accept(tool, form, redirect)
    assert launch.claims.audience == (plat.client_id,)
    assert launch.claims.authorized_party is None


def test_trusted_extra_audience_needs_azp(plat: SimulatedPlatform) -> None:
    """With a trusted extra audience, azp is still required (and then accepted)."""
    tool = plat.tool(trusted_audiences=["x"])
    redirect = login(tool, plat)
    exc = _reject(
        tool,
        plat.bad_launch(redirect, BadLaunch.MULTIPLE_AUDIENCES_NO_AZP),
        redirect.cookie_value,
        AudienceMismatchError,
        "audience_mismatch",
    )
    assert "azp" in exc.message
    launch = accept(tool, plat.launch(redirect, claims={"aud": [plat.client_id, "x"]}), redirect)
    assert launch.claims.audience == (plat.client_id, "x")
    assert launch.claims.authorized_party == plat.client_id

    redirect = login(tool, plat)
    form = plat.launch(redirect, claims={"aud": [plat.client_id, "x"], "azp": "x"})
    _reject(tool, form, redirect.cookie_value, AudienceMismatchError, "audience_mismatch")


# --------------------------------------------------------------------------- state binding


@pytest.mark.parametrize("cookie", [None, "", b"v1.x.y", 42], ids=repr)
def test_missing_or_non_text_state_cookie(
    cookie: object, plat: SimulatedPlatform, tool: Tool[Any, Any]
) -> None:
    """Sec §7.3.1: no (usable) state cookie means StateMismatchError."""
    redirect = login(tool, plat)
    exc = _reject(tool, plat.launch(redirect), cookie, StateMismatchError, "state_mismatch")
    assert exc.http_status == 401
    accept(tool, plat.launch(redirect), redirect)


def test_swapped_cookies_of_two_logins(plat: SimulatedPlatform, tool: Tool[Any, Any]) -> None:
    """Login CSRF: a launch posted with another login's cookie is refused (both ways)."""
    first = login(tool, plat)
    second = login(tool, plat)
    _reject(tool, plat.launch(first), second.cookie_value, StateMismatchError, "state_mismatch")
    _reject(tool, plat.launch(second), first.cookie_value, StateMismatchError, "state_mismatch")
    accept(tool, plat.launch(first), first)
    accept(tool, plat.launch(second), second)


def test_cookie_signed_with_another_secret(plat: SimulatedPlatform, tool: Tool[Any, Any]) -> None:
    """A binding signed by a tool with another state secret does not verify."""
    other = plat.tool(tool.storage, state_secret=SECRET_B)
    redirect = login(tool, plat)
    _reject(
        other, plat.launch(redirect), redirect.cookie_value, StateMismatchError, "state_mismatch"
    )


def _tampered_cookies(cookie: str, other: str) -> dict[str, str]:
    prefix, body, mac = cookie.split(".")
    fields = b64_decode(body).decode().split("\n")
    fields[4] = "https://evil.example.com/"  # another target_link_uri
    flipped = ("A" if mac[0] != "A" else "B") + mac[1:]
    return {
        "body-rewritten": f"{prefix}.{b64(chr(10).join(fields).encode())}.{mac}",
        "mac-flipped": f"{prefix}.{body}.{flipped}",
        "mac-dropped": f"{prefix}.{body}.",
        "other-body-same-mac": f"{prefix}.{other.split('.')[1]}.{mac}",
        "extra-segment": f"{cookie}.x",
        "no-prefix": f"{body}.{mac}",
        "non-ascii": cookie + "é",
    }


def test_tampered_cookie_is_rejected(plat: SimulatedPlatform, tool: Tool[Any, Any]) -> None:
    """Any change to the signed binding (body, MAC, structure) is StateMismatchError."""
    redirect = login(tool, plat)
    other = login(tool, plat)
    for cookie in _tampered_cookies(redirect.cookie_value, other.cookie_value).values():
        _reject(tool, plat.launch(redirect), cookie, StateMismatchError, "state_mismatch")
    accept(tool, plat.launch(redirect), redirect)


def test_posted_state_must_match_the_cookie(plat: SimulatedPlatform, tool: Tool[Any, Any]) -> None:
    """The posted state must equal the bound one: other value, other login's, or absent fail."""
    redirect = login(tool, plat)
    other = login(tool, plat)
    for state in ("not-the-state", other.state, redirect.state + "x", None):
        form: dict[str, Any] = dict(plat.launch(redirect))
        if state is None:
            del form["state"]
        else:
            form["state"] = state
        _reject(tool, form, redirect.cookie_value, StateMismatchError, "state_mismatch")
    accept(tool, plat.launch(redirect), redirect)


def test_state_secret_rotation(plat: SimulatedPlatform, tool: Tool[Any, Any]) -> None:
    """state_secret=[new, old]: old cookies still verify; new cookies are signed with new."""
    redirect = login(tool, plat)  # signed with SECRET_A
    rotated = plat.tool(tool.storage, state_secret=[SECRET_B, SECRET_A])
    accept(rotated, plat.launch(redirect), redirect)

    fresh = login(rotated, plat)  # signed with SECRET_B
    _reject(tool, plat.launch(fresh), fresh.cookie_value, StateMismatchError, "state_mismatch")
    only_new = plat.tool(tool.storage, state_secret=SECRET_B)
    accept(only_new, plat.launch(fresh), fresh)


# --------------------------------------------------------------------------- login cross-checks


def test_login_deployment_hint_must_match_the_claim(
    plat: SimulatedPlatform, tool: Tool[Any, Any]
) -> None:
    """Core §4.1.2: lti_deployment_id at login and a different deployment_id claim fail."""
    redirect = login(tool, plat, lti_deployment_id="deployment-2")
    form = plat.launch(redirect, claims={DEPLOYMENT_ID: plat.deployment_id})
    _reject(tool, form, redirect.cookie_value, DeploymentMismatchError, "deployment_mismatch")

    redirect = login(tool, plat, lti_deployment_id=plat.deployment_id)
    assert accept(tool, plat.launch(redirect), redirect).claims.deployment_id == plat.deployment_id


def test_target_link_uri_must_match_login(plat: SimulatedPlatform, tool: Tool[Any, Any]) -> None:
    """Core §5.3.4: the signed target_link_uri must equal the login's (and be present)."""
    redirect = login(tool, plat)
    _reject(
        tool,
        plat.bad_launch(redirect, BadLaunch.WRONG_TARGET_LINK_URI),
        redirect.cookie_value,
        TargetLinkUriMismatchError,
        "target_link_uri_mismatch",
    )
    form = plat.launch(redirect, claims={TARGET_LINK_URI: LAUNCH_URL + "/"})
    _reject(
        tool, form, redirect.cookie_value, TargetLinkUriMismatchError, "target_link_uri_mismatch"
    )
    form = plat.launch(redirect, remove=(TARGET_LINK_URI,))
    exc = _reject(tool, form, redirect.cookie_value, MissingClaimError, "missing_claim")
    assert exc.details["claim"] == "target_link_uri"


def test_platform_error_response(plat: SimulatedPlatform, tool: Tool[Any, Any]) -> None:
    """Sec §5.1.1.5: an OIDC error POST is PlatformAuthenticationError carrying the description."""
    redirect = login(tool, plat)
    form = {
        "error": "login_required",
        "error_description": "The user is not logged in to the LMS",
        "state": redirect.state,
    }
    for cookie in (redirect.cookie_value, None):
        exc = _reject(
            tool, form, cookie, PlatformAuthenticationError, "platform_authentication_failed"
        )
        assert "login_required" in exc.message
        assert "The user is not logged in to the LMS" in exc.message
        assert exc.details["error_description"] == "The user is not logged in to the LMS"
    accept(tool, plat.launch(redirect), redirect)


def test_jwt_field_is_an_alias_of_id_token(plat: SimulatedPlatform, tool: Tool[Any, Any]) -> None:
    """Core §4.4: the token may arrive as the form field `JWT`."""
    redirect = login(tool, plat)
    form = plat.launch(redirect)
    launch = accept(tool, {"JWT": form["id_token"], "state": form["state"]}, redirect)
    assert launch.claims.subject == "user-1"


# --------------------------------------------------------------------------- subject and messages


def test_anonymous_launch_needs_the_registration_flag(plat: SimulatedPlatform) -> None:
    """Core §5.3.6.1 vs Cert: no sub is refused by default, accepted with allow_anonymous."""
    strict = plat.tool()
    redirect = login(strict, plat)
    exc = _reject(
        strict,
        plat.bad_launch(redirect, BadLaunch.NO_SUB),
        redirect.cookie_value,
        MissingClaimError,
        "missing_claim",
    )
    assert exc.details["claim"] == "sub"

    anonymous = attrs.evolve(plat.registration, allow_anonymous=True)
    tool = plat.tool(storage_for(plat, anonymous))
    redirect = login(tool, plat)
    launch = accept(tool, plat.launch(redirect, remove=("sub",)), redirect)
    assert launch.claims.subject is None
    assert launch.claims.roles.is_instructor


@pytest.mark.parametrize("allow_anonymous", [False, True])
@pytest.mark.parametrize(
    ("sub", "error", "code"),
    [("", MissingClaimError, "missing_claim"), (123, InvalidClaimError, "invalid_claim")],
    ids=["empty", "number"],
)
def test_empty_or_non_text_sub_is_always_rejected(
    sub: object,
    error: type[CredltiError],
    code: str,
    allow_anonymous: bool,
    plat: SimulatedPlatform,
) -> None:
    """An empty-string (or non-string) sub is invalid even when anonymous launches are allowed."""
    registration = attrs.evolve(plat.registration, allow_anonymous=allow_anonymous)
    tool = plat.tool(storage_for(plat, registration))
    redirect = login(tool, plat)
    exc = _reject(
        tool, plat.launch(redirect, claims={"sub": sub}), redirect.cookie_value, error, code
    )
    assert exc.details["claim"] == "sub"


def test_deep_linking_request_without_link_sub_roles(
    plat: SimulatedPlatform, tool: Tool[Any, Any]
) -> None:
    """DL §4.4: a deep-linking request needs no resource_link, sub or roles."""
    redirect = login(tool, plat)
    form = plat.launch(redirect, message_type="LtiDeepLinkingRequest", remove=("sub", ROLES))
    launch = accept(tool, form, redirect)
    claims = launch.claims
    assert RESOURCE_LINK not in launch.raw
    assert claims.message_type == "LtiDeepLinkingRequest"
    assert claims.resource_link is None
    assert claims.subject is None
    assert len(claims.roles) == 0
    assert claims.deep_linking is not None
    assert claims.deep_linking.deep_link_return_url == f"{plat.issuer}/deep_links"
    assert claims.deep_linking.data == "opaque-data-1"


def test_deep_linking_request_without_settings(
    plat: SimulatedPlatform, tool: Tool[Any, Any]
) -> None:
    """DL §4.4.1: deep_linking_settings is required."""
    redirect = login(tool, plat)
    form = plat.launch(redirect, message_type="LtiDeepLinkingRequest", remove=(DL_SETTINGS_CLAIM,))
    exc = _reject(tool, form, redirect.cookie_value, MissingClaimError, "missing_claim")
    assert exc.details["claim"] == "deep_linking_settings"


def test_deep_linking_request_without_return_url(
    plat: SimulatedPlatform, tool: Tool[Any, Any]
) -> None:
    """DL §4.4.1: deep_link_return_url is required inside the settings."""
    redirect = login(tool, plat)
    settings = {"accept_types": ["link"], "accept_presentation_document_targets": ["iframe"]}
    form = plat.deep_linking_launch(redirect, settings=settings)
    exc = _reject(tool, form, redirect.cookie_value, MissingClaimError, "missing_claim")
    assert exc.details["claim"] == "deep_linking_settings.deep_link_return_url"


def test_unknown_claims_are_ignored_and_kept(plat: SimulatedPlatform, tool: Tool[Any, Any]) -> None:
    """Core §3.5: unknown claims do not fail a launch and are kept in claims.extensions."""
    vendor = "https://vendor.example.com/claim/plan"
    future = LTI_CLAIM + "future_thing"
    redirect = login(tool, plat)
    form = plat.launch(redirect, claims={vendor: {"tier": ["gold"]}, future: 1, "plain": None})
    launch = accept(tool, form, redirect)
    assert launch.claims.extensions[vendor] == {"tier": ["gold"]}
    assert launch.claims.extensions[future] == 1
    assert "plain" in launch.claims.extensions
    assert "sub" not in launch.claims.extensions


def test_unsupported_message_type(plat: SimulatedPlatform, tool: Tool[Any, Any]) -> None:
    """Core §5.3.1: an unknown or non-string message_type is refused."""
    redirect = login(tool, plat)
    _reject(
        tool,
        plat.bad_launch(redirect, BadLaunch.UNKNOWN_MESSAGE_TYPE),
        redirect.cookie_value,
        UnsupportedMessageTypeError,
        "unsupported_message_type",
    )
    for value in (5, ["LtiResourceLinkRequest"], "ltiresourcelinkrequest"):
        form = plat.launch(redirect, claims={MESSAGE_TYPE: value})
        _reject(
            tool,
            form,
            redirect.cookie_value,
            UnsupportedMessageTypeError,
            "unsupported_message_type",
        )


def _review_claims(plat: SimulatedPlatform) -> dict[str, Any]:
    return {
        AGS_CLAIM: {
            "scope": ["https://purl.imsglobal.org/spec/lti-ags/scope/score"],
            "lineitem": f"{plat.issuer}/lineitems/1",
        },
        LTI_CLAIM + "for_user": {"user_id": "student-7"},
    }


def test_submission_review_only_when_configured(plat: SimulatedPlatform) -> None:
    """LtiSubmissionReviewRequest is refused by default and accepted when added to message_types."""
    default = plat.tool()
    redirect = login(default, plat)
    form = plat.launch(
        redirect, message_type="LtiSubmissionReviewRequest", claims=_review_claims(plat)
    )
    _reject(
        default,
        form,
        redirect.cookie_value,
        UnsupportedMessageTypeError,
        "unsupported_message_type",
    )

    tool = plat.tool(message_types=[RESOURCE_LINK_REQUEST, SUBMISSION_REVIEW_REQUEST])
    redirect = login(tool, plat)
    form = plat.launch(
        redirect, message_type="LtiSubmissionReviewRequest", claims=_review_claims(plat)
    )
    launch = accept(tool, form, redirect)
    assert launch.claims.message_type == "LtiSubmissionReviewRequest"
    assert launch.claims.ags is not None
    assert launch.claims.extensions[LTI_CLAIM + "for_user"] == {"user_id": "student-7"}

    redirect = login(tool, plat)
    form = plat.launch(
        redirect,
        message_type="LtiSubmissionReviewRequest",
        claims=_review_claims(plat),
        remove=(LTI_CLAIM + "for_user",),
    )
    exc = _reject(tool, form, redirect.cookie_value, MissingClaimError, "missing_claim")
    assert exc.details["claim"] == "for_user"

    # Deep linking was not listed, so this tool refuses it.
    redirect = login(tool, plat)
    form = plat.deep_linking_launch(redirect)
    _reject(
        tool, form, redirect.cookie_value, UnsupportedMessageTypeError, "unsupported_message_type"
    )
    assert DEEP_LINKING_REQUEST.name not in tool.policy.message_types


def test_wrong_claim_shapes_are_invalid(plat: SimulatedPlatform, tool: Tool[Any, Any]) -> None:
    """roles not an array of strings, or resource_link not an object, are InvalidClaimError."""
    for claims in (
        {ROLES: "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"},
        {ROLES: [1, 2]},
        {RESOURCE_LINK: "resource-link-1"},
        {CONTEXT: {"id": 5}},
    ):
        redirect = login(tool, plat)
        form = plat.launch(redirect, claims=claims)
        _reject(tool, form, redirect.cookie_value, InvalidClaimError, "invalid_claim")


# --------------------------------------------------------------------------- id length limits


def _id_claims(which: str, value: str) -> dict[str, Any]:
    if which == "sub":
        return {"sub": value}
    if which == "deployment_id":
        return {DEPLOYMENT_ID: value}
    if which == "resource_link.id":
        return {RESOURCE_LINK: {"id": value}}
    return {CONTEXT: {"id": value, "title": "Course"}}


def _auto_tool(plat: SimulatedPlatform, **options: Any) -> Tool[Any, Any]:
    storage: MemoryLaunchStorage[Any, Any] = MemoryLaunchStorage(auto_register_deployments=True)
    plat.install(storage)
    return plat.tool(storage, **options)


ID_CLAIMS = ["sub", "deployment_id", "resource_link.id", "context.id"]


@pytest.mark.parametrize("which", ID_CLAIMS)
def test_ids_longer_than_255_are_rejected(which: str, plat: SimulatedPlatform) -> None:
    """Core §5.3: sub, deployment_id, resource_link.id and context.id are at most 255 chars."""
    tool = _auto_tool(plat)
    redirect = login(tool, plat)
    form = plat.launch(redirect, claims=_id_claims(which, LONG_ID))
    exc = _reject(tool, form, redirect.cookie_value, InvalidClaimError, "invalid_claim")
    assert exc.details["claim"] == which

    redirect = login(tool, plat)
    launch = accept(tool, plat.launch(redirect, claims=_id_claims(which, MAX_ID)), redirect)
    assert MAX_ID in json.dumps(dict(launch.raw))


@pytest.mark.parametrize("which", ID_CLAIMS)
def test_long_ids_accepted_without_id_limits(which: str, plat: SimulatedPlatform) -> None:
    """enforce_id_limits=False accepts a 256-character id, stored exactly as received."""
    tool = _auto_tool(plat, enforce_id_limits=False)
    redirect = login(tool, plat)
    launch = accept(tool, plat.launch(redirect, claims=_id_claims(which, LONG_ID)), redirect)
    claims = launch.claims
    got = {
        "sub": claims.subject,
        "deployment_id": claims.deployment_id,
        "resource_link.id": claims.resource_link.id if claims.resource_link else None,
        "context.id": claims.context.id if claims.context else None,
    }
    assert got[which] == LONG_ID


@pytest.mark.parametrize("deployment_id", ["dép-1", "dep\n1", "dep\x00"], ids=repr)
def test_non_ascii_deployment_id_is_a_typed_400(
    deployment_id: str, plat: SimulatedPlatform
) -> None:
    """Core §5.3.3: a non-printable-ASCII deployment_id is an invalid claim (400), never a 500."""
    tool = _auto_tool(plat)
    redirect = login(tool, plat)
    form = plat.launch(redirect, claims={DEPLOYMENT_ID: deployment_id})
    exc = _reject(tool, form, redirect.cookie_value, InvalidClaimError, "invalid_claim")
    assert exc.details["claim"] == "deployment_id"


# --------------------------------------------------------------------------- time


@pytest.mark.parametrize(
    ("kind", "error"),
    [
        (BadLaunch.EXPIRED, TokenExpiredError),
        (BadLaunch.TOO_OLD, TokenTooOldError),
        (BadLaunch.ISSUED_IN_FUTURE, TokenNotYetValidError),
        (BadLaunch.NOT_BEFORE_IN_FUTURE, TokenNotYetValidError),
    ],
    ids=["expired", "too-old", "issued-in-future", "not-before-in-future"],
)
def test_expired_and_untimely_tokens_are_rejected(
    kind: BadLaunch, error: type[CredltiError], plat: SimulatedPlatform, tool: Tool[Any, Any]
) -> None:
    """Sec §5.1.3(7-8): expired, too old, future-issued and not-yet-valid tokens are 401s."""
    redirect = login(tool, plat)
    exc = _reject(tool, plat.bad_launch(redirect, kind), redirect.cookie_value, error, error.code)
    assert exc.http_status == 401
    accept(tool, plat.launch(redirect), redirect)


def _timed(plat: SimulatedPlatform, **offsets: float) -> dict[str, float]:
    now = plat.clock().timestamp()
    return {name: now + offset for name, offset in offsets.items()}


@pytest.mark.parametrize(
    ("offsets", "leeway", "error"),
    [
        ({"exp": -5, "iat": -60}, 10.0, None),
        ({"exp": -5, "iat": -60}, 0.0, TokenExpiredError),
        ({"exp": -9, "iat": -60}, 10.0, None),
        ({"exp": -10, "iat": -60}, 10.0, TokenExpiredError),
        ({"iat": 5}, 10.0, None),
        ({"iat": 5}, 0.0, TokenNotYetValidError),
        ({"iat": 11}, 10.0, TokenNotYetValidError),
        ({"nbf": 5}, 10.0, None),
        ({"nbf": -3600}, 0.0, None),
        ({"nbf": 3600}, 10.0, TokenNotYetValidError),
        ({"iat": -600}, 10.0, None),
        ({"iat": -611}, 10.0, TokenTooOldError),
    ],
    ids=[
        "exp-5s-ago-default-leeway",
        "exp-5s-ago-no-leeway",
        "exp-9s-ago",
        "exp-at-leeway-edge",
        "iat-5s-future",
        "iat-5s-future-no-leeway",
        "iat-beyond-leeway",
        "nbf-5s-future",
        "nbf-past",
        "nbf-1h-future",
        "iat-at-max-age",
        "iat-beyond-max-age",
    ],
)
def test_clock_skew_and_token_age(
    offsets: dict[str, float],
    leeway: float,
    error: type[CredltiError] | None,
    plat: SimulatedPlatform,
) -> None:
    """Sec §5.1.3(7-8): exp/iat/nbf honour the leeway; tokens older than max_token_age fail."""
    tool = plat.tool(leeway=leeway)
    redirect = login(tool, plat)
    form = plat.launch(redirect, claims=_timed(plat, **offsets))
    if error is None:
        accept(tool, form, redirect)
    else:
        _reject(tool, form, redirect.cookie_value, error, error.code)


def test_max_token_age_is_configurable(plat: SimulatedPlatform) -> None:
    """A tool with max_token_age=60 refuses a token issued 100 s ago that the default accepts."""
    strict = plat.tool(max_token_age=60, state_secret=SECRET_A)
    redirect = login(strict, plat)
    form = plat.launch(redirect, claims=_timed(plat, iat=-100))
    _reject(strict, form, redirect.cookie_value, TokenTooOldError, "token_too_old")
    lenient = plat.tool(strict.storage, state_secret=SECRET_A)
    accept(lenient, form, redirect)


@pytest.mark.parametrize(
    ("claims", "remove", "error", "code"),
    [
        ({}, ("exp",), MissingClaimError, "missing_claim"),
        ({}, ("iat",), MissingClaimError, "missing_claim"),
        ({"exp": True}, (), TokenExpiredError, "token_expired"),
        ({"iat": True}, (), TokenNotYetValidError, "token_not_yet_valid"),
        ({"nbf": "soon"}, (), TokenNotYetValidError, "token_not_yet_valid"),
    ],
    ids=["no-exp", "no-iat", "bool-exp", "bool-iat", "text-nbf"],
)
def test_time_claims_shape(
    claims: dict[str, Any],
    remove: tuple[str, ...],
    error: type[CredltiError],
    code: str,
    plat: SimulatedPlatform,
    tool: Tool[Any, Any],
) -> None:
    """exp and iat are required numbers (not booleans); nbf, if present, is a number."""
    redirect = login(tool, plat)
    form = plat.launch(redirect, claims=claims, remove=remove)
    _reject(tool, form, redirect.cookie_value, error, code)


@pytest.mark.parametrize(
    ("claim", "value", "error"),
    [
        ("exp", 10**400, TokenExpiredError),
        ("exp", -(10**400), TokenExpiredError),
        ("iat", 10**400, TokenNotYetValidError),
        ("nbf", 10**400, TokenNotYetValidError),
    ],
    ids=["exp-huge", "exp-huge-negative", "iat-huge", "nbf-huge"],
)
def test_huge_integer_timestamps_are_typed_errors(
    claim: str,
    value: int,
    error: type[CredltiError],
    plat: SimulatedPlatform,
    tool: Tool[Any, Any],
) -> None:
    """A signed token with an integer timestamp too big for a float is a typed 401, not a crash."""
    redirect = login(tool, plat)
    form = plat.launch(redirect, claims={claim: value})
    _reject(tool, form, redirect.cookie_value, error, error.code)


# --------------------------------------------------------------------------- host objects, storage


@attrs.frozen
class HostRegistration:
    """A host's own registration row with extra fields."""

    record: Registration
    tenant: str
    plan: str

    def to_registration(self) -> Registration:
        return self.record


@attrs.frozen
class HostDeployment:
    """A host's own deployment row with extra fields."""

    deployment_id: str
    course_shell: str

    def to_deployment(self) -> Deployment:
        return Deployment(deployment_id=self.deployment_id)


def test_launch_context_carries_the_host_objects(plat: SimulatedPlatform) -> None:
    """LaunchContext.registration/deployment are the very objects the storage returned."""
    host_reg = HostRegistration(plat.registration, tenant="uni-7", plan="gold")
    host_dep = HostDeployment(plat.deployment_id, course_shell="shell-3")
    storage: MemoryLaunchStorage[HostRegistration, HostDeployment] = MemoryLaunchStorage()
    storage.add_registration(host_reg)
    storage.add_deployment(host_reg, host_dep)
    tool = plat.tool(storage)
    redirect = login(tool, plat)
    launch: LaunchContext[HostRegistration, HostDeployment] = accept(
        tool, plat.launch(redirect), redirect
    )
    assert launch.registration is host_reg
    assert launch.deployment is host_dep
    assert launch.registration.tenant == "uni-7"
    assert launch.deployment.course_shell == "shell-3"


class _BackendDownError(RuntimeError):
    pass


@attrs.define
class FlakyStorage:
    """Delegates to memory storage, but one named method raises a plain exception."""

    inner: MemoryLaunchStorage[Any, Any]
    broken: str
    calls: list[str] = attrs.field(factory=list)

    def _maybe_fail(self, name: str) -> None:
        self.calls.append(name)
        if name == self.broken:
            raise _BackendDownError("postgres://admin:hunter2@db/lti is down")

    def get_registration(self, issuer: str, client_id: str | None) -> Any:
        self._maybe_fail("get_registration")
        return self.inner.get_registration(issuer, client_id)

    def get_deployment(self, registration: Registration, deployment_id: str) -> Any:
        self._maybe_fail("get_deployment")
        return self.inner.get_deployment(registration, deployment_id)

    def store_nonce(
        self, nonce: str, registration: Registration, *, expires_at: datetime, now: datetime
    ) -> None:
        self._maybe_fail("store_nonce")
        self.inner.store_nonce(nonce, registration, expires_at=expires_at, now=now)

    def validate_nonce(
        self, nonce: str, registration: Registration, *, now: datetime
    ) -> NonceStatus:
        self._maybe_fail("validate_nonce")
        return self.inner.validate_nonce(nonce, registration, now=now)


STORAGE_FAILURES = [
    ("login", "get_registration"),
    ("login", "store_nonce"),
    ("callback", "get_registration"),
    ("callback", "get_deployment"),
    ("callback", "validate_nonce"),
]


@pytest.mark.parametrize(
    ("phase", "broken"), STORAGE_FAILURES, ids=[f"{p}-{m}" for p, m in STORAGE_FAILURES]
)
def test_storage_failure_is_storage_unavailable(
    phase: str, broken: str, plat: SimulatedPlatform
) -> None:
    """A storage method raising a plain exception surfaces as StorageUnavailableError (503)."""
    storage = FlakyStorage(storage_for(plat), broken="")
    tool: Tool[Any, Any] = Tool(storage, clock=plat.clock, http_client=plat.http_client())
    if phase == "login":
        storage.broken = broken
        exc = expect_error(
            partial(tool.handle_login, plat.login_params(), LAUNCH_URL),
            StorageUnavailableError,
            "storage_unavailable",
            status=503,
        )
    else:
        redirect = login(tool, plat)
        storage.broken = broken
        exc = expect_error(
            partial(tool.handle_callback, plat.launch(redirect), redirect.cookie_value),
            StorageUnavailableError,
            "storage_unavailable",
            status=503,
        )
    assert broken in storage.calls
    assert isinstance(exc.__cause__, _BackendDownError)
    assert "hunter2" not in str(exc)
    assert "hunter2" not in repr(exc)
