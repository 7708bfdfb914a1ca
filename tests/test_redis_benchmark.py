"""Smoke test of benchmarks/redis_nonces.py: it runs and reports every figure and ratio."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "redis_nonces.py"


def test_redis_benchmark_json(redis_url: str) -> None:
    """Tiny sizes give JSON with the adapter's and bare redis-py's rates and their ratio."""
    env = {**os.environ, "CREDLTI_TEST_REDIS_URL": redis_url}
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--ops", "20", "--rounds", "2", "--json"],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)

    assert result["ops"] == 20
    assert result["rounds"] == 2
    assert result["target_ratio_min"] == 0.7
    for mode in ("sync", "async"):
        figures = result[mode]
        assert set(figures["ops_per_s"]) == {"adapter", "bare"}
        assert all(isinstance(v, float) and v > 0 for v in figures["ops_per_s"].values())
        assert all(len(v) == 2 for v in figures["samples_ops_per_s"].values())
        paired = [a / b for a, b in zip(*figures["samples_ops_per_s"].values(), strict=True)]
        assert min(paired) <= figures["ratio"] <= max(paired)
        best = figures["best_ops_per_s"]
        assert abs(figures["ratio_best"] - best["adapter"] / best["bare"]) < 1e-9
        assert isinstance(figures["pass"], bool)


def test_redis_benchmark_text_and_usage(redis_url: str) -> None:
    """The text report names both modes and the ratio; bad sizes are a usage error."""
    env = {**os.environ, "CREDLTI_TEST_REDIS_URL": redis_url}
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--ops", "5", "--rounds", "1"],
        capture_output=True,
        text=True,
        timeout=180,
        check=True,
        env=env,
    )
    assert "sync" in done.stdout
    assert "async" in done.stdout
    assert "ratio" in done.stdout
    bad = subprocess.run(
        [sys.executable, str(SCRIPT), "--ops", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )
    assert bad.returncode == 2
