"""Every error credlti raises, in one tree.

Catch :class:`CredltiError` to catch everything the library raises on bad input,
bad peers or failed storage. Programmer mistakes (wrong argument types) still raise
:class:`TypeError`, except at the vault, whose methods raise
:class:`VaultArgumentError` (a :class:`CredltiError` that is also a ``TypeError``);
invalid configuration raises :class:`ConfigurationError`.

::

    CredltiError
    ├── ConfigurationError                 (500) the host configured something wrongly
    ├── LaunchError                        LTI 1.3 login and launch
    │   ├── InvalidLaunchError             (400) the request is malformed or unknown
    │   │   ├── MissingParameterError
    │   │   ├── InvalidParameterError
    │   │   ├── TargetLinkUriNotAllowedError
    │   │   ├── RegistrationNotFoundError
    │   │   ├── DeploymentNotFoundError
    │   │   ├── MalformedTokenError
    │   │   ├── MissingClaimError
    │   │   └── InvalidClaimError
    │   │       └── UnsupportedMessageTypeError
    │   ├── LaunchSecurityError            (401) a security check failed
    │   │   ├── PlatformAuthenticationError   the platform answered with an OIDC error
    │   │   ├── StateMismatchError
    │   │   ├── StateExpiredError
    │   │   ├── AlgorithmNotAllowedError
    │   │   ├── KidMissingError
    │   │   ├── KidNotFoundError
    │   │   ├── SignatureInvalidError
    │   │   ├── IssuerMismatchError
    │   │   ├── AudienceMismatchError
    │   │   ├── TokenExpiredError
    │   │   ├── TokenNotYetValidError
    │   │   ├── TokenTooOldError
    │   │   ├── NonceMissingError
    │   │   ├── NonceMismatchError
    │   │   ├── NonceNotFoundError
    │   │   ├── NonceReusedError
    │   │   ├── TargetLinkUriMismatchError
    │   │   ├── DeploymentMismatchError
    │   │   ├── Lti1p1SignatureInvalidError   the LTI 1.1 migration claim's signature is wrong
    │   │   └── Lti1p1UnverifiedError         the LTI 1.1 consumer key cannot be verified
    │   ├── LaunchSessionNotFoundError     (401) a saved launch cannot be reopened
    │   └── KeySetFetchError               (502) also a RemoteServiceError
    ├── RemoteServiceError                 (502) a remote peer failed or misbehaved
    │   ├── ServiceCallFailedError            a service or token endpoint failed or answered badly
    │   │   └── MalformedServiceResponseError    a body (or Link header) of the wrong shape
    │   ├── ServiceTemporarilyUnavailableError (503) 429/503; carries ``retry_after``
    │   ├── TokenRequestRejectedError          the token endpoint refused; carries ``oauth_error``
    │   ├── ScopeNotGrantedError               the token lacks a scope the call needs
    │   ├── ServiceAccessDeniedError           401 after a token renewal, or 403
    │   ├── ServiceResourceNotFoundError       404: the line item, results or roster is gone
    │   ├── PagingError                        a paging link cannot be followed safely
    │   │   ├── UnsafePageLinkError               not https on the endpoint's host and port
    │   │   ├── PageLoopError                     a page URL came back a second time
    │   │   └── TooManyPagesError                 more pages than the configured cap
    │   ├── RosterTooLargeError                more members than ``max_members``
    │   ├── UnsafeServiceUrlError              a bearer token would go to an unexpected place
    │   ├── ListingTooLargeError               more line items or results than ``max_items``
    │   └── StaleScoreError                    the platform refused a score as not newer
    ├── ServiceUsageError                  the host asked an Advantage service for something invalid
    │   ├── InvalidServiceRecordError      (422) a LineItem / Score breaks an AGS rule
    │   ├── ServiceNotAvailableError       (409) the launch's claim does not offer this service
    │   └── CoupledLineItemError           (409) deleting the platform-created line item
    ├── RegistrationError                  LTI Dynamic Registration, tool side
    │   ├── InvalidRegistrationRequestError   (400) the registration initiation is malformed
    │   ├── PlatformConfigurationError        (502) the platform's OpenID configuration is unusable
    │   │   └── RegistrationIssuerMismatchError  its issuer is not a prefix of the configuration URL
    │   ├── RegistrationCallFailedError       (502) the registration endpoint failed or timed out
    │   ├── RegistrationRejectedError         (502) the registration endpoint refused the tool
    │   ├── MalformedRegistrationResponseError (502) the registration answer is unusable
    │   └── RegistrationConflictError         (409) the platform's client id is already registered
    ├── DeepLinkingError                   (422) building a deep-linking response
    │   ├── InvalidContentItemError           a content item is malformed (DL §3)
    │   └── ContentItemNotAcceptedError       an item breaks the request's settings (DL §4.4.1)
    ├── StorageError                       (500) a storage adapter failed
    │   ├── StorageUnavailableError           the backend failed or is unreachable
    │   ├── StorageConflictError              a uniqueness or integrity rule was violated
    │   ├── StorageInvalidIdError          (400) an id that no backend stores the same way
    │   └── StorageSchemaTooNewError          the database's schema is newer than this credlti
    └── CredentialError                    credentials vault errors (see credlti.credentials)
        ├── VaultNotFoundError             (404) abstract; the leaves carry the codes
        │   ├── CredentialNotFoundError       ``credential_not_found``
        │   └── UserNotFoundError             ``user_not_found``
        ├── SchemaNotFoundError            (404)
        ├── CredentialValidationError      (422) carries ``field_errors``
        │   └── TransferNotAllowedError
        ├── TransferTokenError             (403) ``token_error``
        ├── NotOwnerError                  (403) ``not_owner``
        ├── NotPendingError                (409) ``not_pending``
        ├── DecryptionError                (500)
        ├── OAuthRefreshError              (502) also a RemoteServiceError
        │   ├── ReauthorizationRequiredError  (401)
        │   └── TemporaryRefreshError         (503) carries ``retry_after``
        ├── OAuthAuthorizationError        the authorization-code flow; ``retryable``
        │   ├── AuthorizationRequestError     (400) the authorization cannot start
        │   ├── AuthorizationCallbackError    (400) malformed callback parameters
        │   ├── AuthorizationStateError       (403) unknown, used, expired or foreign state
        │   ├── AuthorizationDeniedError      (403) the provider answered ``error=...``
        │   ├── OAuthProviderError            (502) also a RemoteServiceError
        │   │   ├── OAuthProviderRejectedError    refused or unusable answer
        │   │   └── OAuthProviderUnavailableError (503) retryable; ``retry_after``
        │   └── MissingScopesError            (422) also a CredentialValidationError
        └── VaultArgumentError             (400) a vault method got a wrong-typed argument;
                                                 also a TypeError

Every error has a stable machine-readable :attr:`~CredltiError.code`, an
:attr:`~CredltiError.http_status` the host can answer with, a message that says what
to fix and, where a specification applies, a :attr:`~CredltiError.spec_ref` such as
``"Sec §5.1.3"``. Extra context (the claim name, the expected value...) lives in
:attr:`~CredltiError.details`. No error ever carries a secret: messages and details
hold identifiers, never tokens, keys or credential bodies. Values a peer sent
(an OIDC ``error_description``, a ``kid``, an issuer) are quoted only as bounded,
escaped excerpts: no control characters, no lone surrogates, no ``<``.

Warnings have their own small tree, for choices that work but may surprise::

    CredltiWarning (UserWarning)
    └── InteropWarning                 valid by the specs, refused by many platforms
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import ClassVar

import attrs

__all__ = [
    "AlgorithmNotAllowedError",
    "AudienceMismatchError",
    "AuthorizationCallbackError",
    "AuthorizationDeniedError",
    "AuthorizationRequestError",
    "AuthorizationStateError",
    "ConfigurationError",
    "ContentItemNotAcceptedError",
    "CoupledLineItemError",
    "CredentialError",
    "CredentialNotFoundError",
    "CredentialValidationError",
    "CredltiError",
    "CredltiWarning",
    "DecryptionError",
    "DeepLinkingError",
    "DeploymentMismatchError",
    "DeploymentNotFoundError",
    "FieldError",
    "FormTokenInvalidError",
    "InteropWarning",
    "InvalidClaimError",
    "InvalidContentItemError",
    "InvalidLaunchError",
    "InvalidParameterError",
    "InvalidRegistrationRequestError",
    "InvalidServiceRecordError",
    "IssuerMismatchError",
    "KeySetFetchError",
    "KidMissingError",
    "KidNotFoundError",
    "LaunchError",
    "LaunchNotOpenError",
    "LaunchSecurityError",
    "LaunchSessionNotFoundError",
    "ListingTooLargeError",
    "Lti1p1SignatureInvalidError",
    "Lti1p1UnverifiedError",
    "MalformedRegistrationResponseError",
    "MalformedServiceResponseError",
    "MalformedTokenError",
    "MissingClaimError",
    "MissingParameterError",
    "MissingScopesError",
    "NonceMismatchError",
    "NonceMissingError",
    "NonceNotFoundError",
    "NonceReusedError",
    "NotDeepLinkingLaunchError",
    "NotOwnerError",
    "NotPendingError",
    "OAuthAuthorizationError",
    "OAuthProviderError",
    "OAuthProviderRejectedError",
    "OAuthProviderUnavailableError",
    "OAuthRefreshError",
    "PageLoopError",
    "PagingError",
    "PlatformAuthenticationError",
    "PlatformConfigurationError",
    "ReauthorizationRequiredError",
    "RegistrationCallFailedError",
    "RegistrationConflictError",
    "RegistrationError",
    "RegistrationIssuerMismatchError",
    "RegistrationNotFoundError",
    "RegistrationRejectedError",
    "RemoteServiceError",
    "RosterTooLargeError",
    "SchemaNotFoundError",
    "ScopeNotGrantedError",
    "ServiceAccessDeniedError",
    "ServiceCallFailedError",
    "ServiceNotAvailableError",
    "ServiceResourceNotFoundError",
    "ServiceTemporarilyUnavailableError",
    "ServiceUsageError",
    "SignatureInvalidError",
    "StaleScoreError",
    "StateExpiredError",
    "StateMismatchError",
    "StorageConflictError",
    "StorageError",
    "StorageInvalidIdError",
    "StorageSchemaTooNewError",
    "StorageUnavailableError",
    "TargetLinkUriMismatchError",
    "TargetLinkUriNotAllowedError",
    "TemporaryRefreshError",
    "TokenExpiredError",
    "TokenNotYetValidError",
    "TokenRequestRejectedError",
    "TokenTooOldError",
    "TooManyPagesError",
    "TransferNotAllowedError",
    "TransferTokenError",
    "UnsafePageLinkError",
    "UnsafeServiceUrlError",
    "UnsupportedMessageTypeError",
    "UserNotFoundError",
    "VaultArgumentError",
    "VaultNotFoundError",
    "WebViewError",
]


@attrs.frozen(kw_only=True)
class FieldError:
    """One validation failure: a field path such as ``body.port`` and what to fix."""

    path: str
    message: str


_EMPTY: Mapping[str, object] = MappingProxyType({})


class CredltiError(Exception):
    """Root of every error credlti raises.

    This class and the family classes directly below it are abstract: raise one of
    the concrete leaves.

    Attributes:
        message: What went wrong and what to do about it.
        spec_ref: The specification section the failed check enforces, if any.
        details: Non-secret context for logs and support (claim names, ids, values).
    """

    #: Stable machine-readable code; safe to show to users and to match on.
    code: ClassVar[str] = "credlti_error"
    #: The HTTP status a web host should answer with.
    http_status: ClassVar[int] = 500
    #: The spec section used when the raiser gives none.
    default_spec_ref: ClassVar[str | None] = None
    #: Abstract classes cannot be raised directly.
    _abstract: ClassVar[bool] = True

    message: str
    spec_ref: str | None
    details: Mapping[str, object]

    def __init__(
        self,
        message: str,
        *,
        spec_ref: str | None = None,
        details: Mapping[str, object] | None = None,
    ) -> None:
        if type(self).__dict__.get("_abstract", False):
            msg = f"{type(self).__name__} is abstract; raise one of its subclasses"
            raise TypeError(msg)
        super().__init__(message)
        self.message = message
        self.spec_ref = spec_ref if spec_ref is not None else self.default_spec_ref
        self.details = MappingProxyType(dict(details)) if details else _EMPTY

    def __str__(self) -> str:
        if self.spec_ref:
            return f"{self.message} [{self.spec_ref}]"
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"


class ConfigurationError(CredltiError):
    """The host passed configuration that cannot work (a non-HTTPS endpoint, a bad key)."""

    code = "configuration_error"
    http_status = 500


# --------------------------------------------------------------------------- launch


class LaunchError(CredltiError):
    """Base of every LTI login and launch failure."""

    code = "launch_error"
    _abstract = True


class InvalidLaunchError(LaunchError):
    """The login or launch request is malformed, incomplete or unknown (HTTP 400)."""

    code = "invalid_launch"
    http_status = 400
    _abstract = True


class LaunchSecurityError(LaunchError):
    """A security check of the login or launch failed (HTTP 401).

    Treat these as possible attacks: log them at warning level and create no session.
    """

    code = "launch_security"
    http_status = 401
    _abstract = True


class MissingParameterError(InvalidLaunchError):
    """A required login or callback parameter is missing or empty."""

    code = "missing_parameter"
    default_spec_ref = "Sec §5.1.1.1"


class InvalidParameterError(InvalidLaunchError):
    """A login or callback parameter has the wrong shape (e.g. repeated, not text)."""

    code = "invalid_parameter"
    default_spec_ref = "Sec §5.1.1.1"


class TargetLinkUriNotAllowedError(InvalidLaunchError):
    """The login's ``target_link_uri`` is not one of this tool's launch URLs."""

    code = "target_link_uri_not_allowed"
    default_spec_ref = "Core §4.1"


class RegistrationNotFoundError(InvalidLaunchError):
    """No registration matches the issuer (and client id) the platform sent."""

    code = "registration_not_found"
    default_spec_ref = "Core §3.1.3"


class DeploymentNotFoundError(InvalidLaunchError):
    """The launch's ``deployment_id`` is not known under its registration."""

    code = "deployment_not_found"
    default_spec_ref = "Core §5.3.3"


