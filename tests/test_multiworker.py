"""Four worker processes of examples/multiworker_tool.py on PostgreSQL + Redis.

``gunicorn -w 4`` serves the example; the platform is a simulated one answering HTTP
on a loopback port (key set, token and AGS endpoints). Concurrent clients run 2,000
launch POSTs, 20 % of them replays of an already-sent id_token and state: half sent
after the original was accepted, half racing it (both at once, to two workers). Then:

- every nonce is accepted exactly once: each first-time launch is accepted once,
  every replay refused with ``nonce_reused``, and of each racing pair exactly one wins;
- every launch session is read on a worker other than the one that validated it
  (every validator/reader pair of workers occurs), and a sample of launches on all
  four workers;
- every grade is posted from a worker other than the one that validated the launch,
  and the platform received each score exactly once; the whole fleet asked for one
  service token (shared cache + cross-process lock).

``CREDLTI_MULTIWORKER_LAUNCHES`` changes the number of launch POSTs (default 2,000).
"""

from __future__ import annotations

import os
import threading
from collections import Counter
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import attrs
import httpx
import pytest

from credlti.testing import SimulatedPlatform
from tests.multiworker import (
    Browser,
    LoopbackPlatform,
    ToolServer,
    free_port,
    fresh_database,
    load_example,
    prepare,
    tool_environment,
    tool_server,
    worker_of,
)

LAUNCHES = int(os.environ.get("CREDLTI_MULTIWORKER_LAUNCHES", "2000"))
WORKERS = 4
CLIENTS = 8
MAX_TRIES = 200  # requests sent again (421: the avoided worker answered) before failing


@attrs.define
class Result:
    """What one launch (and its replay, if any) did."""

    index: int
    replay: str  # "", "after" or "race"
    posts: list[tuple[int, str | None, int]] = attrs.field(factory=list)  # status, code, pid
    validator: int = 0
    readers: set[int] = attrs.field(factory=set)
    grader: int = 0
    score: float = 0.0


def _post_launch(
    client: httpx.Client, server: ToolServer, cookies: Mapping[str, str], form: Mapping[str, str]
) -> tuple[httpx.Response, Browser]:
    browser = Browser(client, dict(cookies))
    return browser.post(server.launch_url, form), browser


def _record(result: Result, response: httpx.Response) -> None:
    code = response.json()["error"] if response.status_code != 303 else None
    result.posts.append((response.status_code, code, worker_of(response)))


def _until_served(send: Any) -> httpx.Response:
    """Send again while the avoided worker answers 421 (bounded)."""
    for _ in range(MAX_TRIES):
        response: httpx.Response = send()
        if response.status_code != 421:
            return response
    msg = f"{MAX_TRIES} requests in a row were served by the avoided worker"
    raise AssertionError(msg)


