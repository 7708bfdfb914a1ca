"""Run an async adapter through the sync contract suites.

``blocking(adapter)`` returns a view whose methods run the adapter's coroutines on
one background event loop and wait for them, so every sync contract suite
(``VaultStoreContract`` and the host-port suites) drives the async form of an
adapter unchanged: ``with view.transaction() as tx`` holds the adapter's
``async with store.transaction()`` open in a task on that loop until the block ends
(an exception in the block is raised inside it, so the unit of work rolls back), and
``scan_credentials`` collects the async iterator into a list. Threads of a test
(lock and row-lock tests) each wait on their own calls while the loop interleaves
the tasks, as a server's requests would.

Adding an async adapter to the vault contract is one fixture::

    class TestAsyncSqlVaultStore(VaultStoreContract):
        @pytest.fixture
        def make_store(self, engine): return lambda: blocking(AsyncSqlVaultStore(engine))

(``vault_contract.AsyncVaultStoreContract`` does this from ``make_async_store``.)

Use :func:`run_blocking` for set-up coroutines that must run on the same loop (an
async engine's connections belong to the loop that opened them).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager, contextmanager
from typing import Any, TypeVar

T = TypeVar("T")

_guard = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None


def bridge_loop() -> asyncio.AbstractEventLoop:
    """The background event loop every blocking view runs on (started on first use)."""
    global _loop
    with _guard:
        if _loop is None:
            _loop = asyncio.new_event_loop()
            thread = threading.Thread(target=_loop.run_forever, name="async-bridge", daemon=True)
            thread.start()
        return _loop


def run_blocking(awaitable: Awaitable[T]) -> T:
    """Run *awaitable* on the bridge loop and wait for its result."""

    async def wrapped() -> T:
        return await awaitable

    return asyncio.run_coroutine_threadsafe(wrapped(), bridge_loop()).result()


async def _collect(values: AsyncIterator[Any]) -> list[Any]:
    return [value async for value in values]


@contextmanager
def _held(manager: AbstractAsyncContextManager[Any]) -> Iterator[Any]:
    """Hold *manager* open in a task on the bridge loop for the ``with`` block."""
    loop = bridge_loop()
    entered: concurrent.futures.Future[Any] = concurrent.futures.Future()
    release: concurrent.futures.Future[asyncio.Future[BaseException | None]] = (
        concurrent.futures.Future()
    )

    async def hold() -> None:
        done: asyncio.Future[BaseException | None] = loop.create_future()
        release.set_result(done)
        try:
            async with manager as value:
                entered.set_result(value)
                error = await done
                if error is not None:
                    raise error  # noqa: TRY301 - the block's error, raised inside the manager
        except BaseException as exc:
            if not entered.done():
                entered.set_exception(exc)
            raise

    task = asyncio.run_coroutine_threadsafe(hold(), loop)
    value = entered.result()
    done = release.result()
    try:
        yield blocking(value)
    except BaseException as exc:
        loop.call_soon_threadsafe(done.set_result, exc)
        try:
            task.result()
        except BaseException as raised:
            if raised is exc:
                raise
            raise raised from exc
        raise
    loop.call_soon_threadsafe(done.set_result, None)
    task.result()


class Blocking:
    """A sync view of an async adapter (see the module docstring)."""

    def __init__(self, target: Any) -> None:
        self._target = target

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target, name)
        if not callable(value):
            return blocking(value)

        def call(*args: Any, **kwargs: Any) -> Any:
            result = value(*args, **kwargs)
            if inspect.isawaitable(result):
                return run_blocking(result)
            if hasattr(result, "__anext__"):
                return run_blocking(_collect(result))
            if hasattr(result, "__aenter__"):
                return _held(result)
            return result

        return call

    def __len__(self) -> int:
        return len(self._target)

    def __repr__(self) -> str:
        return f"blocking({self._target!r})"


#: Modules whose objects are values, handed back as they are (never wrapped).
_VALUES = ("builtins", "credlti.credentials._records", "credlti.credentials._oauth_records")


def blocking(target: Any) -> Any:
    """A sync view of *target* (an adapter, a session, a vault); records pass through."""
    if target is None or type(target).__module__ in _VALUES:
        return target
    return Blocking(target)


def call_sync(function: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
    """Await ``function(*args, **kwargs)`` on the bridge loop."""
    return run_blocking(function(*args, **kwargs))