class MalformedTokenError(InvalidLaunchError):
    """The ``id_token`` is not a well-formed compact JWS with JSON header and payload."""

    code = "malformed_token"
    default_spec_ref = "Sec §5.1.2"


class MissingClaimError(InvalidLaunchError):
    """A claim the message type requires is absent."""

    code = "missing_claim"


class InvalidClaimError(InvalidLaunchError):
    """A claim is present but has the wrong type or value."""

    code = "invalid_claim"


class UnsupportedMessageTypeError(InvalidClaimError):
    """The ``message_type`` claim names a message this tool does not accept."""

    code = "unsupported_message_type"
    default_spec_ref = "Core §5.3.1"


class PlatformAuthenticationError(LaunchSecurityError):
    """The platform answered the authentication request with an OIDC error."""

    code = "platform_authentication_failed"
    default_spec_ref = "Sec §5.1.1.5"


class StateMismatchError(LaunchSecurityError):
    """The ``state`` the browser posted does not match the one bound to the browser."""

    code = "state_mismatch"
    default_spec_ref = "Sec §7.3.1"


class StateExpiredError(LaunchSecurityError):
    """The login state is older than the configured state lifetime."""

    code = "state_expired"
    default_spec_ref = "Sec §7.3.1"


class AlgorithmNotAllowedError(LaunchSecurityError):
    """The token's ``alg`` header is not in the registration's allow-list."""

    code = "algorithm_not_allowed"
    default_spec_ref = "Sec §5.1.3"


