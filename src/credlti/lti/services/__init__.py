"""LTI Advantage services: access tokens through the JWT client-credentials grant.

Every Advantage service (AGS, NRPS) needs a bearer token from the platform's token
endpoint, obtained with a client assertion signed by the tool's key (Sec §4.1;
Core §6.2). :class:`ServiceTokenClient` gets, caches (through the
:class:`~credlti.ports.ServiceTokenCache` port) and refreshes them, one request per
cache key however many callers wait, and calls services with them::

    from credlti.lti.services import SCOPE_NRPS_READONLY, ServiceTokenClient

    client = ServiceTokenClient(keys=key_set, http_client=httpx.Client())
    response = client.request("GET", memberships_url, registration=registration,
                              scopes=[SCOPE_NRPS_READONLY])

The pure pieces (assertion claims, the form, response parsing, freshness and the
IO-free :func:`token_flow`) are public too, for hosts that drive IO themselves.
"""

from credlti.lti.services._client import (
    AsyncServiceTokenClient,
    ServiceResponse,
    ServiceTokenClient,
    SigningKeys,
)
from credlti.lti.services._oauth import (
    ASSERTION_TYPE,
    SCOPE_LINEITEM,
    SCOPE_LINEITEM_READONLY,
    SCOPE_NRPS_READONLY,
    SCOPE_RESULT_READONLY,
    SCOPE_SCORE,
    CacheGet,
    CachePut,
    PostTokenRequest,
    ServiceToken,
    TokenCacheKey,
    TokenEffect,
    TokenPolicy,
    TokenRequest,
    client_assertion_claims,
    new_jti,
    parse_retry_after,
    parse_token_response,
    token_flow,
    token_request_form,
)

__all__ = [
    "ASSERTION_TYPE",
    "SCOPE_LINEITEM",
    "SCOPE_LINEITEM_READONLY",
    "SCOPE_NRPS_READONLY",
    "SCOPE_RESULT_READONLY",
    "SCOPE_SCORE",
    "AsyncServiceTokenClient",
    "CacheGet",
    "CachePut",
    "PostTokenRequest",
    "ServiceResponse",
    "ServiceToken",
    "ServiceTokenClient",
    "SigningKeys",
    "TokenCacheKey",
    "TokenEffect",
    "TokenPolicy",
    "TokenRequest",
    "client_assertion_claims",
    "new_jti",
    "parse_retry_after",
    "parse_token_response",
    "token_flow",
    "token_request_form",
]
