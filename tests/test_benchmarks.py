"""Smoke test of benchmarks/launch.py: it runs and reports sane numbers (not the targets)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "launch.py"


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
