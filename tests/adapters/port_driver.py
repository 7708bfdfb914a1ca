"""Run one contract suite against the sync and the async form of a port.

A contract test calls the adapter through a :class:`PortDriver`: a sync adapter's
methods are called as they are; an async adapter's ``async def`` methods are
awaited on the test's event loop. :meth:`PortDriver.race` runs jobs at once
(threads for the sync form, tasks for the async form) and :meth:`PortDriver.tool`
builds a ``Tool`` or an ``AsyncTool`` on the platform kit, driven the same way. So
every contract step is written once and checks both forms.

A contract class derives from :class:`TwoForms` and names the fixtures that build
the adapter under test (``sync_fixture``, ``async_fixture``); its tests take the
``port`` fixture. A subclass (one adapter) defines the sync fixture and, when the
adapter has an async form, the async one: the tests then run once per form
(``[sync]`` / ``[async]`` in their ids). Adding an adapter's async form to its
contract is adding that one fixture.

The adapter fixture is looked up by name when the test runs, so a parametrised
fixture it needs (one engine per database backend, say) must be named on the class
with ``@pytest.mark.usefixtures(...)`` for its parameters to be generated. The async
form runs on the ``loop`` fixture (``tests/adapters/conftest.py``): build async
clients on that loop.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any, ClassVar

import pytest

from credlti.adapters.memory import AsyncMemoryLaunchStorage, MemoryLaunchStorage
from credlti.testing import SimulatedPlatform

__all__ = ["FORMS", "PortDriver", "TwoForms"]

#: The two forms of a port.
FORMS = ("sync", "async")

#: One call of a job: takes the adapter, returns the result (or, async, an awaitable).
Call = Callable[[Any], Any]


class PortDriver:
    """Drives an adapter of either form with sync calls (see the module docstring).

    Args:
        port: The adapter (or tool) under test.
        loop: The event loop that awaits an async adapter's calls; ``None`` for the
            sync form.
    """

    def __init__(self, port: Any, loop: asyncio.AbstractEventLoop | None) -> None:
        self.port = port
        self.loop = loop

    @property
    def asynchronous(self) -> bool:
        """Whether the adapter is the async form."""
        return self.loop is not None

    def __getattr__(self, name: str) -> Any:
        value = getattr(self.port, name)
        loop = self.loop
        if loop is not None and inspect.iscoroutinefunction(value):
            return lambda *args, **kwargs: loop.run_until_complete(value(*args, **kwargs))
        return value

    def __len__(self) -> int:
        return len(self.port)

    def race(self, jobs: Sequence[Sequence[Call]]) -> list[list[Any]]:
        """Run the *jobs* at once, each job's calls in order; each job's results.

        The sync form runs one thread per job, released together by a barrier; the
        async form runs one task per job on the loop (each call awaited).
        """
        if self.loop is None:
            return _threads(self.port, jobs)
        port = self.port

        async def job(calls: Sequence[Call]) -> list[Any]:
            return [await call(port) for call in calls]

        async def everything() -> list[list[Any]]:
            return list(await asyncio.gather(*(job(calls) for calls in jobs)))

        return self.loop.run_until_complete(everything())

    def tool(self, platform: SimulatedPlatform, storage: Any = None, **kwargs: Any) -> PortDriver:
        """A ``Tool`` (sync form) or ``AsyncTool`` (async form) from *platform*, driven alike.

        *storage* and the ports in *kwargs* must be of this driver's form (see
        :meth:`memory_storage`); by default the kit's memory storage of that form.
        """
        if self.loop is None:
            return PortDriver(platform.tool(storage, **kwargs), None)
        return PortDriver(platform.async_tool(storage, **kwargs), self.loop)

    def memory_storage(self, platform: SimulatedPlatform) -> Any:
        """A memory launch storage of this driver's form with *platform* installed."""
        storage = MemoryLaunchStorage[Any, Any]()
        platform.install(storage)
        return AsyncMemoryLaunchStorage.over(storage) if self.asynchronous else storage


def _threads(port: Any, jobs: Sequence[Sequence[Call]]) -> list[list[Any]]:
    barrier = threading.Barrier(len(jobs))
    results: list[list[Any]] = [[] for _ in jobs]
    failures: list[BaseException] = []

    def work(index: int) -> None:
        barrier.wait(timeout=10)
        try:
            results[index] = [call(port) for call in jobs[index]]
        except BaseException as exc:  # re-raised in the test's thread below
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(jobs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    if failures:
        raise failures[0]
    return results


class TwoForms:
    """Mixin of a contract suite: its tests run once per form the adapter provides.

    The contract sets :attr:`sync_fixture` and :attr:`async_fixture`, the names of
    the fixtures a subclass defines to build the adapter; the async form runs when
    the subclass defines the async fixture.
    """

    #: The fixture that builds the sync adapter (every subclass defines it).
    sync_fixture: ClassVar[str]
    #: The fixture that builds the async adapter (defined when the adapter has one).
    async_fixture: ClassVar[str]

    @classmethod
    def forms(cls) -> tuple[str, ...]:
        """The forms this class tests: sync, and async when its fixture is defined."""
        return FORMS if hasattr(cls, cls.async_fixture) else FORMS[:1]

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        """Parametrise every test that takes ``port`` over the forms."""
        if "port" in metafunc.fixturenames:
            metafunc.parametrize("form", self.forms())

    @pytest.fixture
    def port(self, request: pytest.FixtureRequest, form: str) -> Iterator[PortDriver]:
        """The adapter under test in *form*, behind a driver."""
        if form == "sync":
            yield PortDriver(request.getfixturevalue(self.sync_fixture), None)
            return
        loop: asyncio.AbstractEventLoop = request.getfixturevalue("loop")
        yield PortDriver(request.getfixturevalue(self.async_fixture), loop)
