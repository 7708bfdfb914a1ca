"""The LTI 1.1 migration claim: parsing, oauth_consumer_key_sign verification, the port.

Expected signatures are computed here with a separate implementation written from
the Migration Guide's formula (``_spec_sign``: hmac/hashlib/base64 only), and checked
against the vector the guide publishes (also used by Canvas's and Tsugi's tests):
key ``179248902``, deployment ``689302``, issuer ``https://lmsvendor.com``, client
``PM48OJSfGDTAzAo``, exp ``1551290856``, nonce ``172we8671fd8z``, secret
``my-lti11-secret`` -> ``lWd54kFo5qU7xshAna6v8BwoBm6tmUjc6GTax6+12ps=``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import pickle
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from credlti._effects import run
from credlti.adapters.memory import MemoryLti1p1Secrets
from credlti.errors import (
    ConfigurationError,
    CredltiError,
    InvalidClaimError,
    Lti1p1SignatureInvalidError,
    Lti1p1UnverifiedError,
    MissingClaimError,
    StorageUnavailableError,
)
from credlti.lti import LaunchPolicy, Lti1p1Claim, Registration, VerifiedLti1p1
from credlti.lti._launch_effects import GetLti1p1Secret
from credlti.lti._lti1p1 import verify_lti1p1_flow
from credlti.lti._lti1p1_claim import (
    LTI1P1,
    lti1p1_base_string,
    lti1p1_signature,
    parse_lti1p1,
)
from credlti.ports import Lti1p1Secrets
from credlti.testing import SimulatedPlatform
from tests.lti.helpers import LAUNCH_URL, expect_error

# The Migration Guide's published example (LTI 1.1 migration claim).
SPEC = {
    "oauth_consumer_key": "179248902",
    "deployment_id": "689302",
    "iss": "https://lmsvendor.com",
    "client_id": "PM48OJSfGDTAzAo",
    "exp": 1551290856,
    "nonce": "172we8671fd8z",
    "secret": "my-lti11-secret",
    "sign": "lWd54kFo5qU7xshAna6v8BwoBm6tmUjc6GTax6+12ps=",
    "base": "179248902&689302&https://lmsvendor.com&PM48OJSfGDTAzAo&1551290856&172we8671fd8z",
}
SPEC_SIGN = "lWd54kFo5qU7xshAna6v8BwoBm6tmUjc6GTax6+12ps="
KEY, SECRET = "consumer-key-1", "lti11-shared-secret"


def _spec_sign(secret: str, *parts: object) -> str:
    """The guide's formula, written independently of credlti."""
    message = "&".join(str(p) for p in parts).encode("utf-8")
    return base64.b64encode(
        hmac.new(secret.encode("utf-8"), message, hashlib.sha256).digest()
    ).decode()


# --------------------------------------------------------------------------- the formula


def test_published_vector_by_the_independent_formula() -> None:
    parts = [
        SPEC[k] for k in ("oauth_consumer_key", "deployment_id", "iss", "client_id", "exp", "nonce")
    ]
    assert "&".join(str(p) for p in parts) == SPEC["base"]
    assert _spec_sign(str(SPEC["secret"]), *parts) == SPEC["sign"]


def test_published_vector_by_credlti() -> None:
    base = lti1p1_base_string(
        oauth_consumer_key="179248902",
        deployment_id="689302",
        issuer="https://lmsvendor.com",
        client_id="PM48OJSfGDTAzAo",
        exp=1551290856,
        nonce="172we8671fd8z",
    )
    assert base == SPEC["base"]
    assert lti1p1_signature("my-lti11-secret", base) == SPEC["sign"]


def test_exp_as_integral_float_is_signed_as_an_integer() -> None:
    base = lti1p1_base_string(
        oauth_consumer_key="k",
        deployment_id="d",
        issuer="i",
        client_id="c",
        exp=1551290856.0,
        nonce="n",
    )
    assert base == "k&d&i&c&1551290856&n"


