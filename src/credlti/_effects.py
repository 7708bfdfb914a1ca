"""The one effect runtime: a sync and an async driver for every flow in credlti.

A *flow* is a generator that does no IO itself. It yields *effect* records (attrs
frozen classes that say what to do: look up a registration, send an HTTP request,
consume a nonce...) and receives each effect's result back. The facades supply a
*perform* function that carries out the effects of their domain; the drivers here
loop over the flow, call *perform* and send the result back, or throw the exception
*perform* raised into the flow at the ``yield`` that asked for it, so flows handle
failures (a key-set fetch that failed, a token refused with 401) in plain Python.

Two effects are understood by the drivers themselves, so that every domain shares
them and no facade re-implements them:

- :class:`Emit` hands a value to the caller of :func:`stream` / :func:`astream`
  (a page of a paged listing) and resumes the flow when the caller asks for more;
- :class:`Locked` runs a nested flow while holding a lock named by a key, so that
  single flight (one key-set fetch, one token request) is flow logic too.

This module is the only place in credlti that catches ``StopIteration``.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Hashable, Iterator
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

import attrs

if TYPE_CHECKING:
    import asyncio

__all__ = [
    "AsyncLockTable",
    "AsyncLocks",
    "Emit",
    "Flow",
    "LockTable",
    "Locked",
    "SyncLocks",
    "arun",
    "astream",
    "run",
    "stream",
]

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)

#: A flow: yields effects, receives their results, returns a value.
Flow = Generator[Any, Any, T]

#: Carries out one effect synchronously and returns its result.
Perform = Callable[[Any], Any]
#: Carries out one effect and returns an awaitable of its result.
AsyncPerform = Callable[[Any], Awaitable[Any]]

_MAX_LOCKS = 4096


@attrs.frozen
class Emit(Generic[T_co]):
    """Effect: hand *value* to the caller of :func:`stream`; the flow receives ``None``."""

    value: T_co


@attrs.frozen
class Locked:
    """Effect: run *flow* while holding the lock named *key*; its return value comes back.

    Keys are compared by equality, so ``("jwks", uri)`` names one lock per key-set
    URL. The driver's lock table (:class:`SyncLocks` / :class:`AsyncLocks`) decides
    the scope: one facade, or whatever the host shares.
    """

    key: Hashable
    flow: Flow[Any] = attrs.field(repr=False)


class LockTable(Protocol):
    """**Protocol:** where :func:`run` takes the locks of :class:`Locked` effects.

    ``get(key)`` returns a context manager that holds the lock named *key* for its
    ``with`` block. :class:`SyncLocks` (threads of one process) is the default; a
    table backed by a shared store (``credlti.adapters.redis.RedisLockTable``) makes
    single flight hold across processes.
    """

    def get(self, key: Hashable) -> AbstractContextManager[Any]:
        """A context manager holding the lock named *key* (a new one per call is fine)."""
        ...


class AsyncLockTable(Protocol):
    """**Protocol:** the async twin of :class:`LockTable`, for :func:`arun`.

    ``get(key)`` returns an async context manager (:class:`AsyncLocks`, or
    ``credlti.adapters.redis.AsyncRedisLockTable`` across processes).
    """

    def get(self, key: Hashable) -> AbstractAsyncContextManager[Any]:
        """An async context manager holding the lock named *key*."""
        ...


@attrs.define
class SyncLocks:
    """A table of :class:`threading.Lock` by key, for :class:`Locked` in :func:`run`."""

    _locks: dict[Hashable, threading.Lock] = attrs.field(factory=dict, repr=False)
    _guard: threading.Lock = attrs.field(factory=threading.Lock, repr=False)

    def get(self, key: Hashable) -> threading.Lock:
        """The lock for *key* (created on first use; idle locks are forgotten)."""
        with self._guard:
            lock = self._locks.get(key)
            if lock is None:
                if len(self._locks) >= _MAX_LOCKS:
                    for name in [k for k, v in self._locks.items() if not v.locked()]:
                        del self._locks[name]
                lock = self._locks[key] = threading.Lock()
            return lock


@attrs.define
class AsyncLocks:
    """A table of :class:`asyncio.Lock` by key, for :class:`Locked` in :func:`arun`."""

    _locks: dict[Hashable, asyncio.Lock] = attrs.field(factory=dict, repr=False)

    def get(self, key: Hashable) -> asyncio.Lock:
        """The lock for *key* (created on first use; idle locks are forgotten)."""
        lock = self._locks.get(key)
        if lock is None:
            import asyncio  # an async driver is running, so asyncio is loaded already

            if len(self._locks) >= _MAX_LOCKS:
                for name in [k for k, v in self._locks.items() if not v.locked()]:
                    del self._locks[name]
            lock = self._locks[key] = asyncio.Lock()
        return lock


class _Done(Generic[T]):
    """The flow returned (the value is in ``value``)."""

    __slots__ = ("value",)

    def __init__(self, value: T) -> None:
        self.value = value


def _resume(flow: Flow[T], value: Any, error: BaseException | None) -> Any:
    """Send *value* (or throw *error*) into *flow*: the next effect, or :class:`_Done`."""
    try:
        if error is None:
            return flow.send(value)
        return flow.throw(error)
    except StopIteration as done:
        return _Done(done.value)


def _perform(effect: Any, perform: Perform, locks: LockTable | None) -> tuple[Any, Any]:
    """Carry out one effect: ``(result, None)`` or ``(None, the exception it raised)``."""
    try:
        if type(effect) is Locked:
            locks = locks if locks is not None else SyncLocks()
            with locks.get(effect.key):
                return run(effect.flow, perform, locks=locks), None
        return perform(effect), None
    except Exception as exc:  # handed to the flow, which may handle or re-raise it
        return None, exc


def run(flow: Flow[T], perform: Perform, *, locks: LockTable | None = None) -> T:
    """Drive *flow* to its return value, performing each effect with *perform*.

    Emitted values are dropped (use :func:`stream` to receive them).
    """
    # The launch path runs through here a few times per request: the loop is inlined
    # (no helper calls, no tuples) and costs well under a microsecond per effect.
    send, throw = flow.send, flow.throw
    value: Any = None
    error: BaseException | None = None
    while True:
        try:
            effect = send(value) if error is None else throw(error)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]
        cls = type(effect)
        if cls is Emit:
            value = error = None
            continue
        try:
            if cls is Locked:
                locks = locks if locks is not None else SyncLocks()
                with locks.get(effect.key):
                    value = run(effect.flow, perform, locks=locks)
            else:
                value = perform(effect)
            error = None
        except Exception as exc:  # handed to the flow, which may handle or re-raise it
            value, error = None, exc


def stream(flow: Flow[Any], perform: Perform, *, locks: LockTable | None = None) -> Iterator[Any]:
    """Drive *flow* lazily, yielding the value of each :class:`Emit` as it comes.

    The flow only advances when the caller asks for the next value, so a paged
    listing fetches page *n + 1* only after page *n* was consumed.
    """
    value: Any = None
    error: BaseException | None = None
    while True:
        effect = _resume(flow, value, error)
        cls = type(effect)
        if cls is _Done:
            return
        if cls is Emit:
            value, error = None, None
            yield effect.value
        else:
            value, error = _perform(effect, perform, locks)


async def _aperform(
    effect: Any, perform: AsyncPerform, locks: AsyncLockTable | None
) -> tuple[Any, Any]:
    """Async twin of :func:`_perform`."""
    try:
        if type(effect) is Locked:
            locks = locks if locks is not None else AsyncLocks()
            async with locks.get(effect.key):
                return await arun(effect.flow, perform, locks=locks), None
        return await perform(effect), None
    except Exception as exc:  # handed to the flow, which may handle or re-raise it
        return None, exc


async def arun(flow: Flow[T], perform: AsyncPerform, *, locks: AsyncLockTable | None = None) -> T:
    """Async twin of :func:`run`: *perform* returns an awaitable."""
    value: Any = None
    error: BaseException | None = None
    while True:
        effect = _resume(flow, value, error)
        cls = type(effect)
        if cls is _Done:
            return effect.value  # type: ignore[no-any-return]
        if cls is Emit:
            value, error = None, None
        else:
            value, error = await _aperform(effect, perform, locks)


async def astream(
    flow: Flow[Any], perform: AsyncPerform, *, locks: AsyncLockTable | None = None
) -> AsyncIterator[Any]:
    """Async twin of :func:`stream`."""
    value: Any = None
    error: BaseException | None = None
    while True:
        effect = _resume(flow, value, error)
        cls = type(effect)
        if cls is _Done:
            return
        if cls is Emit:
            value, error = None, None
            yield effect.value
        else:
            value, error = await _aperform(effect, perform, locks)
