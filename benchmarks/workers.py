"""Launches per second with 1, 2 and 4 worker processes; Redis nonces against bare redis-py.

**Workers.** ``examples/multiworker_tool.py`` runs under ``gunicorn -w N`` (sync
workers) on PostgreSQL (registrations, tool keys, saved launches) and Redis (nonces,
token cache, locks), against a simulated platform served on a loopback port
(``tests/multiworker.py``). For each N, logins and the platform's signed forms are
made first (untimed); then ``--clients`` threads POST the forms to ``/launch`` and
the wall time of all POSTs is measured: each is one full launch (validation, nonce
consumed in Redis, the launch saved in PostgreSQL, a 303 with the session cookie).
All worker counts run at once and each round times them back to back (rotating the
order), so a busy shared machine slows all alike. ``launches_per_s`` is the median
over ``--rounds``; ``scaling`` is the median over rounds of each N's rate divided by
the rate with one worker in the same round; ``worker_cpu_ms_per_launch`` is the CPU
time the workers spent per launch (from /proc, Linux only), which says whether a
launch costs more with more workers or only waits longer for a core. The load
average before and after the run is reported: on a shared machine, other work moves
the rates. The clients, PostgreSQL and Redis run on the same machine as the workers,
so the scaling is bounded by its cores (``cpu_count`` in the report): on 2 cores,
going from 2 to 4 workers cannot double anything.

**Redis nonces.** Nonce store + consume through ``RedisNonceStore`` against bare
redis-py doing the same commands, measured in the same run by
``benchmarks/redis_nonces.py`` (its ``run``; target ratio >= 0.7).

PostgreSQL and Redis: ``CREDLTI_TEST_POSTGRES_URL`` / ``CREDLTI_TEST_REDIS_URL`` if
set, else throwaway servers (the test suite's helpers).

Run::

    python benchmarks/workers.py                  # 5 rounds of 200 launches for 1, 2, 4 workers
    python benchmarks/workers.py --workers 1,2 --launches 100 --rounds 1 --json
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx

ROOT = Path(__file__).resolve().parents[1]


def _helpers() -> Any:
    """The test suite's server helpers (tests/ is importable from the repository root)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import tests.multiworker

    return tests.multiworker


def _redis_nonces() -> Any:
    """benchmarks/redis_nonces.py, loaded by path (benchmarks/ is not a package)."""
    name = "credlti_benchmark_redis_nonces"
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / "redis_nonces.py")
    if spec is None or spec.loader is None:  # pragma: no cover
        raise ImportError(name)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@contextlib.contextmanager
def servers() -> Iterator[tuple[str, str]]:
    """(PostgreSQL URL, Redis URL): given in the environment or started for this run."""
    _helpers()
    from tests.pg_server import temporary_postgres
    from tests.redis_server import temporary_redis

    with temporary_postgres() as pg, temporary_redis() as rd:
        yield pg, rd


def _forms(
    client: httpx.Client, server: Any, lms: Any, count: int, clients: int
) -> list[tuple[dict[str, str], dict[str, str]]]:
    """*count* logins answered by the platform: (form, the browser's cookies). Untimed."""
    helpers = _helpers()

    def one(_: int) -> tuple[dict[str, str], dict[str, str]]:
        browser = helpers.Browser(client)
        params = lms.login_params(target_link_uri=server.launch_url)
        start = browser.get(f"{server.base_url}/login?{urlencode(params)}")
        if start.status_code != 302:
            raise AssertionError(start.text)
        return lms.launch(start.headers["Location"]), dict(browser.cookies)

    with ThreadPoolExecutor(clients) as pool:
        return list(pool.map(one, range(count)))


def _timed_launches(
    client: httpx.Client,
    server: Any,
    forms: Sequence[tuple[dict[str, str], dict[str, str]]],
    clients: int,
) -> tuple[float, set[int]]:
    """POST every form to /launch from *clients* threads; (launches per second, pids)."""
    helpers = _helpers()

    def post(item: tuple[dict[str, str], dict[str, str]]) -> int:
        form, cookies = item
        response = helpers.Browser(client, dict(cookies)).post(server.launch_url, form)
        if response.status_code != 303:
            raise AssertionError(response.text)
        return int(helpers.worker_of(response))

    with ThreadPoolExecutor(clients) as pool:
        start = time.perf_counter()
        pids = set(pool.map(post, forms))
        elapsed = time.perf_counter() - start
    return len(forms) / elapsed, pids


def _round(
    client: httpx.Client, server: Any, lms: Any, launches: int, clients: int
) -> tuple[float, float | None, set[int]]:
    """One timed round: (launches per second, worker CPU ms per launch or None, pids)."""
    helpers = _helpers()
    forms = _forms(client, server, lms, launches, clients)
    processes = server.worker_pids()
    before = helpers.cpu_seconds(processes)
    rate, pids = _timed_launches(client, server, forms, clients)
    after = helpers.cpu_seconds(processes)
    cpu = None if before is None or after is None else (after - before) / len(forms) * 1000
    return rate, cpu, pids


