"""LTI Advantage services: access tokens, Assignment and Grade Services, rosters.

Every Advantage service (AGS, NRPS) needs a bearer token from the platform's token
endpoint, obtained with a client assertion signed by the tool's key (Sec §4.1;
Core §6.2). :class:`ServiceTokenClient` gets, caches (through the
:class:`~credlti.ports.ServiceTokenCache` port) and refreshes them, one request per
cache key however many callers wait, and calls services with them::

    from credlti.lti.services import SCOPE_NRPS_READONLY, ServiceTokenClient

    client = ServiceTokenClient(keys=key_set, http_client=httpx.Client())
    response = client.request("GET", memberships_url, registration=registration,
                              scopes=[SCOPE_NRPS_READONLY])

:class:`GradeService` (AGS 2.0: line items, scores, results) and
:class:`RosterService` (NRPS 2.0: members, differences) build on it, each with an
async twin; all follow paging links through the guards of :func:`check_link_target`
and :class:`PageGuard`.

The pure pieces (assertion claims, the form, response parsing, freshness and the
IO-free :func:`token_flow`) are public too, for hosts that drive IO themselves.
"""

from credlti.lti.services._client import (
    AsyncServiceTokenClient,
    ServiceResponse,
    ServiceTokenClient,
    SigningKeys,
)
from credlti.lti.services._flow import add_query, append_path, check_status
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
from credlti.lti.services._paging import (
    DEFAULT_MAX_PAGES,
    LinkValue,
    PageGuard,
    check_link_target,
    find_link,
    parse_link_header,
)
from credlti.lti.services.ags import (
    AGS_SCOPES,
    MEDIA_LINEITEM,
    MEDIA_LINEITEM_CONTAINER,
    MEDIA_RESULT_CONTAINER,
    MEDIA_SCORE,
    ActivityProgress,
    AsyncGradeService,
    GradeService,
    GradingProgress,
    LineItem,
    Result,
    Score,
    Submission,
    format_timestamp,
    parse_timestamp,
    results_url,
    scores_url,
)
from credlti.lti.services.nrps import (
    DEFAULT_MAX_MEMBERS,
    MEDIA_MEMBERSHIP_CONTAINER,
    AsyncRosterService,
    Member,
    Membership,
    MembershipContext,
    MemberStatus,
    RosterService,
)

__all__ = [
    "AGS_SCOPES",
    "ASSERTION_TYPE",
    "DEFAULT_MAX_MEMBERS",
    "DEFAULT_MAX_PAGES",
    "MEDIA_LINEITEM",
    "MEDIA_LINEITEM_CONTAINER",
    "MEDIA_MEMBERSHIP_CONTAINER",
    "MEDIA_RESULT_CONTAINER",
    "MEDIA_SCORE",
    "SCOPE_LINEITEM",
    "SCOPE_LINEITEM_READONLY",
    "SCOPE_NRPS_READONLY",
    "SCOPE_RESULT_READONLY",
    "SCOPE_SCORE",
    "ActivityProgress",
    "AsyncGradeService",
    "AsyncRosterService",
    "AsyncServiceTokenClient",
    "CacheGet",
    "CachePut",
    "GradeService",
    "GradingProgress",
    "LineItem",
    "LinkValue",
    "Member",
    "MemberStatus",
    "Membership",
    "MembershipContext",
    "PageGuard",
    "PostTokenRequest",
    "Result",
    "RosterService",
    "Score",
    "ServiceResponse",
    "ServiceToken",
    "ServiceTokenClient",
    "SigningKeys",
    "Submission",
    "TokenCacheKey",
    "TokenEffect",
    "TokenPolicy",
    "TokenRequest",
    "add_query",
    "append_path",
    "check_link_target",
    "check_status",
    "client_assertion_claims",
    "find_link",
    "format_timestamp",
    "new_jti",
    "parse_link_header",
    "parse_retry_after",
    "parse_timestamp",
    "parse_token_response",
    "results_url",
    "scores_url",
    "token_flow",
    "token_request_form",
]
