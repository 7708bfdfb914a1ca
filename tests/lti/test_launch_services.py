"""tool.grades(launch) and tool.roster(launch): Advantage services for a validated launch."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from typing import Any

import pytest

from credlti.errors import ServiceNotAvailableError
from credlti.lti import LaunchContext, Tool
from credlti.lti.keys import KeyState, generate_key
from credlti.lti.services import (
    AsyncGradeService,
    GradeService,
    LineItem,
    RosterService,
    Score,
)
from credlti.testing import INSTRUCTOR, LEARNER, SimulatedPlatform

LAUNCH_URL = "https://tool.example.com/launch"
KEY = generate_key(now=datetime(2026, 1, 1, tzinfo=timezone.utc), state=KeyState.CURRENT)


def _launch(
    platform: SimulatedPlatform, tool: Tool[Any, Any], **claims: Any
) -> LaunchContext[Any, Any]:
    redirect = tool.handle_login(platform.login_params(), LAUNCH_URL)
    return tool.handle_callback(platform.launch(redirect, claims=claims), redirect.cookie_value)


@pytest.fixture(name="tool")
def _tool(platform: SimulatedPlatform) -> Tool[Any, Any]:
    tool = platform.tool(keys=KEY)
    platform.trust_tool_keys(tool.jwks())
    return tool


def test_grades_creates_a_line_item_and_posts_scores(
    platform: SimulatedPlatform, tool: Tool[Any, Any]
) -> None:
    """tool.grades(launch) talks AGS to the launch's context with a verified token."""
    launch = _launch(platform, tool, **platform.services.ags_claim())
    grades = tool.grades(launch)

    item = grades.create_line_item(LineItem(label="Quiz 1", score_maximum=10))
    first = grades.post_score(
        Score(
            user_id="user-1",
            activity_progress="Completed",
            grading_progress="FullyGraded",
            score_given=7,
            score_maximum=10,
        ),
        item,
    )
    second = grades.post_score(
        Score(
            user_id="user-1",
            activity_progress="Completed",
            grading_progress="FullyGraded",
            score_given=8,
            score_maximum=10,
        ),
        item,
    )

    assert isinstance(grades, GradeService)
    assert [li.label for li in grades.list_line_items()] == ["Quiz 1"]
    assert second > first  # the frozen clock never yields two equal timestamps
    assert platform.token_requests == 1


def test_grades_is_one_service_per_course(
    platform: SimulatedPlatform, tool: Tool[Any, Any]
) -> None:
    """Two launches into one course share a GradeService (and its score timestamps)."""
    first = _launch(platform, tool, **platform.services.ags_claim())
    second = _launch(platform, tool, **platform.services.ags_claim())
    other = _launch(platform, tool, **platform.services.ags_claim("context-2"))

    assert tool.grades(first) is tool.grades(second)
    assert tool.grades(first) is not tool.grades(other)


def test_roster_lists_members_and_can_scope_to_the_resource_link(
    platform: SimulatedPlatform, tool: Tool[Any, Any]
) -> None:
    """tool.roster(launch) pages through the context's members; resource_link adds rlid."""
    platform.services.add_member("user-1", [INSTRUCTOR], name="Ada Lovelace")
    platform.services.add_member("user-2", [LEARNER], name="Alan Turing")
    launch = _launch(platform, tool, **platform.services.nrps_claim())

    roster = tool.roster(launch)
    members = roster.get_membership()

    assert isinstance(roster, RosterService)
    assert {m.user_id for m in members.members} == {"user-1", "user-2"}
    assert tool.roster(launch, resource_link=True) is not roster


def test_launch_without_the_claim_has_no_service(
    platform: SimulatedPlatform, tool: Tool[Any, Any]
) -> None:
    """No AGS or NRPS claim: ServiceNotAvailableError, before any HTTP request."""
    launch = _launch(platform, tool)

    with pytest.raises(ServiceNotAvailableError):
        tool.grades(launch)
    with pytest.raises(ServiceNotAvailableError):
        tool.roster(launch)
    assert platform.token_requests == 0


def test_async_tool_launch_has_async_services(platform: SimulatedPlatform) -> None:
    """An AsyncTool hands out async service clients for its launches."""
    tool = platform.async_tool(keys=KEY)
    platform.trust_tool_keys(tool.jwks())

    async def main() -> list[str]:
        redirect = await tool.handle_login(platform.login_params(), LAUNCH_URL)
        form = platform.launch(redirect, claims=platform.services.ags_claim())
        launch = await tool.handle_callback(form, redirect.cookie_value)
        grades = tool.grades(launch)
        assert isinstance(grades, AsyncGradeService)
        await grades.create_line_item(LineItem(label="Essay", score_maximum=100))
        items = await grades.list_line_items()
        await tool.aclose()
        return [item.label for item in items]

    assert asyncio.run(main()) == ["Essay"]
