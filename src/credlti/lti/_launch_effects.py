"""The storage effects of the launch flows: what the facades perform against storage.

Frozen records with slots; the facades map each one to one storage call.
"""

from __future__ import annotations

from datetime import datetime

import attrs

from credlti.lti._records import Registration

__all__ = ["ConsumeNonce", "GetDeployment", "GetLti1p1Secret", "GetRegistration", "StoreNonce"]


@attrs.frozen(kw_only=True)
class GetRegistration:
    """Effect: ``storage.get_registration(issuer, client_id)`` (host object or None)."""

    issuer: str
    client_id: str | None


@attrs.frozen(kw_only=True)
class StoreNonce:
    """Effect: ``storage.store_nonce(nonce, registration, expires_at=..., now=...)``."""

    nonce: str = attrs.field(repr=False)
    registration: Registration
    expires_at: datetime
    now: datetime


@attrs.frozen(kw_only=True)
class GetDeployment:
    """Effect: ``storage.get_deployment(registration, deployment_id)`` (or None)."""

    registration: Registration
    deployment_id: str


@attrs.frozen(kw_only=True)
class ConsumeNonce:
    """Effect: ``storage.validate_nonce(nonce, registration, now=...)`` -> NonceStatus."""

    nonce: str = attrs.field(repr=False)
    registration: Registration
    now: datetime


@attrs.frozen(kw_only=True)
class GetLti1p1Secret:
    """Effect: ``lti1p1_secrets.get_lti1p1_secret(registration, oauth_consumer_key)``.

    The result is the LTI 1.1 shared secret (text) or None.
    """

    registration: Registration
    oauth_consumer_key: str
