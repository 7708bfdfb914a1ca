"""LTI role vocabularies (checklist B5; Core Appendix A.2) parsed into typed records."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from credlti.lti import Role, RoleKind, Roles, parse_role, parse_roles
from credlti.testing import INSTRUCTOR, LEARNER

LIS = "http://purl.imsglobal.org/vocab/lis/v2/"
MEMBERSHIP = LIS + "membership#"
MEMBERSHIP_SUB = LIS + "membership/"
INSTITUTION = LIS + "institution/person#"
SYSTEM = LIS + "system/person#"
LEGACY_PERSON = LIS + "person#"
TEST_USER = "http://purl.imsglobal.org/vocab/lti/system/person#TestUser"

#: Checklist B5: context principals and their sub-roles.
SUB_ROLES: dict[str, tuple[str, ...]] = {
    "Administrator": (
        "Administrator",
        "Developer",
        "ExternalDeveloper",
        "ExternalSupport",
        "ExternalSystemAdministrator",
        "Support",
        "SystemAdministrator",
    ),
    "ContentDeveloper": ("ContentDeveloper", "ContentExpert", "ExternalContentExpert", "Librarian"),
    "Instructor": (
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
    ),
    "Learner": ("ExternalLearner", "GuestLearner", "Instructor", "Learner", "NonCreditLearner"),
    "Manager": ("AreaManager", "CourseCoordinator", "ExternalObserver", "Manager", "Observer"),
    "Member": ("Member",),
    "Mentor": (
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
    ),
    "Officer": ("Chair", "Communications", "Secretary", "Treasurer", "Vice-Chair"),
}
PRINCIPALS = tuple(SUB_ROLES)
SUB_ROLE_PAIRS = [(p, s) for p, subs in SUB_ROLES.items() for s in subs]
INSTITUTION_ROLES = (
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
)
SYSTEM_ROLES = (
    "Administrator",
    "None",
    "AccountAdmin",
    "Creator",
    "SysAdmin",
    "SysSupport",
    "User",
)
STAFF = ("Administrator", "ContentDeveloper", "Instructor")


def _role(uri: str) -> Role:
    role = parse_role(uri)
    assert role is not None, f"{uri!r} was not recognised"
    assert role.uri == uri
    return role


# --------------------------------------------------------------------------- vocabularies


@pytest.mark.parametrize("principal", PRINCIPALS)
def test_context_principal_roles(principal: str) -> None:
    """Every context principal URI parses to a non-deprecated context role without sub-role."""
    role = _role(MEMBERSHIP + principal)
    assert (role.kind, role.name, role.sub_role, role.deprecated) == (
        RoleKind.CONTEXT,
        principal,
        None,
        False,
    )


@pytest.mark.parametrize(("principal", "sub_role"), SUB_ROLE_PAIRS)
def test_context_sub_roles(principal: str, sub_role: str) -> None:
    """Every sub-role URI of the B5 table parses; its principal comes from the path."""
    role = _role(f"{MEMBERSHIP_SUB}{principal}#{sub_role}")
    assert (role.kind, role.name, role.sub_role, role.deprecated) == (
        RoleKind.CONTEXT,
        principal,
        sub_role,
        False,
    )
    roles = parse_roles([role.uri])
    assert roles.has(RoleKind.CONTEXT, principal)  # a sub-role implies its principal
    assert roles.has(RoleKind.CONTEXT, principal, sub_role)
    assert roles.is_staff == (principal in STAFF)


@pytest.mark.parametrize(
    "uri",
    [
        MEMBERSHIP_SUB + "Instructor#Tutor",  # Tutor belongs to Mentor
        MEMBERSHIP_SUB + "Officer#President",
        MEMBERSHIP_SUB + "Wizard#Instructor",
        MEMBERSHIP_SUB + "Instructor",
        MEMBERSHIP_SUB + "Instructor#",
        MEMBERSHIP_SUB + "#Instructor",
        MEMBERSHIP + "Wizard",
        MEMBERSHIP + "instructor",  # case-sensitive
        MEMBERSHIP + "Instructor ",
        MEMBERSHIP,
    ],
)
def test_invalid_context_roles_not_recognised(uri: str) -> None:
    """Sub-roles under the wrong principal, unknown names and wrong case are not recognised."""
    assert parse_role(uri) is None
    assert parse_roles([uri]).unrecognized == (uri,)


@pytest.mark.parametrize("name", INSTITUTION_ROLES)
def test_institution_roles(name: str) -> None:
    """Every institution role (core and non-core) parses as an institution role."""
    role = _role(INSTITUTION + name)
    assert (role.kind, role.name, role.sub_role, role.deprecated) == (
        RoleKind.INSTITUTION,
        name,
        None,
        False,
    )


@pytest.mark.parametrize("name", SYSTEM_ROLES)
def test_system_roles(name: str) -> None:
    """Every system role (core and non-core) parses as a system role."""
    role = _role(SYSTEM + name)
    assert (role.kind, role.name, role.sub_role, role.deprecated) == (
        RoleKind.SYSTEM,
        name,
        None,
        False,
    )


@pytest.mark.parametrize(
    "uri", [INSTITUTION + "Wizard", SYSTEM + "Wizard", SYSTEM + "Faculty", INSTITUTION + "SysAdmin"]
)
def test_unknown_institution_and_system_names_not_recognised(uri: str) -> None:
    """Names outside a vocabulary are not recognised in it."""
    assert parse_role(uri) is None


def test_lti_test_user_marker() -> None:
    """The LTI TestUser marker is a system role and sets ``is_test_user`` next to a real role."""
    role = _role(TEST_USER)
    assert (role.kind, role.name, role.deprecated) == (RoleKind.SYSTEM, "TestUser", False)
    roles = parse_roles([LEARNER, TEST_USER])
    assert roles.is_test_user
    assert roles.is_learner
    assert roles.system == (role,)
    assert not parse_roles([LEARNER]).is_test_user
    assert parse_role("http://purl.imsglobal.org/vocab/lti/system/person#Other") is None
    assert parse_role(SYSTEM + "TestUser") is None


# --------------------------------------------------------------------------- legacy forms


@pytest.mark.parametrize("principal", PRINCIPALS)
def test_short_context_names_mapped(principal: str) -> None:
    """Short names such as ``"Instructor"`` (Cert "Short Role") map to deprecated context roles."""
    role = _role(principal)
    assert (role.kind, role.name, role.sub_role, role.deprecated) == (
        RoleKind.CONTEXT,
        principal,
        None,
        True,
    )
    assert role.canonical_uri == MEMBERSHIP + principal


def test_short_names_drive_predicates() -> None:
    """``["Instructor"]`` is an instructor and staff; ``["Learner"]`` a learner."""
    instructor = parse_roles(["Instructor"])
    assert instructor.is_instructor
    assert instructor.is_staff
    assert not instructor.is_learner
    learner = parse_roles(["Learner"])
    assert learner.is_learner
    assert not learner.is_staff
    assert not learner.is_instructor


@pytest.mark.parametrize("name", ["Faculty", "Student", "Staff", "Alumni", "instructor", ""])
def test_short_names_are_context_only(name: str) -> None:
    """Only context principals have short forms; institution names and wrong case are unknown."""
    assert parse_role(name) is None


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("Administrator", RoleKind.SYSTEM),  # in both vocabularies: system first
        ("None", RoleKind.SYSTEM),
        ("SysAdmin", RoleKind.SYSTEM),
        ("User", RoleKind.SYSTEM),
        ("Faculty", RoleKind.INSTITUTION),
        ("Student", RoleKind.INSTITUTION),
        ("Instructor", RoleKind.INSTITUTION),
        ("ProspectiveStudent", RoleKind.INSTITUTION),
    ],
)
def test_deprecated_person_uri_system_first(name: str, kind: RoleKind) -> None:
    """``lis/v2/person#X`` resolves to the system role first, then the institution role."""
    role = _role(LEGACY_PERSON + name)
    assert (role.kind, role.name, role.deprecated) == (kind, name, True)
    assert not parse_roles([role.uri]).is_instructor
    assert parse_role(LEGACY_PERSON + "Wizard") is None


