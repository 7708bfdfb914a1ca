"""Developer sessions: ``nox -s tests lint typing docs bench demo``.

The README's two commands (``scripts/demo.sh``, ``scripts/test.sh``) need no nox; these
sessions are for day-to-day work and for running on other Python versions.
"""

from __future__ import annotations

import nox

nox.options.sessions = ["lint", "typing", "tests", "docs"]
nox.options.error_on_missing_interpreters = False

PYTHONS = ["3.10", "3.11", "3.12", "3.13"]


def _install(session: nox.Session, *groups: str, extras: str = "sql,postgres,redis,cli") -> None:
    session.install("pip>=25.1")
    args = ["-e", f".[{extras}]"] if extras else ["-e", "."]
    for group in groups:
        args += ["--group", group]
    session.install(*args)


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """Run the test suite with coverage."""
    _install(session, "tests")
    session.run("coverage", "run", "-m", "pytest", *session.posargs)
    session.run("coverage", "combine", success_codes=[0, 1])
    session.run("coverage", "report")


@nox.session
def lint(session: nox.Session) -> None:
    """Run ruff (lint and format check)."""
    session.install("ruff>=0.6")
    session.run("ruff", "check", "src", "tests", "examples", "benchmarks", "docs", "noxfile.py")
    session.run("ruff", "format", "--check", "src", "tests", "examples", "benchmarks", "noxfile.py")


@nox.session
def typing(session: nox.Session) -> None:
    """Run mypy strict over the package, tests, examples and benchmarks; check the floors."""
    _install(session, "tests", "typing", "lint")
    session.run("mypy")
    session.run("lint-imports")


@nox.session
def docs(session: nox.Session) -> None:
    """Execute every code block in docs/ and the README, and the examples."""
    _install(session, "tests")
    session.run("pytest", "tests/test_docs.py", "tests/test_examples.py", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """Run the benchmarks (installs PyLTI1p3 2.0.0 for the comparison)."""
    _install(session, "tests")
    session.install("PyLTI1p3==2.0.0")
    for script in sorted(__import__("pathlib").Path("benchmarks").glob("*.py")):
        session.run("python", str(script), *session.posargs)


@nox.session
def demo(session: nox.Session) -> None:
    """Run the offline end-to-end demo."""
    _install(session, extras="")
    session.run("credlti", "demo")
