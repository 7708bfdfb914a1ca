"""Advantage service calls: tokens requested per 1,000 calls, and our per-call overhead.

A small threaded HTTP server on ``127.0.0.1:0`` answers a token endpoint and an NRPS
membership endpoint (real sockets, no network beyond loopback). It serves a bounded
number of requests and stops by itself (also after an idle timeout).

Measured, in the same run, over ``--calls`` calls:

* **tokens per 1,000 calls**: ``ServiceTokenClient`` with its memory cache, first
  within one token lifetime (target: 1), then with a simulated clock that spreads
  the calls over ``--lifetimes`` token lifetimes (target: one token per lifetime; a
  lifetime is ``expires_in`` minus the 60 s refresh margin).
* **short-lived tokens**: 20 concurrent calls (threads) when the platform issues
  tokens living 45 s, below the 60 s refresh margin (target: 1 token; the margin
  is at most half a token's lifetime).
* **per-call time** of a bare ``httpx.Client.get`` with a fixed bearer header (the
  floor), of ``ServiceTokenClient.request`` (token cache, scope check, capped body)
  and of ``RosterService.get_membership`` (plus the JSON parse into records and the Link
  header), reported as ratios to the bare call. Each contender is timed
  ``--repeat`` times in rotating order; the best repeat counts.

Run::

    python benchmarks/services.py                  # 1000 calls x 5 repeats
    python benchmarks/services.py --calls 200 --repeat 3 --json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

from credlti.lti import Registration
from credlti.lti._claims import NrpsEndpoint
from credlti.lti.keys import KeyState, generate_key
from credlti.lti.services import (
    SCOPE_NRPS_READONLY,
    RosterService,
    ServiceTokenClient,
    TokenPolicy,
)

LIFETIME = 3600
SHORT_LIFETIME = 45
SHORT_CALLS = 20
ROSTER = json.dumps(
    {
        "id": "roster",
        "context": {"id": "ctx-1", "label": "B", "title": "Bench"},
        "members": [
            {
                "user_id": f"user-{n}",
                "roles": ["http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"],
                "name": f"User {n}",
            }
            for n in range(10)
        ],
    }
).encode()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    lifetime = LIFETIME
    tokens = 0
    requests = 0
    max_requests = 0


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go in separate writes

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib name
        return

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _over_budget(self) -> bool:
        self.server.requests += 1
        if self.server.requests <= self.server.max_requests:
            return False
        self.close_connection = True
        self._send(503, b'{"error":"request budget spent"}', "application/json")
        return True

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        if self._over_budget():
            return
        self.server.tokens += 1
        token = json.dumps(
            {
                "access_token": f"token-{self.server.tokens}",
                "token_type": "bearer",
                "expires_in": self.server.lifetime,
                "scope": SCOPE_NRPS_READONLY,
            }
        ).encode()
        self._send(200, token, "application/json")

    def do_GET(self) -> None:
        if self._over_budget():
            return
        if not self.headers.get("Authorization", "").startswith("Bearer token-"):
            self._send(401, b'{"error":"invalid_token"}', "application/json")
            return
        self._send(200, ROSTER, "application/vnd.ims.lti-nrps.v2.membershipcontainer+json")


class LoopbackPlatform:
    """The server in a thread: at most *max_requests* answered, and it stops by itself.

    The accept loop ends when the ``with`` block exits or after *max_seconds*,
    whichever comes first; requests beyond the budget get 503 and a closed connection.
    """

    def __init__(self, max_requests: int, max_seconds: float = 300.0) -> None:
        self.server = _Server(("127.0.0.1", 0), _Handler)
        self.server.timeout = 0.2
        self.server.max_requests = max_requests
        self.deadline = time.monotonic() + max_seconds
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def base(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def _serve(self) -> None:
        with self.server:
            while not self.stopping.is_set() and time.monotonic() < self.deadline:
                self.server.handle_request()  # one connection, or the 0.2 s timeout

    def __enter__(self) -> LoopbackPlatform:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.thread.join(timeout=5.0)


def _registration(base: str) -> Registration:
    return Registration(
        issuer=base,
        client_id="bench",
        auth_endpoint=f"{base}/auth",
        jwks_uri=f"{base}/jwks",
        token_endpoint=f"{base}/token",
    )


def _time(call: Callable[[], object], n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        call()
    return (time.perf_counter() - start) / n


def run(calls: int, repeat: int, lifetimes: int) -> dict[str, Any]:
    key = generate_key(now=datetime.now(timezone.utc), state=KeyState.CURRENT)
    # bare + client + roster per repeat, plus the token-count phases and their tokens
    budget = calls * (3 * repeat + 2) + lifetimes + 10 + 2 * SHORT_CALLS
    with LoopbackPlatform(budget) as platform, httpx.Client() as http:
        registration = _registration(platform.base)
        url = f"{platform.base}/api/members"

        # -- tokens per 1,000 calls, one lifetime
        client = ServiceTokenClient(keys=key, http_client=http)
        before = platform.server.tokens
        for _ in range(calls):
            client.request("GET", url, registration=registration, scopes=[SCOPE_NRPS_READONLY])
        within_one = platform.server.tokens - before

        # -- spread over several lifetimes with a simulated clock
        start = datetime.now(timezone.utc)
        # A token is used until expires_in minus the 60 s refresh margin: that is a lifetime.
        step = timedelta(seconds=(LIFETIME - TokenPolicy().refresh_margin) * lifetimes / calls)
        ticks = {"n": 0}

        def clock() -> datetime:
            return start + step * ticks["n"]

        spread = ServiceTokenClient(keys=key, http_client=http, clock=clock)
        before = platform.server.tokens
        for n in range(calls):
            ticks["n"] = n
            spread.request("GET", url, registration=registration, scopes=[SCOPE_NRPS_READONLY])
        over_lifetimes = platform.server.tokens - before

        # -- short-lived tokens: concurrent calls share one
        platform.server.lifetime = SHORT_LIFETIME
        short = ServiceTokenClient(keys=key, http_client=http)
        before = platform.server.tokens
        barrier = threading.Barrier(SHORT_CALLS)

        def short_call() -> None:
            barrier.wait()
            short.request("GET", url, registration=registration, scopes=[SCOPE_NRPS_READONLY])

        threads = [threading.Thread(target=short_call) for _ in range(SHORT_CALLS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        short_lived = platform.server.tokens - before
        platform.server.lifetime = LIFETIME

        # -- per-call overhead
        token = client.get_token(registration, [SCOPE_NRPS_READONLY])
        bare_headers = {"Authorization": token.authorization, "Accept": "application/json"}
        roster = RosterService(
            client, registration, NrpsEndpoint(context_memberships_url=url), max_members=100
        )
        contenders: dict[str, Callable[[], object]] = {
            "bare_httpx": lambda: http.get(url, headers=bare_headers).content,
            "token_client": lambda: client.request(
                "GET", url, registration=registration, scopes=[SCOPE_NRPS_READONLY]
            ),
            "roster_members": roster.get_membership,
        }
        samples: dict[str, list[float]] = {name: [] for name in contenders}
        names = list(contenders)
        for r in range(repeat):
            for name in names[r % len(names) :] + names[: r % len(names)]:
                samples[name].append(_time(contenders[name], calls))
    best = {name: min(values) for name, values in samples.items()}
    return {
        "sizes": {"calls": calls, "repeat": repeat, "lifetimes": lifetimes},
        "tokens_one_lifetime": within_one,
        "tokens_per_1000_calls": round(within_one * 1000 / calls, 3),
        "tokens_over_lifetimes": over_lifetimes,
        "tokens_per_lifetime": round(over_lifetimes / lifetimes, 3),
        "tokens_short_lifetime_concurrent": short_lived,
        "per_call_us": {name: round(v * 1e6, 1) for name, v in best.items()},
        "per_call_median_us": {
            name: round(statistics.median(v) * 1e6, 1) for name, v in samples.items()
        },
        "ratio_to_bare": {name: round(best[name] / best["bare_httpx"], 3) for name in contenders},
        "python": sys.version.split()[0],
        "httpx": httpx.__version__,
    }


def report(result: dict[str, Any]) -> str:
    sizes = result["sizes"]
    lines = [
        f"Advantage service calls over loopback ({sizes['calls']} calls x "
        f"{sizes['repeat']} repeats; Python {result['python']}, httpx {result['httpx']})",
        f"  tokens for {sizes['calls']} calls in one lifetime: {result['tokens_one_lifetime']}"
        f"  (= {result['tokens_per_1000_calls']} per 1,000 calls; target 1 per lifetime)",
        f"  tokens for {sizes['calls']} calls over {sizes['lifetimes']} lifetimes: "
        f"{result['tokens_over_lifetimes']}  ({result['tokens_per_lifetime']} per lifetime)",
        f"  tokens for {SHORT_CALLS} concurrent calls with {SHORT_LIFETIME} s tokens: "
        f"{result['tokens_short_lifetime_concurrent']}  (target 1)",
        "  per call (best repeat / median):",
    ]
    for name, best in result["per_call_us"].items():
        median = result["per_call_median_us"][name]
        ratio = result["ratio_to_bare"][name]
        lines.append(f"    {name:<15} {best:>8.1f} us / {median:>8.1f} us   x{ratio:.3f} bare")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=1000, help="service calls per measurement")
    parser.add_argument("--repeat", type=int, default=5, help="timed repeats per contender")
    parser.add_argument("--lifetimes", type=int, default=3, help="token lifetimes to span")
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")
    args = parser.parse_args(argv)
    if args.calls < 1 or args.repeat < 1 or args.lifetimes < 1:
        parser.error("--calls, --repeat and --lifetimes must be positive")
    result = run(args.calls, args.repeat, args.lifetimes)
    print(json.dumps(result, indent=2) if args.json else report(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
