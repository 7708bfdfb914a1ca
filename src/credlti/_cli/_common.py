"""What every operator command shares: one-line failures, the engine, the key ring, output."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from types import FrameType
from typing import TYPE_CHECKING, Any, TextIO, TypeVar

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from credlti._crypto import KeyRing

__all__ = [
    "EXIT_INTERRUPTED",
    "BarProgress",
    "CommandError",
    "Interrupt",
    "Output",
    "Progress",
    "key_ring_from_env",
    "no_redis_store",
    "one_line",
    "open_engine",
    "open_redis",
    "progress_display",
]

T = TypeVar("T")

#: The exit status of a command stopped by Ctrl-C (128 + SIGINT), as shells report it.
EXIT_INTERRUPTED = 130

# The environment variable format of a key ring: comma-separated ``id:base64`` pairs,
# the primary (encrypting) key first.
_RING_FORMAT = "comma-separated id:base64 pairs, primary first (id:<32 bytes in base64>,...)"


class CommandError(Exception):
    """A command failure: its one-line message and exit status."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def one_line(text: str) -> str:
    """*text* with every run of whitespace (newlines included) turned into one space."""
    return " ".join(text.split())


@contextlib.contextmanager
def open_engine(url: str, *, need_schema: bool = True) -> Iterator[Engine]:
    """An engine on *url*, disposed at the end; failures become :class:`CommandError`.

    Exit statuses: 2 unusable URL or a missing extra; 1 the database is unreachable,
    failed, or (with *need_schema*) has no credlti tables or needs an upgrade; 3 its
    schema is newer than this credlti. Any error from the block itself is mapped the
    same way, so a command never shows a traceback.
    """
    try:
        from credlti.adapters import sql
        from credlti.adapters.sql._migrations import too_new_error
    except ImportError as exc:  # SQLAlchemy is missing: the message names the extra
        raise CommandError(str(exc), 2) from exc
    from credlti.errors import (
        ConfigurationError,
        CredltiError,
        StorageError,
        StorageSchemaTooNewError,
    )

    try:
        engine = sql.create_engine(url)
    except ConfigurationError as exc:
        raise CommandError(str(exc), 2) from exc
    except Exception as exc:  # the command reports one line, never a traceback
        msg = f"the database URL cannot be used ({type(exc).__name__})"
        raise CommandError(msg, 2) from exc
    try:
        if need_schema:
            _check_version(sql.current_version(engine), sql.SCHEMA_VERSION, too_new_error)
        yield engine
    except CommandError:
        raise
    except StorageSchemaTooNewError as exc:
        raise CommandError(str(exc), 3) from exc
    except StorageError as exc:
        raise CommandError(str(exc), 1) from exc
    except CredltiError as exc:  # bad input caught by a record or a core
        raise CommandError(str(exc), 2) from exc
    except Exception as exc:  # the command reports one line, never a traceback
        msg = f"unexpected {type(exc).__name__}: {exc}"
        raise CommandError(msg, 1) from exc
    finally:
        engine.dispose()


@contextlib.contextmanager
def open_redis(url: str) -> Iterator[Any]:
    """A redis-py client on *url*, answering ``PING``, closed at the end.

    Failures become :class:`CommandError`, naming neither the address nor the
    password: 2 redis-py is missing or the URL is unusable; 1 the server cannot be
    reached or refuses the credentials.
    """
    try:
        import redis
    except ImportError as exc:
        msg = (
            'the Redis commands need redis-py: install the extra with pip install "credlti[redis]"'
        )
        raise CommandError(msg, 2) from exc
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=5)
    except Exception as exc:  # the command reports one line, never a traceback
        msg = f"the Redis URL cannot be used ({type(exc).__name__}); expected redis://host:port/db"
        raise CommandError(msg, 2) from exc
    try:
        try:
            client.ping()
        except Exception as exc:  # the command reports one line, never a traceback
            msg = f"Redis cannot be reached or refused the connection ({type(exc).__name__})"
            raise CommandError(msg, 1) from exc
        yield client
    finally:
        with contextlib.suppress(Exception):
            client.close()


def no_redis_store(command: str, what: str) -> CommandError:
    """The one-line error of a command given ``--redis-url`` for data Redis never holds."""
    msg = (
        f"credlti {command} has no Redis store: {what} live in credlti's SQL tables; "
        "give --url with a SQLAlchemy URL"
    )
    return CommandError(msg, 2)


def _check_version(version: int, supported: int, too_new: Callable[[int, int], Any]) -> None:
    if version > supported:
        raise CommandError(str(too_new(version, supported)), 3)
    if version < supported:
        msg = (
            "the database has no credlti tables yet; run credlti db upgrade --url ..."
            if version == 0
            else f"the database schema is at version {version} of {supported}; "
            "run credlti db upgrade --url ..."
        )
        raise CommandError(msg, 1)


