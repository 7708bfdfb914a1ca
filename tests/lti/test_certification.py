"""The 30 core-launch certification cases (checklist §I: I-1, I-2, I-3).

Every case goes through the full OIDC flow: ``handle_login`` (fresh state and nonce),
the simulated platform's signed form POST, then ``handle_callback``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import attrs
import pytest

from credlti.errors import (
    AlgorithmNotAllowedError,
    CredltiError,
    InvalidClaimError,
    KidMissingError,
    KidNotFoundError,
    LaunchError,
    MalformedTokenError,
    MissingClaimError,
    MissingParameterError,
    NonceReusedError,
    TokenExpiredError,
    TokenNotYetValidError,
)
from credlti.lti import LaunchContext, LoginRedirect, Tool
from credlti.lti._claims import CONTEXT, RESOURCE_LINK, ROLES, VERSION
from credlti.lti._roles import RoleKind
from credlti.testing import INSTRUCTOR, LEARNER, BadLaunch, SimulatedPlatform

from .helpers import START, accept, expect_error, login

FACULTY = "http://purl.imsglobal.org/vocab/lis/v2/institution/person#Faculty"
STUDENT = "http://purl.imsglobal.org/vocab/lis/v2/institution/person#Student"
UNKNOWN_ROLE = "http://vendor.example.com/roles#Wizard"
NAME_CLAIMS = ("name", "given_name", "family_name")


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
    return plat.tool()


# --------------------------------------------------------------------------- I-1

Form = Callable[[SimulatedPlatform, LoginRedirect], dict[str, str]]


def _bad(kind: BadLaunch) -> Form:
    return lambda plat, redirect: plat.bad_launch(redirect, kind)


def _lti11_post(plat: SimulatedPlatform, redirect: LoginRedirect) -> dict[str, str]:
    # An LTI 1.1-style form post: OAuth 1 fields, no id_token at all.
    return {
        "lti_message_type": "basic-lti-launch-request",
        "lti_version": "LTI-1p0",
        "oauth_consumer_key": "key",
        "oauth_signature": "c2lnbmF0dXJl",
        "resource_link_id": "rl-1",
        "state": plat.authorize(redirect)["state"],
    }


def _non_numeric_iat(plat: SimulatedPlatform, redirect: LoginRedirect) -> dict[str, str]:
    return plat.launch(redirect, claims={"iat": "yesterday"})


def _resource_link_without_id(plat: SimulatedPlatform, redirect: LoginRedirect) -> dict[str, str]:
    return plat.launch(redirect, claims={RESOURCE_LINK: {"id": "", "title": "empty id"}})


@attrs.frozen
class BadCase:
    """One known-bad payload and the exact error it must produce."""

    id: str
    form: Form
    error: type[CredltiError]
    code: str
    claim: str | None = None  # details["claim"] for missing/invalid claim errors


BAD_CASES = [
    BadCase("01-no-kid", _bad(BadLaunch.NO_KID), KidMissingError, "kid_missing"),
    BadCase("02-incorrect-kid", _bad(BadLaunch.WRONG_KID), KidNotFoundError, "kid_not_found"),
    BadCase(
        "03-wrong-lti-version",
        _bad(BadLaunch.WRONG_VERSION),
        InvalidClaimError,
        "invalid_claim",
        "version",
    ),
    BadCase(
        "04-no-lti-version",
        _bad(BadLaunch.NO_VERSION),
        MissingClaimError,
        "missing_claim",
        "version",
    ),
    BadCase(
        "05-invalid-lti-message-garbage",
        _bad(BadLaunch.GARBAGE),
        MalformedTokenError,
        "malformed_token",
    ),
    BadCase(
        "05-invalid-lti-message-lti11-post", _lti11_post, MissingParameterError, "missing_parameter"
    ),
    BadCase(
        "06-missing-lti-claims",
        _bad(BadLaunch.MISSING_LTI_CLAIMS),
        MissingClaimError,
        "missing_claim",
        "message_type",
    ),
    BadCase("07-timestamps-expired", _bad(BadLaunch.EXPIRED), TokenExpiredError, "token_expired"),
    BadCase(
        "07-timestamps-iat-in-future",
        _bad(BadLaunch.ISSUED_IN_FUTURE),
        TokenNotYetValidError,
        "token_not_yet_valid",
    ),
    BadCase(
        "07-timestamps-iat-after-exp",
        _bad(BadLaunch.IAT_AFTER_EXP),
        TokenNotYetValidError,
        "token_not_yet_valid",
    ),
    BadCase(
        "07-timestamps-non-numeric-exp",
        _bad(BadLaunch.NON_NUMERIC_EXP),
        TokenExpiredError,
        "token_expired",
    ),
    BadCase(
        "07-timestamps-non-numeric-iat",
        _non_numeric_iat,
        TokenNotYetValidError,
        "token_not_yet_valid",
    ),
    BadCase(
        "08-message-type-missing",
        _bad(BadLaunch.NO_MESSAGE_TYPE),
        MissingClaimError,
        "missing_claim",
        "message_type",
    ),
    BadCase(
        "09-role-claim-missing",
        _bad(BadLaunch.NO_ROLES),
        MissingClaimError,
        "missing_claim",
        "roles",
    ),
    BadCase(
        "10-deployment-id-missing",
        _bad(BadLaunch.NO_DEPLOYMENT_ID),
        MissingClaimError,
        "missing_claim",
        "deployment_id",
    ),
    BadCase(
        "11-resource-link-id-missing",
        _bad(BadLaunch.NO_RESOURCE_LINK_ID),
        MissingClaimError,
        "missing_claim",
        "resource_link.id",
    ),
    BadCase(
        "11-resource-link-id-empty",
        _resource_link_without_id,
        MissingClaimError,
        "missing_claim",
        "resource_link.id",
    ),
    BadCase(
        "11-resource-link-claim-missing",
        _bad(BadLaunch.NO_RESOURCE_LINK),
        MissingClaimError,
        "missing_claim",
        "resource_link",
    ),
    BadCase(
        "12-user-claim-missing", _bad(BadLaunch.NO_SUB), MissingClaimError, "missing_claim", "sub"
    ),
]


@pytest.mark.parametrize("case", BAD_CASES, ids=[f"I1-{c.id}" for c in BAD_CASES])
def test_known_bad_payload_is_rejected(
    case: BadCase, plat: SimulatedPlatform, tool: Tool[Any, Any]
) -> None:
    """Cert §6.1.1: each known-bad payload gets its exact typed 4xx error and no launch."""
    redirect = login(tool, plat)
    form = case.form(plat, redirect)
    exc = expect_error(
        lambda: tool.handle_callback(form, redirect.cookie_value), case.error, case.code
    )
    assert isinstance(exc, LaunchError)
    if case.claim is not None:
        assert exc.details["claim"] == case.claim
    # No session was created and the real user's nonce was not burnt by the bad post.
    accept(tool, plat.launch(redirect), redirect)


def test_incorrect_kid_is_rejected_even_after_a_refetch(
    plat: SimulatedPlatform, tool: Tool[Any, Any]
) -> None:
    """Cert "Incorrect KID": an unknown kid causes one rate-limited refetch, then rejection."""
    warm = login(tool, plat)
    accept(tool, plat.launch(warm), warm)
    assert tool.key_set_fetches == 1
    plat.clock.advance(tool.policy.jwks.refetch_cooldown + 1)
    for expected_fetches in (2, 2):  # the second miss is inside the cooldown: no traffic
        redirect = login(tool, plat)
        form = plat.bad_launch(redirect, BadLaunch.WRONG_KID)
        expect_error(
            partial(tool.handle_callback, form, redirect.cookie_value),
            KidNotFoundError,
            "kid_not_found",
        )
        assert tool.key_set_fetches == expected_fetches


def test_alg_variants_of_cert_are_rejected(plat: SimulatedPlatform, tool: Tool[Any, Any]) -> None:
    """Cert §4.2: none and HS256 (symmetric) tokens are refused before any key lookup."""
    for kind in (BadLaunch.ALG_NONE, BadLaunch.ALG_HS256):
        redirect = login(tool, plat)
        form = plat.bad_launch(redirect, kind)
        expect_error(
            partial(tool.handle_callback, form, redirect.cookie_value),
            AlgorithmNotAllowedError,
            "algorithm_not_allowed",
        )
    assert tool.key_set_fetches == 0


# --------------------------------------------------------------------------- I-2, I-3


@attrs.frozen
class GoodCase:
    """One valid launch variant."""

    id: str
    roles: tuple[str, ...]
    instructor: bool
    learner: bool
    remove: tuple[str, ...] = ()
    unrecognized: tuple[str, ...] = ()


def _variants(prefix: str, first: int, role: str, short: str, extra: str) -> list[GoodCase]:
    staff = role == INSTRUCTOR
    n = first
    return [
        GoodCase(f"{prefix}-{n:02d}-valid", (role,), staff, not staff),
        GoodCase(f"{prefix}-{n + 1:02d}-with-roles", (role, extra), staff, not staff),
        GoodCase(f"{prefix}-{n + 2:02d}-short-role", (short,), staff, not staff),
        GoodCase(
            f"{prefix}-{n + 3:02d}-unknown-role",
            (UNKNOWN_ROLE,),
            instructor=False,
            learner=False,
            unrecognized=(UNKNOWN_ROLE,),
        ),
        GoodCase(f"{prefix}-{n + 4:02d}-no-role", (), instructor=False, learner=False),
        GoodCase(f"{prefix}-{n + 5:02d}-email-only", (role,), staff, not staff, NAME_CLAIMS),
        GoodCase(f"{prefix}-{n + 6:02d}-names-only", (role,), staff, not staff, ("email",)),
        GoodCase(
            f"{prefix}-{n + 7:02d}-no-pii", (role,), staff, not staff, (*NAME_CLAIMS, "email")
        ),
        GoodCase(
            f"{prefix}-{n + 8:02d}-email-without-context",
            (role,),
            staff,
            not staff,
            (*NAME_CLAIMS, CONTEXT),
        ),
    ]


GOOD_CASES = [
    *_variants("I2", 13, INSTRUCTOR, "Instructor", FACULTY),
    *_variants("I3", 22, LEARNER, "Learner", STUDENT),
]
assert len(GOOD_CASES) == 18


@pytest.mark.parametrize("case", GOOD_CASES, ids=[c.id for c in GOOD_CASES])
def test_valid_launch_is_accepted(
    case: GoodCase, plat: SimulatedPlatform, tool: Tool[Any, Any]
) -> None:
    """Cert §6.1.2/§6.1.3: each valid variant yields a launch with the right user view."""
    redirect = login(tool, plat)
    form = plat.launch(redirect, roles=case.roles, remove=case.remove)
    launch = accept(tool, form, redirect)
    claims = launch.claims
    roles = claims.roles

    assert claims.subject == "user-1"
    assert claims.message_type == "LtiResourceLinkRequest"
    assert claims.resource_link is not None
    assert claims.resource_link.id == "resource-link-1"
    assert roles.is_instructor is case.instructor
    assert roles.is_learner is case.learner
    assert roles.is_staff is case.instructor
    assert roles.unrecognized == case.unrecognized
    assert len(roles) + len(roles.unrecognized) == len(case.roles)
    if case.id.endswith("short-role"):
        assert roles.recognized[0].deprecated
        assert roles.recognized[0].kind is RoleKind.CONTEXT
        assert roles.recognized[0].uri == case.roles[0]
    if case.id.endswith("with-roles"):
        assert [r.name for r in roles.institution] == [case.roles[1].rsplit("#", 1)[1]]
    if case.id.endswith("no-role"):
        assert launch.raw[ROLES] == []
    assert (claims.email is None) is ("email" in case.remove)
    for name in NAME_CLAIMS:
        assert (getattr(claims, name) is None) is (name in case.remove)
    if CONTEXT in case.remove:
        assert claims.context is None
    else:
        assert claims.context is not None
        assert claims.context.id == "context-1"
    assert launch.registration == plat.registration
    assert launch.deployment == plat.deployment


def test_accepted_launch_consumes_the_nonce(plat: SimulatedPlatform, tool: Tool[Any, Any]) -> None:
    """A certification launch is single-use: the same POST again is a replay."""
    redirect = login(tool, plat)
    form = plat.launch(redirect)
    launch = accept(tool, form, redirect)
    assert isinstance(launch, LaunchContext)
    expect_error(
        lambda: tool.handle_callback(form, redirect.cookie_value), NonceReusedError, "nonce_reused"
    )


def test_version_claim_must_be_exact(plat: SimulatedPlatform, tool: Tool[Any, Any]) -> None:
    """Core §5.3.2: a version with whitespace or a number is not "1.3.0"."""
    for bad in (" 1.3.0", "1.3", 1.3):
        redirect = login(tool, plat)
        form: dict[str, Any] = plat.launch(redirect, claims={VERSION: bad})
        expect_error(
            partial(tool.handle_callback, form, redirect.cookie_value),
            InvalidClaimError,
            "invalid_claim",
        )
