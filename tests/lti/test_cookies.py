"""The state cookie helpers: set on login, cleared on launch, with matching attributes."""

from __future__ import annotations

from credlti.lti import clear_state_cookie_header, state_cookie_name
from credlti.testing import SimulatedPlatform


def _attributes(header: str) -> tuple[str, set[str]]:
    name_value, *attrs = header.split("; ")
    return name_value, {a for a in attrs if not a.startswith("Max-Age")}


def test_clear_header_deletes_the_cookie_the_login_set(platform: SimulatedPlatform) -> None:
    """The clearing header names the same cookie, empties it, expires it, same attributes."""
    tool = platform.tool()
    redirect = tool.handle_login(platform.login_params(), "https://tool.example.com/launch")

    set_header = redirect.set_cookie_header()
    clear_header = clear_state_cookie_header(redirect.state)

    set_pair, set_attrs = _attributes(set_header)
    clear_pair, clear_attrs = _attributes(clear_header)
    assert set_pair.split("=", 1)[0] == clear_pair.split("=", 1)[0] == redirect.cookie_name
    assert clear_pair == f"{state_cookie_name(redirect.state)}="
    assert "Max-Age=0" in clear_header.split("; ")
    assert set_attrs == clear_attrs


def test_clear_header_without_partitioned() -> None:
    """Partitioned can be switched off for hosts that do not use CHIPS."""
    header = clear_state_cookie_header("abc", path="/lti", partitioned=False)

    assert header == "credlti-state-abc=; Max-Age=0; Path=/lti; Secure; HttpOnly; SameSite=None"
