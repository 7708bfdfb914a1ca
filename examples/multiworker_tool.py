"""An LTI 1.3 tool built for several worker processes (``gunicorn -w 4``), on Flask.

Every worker builds its own :class:`credlti.lti.Tool` after the fork, and every piece
of state that a later request may need lives in a store that all workers share:

- registrations, deployments, the tool's signing keys and saved launches in
  PostgreSQL (``credlti.adapters.sql``);
- launch nonces, the service-token cache and the single-flight locks in Redis
  (``credlti.adapters.redis``); with ``CREDLTI_SESSIONS=redis`` saved launches too;
- the ``state_secret`` (which signs the login state and seals saved launches) and the
  key ring (which seals the tool keys and cached tokens) come from the environment,
  the same in every worker.

So a login can start on one worker, its launch be validated on a second, the page be
read on a third and the grade be posted from a fourth. Every response says which
worker (process id) served it, in the ``X-Worker-Pid`` header and in its JSON body.
A client may ask that a given worker *not* serve a request (``X-Avoid-Worker: <pid>``
is answered 421 before any work is done, so it can be sent again): the multi-process
test (``tests/test_multiworker.py``) uses it to continue every launch on another
worker than the one that validated it.

Routes: ``GET|POST /login``, ``POST /launch`` (validate, save, 303 with the session
cookie), ``GET /launch?launch_id=...`` (the launch as JSON), ``POST
/grade?launch_id=...`` (form field ``score``: post it to the launch's line item through
AGS), ``GET /.well-known/jwks.json`` and ``GET /health``.

Run::

    export CREDLTI_DATABASE_URL=postgresql+psycopg://tool@db.internal/tool
    export CREDLTI_REDIS_URL=redis://redis.internal:6379/0
    export CREDLTI_STATE_SECRET=...   # 32+ random bytes as text, the same everywhere
    export CREDLTI_KEY_RING=2026-01:BASE64-OF-32-BYTES
    export CREDLTI_LAUNCH_URL=https://tool.example.com/launch
    python examples/multiworker_tool.py init      # tables and a signing key, once
    credlti registrations add --url "$CREDLTI_DATABASE_URL" --issuer ... --deployment ...
    gunicorn -w 4 -b 127.0.0.1:8000 --chdir examples 'multiworker_tool:create_app_from_env()'

Serve it behind an HTTPS proxy (the cookies are ``Secure``; see docs/deployment.md).
"""

from __future__ import annotations

import base64
import json
import logging
import os
import sys
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import attrs
import redis
from flask import Flask, jsonify, request
from werkzeug.wrappers import Response

from credlti import CredltiError
from credlti.adapters.redis import (
    RedisLaunchSessionStore,
    RedisLocks,
    RedisLockTable,
    RedisNonceStore,
    RedisServiceTokenCache,
)
from credlti.adapters.sql import (
    SqlLaunchSessionStore,
    SqlLaunchStorage,
    SqlToolKeyStore,
    create_engine,
    upgrade,
)
from credlti.credentials import EncryptionKey, KeyRing
from credlti.lti import (
    LaunchContext,
    Tool,
    clear_state_cookie_header,
    launch_session_cookie_header,
    launch_session_cookie_name,
    state_cookie_name,
)
from credlti.lti.keys import KeyState, generate_key, jwks
from credlti.lti.services import Score

log = logging.getLogger("credlti.examples.multiworker")

#: Seconds a saved launch stays usable (the session's ttl and its cookie's age).
LAUNCH_TTL = 3600
#: The header a client sets to keep one worker from serving its request.
AVOID_HEADER = "X-Avoid-Worker"


@attrs.frozen(kw_only=True)
class Settings:
    """What every worker reads from its environment (the same values everywhere)."""

    database_url: str = attrs.field(repr=False)  # may hold a password
    redis_url: str = attrs.field(repr=False)
    state_secret: str = attrs.field(repr=False)
    key_ring: KeyRing = attrs.field(repr=False)
    launch_url: str
    sessions: str = "sql"  # where saved launches live: "sql" or "redis"
    redis_prefix: str = "credlti:"
    db_pool_size: int = 2

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        """Read ``CREDLTI_*`` variables (see the module docstring)."""
        sessions = environ.get("CREDLTI_SESSIONS", "sql")
        if sessions not in ("sql", "redis"):
            msg = "CREDLTI_SESSIONS must be sql or redis"
            raise ValueError(msg)
        return cls(
            database_url=environ["CREDLTI_DATABASE_URL"],
            redis_url=environ["CREDLTI_REDIS_URL"],
            state_secret=environ["CREDLTI_STATE_SECRET"],
            key_ring=parse_key_ring(environ["CREDLTI_KEY_RING"]),
            launch_url=environ.get("CREDLTI_LAUNCH_URL", "https://tool.example.com/launch"),
            sessions=sessions,
            redis_prefix=environ.get("CREDLTI_REDIS_PREFIX", "credlti:"),
            db_pool_size=int(environ.get("CREDLTI_DB_POOL_SIZE", "2")),
        )


def parse_key_ring(value: str) -> KeyRing:
    """``id:base64,id:base64`` (primary first), the format of ``credlti keys``."""
    keys = []
    for item in value.split(","):
        key_id, _, material = item.strip().partition(":")
        keys.append(EncryptionKey(id=key_id, material=base64.b64decode(material)))
    return KeyRing(keys)