class KidMissingError(LaunchSecurityError):
    """The token header carries no ``kid``, so no platform key can be chosen."""

    code = "kid_missing"
    default_spec_ref = "Sec §6.3"


class KidNotFoundError(LaunchSecurityError):
    """No usable key with the token's ``kid`` is in the platform's key set."""

    code = "kid_not_found"
    default_spec_ref = "Sec §6.3"


class SignatureInvalidError(LaunchSecurityError):
    """The token's signature does not verify with the platform key."""

    code = "signature_invalid"
    default_spec_ref = "Sec §5.1.3"


class IssuerMismatchError(LaunchSecurityError):
    """The token's ``iss`` is not exactly the registered issuer."""

    code = "issuer_mismatch"
    default_spec_ref = "Sec §5.1.3"


class AudienceMismatchError(LaunchSecurityError):
    """The token's ``aud``/``azp`` do not name exactly this tool's client id."""

    code = "audience_mismatch"
    default_spec_ref = "Sec §5.1.3"


class TokenExpiredError(LaunchSecurityError):
    """The token's ``exp`` is in the past (beyond the allowed clock skew)."""

    code = "token_expired"
    default_spec_ref = "Sec §5.1.3"


class TokenNotYetValidError(LaunchSecurityError):
    """The token's ``iat`` or ``nbf`` lies in the future (beyond the clock skew)."""

    code = "token_not_yet_valid"
    default_spec_ref = "Sec §5.1.3"