def one_launch(
    client: httpx.Client,
    server: ToolServer,
    lms: LoopbackPlatform,
    claims: Mapping[str, Any],
    index: int,
    replay: str,
    everywhere: bool,
) -> Result:
    result = Result(index=index, replay=replay, score=float(index % 11))
    params = lms.login_params(target_link_uri=server.base_url + "/launch")
    login = Browser(client)
    start = login.get(f"{server.base_url}/login?{urlencode(params)}")
    assert start.status_code == 302, start.text
    form = lms.launch(start.headers["Location"], claims={**claims, "sub": f"user-{index}"})

    if replay == "race":
        barrier = threading.Barrier(2)
        answers: list[tuple[httpx.Response, Browser]] = []

        def racer() -> None:
            barrier.wait(timeout=30)
            answers.append(_post_launch(client, server, login.cookies, form))

        threads = [threading.Thread(target=racer) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert len(answers) == 2
    else:
        answers = [_post_launch(client, server, login.cookies, form)]
        if replay == "after":
            answers.append(_post_launch(client, server, login.cookies, form))
    for response, _ in answers:
        _record(result, response)
    accepted = [(r, b) for r, b in answers if r.status_code == 303]
    if len(accepted) != 1:
        return result  # the assertions report it
    response, browser = accepted[0]
    result.validator = worker_of(response)
    launch_id = parse_qs(urlsplit(response.headers["Location"]).query)["launch_id"][0]
    page = f"{server.base_url}/launch?launch_id={launch_id}"

    # Read the session on another worker than the validator.
    read = _until_served(lambda: browser.get(page, avoid=result.validator))
    assert read.status_code == 200, read.text
    assert read.json()["subject"] == f"user-{index}"
    result.readers.add(worker_of(read))
    for _ in range(MAX_TRIES if everywhere else 0):
        if len(result.readers | {result.validator}) == server.workers:
            break
        read = browser.get(page)
        assert read.status_code == 200, read.text
        result.readers.add(worker_of(read))

    # Post the grade from another worker than the validator.
    grade_url = f"{server.base_url}/grade?launch_id={launch_id}"
    graded = _until_served(
        lambda: browser.post(grade_url, {"score": str(result.score)}, avoid=result.validator)
    )
    assert graded.status_code == 200, graded.text
    result.grader = worker_of(graded)
    return result


def _plan(launches: int) -> list[tuple[int, str, bool]]:
    """(index, replay kind, read everywhere) per first-time launch: 20 % of POSTs replay."""
    firsts = launches - launches // 5
    replays = launches - firsts
    plan = []
    for index in range(firsts):
        kind = ""
        if index % 4 == 0 and index // 4 < replays:
            kind = "race" if index % 8 == 0 else "after"
        plan.append((index, kind, index % 40 == 1))
    return plan


@pytest.mark.slow
def test_four_workers_share_nonces_sessions_and_tokens(postgres_url: str, redis_url: str) -> None:
    plan = _plan(LAUNCHES)
    with LoopbackPlatform() as lms, fresh_database(postgres_url) as database_url:
        port = free_port()
        env = tool_environment(database_url, redis_url, f"http://127.0.0.1:{port}/launch")
        prepare(lms, database_url, env)
        services = lms.platform.services
        line_item = services.add_line_item("Quiz", 10)
        claims = services.ags_claim(lineitem=line_item)
        limits = httpx.Limits(max_connections=4 * CLIENTS, max_keepalive_connections=0)
        with (
            tool_server(workers=WORKERS, database_url=database_url, env=env, port=port) as server,
            httpx.Client(timeout=60, limits=limits) as client,
            ThreadPoolExecutor(CLIENTS) as pool,
        ):
            results = list(
                pool.map(
                    lambda step: one_launch(client, server, lms, claims, *step),
                    plan,
                )
            )
        scores = services.scores(line_item)
        token_requests = lms.platform.token_requests

    # Every nonce accepted exactly once; every replay refused.
    posts = [post for r in results for post in r.posts]
    assert len(posts) == LAUNCHES
    assert sum(1 for r in results if r.replay) == LAUNCHES // 5
    for r in results:
        statuses = sorted(status for status, _, _ in r.posts)
        codes = [code for _, code, _ in r.posts if code is not None]
        if r.replay:
            assert statuses == [303, 401], r
            assert codes == ["nonce_reused"], r
        else:
            assert statuses == [303], r
    races = [r for r in results if r.replay == "race"]
    assert races
    assert any(len({pid for _, _, pid in r.posts}) == 2 for r in races)  # two workers raced

    # Every worker validated launches; each session was read on another worker.
    validators = Counter(r.validator for r in results)
    assert len(validators) == WORKERS, validators
    workers = set(validators)
    pairs = set()
    for r in results:
        assert r.readers - {r.validator}, r
        assert r.readers <= workers
        pairs |= {(r.validator, reader) for reader in r.readers if reader != r.validator}
    assert pairs == {(a, b) for a in workers for b in workers if a != b}
    sampled = [r for r in results if r.index % 40 == 1]
    assert sampled
    assert all(r.readers | {r.validator} == workers for r in sampled)

    # Every grade from another worker, received by the platform exactly once.
    assert all(r.grader in workers and r.grader != r.validator for r in results)
    received = Counter(s["userId"] for s in scores)
    assert received == Counter(f"user-{r.index}" for r in results)
    given = {s["userId"]: s["scoreGiven"] for s in scores}
    assert all(given[f"user-{r.index}"] == r.score for r in results)
    assert token_requests == 1  # one token for the fleet: Redis cache + Redis locks


def test_example_app_in_one_process(platform: SimulatedPlatform) -> None:
    """The example's routes through Flask's test client, on memory stores."""
    example = load_example()
    launch_url = "https://tool.example.com/launch"
    app = example.create_app(platform.tool(state_secret=b"k" * 32), launch_url=launch_url)
    client = app.test_client()
    base = "https://tool.example.com"
    me = str(os.getpid())

    health = client.get("/health", base_url=base)
    assert health.headers["X-Worker-Pid"] == me
    assert health.get_json() == {"worker": os.getpid()}
    avoided = client.get("/health", base_url=base, headers={"X-Avoid-Worker": me})
    assert avoided.status_code == 421
    assert avoided.get_json()["error"] == "misdirected"
    assert client.get("/health", base_url=base, headers={"X-Avoid-Worker": "1"}).status_code == 200

    start = client.get("/login", query_string=platform.login_params(), base_url=base)
    assert start.status_code == 302
    form = platform.launch(start.headers["Location"])
    done = client.post("/launch", data=form, base_url=base)
    assert done.status_code == 303
    launch_id = parse_qs(urlsplit(done.headers["Location"]).query)["launch_id"][0]
    page = client.get("/launch", query_string={"launch_id": launch_id}, base_url=base)
    assert page.status_code == 200
    assert page.get_json()["subject"] == "user-1"
    replay = client.post("/launch", data=form, base_url=base)
    assert replay.status_code == 401
    assert replay.get_json()["error"] == "state_mismatch"  # the launch deleted the state cookie

    for query in ({"launch_id": "unknown"}, {"launch_id": "bad id!"}, {}):
        missing = client.get("/launch", query_string=query, base_url=base)
        assert missing.status_code == 401
        assert missing.get_json()["error"] == "launch_session_not_found"


def test_example_settings_from_env() -> None:
    example = load_example()
    env = {
        "CREDLTI_DATABASE_URL": "postgresql+psycopg://tool@db/tool",
        "CREDLTI_REDIS_URL": "redis://redis:6379/0",
        "CREDLTI_STATE_SECRET": "s" * 43,
        "CREDLTI_KEY_RING": "new:" + "A" * 43 + "=,old:" + "B" * 43 + "=",
        "CREDLTI_SESSIONS": "redis",
    }
    settings = example.Settings.from_env(env)
    assert settings.sessions == "redis"
    assert settings.launch_url == "https://tool.example.com/launch"
    assert settings.db_pool_size == 2
    assert "postgresql" not in repr(settings)
    assert settings.key_ring.primary_id == "new"
    with pytest.raises(ValueError, match="CREDLTI_SESSIONS"):
        example.Settings.from_env({**env, "CREDLTI_SESSIONS": "memory"})
