"""NRPS 2.0 clients: :class:`RosterService` and its async twin :class:`AsyncRosterService`.

Bind one to the launch's NRPS claim::

    roster = RosterService(client, registration, launch.claims.nrps,
                           resource_link_id=launch.claims.resource_link.id)
    membership = roster.get_membership(role="Learner")   # every page, merged
    for member in roster.iter_members():                 # pages fetched as reached
        ...
    changed = roster.get_differences()                   # changes since the last listing

The operations are the flows of :mod:`credlti.lti.services._nrps_flows`, driven by
the token client's ``run``/``stream``; the two classes differ only in ``await``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from datetime import datetime

from credlti.lti._claims import NrpsEndpoint
from credlti.lti._roles import Role
from credlti.lti.ports import Registerable
from credlti.lti.services._client import AsyncServiceTokenClient, ServiceTokenClient
from credlti.lti.services._nrps_flows import RosterFlows
from credlti.lti.services._nrps_records import (
    DEFAULT_MAX_MEMBERS,
    Member,
    Membership,
    merge_pages,
)
from credlti.lti.services._paging import DEFAULT_MAX_PAGES

__all__ = ["AsyncRosterService", "RosterService"]


class RosterService:
    """NRPS 2.0 for one launch's claim.

    Args:
        client: The service-token client.
        registration: The platform registration the claim came from.
        endpoint: The launch's NRPS claim (``launch.claims.nrps``).
        resource_link_id: The launch's resource link, for ``resource_link``.
        resource_link: Limit every listing to the members of that resource link
            (``rlid``, NRPS §3) unless a call passes ``resource_link=False``;
            ``Tool.roster(launch, resource_link=True)`` sets it.
        max_members: Most members one listing reads before
            :class:`~credlti.errors.RosterTooLargeError`.
        max_pages: Most pages one listing follows.
        deployment_id: Named in the token assertion.
        clock: Returns the current aware datetime (``Retry-After`` dates); the
            client's clock by default.

    Raises:
        ServiceNotAvailableError: *endpoint* is not an NRPS claim offering 2.0.
    """

    def __init__(
        self,
        client: ServiceTokenClient,
        registration: Registerable,
        endpoint: NrpsEndpoint,
        *,
        resource_link_id: str | None = None,
        resource_link: bool = False,
        max_members: int = DEFAULT_MAX_MEMBERS,
        max_pages: int = DEFAULT_MAX_PAGES,
        deployment_id: str | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._client = client
        self._flows = RosterFlows(
            endpoint,
            client._caller(registration, deployment_id),
            clock=clock,
            resource_link_id=resource_link_id,
            resource_link=resource_link,
            max_members=max_members,
            max_pages=max_pages,
        )

    @property
    def differences_url(self) -> str | None:
        """The last ``rel="differences"`` link the platform sent, unchanged."""
        return self._flows.differences_url

    @property
    def skipped_members(self) -> int:
        """Members the last listing skipped: no usable ``user_id`` (0 with ``strict``)."""
        return self._flows.skipped_members

    def _pages(self, url: str, strict: bool) -> Iterator[Membership]:
        return self._client._stream(self._flows.pages(url, strict=strict))

    def get_membership(
        self,
        *,
        role: str | Role | None = None,
        limit: int | None = None,
        resource_link: bool | None = None,
        strict: bool = False,
    ) -> Membership:
        """The whole roster (context, members, differences link), every page read (NRPS §2.4).

        Args:
            role: Only members with this role: a URI, or a short context role name
                such as ``"Learner"`` (sent as its full URI), or a :class:`Role`.
            limit: Page size hint (the platform may send more or fewer).
            resource_link: Ask for the members of the service's resource link
                (``rlid``, NRPS §3); each member then carries ``message``. By
                default the service's own ``resource_link`` setting.
            strict: Raise :class:`~credlti.errors.MalformedServiceResponseError` for
                a member that breaks NRPS §2.2. By default such a member is kept
                with its :attr:`~Member.problems` listed, and a member without a
                usable ``user_id`` is skipped and counted in
                :attr:`Membership.skipped` (and :attr:`skipped_members`).

        Raises:
            RosterTooLargeError: More than ``max_members`` members.
            PagingError: A paging link is unsafe, loops, or there are too many pages.
            ScopeNotGrantedError: The token lacks ``contextmembership.readonly``.
            ServiceAccessDeniedError, ServiceResourceNotFoundError,
            ServiceTemporarilyUnavailableError, MalformedServiceResponseError,
            ServiceCallFailedError: The service failed.
        """
        url = self._flows.first_url(role, limit, resource_link)
        return merge_pages(list(self._pages(url, strict)))

    def list_members(
        self,
        *,
        role: str | Role | None = None,
        limit: int | None = None,
        resource_link: bool | None = None,
        strict: bool = False,
    ) -> list[Member]:
        """Every member, every page read. Same arguments as :meth:`get_membership`.

        Members skipped for lack of a usable ``user_id`` are counted in
        :attr:`skipped_members` once the listing ends.
        """
        members = self.iter_members(
            role=role, limit=limit, resource_link=resource_link, strict=strict
        )
        return list(members)

    def iter_members(
        self,
        *,
        role: str | Role | None = None,
        limit: int | None = None,
        resource_link: bool | None = None,
        strict: bool = False,
    ) -> Iterator[Member]:
        """Like :meth:`list_members`, fetching each page only when it is reached.

        Errors on a later page raise from the iteration.
        """
        url = self._flows.first_url(role, limit, resource_link)
        for page in self._pages(url, strict):
            yield from page.members

    def get_differences(self, url: str | None = None, *, strict: bool = False) -> Membership:
        """Members added or changed since *url* (by default :attr:`differences_url`) was issued.

        The link is used unchanged (NRPS §2.4.3); removed members come back with
        status ``Deleted``. *strict* as for :meth:`get_membership`.

        Raises:
            ServiceNotAvailableError: No differences link is known.
            UnsafePageLinkError: The link leaves the endpoint's https origin.
        """
        start = self._flows.differences_start(url)
        return merge_pages(list(self._pages(start, strict)))


class AsyncRosterService:
    """Async twin of :class:`RosterService` (same arguments, awaitable methods)."""

    def __init__(
        self,
        client: AsyncServiceTokenClient,
        registration: Registerable,
        endpoint: NrpsEndpoint,
        *,
        resource_link_id: str | None = None,
        resource_link: bool = False,
        max_members: int = DEFAULT_MAX_MEMBERS,
        max_pages: int = DEFAULT_MAX_PAGES,
        deployment_id: str | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._client = client
        self._flows = RosterFlows(
            endpoint,
            client._caller(registration, deployment_id),
            clock=clock,
            resource_link_id=resource_link_id,
            resource_link=resource_link,
            max_members=max_members,
            max_pages=max_pages,
        )

    @property
    def differences_url(self) -> str | None:
        """The last ``rel="differences"`` link the platform sent, unchanged."""
        return self._flows.differences_url

    @property
    def skipped_members(self) -> int:
        """Members the last listing skipped: no usable ``user_id`` (0 with ``strict``)."""
        return self._flows.skipped_members

    def _pages(self, url: str, strict: bool) -> AsyncIterator[Membership]:
        return self._client._stream(self._flows.pages(url, strict=strict))

    async def get_membership(
        self,
        *,
        role: str | Role | None = None,
        limit: int | None = None,
        resource_link: bool | None = None,
        strict: bool = False,
    ) -> Membership:
        """Async :meth:`RosterService.get_membership`."""
        url = self._flows.first_url(role, limit, resource_link)
        return merge_pages([page async for page in self._pages(url, strict)])

    async def list_members(
        self,
        *,
        role: str | Role | None = None,
        limit: int | None = None,
        resource_link: bool | None = None,
        strict: bool = False,
    ) -> list[Member]:
        """Async :meth:`RosterService.list_members`."""
        members = self.iter_members(
            role=role, limit=limit, resource_link=resource_link, strict=strict
        )
        return [member async for member in members]

    async def iter_members(
        self,
        *,
        role: str | Role | None = None,
        limit: int | None = None,
        resource_link: bool | None = None,
        strict: bool = False,
    ) -> AsyncIterator[Member]:
        """Async :meth:`RosterService.iter_members`."""
        url = self._flows.first_url(role, limit, resource_link)
        async for page in self._pages(url, strict):
            for member in page.members:
                yield member

    async def get_differences(self, url: str | None = None, *, strict: bool = False) -> Membership:
        """Async :meth:`RosterService.get_differences`."""
        start = self._flows.differences_start(url)
        return merge_pages([page async for page in self._pages(start, strict)])