@pytest.mark.parametrize(
    ("uri", "kind", "name", "sub_role"),
    [
        ("urn:lti:role:ims/lis/Instructor", RoleKind.CONTEXT, "Instructor", None),
        ("urn:lti:role:ims/lis/Learner", RoleKind.CONTEXT, "Learner", None),
        ("urn:lti:role:ims/lis/Mentor", RoleKind.CONTEXT, "Mentor", None),
        (
            "urn:lti:role:ims/lis/Instructor/TeachingAssistant",
            RoleKind.CONTEXT,
            "Instructor",
            "TeachingAssistant",
        ),
        (
            "urn:lti:role:ims/lis/Learner/NonCreditLearner",
            RoleKind.CONTEXT,
            "Learner",
            "NonCreditLearner",
        ),
        ("urn:lti:role:ims/lis/Mentor/Tutor", RoleKind.CONTEXT, "Mentor", "Tutor"),
        ("urn:lti:instrole:ims/lis/Faculty", RoleKind.INSTITUTION, "Faculty", None),
        ("urn:lti:instrole:ims/lis/Student", RoleKind.INSTITUTION, "Student", None),
        ("urn:lti:instrole:ims/lis/Instructor", RoleKind.INSTITUTION, "Instructor", None),
        ("urn:lti:sysrole:ims/lis/SysAdmin", RoleKind.SYSTEM, "SysAdmin", None),
        ("urn:lti:sysrole:ims/lis/Administrator", RoleKind.SYSTEM, "Administrator", None),
    ],
)
def test_lti11_urns(uri: str, kind: RoleKind, name: str, sub_role: str | None) -> None:
    """LTI 1.1 ``urn:lti:{role,instrole,sysrole}:ims/lis/...`` URNs map to deprecated roles."""
    role = _role(uri)
    assert (role.kind, role.name, role.sub_role, role.deprecated) == (kind, name, sub_role, True)


