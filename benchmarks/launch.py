"""Per-launch cost of ``Tool.handle_callback``, against the bare crypto floor and pylti1p3.

Three contenders validate the very same RS256 (2048-bit) id_tokens, in the same run:

* **baseline**: the floor any validator pays. Split on ``.``, base64url-decode
  header, payload and signature, ``json.loads`` header and payload, and one
  ``cryptography`` RSA PKCS#1 v1.5 / SHA-256 ``verify`` with a pre-loaded key.
* **credlti**: ``Tool.handle_callback`` with the memory adapter and a warm key cache
  (one launch is run first to fetch the key set).
* **pylti1p3** 2.0.0 (optional): ``MessageLaunch.validate()`` driven outside any web
  framework, with the platform key set inline in ``ToolConfDict`` (no HTTP).

Targets (what this benchmark guards): ``credlti / baseline <= 2.0`` and
``pylti1p3 / credlti >= 4.0``.

Method: every login and signed launch form is made *outside* the timed loops (each
``handle_callback`` consumes one nonce, so each repeat gets ``--launches`` fresh
logins). Only the validation calls are timed, with ``time.perf_counter_ns`` and the
garbage collector disabled; each repeat times the three contenders on the same
tokens (in rotating order), and the best (min) repeat is reported, with the median
alongside. Many short repeats keep the minimum robust on a shared, noisy machine.

Run::

    python benchmarks/launch.py                      # defaults: 500 launches x 11 repeats
    python benchmarks/launch.py --launches 2000 --repeat 15
    python benchmarks/launch.py --json               # machine-readable results
"""

from __future__ import annotations

import argparse
import base64
import gc
import importlib
import importlib.metadata
import json
import platform as py_platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

import credlti
from credlti.lti import Tool, utc_now
from credlti.testing import FrozenClock, SimulatedPlatform

CREDLTI_TARGET = 2.0  # credlti / baseline must be at most this
PYLTI1P3_TARGET = 4.0  # pylti1p3 / credlti must be at least this
LAUNCH_URL = "https://tool.example.com/launch"

#: What pylti1p3 2.0.0 does *not* check that credlti does (docs/launch-validation.md).
PYLTI1P3_SKIPS = (
    "no aud-list scan: only aud[0] is used as client_id, other audiences are ignored",
    "no azp check (wrong azp and multi-aud without azp are accepted)",
    "nonce not consumed (the same nonce is accepted in two different tokens)",
    "exp and iat not required (missing exp/iat accepted)",
    "no max token age (a one-year-old iat is accepted); zero clock-skew leeway",
    "target_link_uri not checked against the login",
    "no HMAC-signed state binding: state is compared with a plain cookie value",
)

Launch = tuple[dict[str, str], str]  # (POSTed form, kept state cookie value)
Timer = Callable[[Sequence[Launch]], int]


# --------------------------------------------------------------------------- setup


