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
:class:`RosterService` (NRPS 2.0: the roster and its differences) build on it.

Every class has an async twin with the same method names (``AsyncServiceTokenClient``,
``AsyncGradeService``, ``AsyncRosterService``): ``await`` its methods, and use
``async for`` over its ``iter_...`` methods.

Method names follow one vocabulary:

- ``get_x()`` returns one resource: a line item, a token, the whole roster as one
  :class:`Membership` (every page read and merged), the roster's differences;
- ``list_x()`` returns a ``list`` of every item, all pages read before it returns;
- ``iter_x()`` returns a lazy iterator of the same items: each page is fetched
  only when iteration reaches it, and an error on a later page raises from the
  iteration;
- ``create_x()``, ``update_x()``, ``delete_x()``, ``post_score()`` change things.

Listings follow ``rel="next"`` links only while they stay on the endpoint's https
origin, never loop, and stop after ``max_pages`` pages (see :mod:`credlti.errors`
for ``PagingError``).
"""

from credlti.lti._tokens import ServiceToken, TokenCacheKey
from credlti.lti.services._ags_records import (
    AGS_SCOPES,
    MEDIA_LINEITEM,
    MEDIA_LINEITEM_CONTAINER,
    MEDIA_RESULT_CONTAINER,
    MEDIA_SCORE,
    ActivityProgress,
    GradingProgress,
    LineItem,
    Result,
    Score,
    Submission,
)
from credlti.lti.services._client import (
    AsyncServiceTokenClient,
    ServiceTokenClient,
    SigningKeys,
)
from credlti.lti.services._grades import AsyncGradeService, GradeService
from credlti.lti.services._nrps_records import (
    DEFAULT_MAX_MEMBERS,
    MEDIA_MEMBERSHIP_CONTAINER,
    Member,
    Membership,
    MembershipContext,
    MemberStatus,
)
from credlti.lti.services._oauth import (
    SCOPE_LINEITEM,
    SCOPE_LINEITEM_READONLY,
    SCOPE_NRPS_READONLY,
    SCOPE_RESULT_READONLY,
    SCOPE_SCORE,
    TokenPolicy,
)
from credlti.lti.services._paging import DEFAULT_MAX_PAGES
from credlti.lti.services._response import ServiceResponse
from credlti.lti.services._roster import AsyncRosterService, RosterService

__all__ = [
    "AGS_SCOPES",
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
    "GradeService",
    "GradingProgress",
    "LineItem",
    "Member",
    "MemberStatus",
    "Membership",
    "MembershipContext",
    "Result",
    "RosterService",
    "Score",
    "ServiceResponse",
    "ServiceToken",
    "ServiceTokenClient",
    "SigningKeys",
    "Submission",
    "TokenCacheKey",
    "TokenPolicy",
]