@given(
    key=st.text(min_size=1, max_size=40),
    secret=st.text(min_size=1, max_size=40),
    deployment=st.text(min_size=1, max_size=40),
    nonce=st.text(min_size=1, max_size=40),
    exp=st.integers(min_value=0, max_value=10**11),
)
@settings(max_examples=200, deadline=None)
def test_credlti_agrees_with_the_independent_formula(
    key: str, secret: str, deployment: str, nonce: str, exp: int
) -> None:
    key, secret, deployment, nonce = (_valid_utf8(v) for v in (key, secret, deployment, nonce))
    issuer, client = "https://platform.example.edu", "client-1"
    base = lti1p1_base_string(
        oauth_consumer_key=key,
        deployment_id=deployment,
        issuer=issuer,
        client_id=client,
        exp=exp,
        nonce=nonce,
    )
    assert lti1p1_signature(secret, base) == _spec_sign(
        secret, key, deployment, issuer, client, exp, nonce
    )


def _valid_utf8(text: str) -> str:
    return text.encode("utf-8", "replace").decode("utf-8")


# --------------------------------------------------------------------------- the flow step


def _registration(
    issuer: str = "https://lmsvendor.com", client_id: str = "PM48OJSfGDTAzAo"
) -> Registration:
    return Registration(
        issuer=issuer,
        client_id=client_id,
        auth_endpoint=f"{issuer}/auth",
        jwks_uri=f"{issuer}/jwks",
    )


def _verify(
    claim: Lti1p1Claim, secret: object, *, policy: LaunchPolicy | None = None
) -> VerifiedLti1p1 | None:
    asked: list[GetLti1p1Secret] = []

    def perform(effect: Any) -> object:
        assert type(effect) is GetLti1p1Secret
        asked.append(effect)
        return secret

    return run(
        verify_lti1p1_flow(
            claim,
            registration=_registration(),
            deployment_id="689302",
            issuer="https://lmsvendor.com",
            exp=1551290856,
            nonce="172we8671fd8z",
            policy=policy or LaunchPolicy(),
        ),
        perform,
    )


def test_flow_verifies_the_published_vector() -> None:
    claim = Lti1p1Claim(
        user_id="34212", oauth_consumer_key="179248902", oauth_consumer_key_sign=SPEC_SIGN
    )
    verified = _verify(claim, "my-lti11-secret")
    assert verified == VerifiedLti1p1(oauth_consumer_key="179248902", user_id="34212")


@pytest.mark.parametrize(
    "sign",
    [
        "lWd54kFo5qU7xshAna6v8BwoBm6tmUjc6GTax6+12pt=",  # one character off
        "lWd54kFo5qU7xshAna6v8BwoBm6tmUjc6GTax6-12ps=",  # base64url spelling
        "lWd54kFo5qU7xshAna6v8BwoBm6tmUjc6GTax6+12ps",  # padding dropped
        "LWD54KFO5QU7XSHANA6V8BWOBM6TMUJC6GTAX6+12PS=",  # case changed
        "lWd54kFo5qU7xshAna6v8BwoBm6tmUjc6GTax6+12ps=\n",
        "\u00e9" * 44,
    ],
)
def test_flow_refuses_a_signature_that_differs(sign: str) -> None:
    claim = Lti1p1Claim(oauth_consumer_key="179248902", oauth_consumer_key_sign=sign)
    error = expect_error(
        lambda: _verify(claim, "my-lti11-secret"),
        Lti1p1SignatureInvalidError,
        "lti1p1_signature_invalid",
    )
    assert error.http_status == 401
    assert error.details["oauth_consumer_key"] == "179248902"
    assert "Migration Guide" in (error.spec_ref or "")


