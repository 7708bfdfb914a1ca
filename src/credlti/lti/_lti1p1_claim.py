"""The LTI 1.1 migration claim: its records, its shape check and its signature formula.

A record module (pure, no IO). The claim lets a platform that moved a tool from
LTI 1.1 to LTI 1.3 keep sending the 1.1 identifiers (LTI 1.3 Migration Guide, "LTI 1.1
migration claim", https://www.imsglobal.org/spec/lti/v1p3/migr#lti-1-1-migration-claim).
The launch flow (:mod:`credlti.lti._lti1p1`) verifies ``oauth_consumer_key_sign``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

import attrs

from credlti.errors import MissingClaimError
from credlti.lti._claim_values import LTI_CLAIM, as_object, invalid

__all__ = [
    "LTI1P1",
    "LTI1P1_SPEC",
    "Lti1p1Claim",
    "VerifiedLti1p1",
    "lti1p1_base_string",
    "lti1p1_signature",
    "parse_lti1p1",
]

#: The migration claim's full name.
LTI1P1 = LTI_CLAIM + "lti1p1"
#: Where the claim and its signature are defined.
LTI1P1_SPEC = "Migration Guide, LTI 1.1 migration claim"

_FIELDS = ("user_id", "context_id", "resource_link_id", "oauth_consumer_key")
#: base64 of an HMAC-SHA256 digest is 44 characters; anything much longer is not one.
_MAX_SIGN = 512


@attrs.frozen(kw_only=True)
class Lti1p1Claim:
    """The ``lti1p1`` claim **as the platform sent it: not verified**.

    Every id here is only what this 1.3 registration says. Do not link it to an
    LTI 1.1 account of a consumer key with it: a platform can name any consumer key.
    Use :attr:`credlti.lti.LaunchContext.lti1p1`, which exists only when
    ``oauth_consumer_key_sign`` verified with that key's LTI 1.1 secret.
    """

    #: The LTI 1.1 ``user_id`` (sent when it differs from ``sub``).
    user_id: str | None = None
    #: The LTI 1.1 ``context_id`` (sent when it differs from the 1.3 context id).
    context_id: str | None = None
    #: The LTI 1.1 ``resource_link_id`` (sent when it differs from the 1.3 one).
    resource_link_id: str | None = None
    #: The LTI 1.1 consumer key the platform claims to hold.
    oauth_consumer_key: str | None = None
    #: base64(HMAC-SHA256) proving the platform holds that key's secret.
    oauth_consumer_key_sign: str | None = attrs.field(default=None, repr=False)


@attrs.frozen(kw_only=True)
class VerifiedLti1p1:
    """The LTI 1.1 identity of a launch, **verified** with the consumer key's 1.1 secret.

    Exists only when ``oauth_consumer_key_sign`` matched the signature computed
    with the secret your :class:`~credlti.ports.Lti1p1Secrets` returned for
    :attr:`oauth_consumer_key`: the platform proved it is that LTI 1.1 consumer, so
    the ids below may be matched to the accounts, courses and links you keep
    under that key. An id is ``None`` when the platform did not send it (the 1.3 id
    is then the same as the 1.1 one: ``sub``, ``context.id``, ``resource_link.id``).
    """

    oauth_consumer_key: str
    user_id: str | None = None
    context_id: str | None = None
    resource_link_id: str | None = None


def parse_lti1p1(value: object, id_limit: int | None) -> Lti1p1Claim:
    """Check the claim's shape and build its record (InvalidClaimError on hostile values).

    Every member is optional; when present it must be a non-empty string (ids at
    most *id_limit* characters). A signature without a consumer key is refused:
    it cannot be checked against anything.
    """
    obj: Mapping[str, Any] = as_object(value, "lti1p1", LTI1P1_SPEC)
    fields: dict[str, str | None] = {}
    for name in (*_FIELDS, "oauth_consumer_key_sign"):
        item = obj.get(name)
        if item is None:
            fields[name] = None
            continue
        path = f"lti1p1.{name}"
        if type(item) is not str or not item:
            raise invalid(path, "a non-empty string", item, LTI1P1_SPEC)
        limit = _MAX_SIGN if name == "oauth_consumer_key_sign" else id_limit
        if limit is not None and len(item) > limit:
            raise invalid(path, f"at most {limit} characters", item, LTI1P1_SPEC)
        fields[name] = item
    if fields["oauth_consumer_key_sign"] is not None and fields["oauth_consumer_key"] is None:
        path = "lti1p1.oauth_consumer_key"
        msg = f"claim {path!r} is required when 'lti1p1.oauth_consumer_key_sign' is sent"
        raise MissingClaimError(msg, spec_ref=LTI1P1_SPEC, details={"claim": path})
    return Lti1p1Claim(**fields)


def _number_text(value: float) -> str:
    # exp is a JSON number; platforms sign its decimal text ("1551290856").
    if isinstance(value, int):
        return str(value)
    if value.is_integer():
        return str(int(value))
    return json.dumps(value)


def lti1p1_base_string(
    *,
    oauth_consumer_key: str,
    deployment_id: str,
    issuer: str,
    client_id: str,
    exp: float,
    nonce: str,
) -> str:
    """The text the platform signs: ``key&deployment_id&iss&client_id&exp&nonce``.

    As the Migration Guide's LTI 1.1 migration claim defines it (its example:
    ``179248902&689302&https://lmsvendor.com&PM48OJSfGDTAzAo&1551290856&172we8671fd8z``).
    """
    return "&".join(
        (oauth_consumer_key, deployment_id, issuer, client_id, _number_text(exp), nonce)
    )


def lti1p1_signature(secret: str, base_string: str) -> str:
    """``base64(HMAC-SHA256(key=utf8(secret), msg=utf8(base_string)))``."""
    digest = hmac.new(
        secret.encode("utf-8", "surrogatepass"),
        base_string.encode("utf-8", "surrogatepass"),
        hashlib.sha256,
    ).digest()
    return base64.b64encode(digest).decode("ascii")
