"""The state cookie helpers: set on login, cleared on launch, with matching attributes."""

from __future__ import annotations

from typing import Any

import attrs

from credlti.adapters.memory import MemoryLaunchStorage
from credlti.lti import clear_state_cookie_header, state_cookie_name
from credlti.lti._login import LOGIN_PARAMETER_LIMITS
from credlti.testing import SimulatedPlatform

LAUNCH_URL = "https://tool.example.com/launch"


def _attributes(header: str) -> tuple[str, set[str]]:
    name_value, *attrs = header.split("; ")
    return name_value, {a for a in attrs if not a.startswith("Max-Age")}


def test_clear_header_deletes_the_cookie_the_login_set(platform: SimulatedPlatform) -> None:
    """The clearing header names the same cookie, empties it, expires it, same attributes."""
    tool = platform.tool()
    redirect = tool.handle_login(platform.login_params(), LAUNCH_URL)

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


# --------------------------------------------------------------------------- cookie size

#: Browsers keep at least 4096 bytes per cookie (RFC 6265 §6.1); stay far below.
BROWSER_COOKIE_LIMIT = 4096


def _worst_login(platform: SimulatedPlatform, **overrides: str) -> dict[str, str]:
    """Every attacker-controlled login parameter at its maximum length."""
    target = "https://tool.example.com/launch/"
    limits = LOGIN_PARAMETER_LIMITS
    params = {
        **platform.login_params(
            lti_deployment_id="d" * LOGIN_PARAMETER_LIMITS["lti_deployment_id"]
        ),
        "target_link_uri": target + "t" * (limits["target_link_uri"] - len(target)),
        "login_hint": "h" * LOGIN_PARAMETER_LIMITS["login_hint"],
        "lti_message_hint": "m" * LOGIN_PARAMETER_LIMITS["lti_message_hint"],
    }
    params.update(overrides)
    return params


def test_attacker_cannot_grow_the_state_cookie(platform: SimulatedPlatform) -> None:
    """Maximal login parameters leave the cookie as small as a plain login's (< 1.5 KB)."""
    tool = platform.tool()
    plain = tool.handle_login(platform.login_params(), LAUNCH_URL).set_cookie_header()
    worst = tool.handle_login(_worst_login(platform), LAUNCH_URL).set_cookie_header()
    assert len(worst.encode()) < 1536
    # Only the deployment-hint flag and digest differ: the parameters' length does not count.
    assert len(worst) - len(plain) < 64


def test_largest_registration_cookie_stays_under_browser_limits(
    platform: SimulatedPlatform,
) -> None:
    """A 1024-character issuer and a 255-character client id: well under 4096 bytes."""
    issuer = "https://lms.example.edu/" + "i" * (LOGIN_PARAMETER_LIMITS["iss"] - 24)
    client_id = "c" * LOGIN_PARAMETER_LIMITS["client_id"]
    registration = attrs.evolve(platform.registration, issuer=issuer, client_id=client_id)
    storage: MemoryLaunchStorage[Any, Any] = MemoryLaunchStorage()
    storage.add_registration(registration)
    tool = platform.tool(storage)
    params = _worst_login(platform, iss=issuer, client_id=client_id)
    header = tool.handle_login(params, LAUNCH_URL).set_cookie_header()
    assert len(issuer) == LOGIN_PARAMETER_LIMITS["iss"]
    assert len(header.encode()) < 2560 < BROWSER_COOKIE_LIMIT