def test_flow_refuses_a_wrong_secret_even_when_unverified_launches_are_allowed() -> None:
    claim = Lti1p1Claim(oauth_consumer_key="179248902", oauth_consumer_key_sign=SPEC_SIGN)
    allowing = LaunchPolicy(allow_unverified_lti1p1=True)
    expect_error(
        lambda: _verify(claim, "other-secret", policy=allowing),
        Lti1p1SignatureInvalidError,
        "lti1p1_signature_invalid",
    )


def test_flow_without_a_consumer_key_asks_nothing() -> None:
    def perform(effect: Any) -> object:
        raise AssertionError(effect)

    claim = Lti1p1Claim(user_id="34212")
    flow = verify_lti1p1_flow(
        claim,
        registration=_registration(),
        deployment_id="d",
        issuer="i",
        exp=1,
        nonce="n",
        policy=LaunchPolicy(),
    )
    assert run(flow, perform) is None


def test_flow_unknown_key_or_missing_signature() -> None:
    signed = Lti1p1Claim(oauth_consumer_key="179248902", oauth_consumer_key_sign=SPEC_SIGN)
    unsigned = Lti1p1Claim(oauth_consumer_key="179248902")
    for claim in (signed, unsigned):
        with pytest.raises(Lti1p1UnverifiedError) as caught:
            _verify(claim, None)
        assert caught.value.code == "lti1p1_unverified"
        assert _verify(claim, None, policy=LaunchPolicy(allow_unverified_lti1p1=True)) is None


def test_flow_host_mistakes() -> None:
    claim = Lti1p1Claim(oauth_consumer_key="179248902", oauth_consumer_key_sign=SPEC_SIGN)
    with pytest.raises(TypeError, match="str or None"):
        _verify(claim, b"my-lti11-secret")
    expect_error(lambda: _verify(claim, ""), ConfigurationError, "configuration_error", status=500)


# --------------------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    ("value", "error", "path"),
    [
        ([], InvalidClaimError, "lti1p1"),
        ("x", InvalidClaimError, "lti1p1"),
        ({"user_id": 34212}, InvalidClaimError, "lti1p1.user_id"),
        ({"user_id": ""}, InvalidClaimError, "lti1p1.user_id"),
        ({"context_id": ["a"]}, InvalidClaimError, "lti1p1.context_id"),
        ({"resource_link_id": True}, InvalidClaimError, "lti1p1.resource_link_id"),
        ({"oauth_consumer_key": {"k": 1}}, InvalidClaimError, "lti1p1.oauth_consumer_key"),
        (
            {"oauth_consumer_key": "k", "oauth_consumer_key_sign": 5},
            InvalidClaimError,
            "lti1p1.oauth_consumer_key_sign",
        ),
        (
            {"oauth_consumer_key": "k", "oauth_consumer_key_sign": "s" * 513},
            InvalidClaimError,
            "lti1p1.oauth_consumer_key_sign",
        ),
        ({"user_id": "u" * 256}, InvalidClaimError, "lti1p1.user_id"),
        ({"oauth_consumer_key_sign": "abc="}, MissingClaimError, "lti1p1.oauth_consumer_key"),
    ],
)
def test_parse_refuses_hostile_shapes(value: object, error: type[CredltiError], path: str) -> None:
    with pytest.raises(error) as caught:
        parse_lti1p1(value, 255)
    assert caught.value.details["claim"] == path


def test_parse_keeps_values_and_ignores_unknown_members() -> None:
    claim = parse_lti1p1(
        {
            "user_id": "u",
            "context_id": "c",
            "resource_link_id": "r",
            "oauth_consumer_key": "k",
            "other": [1],
            "oauth_consumer_key_sign": None,
        },
        255,
    )
    assert claim == Lti1p1Claim(
        user_id="u", context_id="c", resource_link_id="r", oauth_consumer_key="k"
    )
    assert "sign" not in repr(
        Lti1p1Claim(oauth_consumer_key="k", oauth_consumer_key_sign="secret-looking")
    )
    assert parse_lti1p1({"user_id": "u" * 300}, None).user_id == "u" * 300


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3)
    ),
    max_leaves=8,
)
_MEMBERS = st.sampled_from(
    ["user_id", "context_id", "resource_link_id", "oauth_consumer_key", "oauth_consumer_key_sign"]
)


