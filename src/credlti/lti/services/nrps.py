"""Names and Role Provisioning Services 2.0: the context roster (NRPS §2, §3).

Bind a :class:`RosterService` (or :class:`AsyncRosterService`) to the launch's NRPS
claim::

    roster = RosterService(client, registration, launch.claims.nrps,
                           resource_link_id=launch.claims.resource_link.id)
    membership = roster.members(role="Learner")
    for page in roster.stream_members():          # one page at a time, fetched lazily
        ...
    changed = roster.differences()                 # members changed since the last call

Rules of this module:

1. Requests carry ``Accept: application/vnd.ims.lti-nrps.v2.membershipcontainer+json``
   and a token for the ``contextmembership.readonly`` scope (NRPS §2.4; Cert 40-42).
2. ``role``, ``limit`` and ``rlid`` are added to the claim's URL, keeping its query;
   ``next`` and ``differences`` links are used unchanged, and only when they stay on
   the endpoint's https origin (:mod:`credlti.lti.services._paging`).
3. Member roles are parsed into :class:`~credlti.lti.Roles`, unknown ones kept.
   ``status`` defaults to ``Active`` (NRPS §2.3). A roster larger than
   ``max_members`` stops with :class:`~credlti.errors.RosterTooLargeError`.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator, Generator, Iterator, Mapping
from datetime import datetime, timezone
from types import MappingProxyType
from typing import Any

import attrs

from credlti.errors import (
    InvalidServiceRecordError,
    RosterTooLargeError,
    ServiceNotAvailableError,
)
from credlti.lti._claims import NrpsEndpoint
from credlti.lti._roles import Role, Roles, parse_role, parse_roles
from credlti.lti.ports import Registerable
from credlti.lti.services._client import AsyncServiceTokenClient, ServiceTokenClient
from credlti.lti.services._flow import (
    Binding,
    Emit,
    RawPage,
    ServiceCall,
    add_query,
    aiter_flow,
    iter_flow,
    malformed,
    paged_flow,
)
from credlti.lti.services._oauth import SCOPE_NRPS_READONLY
from credlti.lti.services._paging import DEFAULT_MAX_PAGES, check_link_target, find_link

__all__ = [
    "DEFAULT_MAX_MEMBERS",
    "MEDIA_MEMBERSHIP_CONTAINER",
    "AsyncRosterService",
    "Member",
    "MemberStatus",
    "Membership",
    "MembershipContext",
    "RosterService",
]

#: The membership container media type (NRPS §2.1), sent as ``Accept``.
MEDIA_MEMBERSHIP_CONTAINER = "application/vnd.ims.lti-nrps.v2.membershipcontainer+json"
#: Default cap on the members one listing reads.
DEFAULT_MAX_MEMBERS = 100_000

_EMPTY: Mapping[str, Any] = MappingProxyType({})
_PROFILE = (
    "name",
    "given_name",
    "family_name",
    "middle_name",
    "email",
    "picture",
    "lis_person_sourcedid",
    "lti11_legacy_user_id",
)


class MemberStatus(str, enum.Enum):
    """A member's status (NRPS §2.3); ``Deleted`` appears only in differences."""

    ACTIVE = "Active"
    INACTIVE = "Inactive"
    DELETED = "Deleted"


def _status(value: object, url: str) -> MemberStatus:
    if value is None:
        return MemberStatus.ACTIVE
    if isinstance(value, str):
        wanted = value.strip().lower()
        for status in MemberStatus:
            if status.value.lower() == wanted:
                return status
    raise malformed(f"a member's status is {str(value)[:40]!r}", url=url, spec_ref="NRPS §2.3")


