"""The credentials example runs as a script."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "credentials_example.py"


def test_example_runs() -> None:
    """python examples/credentials_example.py exits 0 and shows a scrubbed log line."""
    done = subprocess.run(
        [sys.executable, str(EXAMPLE)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "log: connecting with *** and ***" in done.stdout
    assert "correct-horse" not in done.stdout