@given(st.one_of(_JSON, st.dictionaries(_MEMBERS, _JSON, max_size=5)))
@settings(max_examples=300, deadline=None)
def test_parse_hostile_values_raise_only_claim_errors(value: object) -> None:
    try:
        claim = parse_lti1p1(value, 255)
    except (InvalidClaimError, MissingClaimError) as exc:
        path = str(exc.details["claim"])
    else:
        path = ""
        for name in ("user_id", "context_id", "resource_link_id", "oauth_consumer_key"):
            item = getattr(claim, name)
            assert item is None or (isinstance(item, str) and item)
        return
    assert path.startswith("lti1p1")


# --------------------------------------------------------------------------- through the tool


def _secrets(platform: SimulatedPlatform) -> MemoryLti1p1Secrets:
    store = MemoryLti1p1Secrets()
    store.add(KEY, SECRET, issuer=platform.issuer)
    return store


def _independently_signed(
    platform: SimulatedPlatform, login: Any, secret: str, **extra: str
) -> dict[str, str]:
    payload = platform.launch_claims(login)
    sign = _spec_sign(
        secret,
        KEY,
        payload["https://purl.imsglobal.org/spec/lti/claim/deployment_id"],
        payload["iss"],
        platform.client_id,
        payload["exp"],
        payload["nonce"],
    )
    claim = {
        "user_id": "legacy-user-9",
        "oauth_consumer_key": KEY,
        "oauth_consumer_key_sign": sign,
        **extra,
    }
    return platform.launch(login, claims={LTI1P1: claim})


def test_tool_exposes_the_verified_identity(platform: SimulatedPlatform) -> None:
    tool = platform.tool(lti1p1_secrets=_secrets(platform))
    login = tool.handle_login(platform.login_params(), LAUNCH_URL)
    launch = tool.handle_callback(
        _independently_signed(
            platform, login, SECRET, context_id="legacy-course", resource_link_id="legacy-link"
        ),
        login.cookie_value,
    )
    assert launch.lti1p1 == VerifiedLti1p1(
        oauth_consumer_key=KEY,
        user_id="legacy-user-9",
        context_id="legacy-course",
        resource_link_id="legacy-link",
    )
    assert launch.claims.lti1p1 is not None
    assert launch.claims.lti1p1.user_id == "legacy-user-9"
    assert LTI1P1 not in launch.claims.extensions
    restored = pickle.loads(pickle.dumps(launch))  # noqa: S301 - our own object
    assert restored.lti1p1 == launch.lti1p1
    assert restored.claims.lti1p1 == launch.claims.lti1p1


def test_tool_refuses_a_bad_signature_and_keeps_the_nonce(platform: SimulatedPlatform) -> None:
    tool = platform.tool(lti1p1_secrets=_secrets(platform))
    login = tool.handle_login(platform.login_params(), LAUNCH_URL)
    expect_error(
        lambda: tool.handle_callback(
            _independently_signed(platform, login, "not-the-secret"), login.cookie_value
        ),
        Lti1p1SignatureInvalidError,
        "lti1p1_signature_invalid",
    )
    # The nonce was not burnt: the genuine launch for the same login still works.
    launch = tool.handle_callback(
        _independently_signed(platform, login, SECRET), login.cookie_value
    )
    assert launch.lti1p1 is not None


def test_platform_option_signs_like_the_spec(platform: SimulatedPlatform) -> None:
    tool = platform.tool(lti1p1_secrets=_secrets(platform))
    login = tool.handle_login(platform.login_params(), LAUNCH_URL)
    form = platform.launch(
        login, lti1p1={"user_id": "u-1", "oauth_consumer_key": KEY}, lti1p1_secret=SECRET
    )
    assert tool.handle_callback(form, login.cookie_value).lti1p1 == VerifiedLti1p1(
        oauth_consumer_key=KEY, user_id="u-1"
    )


