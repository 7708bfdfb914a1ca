"""LTI role vocabularies (Core Appendix A.2), parsed into typed records.

Rules of this module:

1. Unknown or foreign role strings are kept verbatim in ``Roles.unrecognized`` and
   never fail a launch (Cert "Unknown Role").
2. The principal of a sub-role is derived from the URI path, never assumed present:
   ``membership/Learner#Instructor`` is a *Learner* (Core A.2.3.1).
3. Parsing one URI is pure and cached, so a launch pays a dict lookup per role.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator
from functools import lru_cache

import attrs

__all__ = ["Role", "RoleKind", "Roles", "parse_role", "parse_roles"]

_LIS = "http://purl.imsglobal.org/vocab/lis/v2/"
_MEMBERSHIP = _LIS + "membership#"
_MEMBERSHIP_SUB = _LIS + "membership/"
_INSTITUTION = _LIS + "institution/person#"
_SYSTEM = _LIS + "system/person#"
_LEGACY_PERSON = _LIS + "person#"
_LTI_SYSTEM = "http://purl.imsglobal.org/vocab/lti/system/person#"
_URN_CONTEXT = "urn:lti:role:ims/lis/"
_URN_INSTITUTION = "urn:lti:instrole:ims/lis/"
_URN_SYSTEM = "urn:lti:sysrole:ims/lis/"


class RoleKind(enum.Enum):
    """Which vocabulary a role belongs to."""

    CONTEXT = "context"
    INSTITUTION = "institution"
    SYSTEM = "system"


#: Context principal roles and their sub-roles (Core A.2.3, A.2.3.1).
CONTEXT_SUB_ROLES: dict[str, frozenset[str]] = {
    "Administrator": frozenset(
        {
            "Administrator",
            "Developer",
            "ExternalDeveloper",
            "ExternalSupport",
            "ExternalSystemAdministrator",
            "Support",
            "SystemAdministrator",
        }
    ),
    "ContentDeveloper": frozenset(
        {"ContentDeveloper", "ContentExpert", "ExternalContentExpert", "Librarian"}
    ),
    "Instructor": frozenset(
        {
            "ExternalInstructor",
            "Grader",
            "GuestInstructor",
            "Lecturer",
            "PrimaryInstructor",
            "SecondaryInstructor",
            "TeachingAssistant",
            "TeachingAssistantGroup",
            "TeachingAssistantOffering",
            "TeachingAssistantSection",
            "TeachingAssistantSectionAssociation",
            "TeachingAssistantTemplate",
        }
    ),
    "Learner": frozenset(
        {"ExternalLearner", "GuestLearner", "Instructor", "Learner", "NonCreditLearner"}
    ),
    "Manager": frozenset(
        {"AreaManager", "CourseCoordinator", "ExternalObserver", "Manager", "Observer"}
    ),
    "Member": frozenset({"Member"}),
    "Mentor": frozenset(
        {
            "Advisor",
            "Auditor",
            "ExternalAdvisor",
            "ExternalAuditor",
            "ExternalLearningFacilitator",
            "ExternalMentor",
            "ExternalReviewer",
            "ExternalTutor",
            "LearningFacilitator",
            "Mentor",
            "Reviewer",
            "Tutor",
        }
    ),
    "Officer": frozenset({"Chair", "Communications", "Secretary", "Treasurer", "Vice-Chair"}),
}

#: Institution roles (Core A.2.2), core and non-core.
INSTITUTION_ROLES = frozenset(
    {
        "Administrator",
        "Faculty",
        "Guest",
        "None",
        "Other",
        "Staff",
        "Student",
        "Alumni",
        "Instructor",
        "Learner",
        "Member",
        "Mentor",
        "Observer",
        "ProspectiveStudent",
    }
)

#: System roles (Core A.2.1), core and non-core.
SYSTEM_ROLES = frozenset(
    {"Administrator", "None", "AccountAdmin", "Creator", "SysAdmin", "SysSupport", "User"}
)

#: Principal roles counted as course staff for authorisation decisions.
STAFF_ROLES = frozenset({"Instructor", "Administrator", "ContentDeveloper"})


@attrs.frozen
class Role:
    """One recognised role.

    Attributes:
        kind: The vocabulary (context, institution or system).
        name: The principal role, e.g. ``"Instructor"``.
        sub_role: The sub-role, e.g. ``"TeachingAssistant"``, or ``None``.
        uri: The role exactly as the platform sent it.
        deprecated: True when the platform used a deprecated form (a short name,
            ``lis/v2/person#``, or an LTI 1.1 URN).
    """

    kind: RoleKind
    name: str
    sub_role: str | None
    uri: str
    deprecated: bool = False

    @property
    def canonical_uri(self) -> str:
        """The current LIS v2 URI for this role, whatever form was received."""
        if self.kind is RoleKind.CONTEXT:
            if self.sub_role is None:
                return _MEMBERSHIP + self.name
            return f"{_MEMBERSHIP_SUB}{self.name}#{self.sub_role}"
        if self.kind is RoleKind.INSTITUTION:
            return _INSTITUTION + self.name
        if self.name == "TestUser":
            return _LTI_SYSTEM + self.name
        return _SYSTEM + self.name


def _context(name: str, uri: str, *, deprecated: bool = False) -> Role | None:
    if name in CONTEXT_SUB_ROLES:
        return Role(RoleKind.CONTEXT, name, None, uri, deprecated)
    return None


def _context_sub(path: str, uri: str, *, deprecated: bool = False) -> Role | None:
    # "Instructor#TeachingAssistant" (URI form) or "Instructor/TeachingAssistant" (URN form)
    sep = "#" if "#" in path else "/"
    principal, _, sub = path.partition(sep)
    if sub in CONTEXT_SUB_ROLES.get(principal, ()):
        return Role(RoleKind.CONTEXT, principal, sub, uri, deprecated)
    return None


@lru_cache(maxsize=4096)
def parse_role(uri: str) -> Role | None:
    """Parse one role string; return ``None`` when it is not a recognised role.

    Recognises the LIS v2 URIs (MUST), plus the deprecated forms the spec allows
    (MAY): short context names (Cert "Short Role"), ``lis/v2/person#X`` and the
    LTI 1.1 ``urn:lti:{role,instrole,sysrole}:ims/lis/X`` URNs.
    """
    if uri.startswith(_LIS):
        if uri.startswith(_MEMBERSHIP):
            return _context(uri[len(_MEMBERSHIP) :], uri)
        if uri.startswith(_MEMBERSHIP_SUB):
            return _context_sub(uri[len(_MEMBERSHIP_SUB) :], uri)
        if uri.startswith(_INSTITUTION):
            name = uri[len(_INSTITUTION) :]
            if name in INSTITUTION_ROLES:
                return Role(RoleKind.INSTITUTION, name, None, uri)
            return None
        if uri.startswith(_SYSTEM):
            name = uri[len(_SYSTEM) :]
            if name in SYSTEM_ROLES:
                return Role(RoleKind.SYSTEM, name, None, uri)
            return None
        if uri.startswith(_LEGACY_PERSON):
            # Deprecated form without system/ or institution/: system roles first.
            name = uri[len(_LEGACY_PERSON) :]
            if name in SYSTEM_ROLES:
                return Role(RoleKind.SYSTEM, name, None, uri, deprecated=True)
            if name in INSTITUTION_ROLES:
                return Role(RoleKind.INSTITUTION, name, None, uri, deprecated=True)
        return None
    if uri.startswith(_LTI_SYSTEM):
        if uri[len(_LTI_SYSTEM) :] == "TestUser":
            return Role(RoleKind.SYSTEM, "TestUser", None, uri)
        return None
    if uri.startswith(_URN_CONTEXT):
        path = uri[len(_URN_CONTEXT) :]
        if "/" in path:
            return _context_sub(path, uri, deprecated=True)
        return _context(path, uri, deprecated=True)
    if uri.startswith(_URN_INSTITUTION):
        name = uri[len(_URN_INSTITUTION) :]
        if name in INSTITUTION_ROLES:
            return Role(RoleKind.INSTITUTION, name, None, uri, deprecated=True)
        return None
    if uri.startswith(_URN_SYSTEM):
        name = uri[len(_URN_SYSTEM) :]
        if name in SYSTEM_ROLES:
            return Role(RoleKind.SYSTEM, name, None, uri, deprecated=True)
        return None
    # Short context names such as "Instructor" (deprecated, but sent by Cert "Short Role").
    return _context(uri, uri, deprecated=True)


@attrs.frozen
class Roles:
    """The roles of the launching user, recognised and not.

    Authorisation helpers decide from *context* roles first, as the spec advises:
    an institution ``Instructor`` is not a course instructor.

    Attributes:
        recognized: Parsed roles, in the order received.
        unrecognized: Role strings no vocabulary knows, kept verbatim.
    """

    recognized: tuple[Role, ...] = ()
    unrecognized: tuple[str, ...] = ()

    def __iter__(self) -> Iterator[Role]:
        """Iterate over the recognised roles."""
        return iter(self.recognized)

    def __len__(self) -> int:
        return len(self.recognized)

    def has(self, kind: RoleKind, name: str, sub_role: str | None = None) -> bool:
        """Return True if a role of *kind* named *name* is present.

        With ``sub_role=None`` any sub-role of the principal counts (a sub-role
        implies its principal, Core A.2.3.1).
        """
        return any(
            r.kind is kind and r.name == name and (sub_role is None or r.sub_role == sub_role)
            for r in self.recognized
        )

    @property
    def context(self) -> tuple[Role, ...]:
        """Context (course membership) roles."""
        return tuple(r for r in self.recognized if r.kind is RoleKind.CONTEXT)

    @property
    def institution(self) -> tuple[Role, ...]:
        """Institution roles."""
        return tuple(r for r in self.recognized if r.kind is RoleKind.INSTITUTION)

    @property
    def system(self) -> tuple[Role, ...]:
        """System roles, including the LTI ``TestUser`` marker."""
        return tuple(r for r in self.recognized if r.kind is RoleKind.SYSTEM)

    @property
    def is_instructor(self) -> bool:
        """A context Instructor (any sub-role, e.g. TeachingAssistant, Grader)."""
        return self.has(RoleKind.CONTEXT, "Instructor")

    @property
    def is_learner(self) -> bool:
        """A context Learner (including ``Learner#Instructor``, a student who teaches)."""
        return self.has(RoleKind.CONTEXT, "Learner")

    @property
    def is_mentor(self) -> bool:
        """A context Mentor (advisor, tutor, reviewer...)."""
        return self.has(RoleKind.CONTEXT, "Mentor")

    @property
    def is_content_developer(self) -> bool:
        """A context ContentDeveloper."""
        return self.has(RoleKind.CONTEXT, "ContentDeveloper")

    @property
    def is_administrator(self) -> bool:
        """A context Administrator (use :meth:`has` for institution or system admins)."""
        return self.has(RoleKind.CONTEXT, "Administrator")

    @property
    def is_teaching_assistant(self) -> bool:
        """A context Instructor whose sub-role is one of the TeachingAssistant* family."""
        return any(
            r.kind is RoleKind.CONTEXT
            and r.name == "Instructor"
            and (r.sub_role or "").startswith("TeachingAssistant")
            for r in self.recognized
        )

    @property
    def is_staff(self) -> bool:
        """Course staff: context Instructor, Administrator or ContentDeveloper."""
        return any(r.kind is RoleKind.CONTEXT and r.name in STAFF_ROLES for r in self.recognized)

    @property
    def is_test_user(self) -> bool:
        """The LTI ``TestUser`` marker: a student-preview user (Core A.2.4)."""
        return self.has(RoleKind.SYSTEM, "TestUser")


def parse_roles(values: Iterable[str]) -> Roles:
    """Parse role strings into :class:`Roles`, keeping unknown ones verbatim."""
    recognized: list[Role] = []
    unrecognized: list[str] = []
    for value in values:
        role = parse_role(value)
        if role is None:
            unrecognized.append(value)
        else:
            recognized.append(role)
    return Roles(tuple(recognized), tuple(unrecognized))
