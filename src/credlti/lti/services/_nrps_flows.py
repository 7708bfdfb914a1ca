"""NRPS 2.0 operations as flows: the context roster and its differences (NRPS §2, §3).

Rules of this module:

1. Requests carry ``Accept: application/vnd.ims.lti-nrps.v2.membershipcontainer+json``
   and a token for the ``contextmembership.readonly`` scope (NRPS §2.4).
2. ``role``, ``limit`` and ``rlid`` are added to the claim's URL, keeping its query;
   ``next`` and ``differences`` links are used unchanged, and only when they stay on
   the endpoint's https origin (:mod:`credlti.lti.services._paging`).
3. A listing emits one :class:`~credlti.lti.services.Membership` per page; one
   larger than ``max_members`` in total stops with
   :class:`~credlti.errors.RosterTooLargeError` before the page is handed out.
4. Members are read leniently unless a listing asks for ``strict``
   (:mod:`credlti.lti.services._nrps_records`); the members a listing skipped are
   counted in ``skipped_members``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from types import MappingProxyType

import attrs

from credlti._effects import Flow
from credlti.errors import (
    InvalidServiceRecordError,
    RosterTooLargeError,
    ServiceNotAvailableError,
)
from credlti.lti._claims import NrpsEndpoint
from credlti.lti._roles import Role, parse_role
from credlti.lti.services._call_flow import Caller, ServiceCall, paged_flow
from credlti.lti.services._nrps_records import MEDIA_MEMBERSHIP_CONTAINER, Membership, parse_page
from credlti.lti.services._oauth import SCOPE_NRPS_READONLY
from credlti.lti.services._paging import RawPage, check_link_target
from credlti.lti.services._urls import add_query

__all__ = ["RosterFlows"]


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


@attrs.define
class _RosterPages:
    """Parses each page, counts members against the cap, remembers the differences link."""

    flows: RosterFlows
    strict: bool
    total: int = 0

    def __call__(self, raw: RawPage) -> Membership:
        page = parse_page(raw, strict=self.strict)
        self.flows.skipped_members += page.skipped
        self.total += len(page.members) + page.skipped
        cap = self.flows.max_members
        if self.total > cap:
            msg = f"the roster has more than {cap} members; raise max_members or filter by role"
            raise RosterTooLargeError(msg, details={"count": self.total, "max": cap})
        if page.differences_url is not None:
            self.flows.differences_url = page.differences_url
        return page


class RosterFlows:
    """The NRPS operations for one launch's claim, each a flow (shared by both services).

    Args:
        endpoint: The launch's NRPS claim.
        caller: Who calls, and the client's token state.
        clock: ``Retry-After`` dates (the client's by default).
        resource_link_id: The launch's resource link, for ``resource_link=True``.
        resource_link: Whether listings are limited to that resource link by default.
        max_members: Most members one listing reads.
        max_pages: Most pages one listing follows.

    Raises:
        ServiceNotAvailableError: *endpoint* is not an NRPS claim offering 2.0.
    """

    def __init__(
        self,
        endpoint: NrpsEndpoint,
        caller: Caller,
        *,
        clock: Callable[[], datetime] | None,
        resource_link_id: str | None,
        max_members: int,
        resource_link: bool = False,
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
        self.caller = caller
        self.clock = clock or caller.clock
        self.resource_link_id = resource_link_id
        self.resource_link = resource_link
        self.max_members = max_members
        self.max_pages = max_pages
        self.differences_url: str | None = None
        self.skipped_members = 0

    def first_url(
        self, role: str | Role | None, limit: int | None, resource_link: bool | None
    ) -> str:
        """The first page's URL: the claim's, with ``role``, ``limit`` and ``rlid`` added.

        *resource_link* ``None`` means the service's default (set by
        ``Tool.roster(launch, resource_link=True)``).
        """
        if resource_link is None:
            resource_link = self.resource_link
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

    def pages(self, url: str, *, strict: bool = False) -> Flow[None]:
        """Flow: GET *url* and its ``next`` pages, emitting a :class:`Membership` per page.

        Members are read with *strict* (see :meth:`Member.from_dict`); the count of
        skipped members starts again at 0.
        """
        self.skipped_members = 0
        call = ServiceCall(
            method="GET",
            url=url,
            scopes=frozenset({SCOPE_NRPS_READONLY}),
            require=frozenset({SCOPE_NRPS_READONLY}),
            headers=MappingProxyType({"Accept": MEDIA_MEMBERSHIP_CONTAINER}),
            spec_ref="NRPS §2.4",
        )
        yield from paged_flow(
            call,
            self.caller,
            _RosterPages(self, strict),
            clock=self.clock,
            max_pages=self.max_pages,
        )

    def differences_start(self, url: str | None) -> str:
        """The differences link to GET: *url*, else the last one the platform sent."""
        target = url if url is not None else self.differences_url
        if target is None:
            msg = (
                "no differences link is known: the platform sent none with the last "
                "roster (NRPS §2.4.3 makes it optional)"
            )
            raise ServiceNotAvailableError(msg, spec_ref="NRPS §2.4.3")
        return check_link_target(self.endpoint.context_memberships_url, target)