def test_secret_for_another_issuer_is_not_used(platform: SimulatedPlatform) -> None:
    store = MemoryLti1p1Secrets()
    store.add(KEY, SECRET, issuer="https://other-lms.example.edu")
    tool = platform.tool(lti1p1_secrets=store)
    login = tool.handle_login(platform.login_params(), LAUNCH_URL)
    form = platform.launch(login, lti1p1={"oauth_consumer_key": KEY}, lti1p1_secret=SECRET)
    expect_error(
        lambda: tool.handle_callback(form, login.cookie_value),
        Lti1p1UnverifiedError,
        "lti1p1_unverified",
    )
    assert store.remove(KEY, issuer="https://other-lms.example.edu")
    assert not store.remove(KEY, issuer="https://other-lms.example.edu")


def test_unverified_launch_when_allowed(platform: SimulatedPlatform) -> None:
    tool = platform.tool(lti1p1_secrets=MemoryLti1p1Secrets(), allow_unverified_lti1p1=True)
    login = tool.handle_login(platform.login_params(), LAUNCH_URL)
    form = platform.launch(
        login, lti1p1={"user_id": "u-1", "oauth_consumer_key": KEY}, lti1p1_secret=SECRET
    )
    launch = tool.handle_callback(form, login.cookie_value)
    assert launch.lti1p1 is None
    sent = launch.claims.lti1p1
    assert sent is not None
    assert (sent.user_id, sent.oauth_consumer_key) == ("u-1", KEY)
    assert sent.oauth_consumer_key_sign


def test_without_secrets_the_claim_is_only_parsed(platform: SimulatedPlatform) -> None:
    tool = platform.tool()
    login = tool.handle_login(platform.login_params(), LAUNCH_URL)
    form = platform.launch(
        login, lti1p1={"user_id": "u-1", "oauth_consumer_key": KEY}, lti1p1_secret="whatever"
    )
    launch = tool.handle_callback(form, login.cookie_value)
    assert launch.lti1p1 is None
    assert launch.claims.lti1p1 is not None
    assert launch.claims.lti1p1.oauth_consumer_key == KEY


def test_hostile_claim_through_the_tool(platform: SimulatedPlatform) -> None:
    tool = platform.tool()
    login = tool.handle_login(platform.login_params(), LAUNCH_URL)
    form = platform.launch(login, claims={LTI1P1: {"user_id": ["a"]}})
    error = expect_error(
        lambda: tool.handle_callback(form, login.cookie_value), InvalidClaimError, "invalid_claim"
    )
    assert error.details["claim"] == "lti1p1.user_id"


def test_launch_without_the_claim_asks_no_secret(platform: SimulatedPlatform) -> None:
    class Counting:
        calls = 0

        def get_lti1p1_secret(
            self, registration: Registration, oauth_consumer_key: str
        ) -> str | None:
            Counting.calls += 1
            return SECRET

    secrets_port: Lti1p1Secrets = Counting()
    tool = platform.tool(lti1p1_secrets=secrets_port)
    login = tool.handle_login(platform.login_params(), LAUNCH_URL)
    launch = tool.handle_callback(platform.launch(login), login.cookie_value)
    assert launch.lti1p1 is None
    assert launch.claims.lti1p1 is None
    assert Counting.calls == 0


def test_failing_secret_store_is_a_storage_error(platform: SimulatedPlatform) -> None:
    class Broken:
        def get_lti1p1_secret(
            self, registration: Registration, oauth_consumer_key: str
        ) -> str | None:
            raise OSError("vault down")

    tool = platform.tool(lti1p1_secrets=Broken())
    login = tool.handle_login(platform.login_params(), LAUNCH_URL)
    form = platform.launch(login, lti1p1={"oauth_consumer_key": KEY}, lti1p1_secret=SECRET)
    expect_error(
        lambda: tool.handle_callback(form, login.cookie_value),
        StorageUnavailableError,
        "storage_unavailable",
        status=503,
    )