@attrs.frozen(kw_only=True)
class Member:
    """One member of the context (NRPS §2.2).

    Only ``user_id`` and ``roles`` are guaranteed; the profile fields depend on the
    platform's privacy settings, so never rely on them.

    Attributes:
        user_id: The member's ``sub`` (same as in launches).
        roles: Parsed roles; unknown role strings in ``roles.unrecognized``.
        status: Active (the default), Inactive, or Deleted (differences only).
        message: For resource-link queries, the messages the member would receive
            (``LtiResourceLinkRequest`` claims, NRPS §3.2), as received.
        extensions: Other members of the JSON object, as received.
    """

    user_id: str
    roles: Roles = attrs.field(factory=Roles)
    status: MemberStatus = MemberStatus.ACTIVE
    name: str | None = None
    given_name: str | None = None
    family_name: str | None = None
    middle_name: str | None = None
    email: str | None = None
    picture: str | None = None
    lis_person_sourcedid: str | None = None
    lti11_legacy_user_id: str | None = None
    message: tuple[Mapping[str, Any], ...] = ()
    extensions: Mapping[str, Any] = _EMPTY

    @classmethod
    def from_dict(cls, document: Mapping[str, Any], *, url: str = "") -> Member:
        """Build a member from its JSON object.

        Raises:
            MalformedServiceResponseError: No ``user_id``, roles that are not strings,
                an unknown status, or a profile field that is not text.
        """
        user_id = document.get("user_id")
        if not isinstance(user_id, str) or not user_id:
            raise malformed("a member has no user_id", url=url, spec_ref="NRPS §2.2")
        roles = document.get("roles", [])
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            raise malformed("a member's roles are not strings", url=url, spec_ref="NRPS §2.2")
        profile: dict[str, str | None] = {}
        for name in _PROFILE:
            value = document.get(name)
            if value is not None and not isinstance(value, str):
                raise malformed(f"a member's {name} is not text", url=url, spec_ref="NRPS §2.2")
            profile[name] = value
        messages = document.get("message", [])
        if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
            raise malformed("a member's message is not a list of objects", url=url)
        known = {"user_id", "roles", "status", "message", *_PROFILE}
        extensions = {k: v for k, v in document.items() if k not in known}
        return cls(
            user_id=user_id,
            roles=parse_roles(roles),
            status=_status(document.get("status"), url),
            message=tuple(MappingProxyType(m) for m in messages),
            extensions=MappingProxyType(extensions) if extensions else _EMPTY,
            **profile,
        )


@attrs.frozen(kw_only=True)
class MembershipContext:
    """The context a roster belongs to (NRPS §2.1)."""

    id: str
    label: str | None = None
    title: str | None = None


@attrs.frozen(kw_only=True)
class Membership:
    """A membership container: a whole roster, or one page of it.

    Attributes:
        id: The container's URL, if the platform sent one.
        context: The context.
        members: The members (of every page, for :meth:`RosterService.members`).
        differences_url: The ``rel="differences"`` link, unchanged (NRPS §2.4.3).
        next_url: For a page, the ``rel="next"`` link (``None`` on the last page).
    """

    id: str | None = None
    context: MembershipContext | None = None
    members: tuple[Member, ...] = ()
    differences_url: str | None = None
    next_url: str | None = None


def _parse_page(page: RawPage) -> Membership:
    document = page.document
    if not isinstance(document, dict):
        raise malformed("expected a JSON object", url=page.url, spec_ref="NRPS §2.1")
    members = document.get("members")
    if not isinstance(members, list) or not all(isinstance(m, dict) for m in members):
        raise malformed("members is not a list of objects", url=page.url, spec_ref="NRPS §2.1")
    context = document.get("context")
    parsed_context = None
    if context is not None:
        if not isinstance(context, dict) or not isinstance(context.get("id"), str):
            raise malformed("context has no id", url=page.url, spec_ref="NRPS §2.1")
        label, title = context.get("label"), context.get("title")
        parsed_context = MembershipContext(
            id=context["id"],
            label=label if isinstance(label, str) else None,
            title=title if isinstance(title, str) else None,
        )
    ident = document.get("id")
    return Membership(
        id=ident if isinstance(ident, str) else None,
        context=parsed_context,
        members=tuple(Member.from_dict(m, url=page.url) for m in members),
        differences_url=find_link(page.links, "differences"),
        next_url=page.next_url,
    )


def _role_param(role: str | Role) -> str:
    if isinstance(role, Role):
        return role.canonical_uri
    value: object = role
    if not isinstance(value, str) or not role or any(c.isspace() for c in role):
        msg = "role must be a role URI, a short context role name, or a Role"
        raise InvalidServiceRecordError(msg, spec_ref="NRPS §2.4.1", details={"field": "role"})
    parsed = parse_role(role)
    if parsed is not None and ":" not in role:
        return parsed.canonical_uri  # "Learner" -> the membership#Learner URI
    if parsed is None and ":" not in role:
        msg = f"role {role!r} is neither a URI nor a known short context role"
        raise InvalidServiceRecordError(msg, spec_ref="NRPS §2.4.1", details={"field": "role"})
    return role


