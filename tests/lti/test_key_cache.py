"""The warm-key fast path never outlives what the latest key-set fetch says."""

from __future__ import annotations

import pytest

from credlti.errors import KidNotFoundError
from credlti.testing import SimulatedPlatform

LAUNCH_URL = "https://tool.example.com/launch"


def test_key_removed_by_the_platform_stops_verifying_after_a_refetch(
    platform: SimulatedPlatform,
) -> None:
    """Old kid warm in the cache, platform drops it, a new kid forces a refetch: old is refused."""
    tool = platform.tool()
    for _ in range(2):  # the second lookup takes the warm path
        redirect = tool.handle_login(platform.login_params(), LAUNCH_URL)
        tool.handle_callback(platform.launch(redirect), redirect.cookie_value)
    old_redirect = tool.handle_login(platform.login_params(), LAUNCH_URL)
    old_form = platform.launch(old_redirect)  # signed with the old key, before the rotation

    platform.rotate_keys(keep_old=False)  # e.g. the old key was compromised
    redirect = tool.handle_login(platform.login_params(), LAUNCH_URL)
    tool.handle_callback(platform.launch(redirect), redirect.cookie_value)  # refetch

    with pytest.raises(KidNotFoundError):
        tool.handle_callback(old_form, old_redirect.cookie_value)
    # The initial fetch, the rotation refetch, and one kid-miss refetch for the old kid.
    assert platform.jwks_requests == 3
