"""A simulated LTI 1.3 platform and a controllable clock, for your tests and ours.

The platform has real RSA keys, serves its key set through an ``httpx`` transport
(no network), answers your tool's OIDC authentication request with signed launches,
and mints deliberately bad launches in one call::

    from credlti.testing import SimulatedPlatform, BadLaunch

    platform = SimulatedPlatform()
    tool = platform.tool()                       # a Tool wired to memory storage
    redirect = tool.handle_login(platform.login_params(), "https://tool.example/launch")
    form = platform.launch(redirect)             # the platform's form POST
    launch = tool.handle_callback(form, redirect.cookie_value)

    form = platform.bad_launch(redirect, BadLaunch.EXPIRED)   # -> TokenExpiredError

``serve_platform()`` (and ``credlti platform serve``) runs the same platform live, over
HTTP on a loopback port and on the wall clock: a local LMS to develop a tool against.
"""

from credlti.testing._clock import FrozenClock, WallClock
from credlti.testing._devplatform import DevPlatform, DevTool
from credlti.testing._devserver import serve_platform
from credlti.testing._launches import INSTRUCTOR, LEARNER, BadLaunch
from credlti.testing._platform import SimulatedPlatform
from credlti.testing._services import SimulatedServices
from credlti.testing._support import SimulatedPlatformError

__all__ = [
    "INSTRUCTOR",
    "LEARNER",
    "BadLaunch",
    "DevPlatform",
    "DevTool",
    "FrozenClock",
    "SimulatedPlatform",
    "SimulatedPlatformError",
    "SimulatedServices",
    "WallClock",
    "serve_platform",
]
