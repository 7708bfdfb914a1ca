"""Verifying the LTI 1.1 migration claim during a launch (an IO-free flow step).

The platform proves it is the LTI 1.1 consumer named by ``oauth_consumer_key`` by
signing ``key&deployment_id&iss&client_id&exp&nonce`` with that key's LTI 1.1
secret (HMAC-SHA256, base64; LTI 1.3 Migration Guide, "LTI 1.1 migration claim").
The launch flow runs this step after every claim check and before the deployment
lookup, so the nonce is still consumed last.
"""

from __future__ import annotations

import hmac
from collections.abc import Generator
from typing import Any

from credlti._text import safe_excerpt
from credlti.errors import ConfigurationError, Lti1p1SignatureInvalidError, Lti1p1UnverifiedError
from credlti.lti._launch_effects import GetLti1p1Secret
from credlti.lti._lti1p1_claim import (
    LTI1P1_SPEC,
    Lti1p1Claim,
    VerifiedLti1p1,
    lti1p1_base_string,
    lti1p1_signature,
)
from credlti.lti._policy import LaunchPolicy
from credlti.lti._records import Registration

__all__ = ["verify_lti1p1_flow"]


def _unverified(key: str, why: str) -> Lti1p1UnverifiedError:
    shown = safe_excerpt(key)
    msg = (
        f"the lti1p1 claim names LTI 1.1 consumer key '{shown}' but {why}; "
        "set allow_unverified_lti1p1=True to accept such launches without a verified 1.1 identity"
    )
    return Lti1p1UnverifiedError(msg, details={"oauth_consumer_key": shown})


def verify_lti1p1_flow(
    claim: Lti1p1Claim,
    *,
    registration: Registration,
    deployment_id: str,
    issuer: str,
    exp: float,
    nonce: str,
    policy: LaunchPolicy,
) -> Generator[Any, Any, VerifiedLti1p1 | None]:
    """Verify ``oauth_consumer_key_sign``; return the verified 1.1 identity, or None.

    None when the claim names no consumer key (nothing to verify), or when it
    cannot be verified and ``policy.allow_unverified_lti1p1`` is set.

    Yields:
        ``GetLti1p1Secret`` (only when the claim carries a key and a signature).

    Raises:
        Lti1p1SignatureInvalidError: The signature does not match (always).
        Lti1p1UnverifiedError: No secret for the key, or no signature (unless allowed).
    """
    key = claim.oauth_consumer_key
    if key is None:
        return None
    sign = claim.oauth_consumer_key_sign
    if sign is None:
        if policy.allow_unverified_lti1p1:
            return None
        raise _unverified(key, "carries no oauth_consumer_key_sign")
    secret = yield GetLti1p1Secret(registration=registration, oauth_consumer_key=key)
    if secret is None:
        if policy.allow_unverified_lti1p1:
            return None
        raise _unverified(key, "this tool has no LTI 1.1 secret for it")
    if not isinstance(secret, str):
        msg = f"get_lti1p1_secret must return a str or None, not {type(secret).__name__}"
        raise TypeError(msg)
    if not secret:
        msg = "get_lti1p1_secret returned an empty secret; return None for an unknown key"
        raise ConfigurationError(msg, spec_ref=LTI1P1_SPEC)
    base = lti1p1_base_string(
        oauth_consumer_key=key,
        deployment_id=deployment_id,
        issuer=issuer,
        client_id=registration.client_id,
        exp=exp,
        nonce=nonce,
    )
    expected = lti1p1_signature(secret, base).encode("ascii")
    if not hmac.compare_digest(expected, sign.encode("utf-8", "surrogatepass")):
        shown = safe_excerpt(key)
        msg = (
            f"the lti1p1 oauth_consumer_key_sign does not verify with the LTI 1.1 secret of "
            f"consumer key '{shown}': the platform has not proved it is that consumer"
        )
        raise Lti1p1SignatureInvalidError(msg, details={"oauth_consumer_key": shown})
    return VerifiedLti1p1(
        oauth_consumer_key=key,
        user_id=claim.user_id,
        context_id=claim.context_id,
        resource_link_id=claim.resource_link_id,
    )
