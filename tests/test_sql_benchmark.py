"""Smoke test of benchmarks/sql.py: it runs on every backend and reports every figure."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "sql.py"
SQL_METRICS = {
    "nonce_1_thread",
    "nonce_8_threads",
    "credential_create_read",
    "create_big_owner",
    "purge",
}
FIELDS = {
    "ops_per_s": {"ours_ops_per_s", "bare_ops_per_s", "ratio"},
    "seconds": {"ours_s", "bare_s", "ratio"},
    "big_owner": {"fresh_ms_per_op", "big_owner_ms_per_op", "ratio"},
}


def test_sql_benchmark_json(postgres_url: str) -> None:
    """Tiny sizes on SQLite and PostgreSQL give JSON with every figure and its ratio."""
    env = {**os.environ, "CREDLTI_TEST_POSTGRES_URL": postgres_url}
    sizes = ["--nonces", "16", "--credentials", "10", "--big-owner", "50", "--creates", "5"]
    done = subprocess.run(
        [sys.executable, str(SCRIPT), *sizes, "--purge", "60", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)

    assert result["sizes"] == {
        "nonces": 16,
        "credentials": 10,
        "big_owner": 50,
        "creates": 5,
        "purge": 60,
    }
    assert set(result["targets"]) == SQL_METRICS
    assert set(result["results"]) == {"memory", "sqlite", "postgresql"}
    assert set(result["results"]["memory"]) == {"create_big_owner", "purge"}
    for backend in ("sqlite", "postgresql"):
        figures = result["results"][backend]
        assert set(figures) == SQL_METRICS
        for metric in ("nonce_1_thread", "nonce_8_threads", "credential_create_read"):
            assert set(figures[metric]) == FIELDS["ops_per_s"]
        assert set(figures["purge"]) == FIELDS["seconds"]
        assert set(figures["create_big_owner"]) == FIELDS["big_owner"]
        assert all(isinstance(v, float) and v > 0 for f in figures.values() for v in f.values())
    assert set(result["met"]) == {
        f"{backend}.{metric}"
        for backend, figures in result["results"].items()
        for metric in figures
    }
    assert result["postgresql"]


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