def _positive_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


class _RosterCore:
    """What :class:`RosterService` and :class:`AsyncRosterService` share."""

    def __init__(
        self,
        endpoint: NrpsEndpoint,
        *,
        resource_link_id: str | None,
        max_members: int,
        max_pages: int,
    ) -> None:
        claim: object = endpoint
        if not isinstance(claim, NrpsEndpoint) or not endpoint.context_memberships_url:
            msg = "endpoint must be the launch's NrpsEndpoint (LaunchClaims.nrps)"
            raise ServiceNotAvailableError(msg, spec_ref="NRPS §3.6.1")
        versions = endpoint.service_versions
        if versions and "2.0" not in versions:
            msg = f"the platform offers NRPS versions {list(versions)}, not 2.0"
            raise ServiceNotAvailableError(msg, spec_ref="NRPS §3.6.1")
        if not _positive_int(max_members):
            msg = "max_members must be a positive integer"
            raise InvalidServiceRecordError(msg, details={"field": "max_members"})
        self.endpoint = endpoint
        self.resource_link_id = resource_link_id
        self.max_members = max_members
        self.max_pages = max_pages
        self.differences_url: str | None = None

    def first_url(self, role: str | Role | None, limit: int | None, resource_link: bool) -> str:
        rlid = None
        if resource_link:
            if not self.resource_link_id:
                msg = "resource_link=True needs the service's resource_link_id"
                raise ServiceNotAvailableError(msg, spec_ref="NRPS §3")
            rlid = self.resource_link_id
        if limit is not None and not _positive_int(limit):
            msg = "limit must be a positive integer"
            raise InvalidServiceRecordError(msg, spec_ref="NRPS §2.4.2", details={"field": "limit"})
        params = {
            "role": None if role is None else _role_param(role),
            "limit": limit,
            "rlid": rlid,
        }
        return add_query(self.endpoint.context_memberships_url, params)

    def pages(self, url: str) -> Generator[Any, Any, None]:
        call = ServiceCall(
            method="GET",
            url=url,
            scopes=frozenset({SCOPE_NRPS_READONLY}),
            require=frozenset({SCOPE_NRPS_READONLY}),
            headers=MappingProxyType({"Accept": MEDIA_MEMBERSHIP_CONTAINER}),
            spec_ref="NRPS §2.4",
        )
        flow = paged_flow(call, _parse_page, now=_utc_now(), max_pages=self.max_pages)
        total = 0
        value: Any = None
        while True:
            try:
                effect = flow.send(value)
            except StopIteration:
                return
            if isinstance(effect, Emit):
                page: Membership = effect.value
                total += len(page.members)
                if total > self.max_members:
                    msg = (
                        f"the roster has more than {self.max_members} members; raise "
                        "max_members or filter by role"
                    )
                    raise RosterTooLargeError(
                        msg, details={"count": total, "max": self.max_members}
                    )
                if page.differences_url is not None:
                    self.differences_url = page.differences_url
            value = yield effect

    def differences_start(self, url: str | None) -> str:
        target = url if url is not None else self.differences_url
        if target is None:
            msg = (
                "no differences link is known: the platform sent none with the last "
                "roster (NRPS §2.4.3 makes it optional)"
            )
            raise ServiceNotAvailableError(msg, spec_ref="NRPS §2.4.3")
        return check_link_target(self.endpoint.context_memberships_url, target)


def _merge(pages: list[Membership]) -> Membership:
    if not pages:  # pragma: no cover - a flow emits at least one page
        return Membership()
    first = pages[0]
    differences = next((p.differences_url for p in reversed(pages) if p.differences_url), None)
    return Membership(
        id=first.id,
        context=first.context,
        members=tuple(m for p in pages for m in p.members),
        differences_url=differences,
    )


