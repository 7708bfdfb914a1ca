"""NRPS 2.0 records: members, the membership container, and how a page is parsed (NRPS §2).

Rules of this module:

1. Member roles are parsed into :class:`~credlti.lti.Roles`, unknown ones kept.
   ``status`` defaults to ``Active`` (NRPS §2.3).
2. A page that breaks the container's shape raises
   :class:`~credlti.errors.MalformedServiceResponseError`; other members of the JSON
   objects are kept in ``extensions``.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import attrs

from credlti.lti._roles import Roles, parse_roles
from credlti.lti.services._paging import RawPage, find_link
from credlti.lti.services._response import malformed

__all__ = [
    "DEFAULT_MAX_MEMBERS",
    "MEDIA_MEMBERSHIP_CONTAINER",
    "Member",
    "MemberStatus",
    "Membership",
    "MembershipContext",
    "merge_pages",
    "parse_page",
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
        members: The members (of every page, for :meth:`RosterService.get_membership`).
        differences_url: The ``rel="differences"`` link, unchanged (NRPS §2.4.3).
        next_url: For a page, the ``rel="next"`` link (``None`` on the last page).
    """

    id: str | None = None
    context: MembershipContext | None = None
    members: tuple[Member, ...] = ()
    differences_url: str | None = None
    next_url: str | None = None


def parse_page(page: RawPage) -> Membership:
    """One membership container page as a :class:`Membership` (``next_url`` set)."""
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


def merge_pages(pages: list[Membership]) -> Membership:
    """One :class:`Membership` from its pages: every member, the last differences link."""
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