def _b64url(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _public_key(jwk: dict[str, Any]) -> rsa.RSAPublicKey:
    n = int.from_bytes(_b64url(jwk["n"]), "big")
    e = int.from_bytes(_b64url(jwk["e"]), "big")
    return rsa.RSAPublicNumbers(e, n).public_key()


def _make_launches(platform: SimulatedPlatform, tool: Tool[Any, Any], count: int) -> list[Launch]:
    """Run *count* logins and have the platform answer each (all untimed)."""
    out: list[Launch] = []
    for _ in range(count):
        redirect = tool.handle_login(platform.login_params(), LAUNCH_URL)
        out.append((platform.launch(redirect), redirect.cookie_value))
    return out


# --------------------------------------------------------------------------- contenders


def _baseline_timer(key: rsa.RSAPublicKey) -> Timer:
    pkcs1, sha256 = padding.PKCS1v15(), hashes.SHA256()
    b64decode, loads = base64.urlsafe_b64decode, json.loads

    def validate(token: str) -> tuple[Any, Any]:
        h64, p64, s64 = token.split(".")
        header = loads(b64decode(h64 + "=" * (-len(h64) % 4)))
        payload = loads(b64decode(p64 + "=" * (-len(p64) % 4)))
        signature = b64decode(s64 + "=" * (-len(s64) % 4))
        key.verify(signature, f"{h64}.{p64}".encode("ascii"), pkcs1, sha256)
        return header, payload

    def run(launches: Sequence[Launch]) -> int:
        tokens = [form["id_token"] for form, _ in launches]
        start = time.perf_counter_ns()
        for token in tokens:
            validate(token)
        return time.perf_counter_ns() - start

    return run


def _credlti_timer(tool: Tool[Any, Any]) -> Timer:
    handle = tool.handle_callback

    def run(launches: Sequence[Launch]) -> int:
        start = time.perf_counter_ns()
        for form, kept in launches:
            handle(form, kept)
        return time.perf_counter_ns() - start

    return run


def _pylti1p3_timer(platform: SimulatedPlatform) -> tuple[Timer, str] | None:
    """Drive pylti1p3 outside Django/Flask (no web request objects); None if not installed."""
    try:
        request_mod: Any = importlib.import_module("pylti1p3.request")
        cookie_mod: Any = importlib.import_module("pylti1p3.cookie")
        launch_mod: Any = importlib.import_module("pylti1p3.message_launch")
        session_mod: Any = importlib.import_module("pylti1p3.session")
        conf_mod: Any = importlib.import_module("pylti1p3.tool_config")
        requests: Any = importlib.import_module("requests")  # a pylti1p3 dependency
    except ImportError:
        return None
    version = importlib.metadata.version("PyLTI1p3")

    class BenchRequest(request_mod.Request):  # type: ignore[misc]
        def __init__(self, params: dict[str, str], session: dict[str, Any]) -> None:
            self._params = params
            self._session = session

        @property
        def session(self) -> dict[str, Any]:
            return self._session

        def is_secure(self) -> bool:
            return True

        def get_param(self, key: str) -> str | None:
            return self._params.get(key)

    class BenchCookies(cookie_mod.CookieService):  # type: ignore[misc]
        def __init__(self, jar: dict[str, str]) -> None:
            self._jar = jar

        def get_cookie(self, name: str) -> str | None:
            return self._jar.get(f"{self._cookie_prefix}-{name}")

        def set_cookie(self, name: str, value: str | int, exp: int | None = 3600) -> None:
            self._jar[f"{self._cookie_prefix}-{name}"] = str(value)

    class BenchLaunch(launch_mod.MessageLaunch):  # type: ignore[misc]
        def _get_request_param(self, key: str) -> str | None:
            return self._request.get_param(key)  # type: ignore[no-any-return]

    conf = conf_mod.ToolConfDict(
        {
            platform.issuer: [
                {
                    "default": True,
                    "client_id": platform.client_id,
                    "auth_login_url": platform.auth_endpoint,
                    "auth_token_url": platform.token_endpoint,
                    "key_set": platform.jwks(),
                    "key_set_url": None,
                    "deployment_ids": [platform.deployment_id],
                }
            ]
        }
    )
    session_service, launch_cls = session_mod.SessionService, BenchLaunch
    # Shared, as an app would configure it; by default pylti1p3 builds one per launch,
    # which would only make it slower (so this choice is conservative).
    http = requests.Session()

    def run(launches: Sequence[Launch]) -> int:
        # Fresh per-launch session and cookie state, as separate browsers would have:
        # the login left the nonce in the session and the state in a cookie.
        prepared = []
        for form, _ in launches:
            nonce = json.loads(_b64url(form["id_token"].split(".")[1]))["nonce"]
            prepared.append(
                (
                    dict(form),
                    {f"lti1p3-nonce-{nonce}": True},
                    {f"lti1p3-{form['state']}": form["state"]},
                )
            )
        start = time.perf_counter_ns()
        for params, session, jar in prepared:
            request = BenchRequest(params, session)
            launch_cls(
                request,
                conf,
                session_service=session_service(request),
                cookie_service=BenchCookies(jar),
                requests_session=http,
            ).validate()
        return time.perf_counter_ns() - start

    return run, version


# --------------------------------------------------------------------------- driver


def _timed(timer: Timer, launches: Sequence[Launch]) -> int:
    gc.collect()
    gc.disable()
    try:
        return timer(launches)
    finally:
        gc.enable()


def run_benchmark(launches: int, repeat: int) -> dict[str, Any]:
    """Measure every contender; return the results as a JSON-ready dict."""
    # Tokens carry the real time, since PyJWT checks exp against the wall clock.
    platform = SimulatedPlatform(clock=FrozenClock(now=datetime.now(timezone.utc)), key_size=2048)
    tool: Tool[Any, Any] = platform.tool(clock=utc_now)
    form, kept = _make_launches(platform, tool, 1)[0]
    tool.handle_callback(form, kept)  # warm the key cache: the one key-set fetch
    fetches_after_warmup = tool.key_set_fetches

    timers: dict[str, Timer] = {
        "baseline": _baseline_timer(_public_key(platform.jwks()["keys"][-1])),
        "credlti": _credlti_timer(tool),
    }
    pylti = _pylti1p3_timer(platform)
    if pylti is not None:
        timers["pylti1p3"] = pylti[0]

    names = list(timers)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for r in range(repeat):
        batch = _make_launches(platform, tool, launches)
        # Rotate the order so no contender always runs first (cache/turbo effects).
        for name in names[r % len(names) :] + names[: r % len(names)]:
            samples[name].append(_timed(timers[name], batch) / launches / 1000)
    if tool.key_set_fetches != fetches_after_warmup:
        msg = "the key set was fetched inside the timed loops: the cache was not warm"
        raise RuntimeError(msg)

    best = {name: min(values) for name, values in samples.items()}
    median = {name: statistics.median(values) for name, values in samples.items()}
    ratio_baseline = best["credlti"] / best["baseline"]
    ratio_pylti = best["pylti1p3"] / best["credlti"] if pylti is not None else None
    median_pylti = median["pylti1p3"] / median["credlti"] if pylti is not None else None
    return {
        "launches": launches,
        "repeat": repeat,
        "statistic": "min of repeats (median also given)",
        "gc_disabled_in_timed_loops": True,
        "key": "RS256, RSA 2048",
        "storage": "credlti memory adapter",
        "python": py_platform.python_version(),
        "credlti_version": credlti.__version__,
        "pylti1p3_version": pylti[1] if pylti is not None else None,
        "us_per_launch": {name: round(best[name], 2) for name in names},
        "us_per_launch_median": {name: round(median[name], 2) for name in names},
        "samples_us": {name: [round(v, 2) for v in values] for name, values in samples.items()},
        "ratios": {
            "credlti_over_baseline": round(ratio_baseline, 3),
            "pylti1p3_over_credlti": round(ratio_pylti, 3) if ratio_pylti is not None else None,
        },
        "ratios_of_medians": {
            "credlti_over_baseline": round(median["credlti"] / median["baseline"], 3),
            "pylti1p3_over_credlti": round(median_pylti, 3) if median_pylti is not None else None,
        },
        "targets": {
            "credlti_over_baseline_max": CREDLTI_TARGET,
            "pylti1p3_over_credlti_min": PYLTI1P3_TARGET,
        },
        "pass": {
            "credlti_over_baseline": ratio_baseline <= CREDLTI_TARGET,
            "pylti1p3_over_credlti": ratio_pylti >= PYLTI1P3_TARGET
            if ratio_pylti is not None
            else None,
        },
        "pylti1p3_skips": list(PYLTI1P3_SKIPS) if pylti is not None else [],
    }


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def report(result: dict[str, Any]) -> str:
    """Format *result* for people."""
    best, median = result["us_per_launch"], result["us_per_launch_median"]
    ratios, passed, medians = result["ratios"], result["pass"], result["ratios_of_medians"]
    lines = [
        f"credlti {result['credlti_version']} launch benchmark: Python {result['python']}, "
        f"{result['key']}, {result['storage']}, warm key cache",
        f"{result['launches']} launches x {result['repeat']} repeats; gc disabled in timed loops; "
        "min (median) us per launch",
        "",
    ]
    labels = {
        "baseline": "baseline (split + b64 + json + RSA verify)",
        "credlti": "credlti Tool.handle_callback",
        "pylti1p3": f"pylti1p3 {result['pylti1p3_version']} MessageLaunch.validate",
    }
    for name, label in labels.items():
        if name in best:
            lines.append(f"  {label:<46} {best[name]:9.1f} us  ({median[name]:.1f})")
    lines += [
        "",
        f"  credlti / baseline  = {ratios['credlti_over_baseline']:.3f}x  "
        f"(target <= {CREDLTI_TARGET:.1f})  {_verdict(passed['credlti_over_baseline'])}"
        f"   [medians: {medians['credlti_over_baseline']:.3f}x]",
    ]
    if ratios["pylti1p3_over_credlti"] is None:
        lines += [
            "  pylti1p3 / credlti  = skipped: pylti1p3 is not installed. Run `nox -s bench`, or "
            "`pip install PyLTI1p3==2.0.0` into this environment, to compare.",
        ]
    else:
        lines += [
            f"  pylti1p3 / credlti  = {ratios['pylti1p3_over_credlti']:.3f}x  "
            f"(target >= {PYLTI1P3_TARGET:.1f})  {_verdict(passed['pylti1p3_over_credlti'])}"
            f"   [medians: {medians['pylti1p3_over_credlti']:.3f}x]",
            "",
            "  pylti1p3 does less work than credlti (docs/launch-validation.md):",
            *(f"    - {skip}" for skip in result["pylti1p3_skips"]),
            "  (pylti1p3 gets a shared requests.Session; it writes launch data and the",
            "  state hash to the session, credlti consumes the nonce in its store)",
        ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--launches", type=int, default=500, help="launches per repeat (default 500)"
    )
    parser.add_argument(
        "--repeat", type=int, default=11, help="repeats; the best is reported (default 11)"
    )
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")
    args = parser.parse_args(argv)
    if args.launches < 1 or args.repeat < 1:
        parser.error("--launches and --repeat must be positive")
    result = run_benchmark(args.launches, args.repeat)
    print(json.dumps(result, indent=2) if args.json else report(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
