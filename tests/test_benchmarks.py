"""Smoke tests of benchmarks/launch.py and benchmarks/workers.py: they run and report
sane numbers (not the targets)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "launch.py"
WORKERS_SCRIPT = SCRIPT.with_name("workers.py")


def test_launch_benchmark_json() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--launches", "20", "--repeat", "1", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)

    assert result["launches"] == 20
    assert result["repeat"] == 1
    assert result["gc_disabled_in_timed_loops"] is True
    timings = result["us_per_launch"]
    assert {"baseline", "credlti"} <= set(timings)
    assert set(timings) <= {"baseline", "credlti", "pylti1p3"}
    assert all(isinstance(v, float) and v > 0 for v in timings.values())
    assert set(result["us_per_launch_median"]) == set(timings)
    assert all(len(v) == 1 for v in result["samples_us"].values())

    ratios, passed = result["ratios"], result["pass"]
    assert ratios["credlti_over_baseline"] > 0
    assert isinstance(passed["credlti_over_baseline"], bool)
    assert result["targets"] == {
        "credlti_over_baseline_max": 2.0,
        "pylti1p3_over_credlti_min": 4.0,
    }
    if "pylti1p3" in timings:
        assert ratios["pylti1p3_over_credlti"] > 0
        assert isinstance(passed["pylti1p3_over_credlti"], bool)
        assert result["pylti1p3_version"]
        assert result["pylti1p3_skips"]
    else:
        assert ratios["pylti1p3_over_credlti"] is None
        assert passed["pylti1p3_over_credlti"] is None


def test_workers_benchmark_json(postgres_url: str, redis_url: str) -> None:
    """Tiny sizes: launch rates for 1 and 2 workers, their scaling, the Redis nonce ratio."""
    env = {
        **os.environ,
        "CREDLTI_TEST_POSTGRES_URL": postgres_url,
        "CREDLTI_TEST_REDIS_URL": redis_url,
    }
    args = ["--workers", "1,2", "--launches", "10", "--rounds", "1", "--clients", "2"]
    args += ["--redis-ops", "5", "--redis-rounds", "1", "--json"]
    done = subprocess.run(
        [sys.executable, str(WORKERS_SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)

    assert result["launches"] == 10
    assert result["cpu_count"] >= 1
    assert len(result["load_average"]) == 2
    workers = result["workers"]
    assert set(workers["by_workers"]) == {"1", "2"}
    for figures in workers["by_workers"].values():
        assert figures["launches_per_s"] > 0
        assert len(figures["samples_launches_per_s"]) == 1
        assert figures["workers_seen"] >= 1
        cpu = figures["worker_cpu_ms_per_launch"]
        assert cpu is None or cpu >= 0
    assert workers["scaling"]["1"] == 1.0
    assert workers["scaling"]["2"] > 0
    nonces = result["redis_nonces"]
    assert nonces["target_ratio_min"] == 0.7
    for mode in ("sync", "async"):
        assert nonces[mode]["ratio"] > 0
        assert isinstance(nonces[mode]["pass"], bool)


def test_workers_benchmark_usage() -> None:
    """Bad worker counts or sizes are a usage error (exit 2), before any server starts."""
    for args in (["--workers", "0"], ["--workers", "x"], ["--launches", "0"]):
        done = subprocess.run(
            [sys.executable, str(WORKERS_SCRIPT), *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 2, args