class RosterService:
    """NRPS 2.0 for one launch's claim.

    Args:
        client: The service-token client.
        registration: The platform registration the claim came from.
        endpoint: The launch's NRPS claim (``launch.claims.nrps``).
        resource_link_id: The launch's resource link, for ``resource_link=True``.
        max_members: Most members one listing reads before
            :class:`~credlti.errors.RosterTooLargeError`.
        max_pages: Most pages one listing follows.
        deployment_id: Named in the token assertion.

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
        max_members: int = DEFAULT_MAX_MEMBERS,
        max_pages: int = DEFAULT_MAX_PAGES,
        deployment_id: str | None = None,
    ) -> None:
        self._client = client
        self._binding = Binding(registration=registration, deployment_id=deployment_id)
        self._core = _RosterCore(
            endpoint,
            resource_link_id=resource_link_id,
            max_members=max_members,
            max_pages=max_pages,
        )

    @property
    def differences_url(self) -> str | None:
        """The last ``rel="differences"`` link the platform sent, unchanged."""
        return self._core.differences_url

    def stream_members(
        self,
        *,
        role: str | Role | None = None,
        limit: int | None = None,
        resource_link: bool = False,
    ) -> Iterator[Membership]:
        """Yield the roster page by page; each page is fetched when it is reached.

        Errors on a later page raise from the iteration. Same arguments as
        :meth:`members`.
        """
        url = self._core.first_url(role, limit, resource_link)
        yield from iter_flow(self._client, self._binding, self._core.pages(url))

    def members(
        self,
        *,
        role: str | Role | None = None,
        limit: int | None = None,
        resource_link: bool = False,
    ) -> Membership:
        """The whole roster, every page read (NRPS §2.4).

        Args:
            role: Only members with this role: a URI, or a short context role name
                such as ``"Learner"`` (sent as its full URI), or a :class:`Role`.
            limit: Page size hint (the platform may send more or fewer).
            resource_link: Ask for the members of the service's resource link
                (``rlid``, NRPS §3); each member then carries ``message``.

        Raises:
            RosterTooLargeError: More than ``max_members`` members.
            PagingError: A paging link is unsafe, loops, or there are too many pages.
            ScopeNotGrantedError: The token lacks ``contextmembership.readonly``.
            ServiceAccessDeniedError, ServiceResourceNotFoundError,
            ServiceTemporarilyUnavailableError, MalformedServiceResponseError,
            ServiceCallFailedError: The service failed.
        """
        return _merge(
            list(self.stream_members(role=role, limit=limit, resource_link=resource_link))
        )

    def differences(self, url: str | None = None) -> Membership:
        """Members added or changed since *url* (by default :attr:`differences_url`) was issued.

        The link is used unchanged (NRPS §2.4.3); removed members come back with
        status ``Deleted``.

        Raises:
            ServiceNotAvailableError: No differences link is known.
            UnsafePageLinkError: The link leaves the endpoint's https origin.
        """
        start = self._core.differences_start(url)
        return _merge(list(iter_flow(self._client, self._binding, self._core.pages(start))))


class AsyncRosterService:
    """Async twin of :class:`RosterService` (same arguments, awaitable methods)."""

    def __init__(
        self,
        client: AsyncServiceTokenClient,
        registration: Registerable,
        endpoint: NrpsEndpoint,
        *,
        resource_link_id: str | None = None,
        max_members: int = DEFAULT_MAX_MEMBERS,
        max_pages: int = DEFAULT_MAX_PAGES,
        deployment_id: str | None = None,
    ) -> None:
        self._client = client
        self._binding = Binding(registration=registration, deployment_id=deployment_id)
        self._core = _RosterCore(
            endpoint,
            resource_link_id=resource_link_id,
            max_members=max_members,
            max_pages=max_pages,
        )

    @property
    def differences_url(self) -> str | None:
        """The last ``rel="differences"`` link the platform sent, unchanged."""
        return self._core.differences_url

    async def stream_members(
        self,
        *,
        role: str | Role | None = None,
        limit: int | None = None,
        resource_link: bool = False,
    ) -> AsyncIterator[Membership]:
        """Async :meth:`RosterService.stream_members`."""
        url = self._core.first_url(role, limit, resource_link)
        async for page in aiter_flow(self._client, self._binding, self._core.pages(url)):
            yield page

    async def members(
        self,
        *,
        role: str | Role | None = None,
        limit: int | None = None,
        resource_link: bool = False,
    ) -> Membership:
        """Async :meth:`RosterService.members`."""
        pages = [
            p
            async for p in self.stream_members(role=role, limit=limit, resource_link=resource_link)
        ]
        return _merge(pages)

    async def differences(self, url: str | None = None) -> Membership:
        """Async :meth:`RosterService.differences`."""
        start = self._core.differences_start(url)
        flow = self._core.pages(start)
        return _merge([p async for p in aiter_flow(self._client, self._binding, flow)])