def key_ring_from_env(name: str) -> KeyRing:
    """The key ring held by environment variable *name* (``id:base64,id:base64``).

    The first key is the primary (it encrypts); every key decrypts. Key material is
    only ever read from the environment, never from a command-line argument (which
    other users of the machine can see in the process list). Errors name the
    variable and the key id, never the material.
    """
    from credlti._crypto import EncryptionKey, KeyRing
    from credlti.errors import ConfigurationError

    value = os.environ.get(name)
    if not value or not value.strip():
        msg = f"the environment variable {name} is not set; it holds the key ring ({_RING_FORMAT})"
        raise CommandError(msg, 2)
    keys = []
    for position, item in enumerate(value.split(","), start=1):
        key_id, sep, material = item.strip().partition(":")
        if not sep or not key_id or not material:
            msg = f"{name}: entry {position} is not id:base64 ({_RING_FORMAT})"
            raise CommandError(msg, 2)
        try:
            keys.append(EncryptionKey.from_base64(key_id, material))
        except ConfigurationError as exc:
            raise CommandError(f"{name}: {exc}", 2) from exc
    try:
        return KeyRing(keys)
    except ConfigurationError as exc:
        raise CommandError(f"{name}: {exc}", 2) from exc


class Output:
    """Where a command writes: results to *out*, errors and progress to *err*."""

    def __init__(self, out: TextIO, err: TextIO, *, as_json: bool) -> None:
        self.out = out
        self.err = err
        self.as_json = as_json

    def result(self, data: Any, human: str) -> None:
        """Print *data* as JSON, or *human* text, on the output stream."""
        if self.as_json:
            json.dump(data, self.out, indent=None, sort_keys=True)
            self.out.write("\n")
        else:
            self.out.write(human if human.endswith("\n") else human + "\n")
        self.out.flush()

    def fail(self, exc: CommandError) -> int:
        """Report *exc* in one line (JSON on the output with ``--json``); its status."""
        message = one_line(str(exc))
        if self.as_json:
            json.dump({"error": message, "exit_status": exc.status}, self.out)
            self.out.write("\n")
        else:
            self.err.write(f"error: {message}\n")
        return exc.status

    def run(self, command: Callable[[], int]) -> int:
        """Run *command*, turning a :class:`CommandError` into its one-line report."""
        try:
            return command()
        except CommandError as exc:
            return self.fail(exc)


class Progress:
    """A dependency-free progress line on a stream (rewritten in place on a terminal).

    On a terminal the line is rewritten at most every *interval* seconds; elsewhere
    (a log file, a pipe) one line is written per update, also throttled, plus the first.
    """

    def __init__(self, stream: TextIO, label: str, *, interval: float = 0.5) -> None:
        self._stream = stream
        self._label = label
        self._interval = interval
        self._last = 0.0
        self._started = time.monotonic()
        self._tty = bool(getattr(stream, "isatty", lambda: False)())
        self._shown = False

    def update(self, text: str, *, done: int | None = None, force: bool = False) -> None:
        """Show *text* now if the last update is older than the interval (or *force*).

        *done* (rows handled so far) is for the bar of :func:`progress_display`; the
        line shows *text* only.
        """
        now = time.monotonic()
        if self._shown and not force and now - self._last < self._interval:
            return
        self._last = now
        self._shown = True
        elapsed = now - self._started
        line = f"{self._label}: {text} ({elapsed:.1f}s)"
        if self._tty:
            self._stream.write("\r\x1b[K" + line)
        else:
            self._stream.write(line + "\n")
        self._stream.flush()

    def close(self) -> None:
        """End the progress line (a newline on a terminal)."""
        if self._tty and self._shown:
            self._stream.write("\n")
            self._stream.flush()


class BarProgress:
    """A Rich progress bar with a total, on a terminal (the ``credlti[cli]`` extra).

    Same interface as :class:`Progress`; Rich redraws it at its own pace.
    """

    def __init__(self, stream: TextIO, label: str, total: int) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.progress import Progress as RichProgress

        self._bar = RichProgress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[summary]}"),
            console=Console(file=stream, stderr=True),
        )
        self._task = self._bar.add_task(label, total=max(total, 1), summary="")
        self._bar.start()

    def update(self, text: str, *, done: int | None = None, force: bool = False) -> None:
        """Move the bar to *done* rows and show *text* beside it."""
        self._bar.update(self._task, completed=done, summary=text)
        if force:
            self._bar.refresh()

    def close(self) -> None:
        """Draw the bar one last time and end its line."""
        self._bar.stop()


def progress_display(
    stream: TextIO, label: str, total: Callable[[], int]
) -> Progress | BarProgress:
    """A progress bar when Rich is installed and *stream* is a terminal, else the line.

    *total* (the rows the run will handle) is only computed for the bar.
    """
    if bool(getattr(stream, "isatty", lambda: False)()):
        try:
            import rich.progress  # noqa: F401 - the optional cli extra
        except ImportError:
            pass
        else:
            return BarProgress(stream, label, total())
    return Progress(stream, label)


class Interrupt:
    """Ctrl-C (SIGINT) handling for batch commands: stop after the current batch.

    Inside the ``with`` block a first SIGINT only sets :attr:`requested`; the command
    checks it between batches, so a committed batch is never cut in half. A second
    SIGINT raises :class:`KeyboardInterrupt` as usual (the open batch rolls back).
    """

    def __init__(self) -> None:
        self.requested = False
        self._previous: Any = None

    def _handle(self, _signum: int, _frame: FrameType | None) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self) -> Interrupt:
        # Signal handlers can only be set from the main thread; elsewhere (a host
        # calling main() from a worker thread) Ctrl-C keeps its default behaviour.
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
