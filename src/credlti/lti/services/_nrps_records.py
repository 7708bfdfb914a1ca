"""NRPS 2.0 records: members, the membership container, and how a page is parsed (NRPS §2).

Rules of this module:

1. Member roles are parsed into :class:`~credlti.lti.Roles`, unknown ones kept.
   ``status`` defaults to ``Active`` (NRPS §2.3).
2. A page that breaks the container's shape raises
   :class:`~credlti.errors.MalformedServiceResponseError`; other members of the JSON
   objects are kept in ``extensions``.
3. Members are read leniently by default: a member breaking a rule is kept with
   the rule listed in :attr:`Member.problems` (never quoting the platform's text
   unescaped); a member without a usable ``user_id`` is skipped and counted in
   :attr:`Membership.skipped` and :attr:`Membership.problems`. ``strict=True``
   raises instead.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import attrs

from credlti._text import safe_excerpt
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
    "usable_user_id",
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


_STATUS_NAMES = "Active, Inactive or Deleted"


class _Reader:
    """Reads a member's fields, strictly (raise) or leniently (note the problem)."""

    def __init__(self, url: str, *, strict: bool) -> None:
        self.url = url
        self.strict = strict
        self.problems: list[str] = []

    def problem(self, what: str, then: str) -> None:
        """Raise (strict) or note that *what* is wrong and the reader did *then*."""
        if self.strict:
            raise malformed(f"a member's {what}", url=self.url, spec_ref="NRPS §2.2")
        self.problems.append(f"{what} ({then})")

    def status(self, value: object) -> MemberStatus:
        if value is None:
            return MemberStatus.ACTIVE
        if isinstance(value, str):
            wanted = value.strip().lower()
            for status in MemberStatus:
                if status.value.lower() == wanted:
                    return status
        # Read as Inactive: a status we cannot understand never grants access.
        self.problem(
            f"status '{safe_excerpt(value, limit=40)}' is not {_STATUS_NAMES}", "read as Inactive"
        )
        return MemberStatus.INACTIVE


def usable_user_id(value: object) -> str | None:
    """The member's ``user_id`` as text, or ``None`` when there is none to use.

    Non-blank text is used as is; an integer (not a bool) is read as its decimal text.
    """
    if isinstance(value, str):
        return value if value.strip() else None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


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
        problems: For members read leniently (the default of a listing), the
            rules the platform's member broke, such as ``"roles[2] is not a
            string (ignored)"``; the field is then left unset or ignored. The
            platform's text is quoted only escaped (:func:`credlti._text.safe_excerpt`).
            Empty for members that follow NRPS §2.2.
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
    problems: tuple[str, ...] = ()

    @classmethod
    def from_dict(
        cls, document: Mapping[str, Any], *, url: str = "", strict: bool = True
    ) -> Member:
        """Build a member from its JSON object.

        Args:
            document: The JSON object.
            url: The page it came from (named in errors).
            strict: Raise on the first rule broken. With ``strict=False`` the member
                is built anyway and each broken rule is listed in :attr:`problems`:
                roles that are not strings are ignored, a profile field that is not
                text or a ``message`` that is not a list of objects is left unset,
                an unknown status is read as ``Inactive``, a numeric ``user_id`` as
                its text.

        Raises:
            MalformedServiceResponseError: No usable ``user_id`` (even with
                ``strict=False``: a listing skips and counts such members), or
                (strict only) another rule broken.
        """
        read = _Reader(url, strict=strict)
        raw_id = document.get("user_id")
        user_id = usable_user_id(raw_id)
        if user_id is None:
            raise malformed("a member has no user_id", url=url, spec_ref="NRPS §2.2")
        if not isinstance(raw_id, str):
            read.problem("user_id is a number, not a string", "read as text")
        roles = document.get("roles", [])
        if not isinstance(roles, list):
            read.problem("roles is not a list of strings", "ignored")
            roles = []
        elif not all(isinstance(r, str) for r in roles):
            for index, role in enumerate(roles):
                if not isinstance(role, str):
                    read.problem(f"roles[{index}] is not a string", "ignored")
            roles = [r for r in roles if isinstance(r, str)]
        profile: dict[str, str | None] = {}
        for name in _PROFILE:
            value = document.get(name)
            if value is not None and not isinstance(value, str):
                read.problem(f"{name} is not text", "left unset")
                value = None
            profile[name] = value
        messages = document.get("message", [])
        if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
            read.problem("message is not a list of objects", "left unset")
            messages = []
        known = {"user_id", "roles", "status", "message", *_PROFILE}
        extensions = {k: v for k, v in document.items() if k not in known}
        return cls(
            user_id=user_id,
            roles=parse_roles(roles),
            status=read.status(document.get("status")),
            message=tuple(MappingProxyType(m) for m in messages),
            extensions=MappingProxyType(extensions) if extensions else _EMPTY,
            problems=tuple(read.problems),
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
        skipped: How many members were left out because they had no usable
            ``user_id`` (or were not JSON objects); always 0 with ``strict=True``,
            which raises instead.
        problems: What was wrong with the listing as a whole: one line per page
            that had skipped members. Problems of kept members are on each
            :attr:`Member.problems`.
    """

    id: str | None = None
    context: MembershipContext | None = None
    members: tuple[Member, ...] = ()
    differences_url: str | None = None
    next_url: str | None = None
    skipped: int = 0
    problems: tuple[str, ...] = ()


def _members(entries: list[Any], url: str, *, strict: bool) -> tuple[tuple[Member, ...], int]:
    members: list[Member] = []
    skipped = 0
    for entry in entries:
        if not isinstance(entry, dict):
            if strict:
                raise malformed("a member is not a JSON object", url=url, spec_ref="NRPS §2.1")
            skipped += 1
        elif not strict and usable_user_id(entry.get("user_id")) is None:
            skipped += 1
        else:
            members.append(Member.from_dict(entry, url=url, strict=strict))
    return tuple(members), skipped


def parse_page(page: RawPage, *, strict: bool = False) -> Membership:
    """One membership container page as a :class:`Membership` (``next_url`` set).

    Members are read as :meth:`Member.from_dict` with *strict*; leniently, members
    without a usable ``user_id`` are skipped and counted.
    """
    document = page.document
    if not isinstance(document, dict):
        raise malformed("expected a JSON object", url=page.url, spec_ref="NRPS §2.1")
    entries = document.get("members")
    if not isinstance(entries, list):
        raise malformed("members is not a list of objects", url=page.url, spec_ref="NRPS §2.1")
    members, skipped = _members(entries, page.url, strict=strict)
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
        members=members,
        differences_url=find_link(page.links, "differences"),
        next_url=page.next_url,
        skipped=skipped,
        problems=(
            (
                f"{skipped} member(s) without a usable user_id skipped on the page "
                f"{safe_excerpt(page.url, limit=200)}",
            )
            if skipped
            else ()
        ),
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
        skipped=sum(p.skipped for p in pages),
        problems=tuple(problem for p in pages for problem in p.problems),
    )