@pytest.mark.parametrize(
    "uri",
    [
        "urn:lti:role:ims/lis/Wizard",
        "urn:lti:role:ims/lis/Instructor/Tutor",
        "urn:lti:instrole:ims/lis/Wizard",
        "urn:lti:sysrole:ims/lis/Faculty",
        "urn:lti:role:ims/lis/",
    ],
)
def test_unknown_lti11_urns_not_recognised(uri: str) -> None:
    """URNs naming no known role are kept as unrecognised."""
    assert parse_role(uri) is None


def test_learner_instructor_sub_role_is_a_learner() -> None:
    """``membership/Learner#Instructor`` is a Learner (a student who teaches), not an Instructor."""
    roles = parse_roles([MEMBERSHIP_SUB + "Learner#Instructor"])
    assert roles.is_learner
    assert not roles.is_instructor
    assert not roles.is_staff
    assert not roles.is_teaching_assistant
    assert roles.has(RoleKind.CONTEXT, "Learner", "Instructor")


def test_institution_instructor_is_not_a_context_instructor() -> None:
    """``institution/person#Instructor`` (and Faculty) do not make a course instructor."""
    roles = parse_roles([INSTITUTION + "Instructor", INSTITUTION + "Faculty"])
    assert not roles.is_instructor
    assert not roles.is_staff
    assert roles.has(RoleKind.INSTITUTION, "Instructor")
    assert not roles.has(RoleKind.CONTEXT, "Instructor")
    assert roles.context == ()
    assert len(roles.institution) == 2


def test_system_administrator_is_not_course_staff() -> None:
    """A system or institution Administrator is not context staff (decide from context roles)."""
    roles = parse_roles([SYSTEM + "Administrator", INSTITUTION + "Administrator"])
    assert not roles.is_administrator
    assert not roles.is_staff
    assert roles.has(RoleKind.SYSTEM, "Administrator")


# --------------------------------------------------------------------------- unknown roles


def test_unknown_and_foreign_roles_kept_verbatim_in_order() -> None:
    """Unknown or foreign role strings stay verbatim, in order, next to the recognised ones."""
    foreign = [
        "http://vendor.example.com/roles#Wizard",
        "  Instructor  ",
        "",
        "urn:example:role",
        "Instructor\n",
        "\uff29nstructor",  # fullwidth I,
    ]
    roles = parse_roles([foreign[0], INSTRUCTOR, *foreign[1:], LEARNER])
    assert roles.unrecognized == tuple(foreign)
    assert [r.uri for r in roles.recognized] == [INSTRUCTOR, LEARNER]
    assert len(roles) == 2
    assert list(roles) == list(roles.recognized)


