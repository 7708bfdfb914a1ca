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
for ``PagingError``). AGS listings read at most ``max_items`` items
(:data:`DEFAULT_MAX_ITEMS`), NRPS listings ``max_members``. A line item or result
that breaks an AGS rule is returned with its ``problems`` listed, unless the call
passes ``strict=True``.

Bearer tokens go only to https URLs on the platform's site (the hosts of the
registration's issuer, login, key-set and token URLs, and hosts sharing their
registrable domain), never to private or link-local addresses, and URLs a caller
names (a line item) only to the origin of the launch's claim URLs. Anything else
is :class:`~credlti.errors.UnsafeServiceUrlError`, raised before any byte is
sent. :class:`TokenPolicy` ``allowed_origins`` adds origins; its ``deadline``
bounds every token request and service call as a whole.
"""

from credlti.lti._tokens import ServiceToken, TokenCacheKey
from credlti.lti.services._ags_records import (
    AGS_SCOPES,
    DEFAULT_MAX_ITEMS,
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
    "DEFAULT_MAX_ITEMS",
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