def measure_workers(
    pg_url: str, redis_url: str, counts: Sequence[int], launches: int, rounds: int, clients: int
) -> dict[str, Any]:
    """Every worker count runs at once (idle workers cost nothing); each round times
    every count back to back, in rotating order, so drift of a shared machine hits all
    counts alike. ``scaling`` is the median over rounds of rate(N) / rate(first count)
    in that round."""
    helpers = _helpers()
    limits = httpx.Limits(max_connections=4 * clients, max_keepalive_connections=0)
    with contextlib.ExitStack() as stack:
        lms = stack.enter_context(helpers.LoopbackPlatform())
        database_url = stack.enter_context(helpers.fresh_database(pg_url))
        client = stack.enter_context(httpx.Client(timeout=120, limits=limits))
        env = helpers.tool_environment(database_url, redis_url, "http://127.0.0.1/launch")
        helpers.prepare(lms, database_url, env)
        servers = {}
        for workers in counts:
            port = helpers.free_port()
            run_env = {**env, "CREDLTI_LAUNCH_URL": f"http://127.0.0.1:{port}/launch"}
            server = stack.enter_context(
                helpers.tool_server(
                    workers=workers, database_url=database_url, env=run_env, port=port
                )
            )
            # Warm up: connections, the platform's key set in every worker.
            _timed_launches(
                client, server, _forms(client, server, lms, 8 * workers, clients), clients
            )
            servers[workers] = server
        samples: dict[int, list[tuple[float, float | None]]] = {n: [] for n in counts}
        seen: dict[int, set[int]] = {n: set() for n in counts}
        for number in range(rounds):
            shift = number % len(counts)
            for workers in [*counts[shift:], *counts[:shift]]:
                rate, cpu, pids = _round(client, servers[workers], lms, launches, clients)
                samples[workers].append((rate, cpu))
                seen[workers] |= pids
    figures: dict[str, Any] = {}
    for workers, values in samples.items():
        rates = [rate for rate, _ in values]
        cpus = [cpu for _, cpu in values if cpu is not None]
        figures[str(workers)] = {
            "launches_per_s": statistics.median(rates),
            "best_launches_per_s": max(rates),
            "samples_launches_per_s": rates,
            # CPU the workers spent per launch (Linux /proc; None elsewhere): unlike
            # the rate, it hardly depends on what else the machine is running.
            "worker_cpu_ms_per_launch": statistics.median(cpus) if cpus else None,
            "workers_seen": len(seen[workers]),
        }
    base = samples[counts[0]]
    scaling = {
        str(n): statistics.median(r / b for (r, _), (b, _) in zip(v, base, strict=True))
        for n, v in samples.items()
    }
    return {"by_workers": figures, "scaling": scaling, "baseline_workers": counts[0]}


def run(args: argparse.Namespace) -> dict[str, Any]:
    counts = [int(n) for n in args.workers.split(",")]
    load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    with servers() as (pg_url, redis_url):
        workers = measure_workers(
            pg_url, redis_url, counts, args.launches, args.rounds, args.clients
        )
        nonces = _redis_nonces().run(redis_url, args.redis_ops, args.redis_rounds)
    return {
        "cpu_count": os.cpu_count(),
        # The 1-minute load average before and after: other work on the machine.
        "load_average": [load_before, os.getloadavg()[0] if hasattr(os, "getloadavg") else None],
        "launches": args.launches,
        "rounds": args.rounds,
        "clients": args.clients,
        "workers": workers,
        "redis_nonces": nonces,
    }


def _load(values: list[float | None]) -> str:
    return " -> ".join("?" if v is None else f"{v:.1f}" for v in values)


def print_report(result: dict[str, Any], nonce_report: Callable[[dict[str, Any]], None]) -> None:
    workers = result["workers"]
    print(
        f"Launches per second (POST /launch, gunicorn sync workers, {result['clients']} client "
        f"threads, {result['launches']} launches x {result['rounds']} rounds, median; "
        f"{result['cpu_count']} CPUs shared with the clients, PostgreSQL and Redis; "
        f"load average {_load(result['load_average'])})"
    )
    for n, figures in workers["by_workers"].items():
        cpu = figures["worker_cpu_ms_per_launch"]
        print(
            f"  {n} worker(s): {figures['launches_per_s']:7.1f}/s "
            f"(best {figures['best_launches_per_s']:.1f}/s)   "
            f"scaling x{workers['scaling'][n]:.2f} vs {workers['baseline_workers']} worker(s)"
            + ("" if cpu is None else f"   worker CPU {cpu:.2f} ms/launch")
        )
    nonce_report(result["redis_nonces"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--workers", default="1,2,4", help="worker counts (default 1,2,4)")
    parser.add_argument("--launches", type=int, default=200, help="launches per round")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds per worker count")
    parser.add_argument("--clients", type=int, default=8, help="concurrent client threads")
    parser.add_argument("--redis-ops", type=int, default=250, help="nonce ops per round")
    parser.add_argument("--redis-rounds", type=int, default=40, help="nonce rounds per side")
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")
    args = parser.parse_args(argv)
    try:
        counts = [int(n) for n in args.workers.split(",")]
    except ValueError:
        parser.error("--workers must be comma-separated integers")
    sizes = (args.launches, args.rounds, args.clients, args.redis_ops, args.redis_rounds)
    if min(counts) < 1 or min(sizes) < 1:
        parser.error("worker counts and sizes must be at least 1")
    result = run(args)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_report(result, _redis_nonces().print_report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
