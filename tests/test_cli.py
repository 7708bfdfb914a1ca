"""The ``credlti`` command."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest

from credlti import __version__
from credlti.cli import main


def test_demo_runs_a_launch_and_rejects_replay_and_tampering() -> None:
    """`credlti demo --json`: launch accepted, replay and forgery rejected, vault round trip."""
    out = io.StringIO()

    status = main(["demo", "--json"], out)

    steps = {step["step"]: step for step in json.loads(out.getvalue())}
    assert status == 0
    assert steps["launch"]["accepted"] is True
    assert steps["launch"]["launch"]["roles"]["is_learner"] is True
    assert steps["launch"]["launch"]["roles"]["unrecognized"] == ["http://example.com/role#Custom"]
    assert steps["replay"] == {"step": "replay", "accepted": False, "error": "nonce_reused"}
    assert steps["tampered"]["error"] == "signature_invalid"
    assert steps["key_set_fetches"]["count"] == 1
    assert steps["vault_create"]["secret_in_storage"] is False
    assert steps["vault_create"]["port_coerced_to"] == 5432
    assert "correct-horse-battery-staple" not in steps["vault_scrub"]["log"]
    assert steps["vault_scrub"]["log"].endswith("with ***")
    assert steps["vault_transfer"]["owner"] == "bob"
    assert steps["vault_purge"]["deleted"] == 1
    assert steps["vault_purge"]["audit"][0] == "created"
    assert steps["vault_purge"]["audit"][-1] == "purged"


def test_demo_text_output_ends_with_ok() -> None:
    """The human-readable demo prints each step and a final OK line."""
    out = io.StringIO()

    assert main(["demo"], out) == 0

    text = out.getvalue()
    assert "== launch" in text
    assert "== vault_purge" in text
    assert text.rstrip().endswith("transferred and purged.")


def test_version_flag(capsys: pytest.CaptureFixture[str]) -> None:
    """`--version` prints the package version."""
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])

    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"credlti {__version__}"


def test_python_dash_m_entry_point() -> None:
    """`python -m credlti demo` works as an installed command would."""
    result = subprocess.run(
        [sys.executable, "-m", "credlti", "demo", "--json"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )

    assert json.loads(result.stdout)[1]["accepted"] is True