def test_only_unknown_roles_give_least_privilege() -> None:
    """Only foreign roles (Cert "Unknown Role"): no predicate is true."""
    roles = parse_roles(["http://vendor.example.com/roles#Wizard"])
    flags = [
        roles.is_instructor,
        roles.is_learner,
        roles.is_staff,
        roles.is_test_user,
        roles.is_mentor,
        roles.is_administrator,
        roles.is_content_developer,
        roles.is_teaching_assistant,
    ]
    assert not any(flags)
    assert roles.recognized == ()


def test_empty_roles() -> None:
    """No roles (Cert "No Role") parse to an empty, least-privilege ``Roles``."""
    roles = parse_roles([])
    assert roles == Roles()
    assert len(roles) == 0
    assert not roles.is_instructor
    assert not roles.is_learner


# --------------------------------------------------------------------------- predicates


@pytest.mark.parametrize(
    ("uris", "expected"),
    [
        ([INSTRUCTOR], {"instructor", "staff"}),
        ([LEARNER], {"learner"}),
        ([MEMBERSHIP + "Mentor"], {"mentor"}),
        ([MEMBERSHIP + "Administrator"], {"administrator", "staff"}),
        ([MEMBERSHIP + "ContentDeveloper"], {"content_developer", "staff"}),
        ([MEMBERSHIP + "Manager"], set()),
        ([MEMBERSHIP + "Member"], set()),
        ([MEMBERSHIP + "Officer"], set()),
        ([MEMBERSHIP_SUB + "Instructor#TeachingAssistant"], {"instructor", "staff", "ta"}),
        ([MEMBERSHIP_SUB + "Instructor#TeachingAssistantSection"], {"instructor", "staff", "ta"}),
        ([MEMBERSHIP_SUB + "Instructor#Grader"], {"instructor", "staff"}),
        ([MEMBERSHIP_SUB + "Administrator#Support"], {"administrator", "staff"}),
        ([MEMBERSHIP_SUB + "ContentDeveloper#Librarian"], {"content_developer", "staff"}),
        ([MEMBERSHIP_SUB + "Mentor#Tutor"], {"mentor"}),
        ([MEMBERSHIP_SUB + "Learner#Instructor"], {"learner"}),
        (["urn:lti:role:ims/lis/Instructor/TeachingAssistant"], {"instructor", "staff", "ta"}),
        ([LEARNER, TEST_USER], {"learner", "test_user"}),
        ([INSTRUCTOR, LEARNER], {"instructor", "learner", "staff"}),
        ([INSTITUTION + "Instructor", SYSTEM + "Administrator"], set()),
    ],
)
def test_predicates(uris: list[str], expected: set[str]) -> None:
    """Each predicate is true exactly for the context roles it names."""
    roles = parse_roles(uris)
    actual = {
        "instructor": roles.is_instructor,
        "learner": roles.is_learner,
        "mentor": roles.is_mentor,
        "administrator": roles.is_administrator,
        "content_developer": roles.is_content_developer,
        "staff": roles.is_staff,
        "ta": roles.is_teaching_assistant,
        "test_user": roles.is_test_user,
    }
    assert {name for name, value in actual.items() if value} == expected


def test_has_with_and_without_sub_role() -> None:
    """``has()`` matches kind and name; with a sub-role it also matches the sub-role."""
    roles = parse_roles([MEMBERSHIP_SUB + "Instructor#Grader", INSTITUTION + "Faculty"])
    assert roles.has(RoleKind.CONTEXT, "Instructor")
    assert roles.has(RoleKind.CONTEXT, "Instructor", "Grader")
    assert not roles.has(RoleKind.CONTEXT, "Instructor", "TeachingAssistant")
    assert not roles.has(RoleKind.INSTITUTION, "Instructor")
    assert roles.has(RoleKind.INSTITUTION, "Faculty")
    assert not roles.has(RoleKind.SYSTEM, "Faculty")


def test_kind_views_partition_recognised_roles() -> None:
    """``context``, ``institution`` and ``system`` split the recognised roles by kind, in order."""
    uris = [
        SYSTEM + "User",
        INSTRUCTOR,
        INSTITUTION + "Faculty",
        TEST_USER,
        MEMBERSHIP_SUB + "Instructor#Lecturer",
    ]
    roles = parse_roles(uris)
    assert [r.uri for r in roles.context] == [INSTRUCTOR, MEMBERSHIP_SUB + "Instructor#Lecturer"]
    assert [r.uri for r in roles.institution] == [INSTITUTION + "Faculty"]
    assert [r.uri for r in roles.system] == [SYSTEM + "User", TEST_USER]


