"""Smoke test of benchmarks/scrubber.py: it runs and reports sane numbers (not the targets)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "scrubber.py"


def test_scrubber_benchmark_json() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)

    assert result["secrets"] == 1000
    assert result["forms"] > result["secrets"]
    for key in (
        "build_1000_ms",
        "raw_build_1000_ms",
        "scan_mbps",
        "raw_mbps",
        "scan_many_mbps",
        "scan_10_mbps",
        "build_big_secret_s",
        "prefix_heavy_scan_s",
        "prefix_heavy_scan_4x_s",
    ):
        assert isinstance(result[key], float), key
        assert result[key] > 0, key
    assert set(result["ratios"]) == {
        "build_over_raw_build",
        "scan_over_raw",
        "scan_many_over_few",
        "raw_many_over_few",
        "build_1mb_over_quarter",
        "prefix_heavy_4x_over_1x",
    }
    assert all(v > 0 for v in result["ratios"].values())
    assert result["targets"] == {
        "build_1000_ms_max": 20.0,
        "scan_over_raw_min": 0.5,
        "scan_10000_over_10_min": 0.5,
    }
    assert all(isinstance(v, bool) for v in result["pass"].values())
