"""A TCP proxy for a database that answers slowly and only to an event loop that runs.

``slow_proxy(host, port, delay=..., gate=...)`` listens on a loopback port and
forwards each connection to *host*:*port*; every chunk the server sends back is held
*delay* seconds. With a :class:`LoopGate`, an answer is then held until the watched
event loop has run again since the answer arrived (its heartbeat calls
:meth:`LoopGate.tick`): a client that waits for the answer *on* that loop (a blocking
socket read) therefore never gets it; after :data:`GATE_TIMEOUT` the proxy gives the
answer up, counts a stall, and lets the client go on. The proxy runs its own event
loop in a background thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator, Iterator

__all__ = ["GATE_TIMEOUT", "LoopGate", "slow_proxy"]

#: How long an answer waits for the watched loop before it counts as a stall.
GATE_TIMEOUT = 1.0


class LoopGate:
    """What the proxy knows of the watched loop: its heartbeats, and the stalls seen."""

    def __init__(self) -> None:
        self.ticks = 0
        self.armed = False
        self.stalls = 0

    def is_armed(self) -> bool:
        """True while the watched loop runs (its heartbeat ticks)."""
        return self.armed

    def tick(self) -> None:
        """Called by the watched loop's heartbeat task."""
        self.ticks += 1

    @contextlib.asynccontextmanager
    async def watching(self) -> AsyncIterator[None]:
        """Hold answers for the running loop during the block (a heartbeat task ticks)."""

        async def heartbeat() -> None:
            while True:
                self.tick()
                await asyncio.sleep(0.001)

        task = asyncio.ensure_future(heartbeat())
        self.armed = True
        try:
            yield
        finally:
            self.armed = False
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def wait_for_loop(self) -> None:
        """Hold an answer until the watched loop ran twice since it arrived (or stall)."""
        seen, deadline = self.ticks, time.monotonic() + GATE_TIMEOUT
        while self.is_armed() and self.ticks < seen + 2:
            if time.monotonic() > deadline:
                self.stalls += 1
                return
            await asyncio.sleep(0.001)


async def _pipe(
    src: asyncio.StreamReader, dst: asyncio.StreamWriter, delay: float, gate: LoopGate | None
) -> None:
    try:
        while data := await src.read(65536):
            if delay:
                await asyncio.sleep(delay)
            if gate is not None:
                await gate.wait_for_loop()
            dst.write(data)
            await dst.drain()
    except (ConnectionError, OSError):
        return  # either side closed the connection
    finally:
        with contextlib.suppress(Exception):
            dst.close()


@contextlib.contextmanager
def slow_proxy(
    host: str, port: int, *, delay: float = 0.05, gate: LoopGate | None = None
) -> Iterator[int]:
    """Run the proxy for the block; yield the loopback port it listens on."""
    loop = asyncio.new_event_loop()
    ready: list[int] = []
    started = threading.Event()
    tasks: set[asyncio.Task[None]] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(host, port)
        except OSError:
            writer.close()
            return
        await asyncio.gather(
            _pipe(reader, up_writer, 0, None), _pipe(up_reader, writer, delay, gate)
        )

    def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = loop.create_task(handle(reader, writer))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    async def serve() -> asyncio.Server:
        server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
        ready.append(int(server.sockets[0].getsockname()[1]))
        return server

    def run() -> None:
        asyncio.set_event_loop(loop)
        server = loop.run_until_complete(serve())
        started.set()
        loop.run_forever()
        server.close()
        for task in list(tasks):
            task.cancel()
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        loop.run_until_complete(server.wait_closed())
        loop.close()

    thread = threading.Thread(target=run, name="slow-proxy", daemon=True)
    thread.start()
    started.wait(10)
    try:
        yield ready[0]
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