def test_async_tool_awaits_an_async_secret_store(platform: SimulatedPlatform) -> None:
    class AsyncSecrets:
        async def get_lti1p1_secret(
            self, registration: Registration, oauth_consumer_key: str
        ) -> str | None:
            await asyncio.sleep(0)
            return SECRET if oauth_consumer_key == KEY else None

    async def scenario() -> None:
        tool = platform.async_tool(lti1p1_secrets=AsyncSecrets())
        login = await tool.handle_login(platform.login_params(), LAUNCH_URL)
        form = platform.launch(
            login, lti1p1={"user_id": "u-2", "oauth_consumer_key": KEY}, lti1p1_secret=SECRET
        )
        launch = await tool.handle_callback(form, login.cookie_value)
        assert launch.lti1p1 == VerifiedLti1p1(oauth_consumer_key=KEY, user_id="u-2")
        login = await tool.handle_login(platform.login_params(), LAUNCH_URL)
        bad = platform.launch(login, lti1p1={"oauth_consumer_key": KEY}, lti1p1_secret="nope")
        with pytest.raises(Lti1p1SignatureInvalidError):
            await tool.handle_callback(bad, login.cookie_value)
        await tool.aclose()

    asyncio.run(scenario())


def test_memory_secrets_validation() -> None:
    store = MemoryLti1p1Secrets({"k": "hush-hush"})
    assert store.get_lti1p1_secret(_registration(), "k") == "hush-hush"
    assert store.get_lti1p1_secret(_registration(), "missing") is None
    assert "hush" not in repr(store)
    with pytest.raises(ValueError, match="non-empty"):
        store.add("k", "")


# ---------------------------------------------------------------------- hostile claims, verified

_FUZZ_PLATFORM = SimulatedPlatform()
_FUZZ_SECRETS = MemoryLti1p1Secrets()
_FUZZ_SECRETS.add(KEY, SECRET)
_FUZZ_TOOL = _FUZZ_PLATFORM.tool(lti1p1_secrets=_FUZZ_SECRETS)


@given(
    edits=st.dictionaries(
        _MEMBERS, st.one_of(_JSON, st.sampled_from([KEY, SECRET, "", "x" * 600])), max_size=3
    ),
    allow=st.booleans(),
)
@settings(max_examples=60, deadline=None)
def test_hostile_claims_through_a_verifying_tool(edits: dict[str, object], allow: bool) -> None:
    """A signed claim with hostile edits: a verified launch, or a CredltiError, nothing else."""
    tool = _FUZZ_TOOL
    if allow:
        tool = _FUZZ_PLATFORM.tool(lti1p1_secrets=_FUZZ_SECRETS, allow_unverified_lti1p1=True)
    login = tool.handle_login(_FUZZ_PLATFORM.login_params(), LAUNCH_URL)
    payload = _FUZZ_PLATFORM.launch_claims(login)
    sign = _spec_sign(
        SECRET,
        KEY,
        payload["https://purl.imsglobal.org/spec/lti/claim/deployment_id"],
        payload["iss"],
        _FUZZ_PLATFORM.client_id,
        payload["exp"],
        payload["nonce"],
    )
    claim: dict[str, object] = {
        "user_id": "u",
        "oauth_consumer_key": KEY,
        "oauth_consumer_key_sign": sign,
    }
    claim.update(edits)
    try:
        launch = tool.handle_callback(
            _FUZZ_PLATFORM.launch(login, claims={LTI1P1: claim}), login.cookie_value
        )
    except CredltiError:
        return
    if launch.lti1p1 is not None:
        # Verified only with the genuine key and signature.
        assert launch.lti1p1.oauth_consumer_key == KEY
        assert claim["oauth_consumer_key"] == KEY
        assert claim["oauth_consumer_key_sign"] == sign