def build_tool(settings: Settings) -> Tool[Any, Any]:
    """One worker's tool: its own engine and Redis pool, on the shared stores.

    Call it in the worker (after the fork), never before: connections must not be
    shared between processes.
    """
    # A sync worker serves one request at a time: a small pool per worker, so that
    # workers x pool stays below PostgreSQL's max_connections.
    engine = create_engine(
        settings.database_url, pool_size=settings.db_pool_size, max_overflow=settings.db_pool_size
    )
    client = redis.Redis.from_url(settings.redis_url)
    prefix = settings.redis_prefix
    sessions = (
        RedisLaunchSessionStore(client, prefix=prefix)
        if settings.sessions == "redis"
        else SqlLaunchSessionStore(engine)
    )
    return Tool(
        SqlLaunchStorage(engine),
        state_secret=settings.state_secret,
        nonce_store=RedisNonceStore(client, prefix=prefix),
        sessions=sessions,
        keys=SqlToolKeyStore(engine, ring=settings.key_ring),
        token_cache=RedisServiceTokenCache(client, ring=settings.key_ring, prefix=prefix),
        # One key-set fetch and one token request at a time for the whole fleet.
        locks=RedisLockTable(RedisLocks(client, prefix=prefix), timeout=30, lease=60),
    )


def init(settings: Settings) -> dict[str, Any]:
    """Create or upgrade the tables and make a signing key if there is none; return the JWKS.

    Run it once per deployment (it is safe to run again, and from several processes).
    """
    engine = create_engine(settings.database_url)
    try:
        upgrade(engine)
        store = SqlToolKeyStore(engine, ring=settings.key_ring)
        keys = store.list_keys()
        if not keys:
            keys = [generate_key(now=datetime.now(timezone.utc), state=KeyState.CURRENT)]
            store.save_key(keys[0])
        return jwks(keys)
    finally:
        engine.dispose()


def with_query(url: str, **params: str) -> str:
    """Return *url* with *params* appended to its query string."""
    parts = urlsplit(url)
    query = "&".join(q for q in (parts.query, urlencode(params)) if q)
    return urlunsplit(parts._replace(query=query))


def create_app(tool: Tool[Any, Any], *, launch_url: str) -> Flask:
    """The Flask app around one worker's *tool*; *launch_url* is the registered redirect URI."""
    app = Flask("credlti_multiworker_example")

    @app.before_request
    def stay_off_avoided_worker() -> tuple[Response, int] | None:
        if request.headers.get(AVOID_HEADER) == str(os.getpid()):
            return jsonify(error="misdirected", worker=os.getpid()), 421
        return None

    @app.after_request
    def name_the_worker(response: Response) -> Response:
        response.headers["X-Worker-Pid"] = str(os.getpid())
        return response

    @app.get("/health")
    def health() -> Response:
        return jsonify(worker=os.getpid())

    @app.get("/.well-known/jwks.json")
    def tool_jwks() -> Response:
        return jsonify(tool.jwks())

    @app.route("/login", methods=["GET", "POST"])
    def login() -> Response:
        redirect = tool.handle_login(request.values, launch_url)
        response = Response(status=302, headers={"Location": redirect.url})
        response.headers.add("Set-Cookie", redirect.set_cookie_header())
        return response

    @app.post("/launch")
    def launch() -> Response:
        state = request.form.get("state", "")
        validated = tool.handle_callback(
            request.form, request.cookies.get(state_cookie_name(state))
        )
        handle = tool.save_launch(validated, ttl=LAUNCH_TTL)  # any worker can reopen it
        launch_id = validated.launch_id
        target = with_query(validated.claims.target_link_uri, launch_id=launch_id)
        response = Response(status=303, headers={"Location": target})
        response.headers.add("Set-Cookie", clear_state_cookie_header(state))
        response.headers.add(
            "Set-Cookie",
            launch_session_cookie_header(handle, launch_id=launch_id, max_age=LAUNCH_TTL),
        )
        return response

    def current_launch() -> LaunchContext[Any, Any]:
        """Reopen the launch named in the URL from this browser's cookie."""
        try:
            cookie: str | None = launch_session_cookie_name(request.args.get("launch_id", ""))
        except ValueError:
            cookie = None
        handle = request.cookies.get(cookie, "") if cookie else ""
        # No cookie, or an expired one: LaunchSessionNotFoundError, answered 401 below.
        return tool.load_launch(handle)

    @app.get("/launch")
    def show_launch() -> Response:
        found = current_launch()
        claims = found.claims
        return jsonify(
            worker=os.getpid(),
            launch_id=found.launch_id,
            subject=claims.subject,
            deployment_id=claims.deployment_id,
            context=claims.context.id if claims.context else None,
        )

    @app.post("/grade")
    def grade() -> Response:
        found = current_launch()
        score = Score(
            user_id=str(found.claims.subject),
            score_given=float(request.form["score"]),
            score_maximum=float(request.form.get("maximum", "10")),
            activity_progress="Completed",
            grading_progress="FullyGraded",
        )
        stamp = tool.grades(found).post_score(score)
        return jsonify(worker=os.getpid(), timestamp=stamp.isoformat())

    @app.errorhandler(CredltiError)
    def refused(error: CredltiError) -> tuple[Response, int]:
        # Log codes and ids, never a token; answer the error's status and code.
        log.info("refused: %s %s", error.code, dict(error.details))
        return jsonify(error=error.code, worker=os.getpid()), error.http_status

    return app


def create_app_from_env() -> Flask:
    """The app factory for gunicorn: ``'multiworker_tool:create_app_from_env()'``."""
    settings = Settings.from_env()
    return create_app(build_tool(settings), launch_url=settings.launch_url)


if __name__ == "__main__":
    if sys.argv[1:] != ["init"]:
        sys.exit("usage: python examples/multiworker_tool.py init  (then serve with gunicorn)")
    print(json.dumps(init(Settings.from_env()), indent=2))  # the JWKS to give the platform
