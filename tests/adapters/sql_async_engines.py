"""The async engine on the database of a sync test engine, for the two-form contracts.

The contract suites build the async form of an adapter on the ``loop`` fixture's
event loop (``tests/adapters/port_driver.py``); an async engine's connections belong
to that loop, so the engine is built and disposed of there.
"""

from __future__ import annotations

import asyncio

from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine

from credlti.adapters.sql import open_async_engine, upgrade_async

__all__ = ["async_engine_for", "dispose"]


def async_engine_for(engine: Engine, loop: asyncio.AbstractEventLoop) -> AsyncEngine:
    """An async engine on *engine*'s database (a new upgraded one for in-memory SQLite)."""
    url = engine.url
    if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
        memory = open_async_engine("sqlite://")
        loop.run_until_complete(upgrade_async(memory))
        return memory
    return open_async_engine(url.render_as_string(hide_password=False))


def dispose(engine: AsyncEngine, loop: asyncio.AbstractEventLoop) -> None:
    """Close the async engine's connections on their loop."""
    loop.run_until_complete(engine.dispose())