class TokenTooOldError(LaunchSecurityError):
    """The token was issued longer ago than the configured maximum token age."""

    code = "token_too_old"
    default_spec_ref = "Sec §5.1.3"


class NonceMissingError(LaunchSecurityError):
    """The token carries no ``nonce``."""

    code = "nonce_missing"
    default_spec_ref = "Sec §5.1.3"


class NonceMismatchError(LaunchSecurityError):
    """The token's nonce is not the one issued to this browser at login."""

    code = "nonce_mismatch"
    default_spec_ref = "Sec §5.1.3"


class NonceNotFoundError(LaunchSecurityError):
    """The nonce was never issued by this tool, or it has expired."""

    code = "nonce_not_found"
    default_spec_ref = "Sec §5.1.3"


class NonceReusedError(LaunchSecurityError):
    """The nonce was already consumed: this launch is a replay."""

    code = "nonce_reused"
    default_spec_ref = "Sec §5.1.3"


class TargetLinkUriMismatchError(LaunchSecurityError):
    """The signed ``target_link_uri`` differs from the one sent at login."""

    code = "target_link_uri_mismatch"
    default_spec_ref = "Core §5.3.4"


class DeploymentMismatchError(LaunchSecurityError):
    """The signed ``deployment_id`` differs from the login's ``lti_deployment_id``."""

    code = "deployment_mismatch"
    default_spec_ref = "Core §4.1.2"


class LaunchSessionNotFoundError(LaunchError):
    """A saved launch cannot be reopened (HTTP 401): the user must launch again.

    Raised by :meth:`~credlti.lti.Tool.load_launch` for every reason a handle does
    not lead back to a launch: it is malformed or unknown, its session expired or was
    ended, the stored bytes fail authentication (altered, moved to another key, or
    sealed under a state secret the tool no longer has), or the registration or
    deployment has been removed since. ``details["reason"]`` says which
    (``unknown``, ``expired``, ``unreadable``, ``registration_removed``,
    ``deployment_removed``); the handle itself never appears.
    """

    code = "launch_session_not_found"
    http_status = 401


# --------------------------------------------------------------------------- remote


class RemoteServiceError(CredltiError):
    """A remote peer (platform JWKS, token endpoint, LMS service) failed or misbehaved."""

    code = "remote_service_error"
    http_status = 502
    _abstract = True


class KeySetFetchError(LaunchError, RemoteServiceError):
    """The platform's key set could not be fetched or parsed, and no cached copy is usable."""

    code = "key_set_fetch_failed"
    http_status = 502
    default_spec_ref = "Sec §6.3"


class ServiceCallFailedError(RemoteServiceError):
    """A token endpoint or Advantage service failed, was unreachable or answered badly.

    ``details`` may hold the ``url`` and the HTTP ``status``, never a token.
    """

    code = "service_call_failed"
    http_status = 502


class ServiceTemporarilyUnavailableError(RemoteServiceError):
    """The peer answered 429 or 503: retry later, after :attr:`retry_after` seconds if given."""

    code = "service_temporarily_unavailable"
    http_status = 503
    default_spec_ref = "RFC 9110 §10.2.3"

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        spec_ref: str | None = None,
        details: Mapping[str, object] | None = None,
    ) -> None:
        super().__init__(message, spec_ref=spec_ref, details=details)
        #: Seconds the peer asked us to wait (``Retry-After``), if it said.
        self.retry_after = retry_after


class TokenRequestRejectedError(RemoteServiceError):
    """The platform's token endpoint refused the client-credentials grant.

    :attr:`oauth_error` is the OAuth error code (``invalid_scope``,
    ``invalid_client``, ``unauthorized_client``...; RFC 6749 §5.2), or ``None`` when
    the platform sent none.
    """

    code = "token_request_rejected"
    http_status = 502
    default_spec_ref = "RFC 6749 §5.2"

    def __init__(
        self,
        message: str,
        *,
        oauth_error: str | None = None,
        spec_ref: str | None = None,
        details: Mapping[str, object] | None = None,
    ) -> None:
        merged = dict(details or {})
        merged.setdefault("oauth_error", oauth_error)
        super().__init__(message, spec_ref=spec_ref, details=merged)
        #: The OAuth ``error`` code the token endpoint answered with.
        self.oauth_error = oauth_error