# --------------------------------------------------------------------------- canonical URIs

ALL_FORMS = [
    *(MEMBERSHIP + p for p in PRINCIPALS),
    *(f"{MEMBERSHIP_SUB}{p}#{s}" for p, s in SUB_ROLE_PAIRS),
    *(INSTITUTION + n for n in INSTITUTION_ROLES),
    *(SYSTEM + n for n in SYSTEM_ROLES),
    TEST_USER,
    *PRINCIPALS,
    *(LEGACY_PERSON + n for n in (*SYSTEM_ROLES, *INSTITUTION_ROLES)),
    *(f"urn:lti:role:ims/lis/{p}" for p in PRINCIPALS),
    *(f"urn:lti:role:ims/lis/{p}/{s}" for p, s in SUB_ROLE_PAIRS),
    *(f"urn:lti:instrole:ims/lis/{n}" for n in INSTITUTION_ROLES),
    *(f"urn:lti:sysrole:ims/lis/{n}" for n in SYSTEM_ROLES),
]


@pytest.mark.parametrize("uri", ALL_FORMS)
def test_canonical_uri_round_trips(uri: str) -> None:
    """``parse_role(role.canonical_uri)`` is the same role, in its current, non-deprecated form."""
    role = _role(uri)
    canonical = _role(role.canonical_uri)
    assert (canonical.kind, canonical.name, canonical.sub_role) == (
        role.kind,
        role.name,
        role.sub_role,
    )
    assert not canonical.deprecated
    assert canonical.canonical_uri == role.canonical_uri


def test_canonical_uri_examples() -> None:
    """Deprecated forms name their current LIS v2 URI."""
    assert _role("Learner").canonical_uri == LEARNER
    assert (
        _role("urn:lti:role:ims/lis/Instructor/TeachingAssistant").canonical_uri
        == MEMBERSHIP_SUB + "Instructor#TeachingAssistant"
    )
    assert _role("urn:lti:instrole:ims/lis/Faculty").canonical_uri == INSTITUTION + "Faculty"
    assert _role("urn:lti:sysrole:ims/lis/SysAdmin").canonical_uri == SYSTEM + "SysAdmin"
    assert _role(LEGACY_PERSON + "Administrator").canonical_uri == SYSTEM + "Administrator"
    assert _role(LEGACY_PERSON + "Student").canonical_uri == INSTITUTION + "Student"
    assert _role(TEST_USER).canonical_uri == TEST_USER


# --------------------------------------------------------------------------- property tests

_VOCAB = st.sampled_from(ALL_FORMS)
_ROLE_TEXT = st.one_of(
    st.text(),
    _VOCAB,
    st.builds(lambda a, b: a + b, _VOCAB, st.text(max_size=3)),
    st.builds(
        lambda a, b: a + b,
        st.sampled_from(
            [
                MEMBERSHIP,
                MEMBERSHIP_SUB,
                INSTITUTION,
                SYSTEM,
                LEGACY_PERSON,
                "urn:lti:role:ims/lis/",
                "urn:lti:instrole:ims/lis/",
                "urn:lti:sysrole:ims/lis/",
            ]
        ),
        st.text(max_size=30),
    ),
)


@settings(max_examples=200, deadline=None)
@given(values=st.lists(_ROLE_TEXT, max_size=12))
def test_parse_roles_never_raises_and_partitions_input(values: list[str]) -> None:
    """``parse_roles`` accepts any text; recognised URIs plus unrecognised strings = the input."""
    roles = parse_roles(values)
    assert len(roles.recognized) + len(roles.unrecognized) == len(values)
    assert Counter([r.uri for r in roles.recognized] + list(roles.unrecognized)) == Counter(values)
    assert list(roles.unrecognized) == [v for v in values if parse_role(v) is None]
    for role in roles.recognized:
        again = parse_role(role.canonical_uri)
        assert again is not None
        assert (again.kind, again.name, again.sub_role) == (role.kind, role.name, role.sub_role)


@settings(max_examples=200, deadline=None)
@given(value=st.text())
def test_parse_role_on_arbitrary_text_is_none_or_a_consistent_role(value: str) -> None:
    """``parse_role`` returns ``None`` or a role that remembers the exact input."""
    role = parse_role(value)
    if role is not None:
        assert role.uri == value
        assert role.kind in RoleKind
