"""Smoke test of benchmarks/sql.py: it runs on every backend and reports every figure."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "sql.py"
METRICS = {
    "nonce_ops_per_s",
    "credential_create_ops_per_s",
    "credential_read_ops_per_s",
    "purge_seconds",
    "purge_peak_mib",
}


def test_sql_benchmark_json(postgres_url: str) -> None:
    """Tiny sizes on SQLite and PostgreSQL give JSON with every metric and its memory ratio."""
    env = {**os.environ, "CREDLTI_TEST_POSTGRES_URL": postgres_url}
    sizes = ["--nonces", "20", "--credentials", "10", "--purge", "60"]
    done = subprocess.run(
        [sys.executable, str(SCRIPT), *sizes, "--json"],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)

    assert result["sizes"] == {"nonces": 20, "credentials": 10, "purge": 60, "purge_batch": 500}
    assert set(result["memory"]) == METRICS
    for backend in ("sqlite", "postgresql"):
        figures = result[backend]
        assert set(figures) == METRICS | {"ratio_to_memory"}
        assert set(figures["ratio_to_memory"]) == METRICS
        assert all(isinstance(figures[k], float) for k in METRICS)
    assert result["postgresql_server"]


def test_sql_benchmark_rejects_unknown_backend() -> None:
    """An unknown backend name is a usage error, not a crash."""
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--backends", "oracle"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "unknown backends" in done.stderr