class ScopeNotGrantedError(RemoteServiceError):
    """The access token does not carry a scope the service call needs (Sec §4.1)."""

    code = "scope_not_granted"
    http_status = 502
    default_spec_ref = "Sec §4.1"


class MalformedServiceResponseError(ServiceCallFailedError):
    """A service answered with a body or ``Link`` header of the wrong shape.

    Examples: a line-item container that is not a JSON array, a member without a
    ``user_id``, a score-less result with a non-numeric ``resultMaximum``.
    ``details`` holds the ``url`` and, when known, the HTTP ``status``.
    """

    code = "malformed_service_response"


class ServiceAccessDeniedError(RemoteServiceError):
    """The service refused the call: 401 even with a renewed token, or 403.

    Check that the platform administrator enabled the service for this tool and
    deployment, and that the resource belongs to this tool (AGS §3.2.4; NRPS §3.1).
    """

    code = "service_access_denied"
    http_status = 502
    default_spec_ref = "Sec §4.1"


class ServiceResourceNotFoundError(RemoteServiceError):
    """The service answered 404: the line item, its results or the roster is not there."""

    code = "service_resource_not_found"
    http_status = 502


class PagingError(RemoteServiceError):
    """A paging (``rel="next"``) or ``rel="differences"`` link cannot be followed safely."""

    code = "paging_error"
    http_status = 502
    _abstract = True


class UnsafePageLinkError(PagingError):
    """A paging link leaves the endpoint: not https, or another host or port.

    The bearer token would go with it, so credlti refuses (an SSRF and token-leak
    guard; checklist F). ``details`` holds the ``endpoint`` and the ``link``.
    """

    code = "unsafe_page_link"


class PageLoopError(PagingError):
    """A page URL came back a second time: the platform's paging loops."""

    code = "page_loop"


class TooManyPagesError(PagingError):
    """More pages than the configured ``max_pages``; raise the cap or narrow the query."""

    code = "too_many_pages"


class RosterTooLargeError(RemoteServiceError):
    """The roster has more members than ``max_members`` (``details``: ``count``, ``max``)."""

    code = "roster_too_large"
    http_status = 502
    default_spec_ref = "NRPS §2.4.2"


class UnsafeServiceUrlError(RemoteServiceError):
    """Refused to send a platform's bearer token to this URL; nothing was sent.

    A token goes only to https URLs (plain http only on loopback hosts, for tests)
    on the origin of an endpoint the platform announced for the launch (its AGS
    and NRPS claim URLs, the registration's token endpoint) or on an origin the
    host allowed. Raised for a caller-supplied line item on another host, and for
    claim URLs that are plain http, IP literals in private, link-local or other
    non-public ranges, or on another host than the platform's. ``details`` holds
    the ``url`` (shortened) and the ``reason``.
    """

    code = "unsafe_service_url"
    http_status = 502
    default_spec_ref = "RFC 6750 §5.3"


class ListingTooLargeError(RemoteServiceError):
    """An AGS listing (line items, results) has more items than ``max_items``.

    ``details`` holds the ``count`` read so far and the ``max``. Raise the cap or
    narrow the query (``resource_link_id``, ``tag``, ``user_id``).
    """

    code = "listing_too_large"
    http_status = 502
    default_spec_ref = "AGS §3.2.4"


class StaleScoreError(RemoteServiceError):
    """The platform refused a score as not newer than the one it holds (HTTP 409).

    Some platforms compare score timestamps to the second, so two scores for one
    (line item, user) within a second collide even with distinct milliseconds.
    Automatically stamped scores are retried once with a timestamp on the next
    whole second; this is raised when that retry is refused too, or when the
    score's timestamp was explicit. ``details`` holds the ``url`` and the
    ``timestamp`` sent.
    """

    code = "stale_score"
    http_status = 502
    default_spec_ref = "AGS §3.4.5"


# --------------------------------------------------------------------------- service usage


class ServiceUsageError(CredltiError):
    """Base of the errors raised when the host asks a service for something invalid.

    Nothing was sent to the platform.
    """

    code = "service_usage_error"
    http_status = 400
    _abstract = True


class InvalidServiceRecordError(ServiceUsageError):
    """A line item or score breaks an AGS rule (``details["field"]`` names the field)."""

    code = "invalid_service_record"
    http_status = 422


class ServiceNotAvailableError(ServiceUsageError):
    """The launch's service claim does not offer what the call needs.

    For example no ``lineitems`` URL (the platform does not let the tool manage
    line items, AGS §3.1), or an NRPS claim without version 2.0.
    """

    code = "service_not_available"
    http_status = 409


class CoupledLineItemError(ServiceUsageError):
    """Refused to delete the line item the platform created for the resource link.

    It is the launch claim's ``lineitem`` (AGS §3.1, §4.3): pass ``force=True`` if
    you really mean it.
    """

    code = "coupled_line_item"
    http_status = 409
    default_spec_ref = "AGS §3.1"


