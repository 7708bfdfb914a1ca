"""Smoke test of benchmarks/services.py: tiny sizes, every figure in the JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "services.py"
CONTENDERS = {"bare_httpx", "token_client", "roster_members"}


def test_services_benchmark_json() -> None:
    """Tiny sizes give JSON with token counts (one per lifetime) and per-call ratios."""
    done = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--calls",
            "12",
            "--repeat",
            "1",
            "--lifetimes",
            "2",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)

    assert result["sizes"] == {"calls": 12, "repeat": 1, "lifetimes": 2}
    assert result["tokens_one_lifetime"] == 1
    assert result["tokens_over_lifetimes"] == 2
    assert result["tokens_per_lifetime"] == 1.0
    assert result["tokens_short_lifetime_concurrent"] == 1
    assert set(result["per_call_us"]) == CONTENDERS
    assert set(result["per_call_median_us"]) == CONTENDERS
    assert set(result["ratio_to_bare"]) == CONTENDERS
    assert result["ratio_to_bare"]["bare_httpx"] == 1.0
    assert all(isinstance(v, float) and v > 0 for v in result["per_call_us"].values())


def test_services_benchmark_rejects_bad_sizes() -> None:
    """A non-positive size is a usage error (exit 2), not a crash."""
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--calls", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "must be positive" in done.stderr
