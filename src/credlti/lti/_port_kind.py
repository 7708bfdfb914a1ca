"""Check that a port object has the form a facade drives: plain methods or ``async def``.

The sync facades call ports; the async facades await them. A port of the wrong
form is refused when the facade is built, with a message naming the form to use,
rather than failing (or blocking the event loop) at the first request.
"""

from __future__ import annotations

import inspect

__all__ = ["check_port"]


def check_port(
    port: object, methods: tuple[str, ...], *, asynchronous: bool, what: str, owner: str
) -> None:
    """Raise :class:`TypeError` unless *port* has each of *methods* in the wanted form.

    Args:
        port: The object given to the facade.
        methods: The method names the facade will call.
        asynchronous: True when every method must be ``async def``.
        what: The argument and port named in the message (``"storage (a LaunchStorage)"``).
        owner: The facade's name (``"AsyncTool"``).
    """
    kind = type(port).__name__
    for name in methods:
        method = getattr(port, name, None)
        if not callable(method):
            msg = f"{owner} {what}: {kind} has no {name}() method"
            raise TypeError(msg)
        if inspect.iscoroutinefunction(method) == asynchronous:
            continue
        if asynchronous:
            msg = (
                f"{owner} awaits its ports, but {kind}.{name} is not `async def`: pass "
                f"{what} in its async form (adapter class Foo has the async form AsyncFoo "
                f"in the same package: Async{kind}?), or wrap a blocking store in a class "
                "whose methods are `async def` and call it with `await asyncio.to_thread(...)`"
            )
        else:
            msg = (
                f"{owner} calls its ports synchronously, but {kind}.{name} is "
                f"`async def`: pass the sync form of {what}, or use the async facade"
            )
        raise TypeError(msg)