# --------------------------------------------------------------------------- deep linking


class DeepLinkingError(CredltiError):
    """Base of the errors raised while building a deep-linking response."""

    code = "deep_linking_error"
    http_status = 422
    _abstract = True


class InvalidContentItemError(DeepLinkingError):
    """A content item is malformed: a required field is missing or has a bad value (DL §3)."""

    code = "invalid_content_item"
    default_spec_ref = "DL §3"


class ContentItemNotAcceptedError(DeepLinkingError):
    """A content item breaks the request's ``deep_linking_settings`` (DL §4.4.1).

    ``details`` holds the item ``index`` (or ``None`` for a rule about the whole
    list) and the ``rule`` that failed (``accept_types``, ``accept_multiple``,
    ``accept_lineitem``, ``accept_presentation_document_targets``,
    ``accept_media_types``).
    """

    code = "content_item_not_accepted"
    default_spec_ref = "DL §4.4.1"


# --------------------------------------------------------------------------- dynamic registration


class RegistrationError(CredltiError):
    """Base of the errors of LTI Dynamic Registration, on the tool's side.

    Nothing was stored when one of these is raised. Messages and details never hold
    the registration token (nor the query of the configuration URL, which may carry
    it).
    """

    code = "registration_error"
    http_status = 400
    _abstract = True


class InvalidRegistrationRequestError(RegistrationError):
    """The registration initiation request is malformed.

    ``openid_configuration`` is missing, repeated, too long, not an https URL, or
    names a host the tool must not call (a private or loopback address);
    ``registration_token`` is repeated, too long or not printable text.
    ``details["parameter"]`` names the parameter.
    """

    code = "invalid_registration_request"
    http_status = 400
    default_spec_ref = "LTI-DR §3.3"


class PlatformConfigurationError(RegistrationError, RemoteServiceError):
    """The platform's OpenID configuration cannot be fetched or is unusable.

    It could not be fetched (network failure, timeout, deadline, an error status, a
    redirect), is too large, is not strict JSON (``NaN``, duplicate keys, nesting
    too deep), or misses or breaks a required field: an endpoint that is not https,
    no ``RS256`` among the signing algorithms, no LTI platform configuration.
    ``details["field"]`` names the field when one is at fault.
    """

    code = "platform_configuration_invalid"
    http_status = 502
    default_spec_ref = "LTI-DR §3.4"


class RegistrationIssuerMismatchError(PlatformConfigurationError):
    """The configuration's ``issuer`` is not a prefix of the configuration URL.

    The issuer must have the configuration URL's origin and its path must be the
    URL's path or a parent of it; otherwise any site could claim another
    platform's issuer. ``details`` holds the ``issuer`` and the configuration URL
    without its query.
    """

    code = "registration_issuer_mismatch"
    default_spec_ref = "LTI-DR §3.5.1"


class RegistrationCallFailedError(RegistrationError, RemoteServiceError):
    """The registration endpoint could not be reached or did not answer in time.

    The platform may or may not have created the registration; nothing was stored
    on the tool's side. ``details`` holds the endpoint ``url``.
    """

    code = "registration_call_failed"
    http_status = 502
    default_spec_ref = "LTI-DR §3.5.2"


class RegistrationRejectedError(RegistrationError, RemoteServiceError):
    """The registration endpoint answered with an error status (4xx or 5xx).

    ``details`` holds the ``status`` and, when the platform sent one, its ``error``
    code (``invalid_client_metadata``, ``invalid_token``...) as a safe excerpt. A
    registration token that was already used is refused this way.
    """

    code = "registration_rejected"
    http_status = 502
    default_spec_ref = "LTI-DR §3.6.2"


class MalformedRegistrationResponseError(RegistrationError, RemoteServiceError):
    """The registration endpoint accepted the tool but its answer is unusable.

    No ``client_id``, a body that is not a JSON object, an id that cannot be stored.
    The platform may hold a registration the tool does not know: remove it there.
    """

    code = "malformed_registration_response"
    http_status = 502
    default_spec_ref = "LTI-DR §3.6.1"


class RegistrationConflictError(RegistrationError):
    """The platform answered with an issuer and client id the tool already stores.

    The stored registration is left unchanged; remove it first to register again.
    """

    code = "registration_conflict"
    http_status = 409
    default_spec_ref = "LTI-DR §3.6.1"


# --------------------------------------------------------------------------- storage


class StorageError(CredltiError):
    """A storage adapter failed; the operation had no effect."""

    code = "storage_error"
    http_status = 500
    _abstract = True


class StorageUnavailableError(StorageError):
    """The storage backend failed or could not be reached; nothing was changed."""

    code = "storage_unavailable"
    http_status = 503


class StorageConflictError(StorageError):
    """A write broke a uniqueness or integrity rule; nothing was changed."""

    code = "storage_conflict"
    http_status = 409


class StorageInvalidIdError(StorageError):
    """A write carried an identifier no backend stores the same way; nothing was changed.

    Empty, longer than the column allows, or holding control characters (NUL...) or
    lone surrogates. Every adapter refuses such a write with this error, and treats
    such an id in a lookup as absent. ``details`` holds ``field`` and ``problem``.
    """

    code = "storage_invalid_id"
    http_status = 400


class StorageSchemaTooNewError(StorageError):
    """The database's schema version is newer than this credlti knows; nothing was changed.

    A newer credlti has upgraded the database. credlti never downgrades a schema and
    never works on tables it does not know: run that credlti version (or a later one),
    or point this one at another database. ``details`` holds ``found`` (the database's
    version) and ``supported`` (the newest version this credlti knows).
    """

    code = "storage_schema_too_new"
    http_status = 500


# --------------------------------------------------------------------------- credentials


class CredentialError(CredltiError):
    """Base of every credentials-vault error (see :mod:`credlti.credentials`)."""

    code = "credential_error"
    http_status = 400
    _abstract = True


class VaultNotFoundError(CredentialError):
    """A credential, share or user named in the call does not exist (abstract)."""

    code = "not_found"
    http_status = 404
    _abstract = True


class CredentialNotFoundError(VaultNotFoundError):
    """No credential (or project share) has the given id."""

    code = "credential_not_found"


class UserNotFoundError(VaultNotFoundError):
    """The user directory knows no user with the given id or email."""

    code = "user_not_found"


class SchemaNotFoundError(CredentialError):
    """No built-in or registered credential schema has the given name."""

    code = "schema_not_found"
    http_status = 404


class CredentialValidationError(CredentialError):
    """The credential attributes are invalid; :attr:`field_errors` says which and why.

    ``details["fields"]`` lists the failing field paths (never their values).
    """

    code = "invalid_credential"
    http_status = 422

    def __init__(
        self,
        message: str,
        *,
        field_errors: tuple[FieldError, ...] = (),
        spec_ref: str | None = None,
        details: Mapping[str, object] | None = None,
    ) -> None:
        merged = dict(details or {})
        merged.setdefault("fields", [e.path for e in field_errors])
        super().__init__(message, spec_ref=spec_ref, details=merged)
        #: The :class:`credlti.credentials.FieldError` records (path + message).
        self.field_errors = field_errors


class TransferNotAllowedError(CredentialValidationError):
    """The transfer cannot happen: self-transfer, or the receiver lacks project access."""

    code = "transfer_not_allowed"


class TransferTokenError(CredentialError):
    """The transfer token is unknown, expired, already used or bound to another transfer."""

    code = "token_error"
    http_status = 403


class NotOwnerError(CredentialError):
    """The acting user does not own the credential."""

    code = "not_owner"
    http_status = 403


class NotPendingError(CredentialError):
    """The credential has no pending transfer."""

    code = "not_pending"
    http_status = 409


class DecryptionError(CredentialError):
    """A ciphertext could not be opened: unknown key id, tampering, or wrong record."""

    code = "decryption_failed"
    http_status = 500


class OAuthRefreshError(CredentialError, RemoteServiceError):
    """Refreshing an OAuth token failed; see the two concrete kinds below."""

    code = "oauth_refresh_failed"
    http_status = 502
    _abstract = True

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        spec_ref: str | None = None,
        details: Mapping[str, object] | None = None,
    ) -> None:
        super().__init__(message, spec_ref=spec_ref, details=details)
        #: Seconds the provider asked us to wait (``Retry-After``), if it said.
        self.retry_after = retry_after


class ReauthorizationRequiredError(OAuthRefreshError):
    """The provider rejected the refresh token: the user must authorise again."""

    code = "reauthorization_required"
    http_status = 401
    default_spec_ref = "RFC 6749 §5.2"


class TemporaryRefreshError(OAuthRefreshError):
    """The provider or network failed transiently; retry later (see ``retry_after``)."""

    code = "temporary_failure"
    http_status = 503


class OAuthAuthorizationError(CredentialError):
    """The OAuth authorization-code flow failed; see the concrete kinds below.

    :attr:`retryable` says whether starting a new authorization later may succeed
    (provider or network trouble) or not (a refusal, a forged or stale callback).
    """

    code = "oauth_authorization_failed"
    http_status = 400
    _abstract = True
    #: True when the same request may succeed later (provider or network trouble).
    retryable: ClassVar[bool] = False


class AuthorizationRequestError(OAuthAuthorizationError):
    """The authorization cannot start: unknown client, no authorize endpoint, scope not offered."""

    code = "invalid_authorization_request"
    http_status = 400


class AuthorizationCallbackError(OAuthAuthorizationError):
    """The callback's parameters are missing, malformed or oversized."""

    code = "invalid_authorization_callback"
    http_status = 400
    default_spec_ref = "RFC 6749 §4.1.2"


class AuthorizationStateError(OAuthAuthorizationError):
    """The callback's ``state`` is unknown, already used, expired or for another user.

    ``details["reason"]`` is ``unknown``, ``expired`` or ``wrong_user``. Start a new
    authorization.
    """

    code = "authorization_state_invalid"
    http_status = 403
    default_spec_ref = "RFC 6749 §10.12"


class AuthorizationDeniedError(OAuthAuthorizationError):
    """The provider answered the authorization with an error (``access_denied``...).

    ``details["error"]`` is the provider's error code (never its description). The
    codes ``temporarily_unavailable`` and ``server_error`` raise
    :class:`OAuthProviderUnavailableError` instead.
    """

    code = "authorization_denied"
    http_status = 403
    default_spec_ref = "RFC 6749 §4.1.2.1"


class OAuthProviderError(OAuthAuthorizationError, RemoteServiceError):
    """The provider failed during an authorization.

    ``details`` holds ``endpoint`` (``authorize``, ``token`` or ``userinfo``), ``status`` and the
    provider's ``error`` code, never its description or any token.
    """

    code = "oauth_provider_failed"
    http_status = 502
    _abstract = True

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        spec_ref: str | None = None,
        details: Mapping[str, object] | None = None,
    ) -> None:
        super().__init__(message, spec_ref=spec_ref, details=details)
        #: Seconds the provider asked us to wait (``Retry-After``), if it said.
        self.retry_after = retry_after


class OAuthProviderRejectedError(OAuthProviderError):
    """The provider refused (``invalid_grant``, a reused code) or answered unusably."""

    code = "oauth_provider_rejected"
    http_status = 502
    default_spec_ref = "RFC 6749 §5.2"


class OAuthProviderUnavailableError(OAuthProviderError):
    """The provider or network failed transiently; start again later (``retry_after``)."""

    code = "oauth_provider_unavailable"
    http_status = 503
    retryable = True


class MissingScopesError(CredentialValidationError, OAuthAuthorizationError):
    """The provider granted fewer scopes than the client's mandatory ones.

    :attr:`expected_scopes`, :attr:`granted_scopes` and :attr:`missing_scopes` (also in
    ``details``) say which; the user must authorize again and grant them all.
    """

    code = "missing_scopes"
    http_status = 422

    def __init__(
        self,
        message: str,
        *,
        expected_scopes: tuple[str, ...],
        granted_scopes: tuple[str, ...],
        missing_scopes: tuple[str, ...],
        spec_ref: str | None = None,
    ) -> None:
        error = FieldError(path="oauth_token.scope", message=message)
        super().__init__(
            message,
            field_errors=(error,),
            spec_ref=spec_ref,
            details={
                "expected_scopes": list(expected_scopes),
                "granted_scopes": list(granted_scopes),
                "missing_scopes": list(missing_scopes),
            },
        )
        #: The scopes the grant had to include.
        self.expected_scopes = expected_scopes
        #: The scopes the provider granted.
        self.granted_scopes = granted_scopes
        #: Expected scopes the grant lacks.
        self.missing_scopes = missing_scopes


# --------------------------------------------------------------------------- warnings


class CredltiWarning(UserWarning):
    """Root of every warning credlti emits (filter them with this category)."""


class InteropWarning(CredltiWarning):
    """A choice the specifications allow but that many platforms do not accept.

    For example signing with ES256: the LTI baseline is RS256 (Sec §6.1) and many
    platforms verify tool JWTs with RS256 only. Silence it once you know every
    platform you serve accepts the choice::

        warnings.filterwarnings("ignore", category=InteropWarning)
    """


class VaultArgumentError(CredentialError, TypeError):
    """A vault method got an argument of the wrong type or shape (a programming error).

    For example ``actor_id=b"alice"``, a ``batch_size`` of ``0``, or a plain ``dict``
    where a :class:`~credlti.credentials.VaultUser` is expected. It is also a
    :class:`TypeError`, so code catching programming errors keeps working. The
    message names the parameter and the expected type, never the value.
    """

    code = "invalid_argument"
    http_status = 400


# --------------------------------------------------------------------------- LTI 1.1 migration


class Lti1p1SignatureInvalidError(LaunchSecurityError):
    """The ``lti1p1`` claim's ``oauth_consumer_key_sign`` does not verify.

    The platform named an LTI 1.1 consumer key whose secret you hold, but signed
    with another secret: it has not proved it is that 1.1 consumer. Never link the
    launch to that key's accounts. Raised whatever the policy says.
    """

    code = "lti1p1_signature_invalid"
    default_spec_ref = "Migration Guide, LTI 1.1 migration claim"


class Lti1p1UnverifiedError(LaunchSecurityError):
    """The ``lti1p1`` claim names a consumer key that cannot be verified.

    Your :class:`~credlti.ports.Lti1p1Secrets` has no secret for the key, or the
    claim carries no ``oauth_consumer_key_sign``. Set
    ``LaunchPolicy(allow_unverified_lti1p1=True)`` to accept such launches without a
    verified LTI 1.1 identity (``launch.lti1p1`` is then ``None``).
    """

    code = "lti1p1_unverified"
    default_spec_ref = "Migration Guide, LTI 1.1 migration claim"


# --------------------------------------------------------------------------- framework views


class WebViewError(CredltiError):
    """A follow-up request the framework integrations (``credlti.contrib``) refuse."""

    code = "web_view_error"
    http_status = 400


class LaunchNotOpenError(WebViewError):
    """The request names no launch open in this browser (HTTP 404).

    No ``launch_id``, a malformed one, or no launch-session cookie (nor form field)
    for it: the page was opened in another browser, or the cookie was blocked or
    has expired. Ask the user to launch again from the platform.
    """

    code = "launch_not_open"
    http_status = 404


class FormTokenInvalidError(WebViewError):
    """A form acting on a launch lacks the token of the tool's own page (HTTP 403).

    The form was not rendered by the tool for this launch (a cross-site forgery,
    or a page of an older launch): nothing is done.
    """

    code = "form_token_invalid"
    http_status = 403


class NotDeepLinkingLaunchError(WebViewError):
    """Content items were returned for a launch that is not a deep-linking request (HTTP 400)."""

    code = "not_a_deep_linking_launch"
    http_status = 400
    default_spec_ref = "DL §4.4"
