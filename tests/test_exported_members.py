"""Public namespaces export exactly what they define, sorted, and nothing private."""

from __future__ import annotations

import importlib
import types

import pytest

PUBLIC_MODULES = [
    "credlti",
    "credlti.credentials",
    "credlti.credentials.ports",
    "credlti.errors",
    "credlti.lti",
    "credlti.ports",
]


@pytest.mark.parametrize("name", PUBLIC_MODULES)
def test_all_is_resolvable_without_duplicates(name: str) -> None:
    """Every name in __all__ exists, and __all__ has no duplicates."""
    module = importlib.import_module(name)
    exported = list(module.__all__)

    assert len(exported) == len(set(exported))
    for item in exported:
        assert hasattr(module, item), f"{name}.{item} is in __all__ but missing"


@pytest.mark.parametrize(
    "name", ["credlti.credentials", "credlti.credentials.ports", "credlti.errors", "credlti.lti"]
)
def test_all_lists_every_public_name(name: str) -> None:
    """No public class or function is defined or re-exported without being in __all__."""
    module = importlib.import_module(name)
    public = {
        item
        for item, value in vars(module).items()
        if not item.startswith("_")
        and not isinstance(value, types.ModuleType)
        and getattr(value, "__module__", "").startswith("credlti")
    }

    assert public <= set(module.__all__)


def test_import_credlti_imports_no_adapter_or_test_kit() -> None:
    """`import credlti` stays light: no adapter, no test kit, no SQLAlchemy."""
    import subprocess
    import sys

    code = (
        "import sys, credlti, credlti.lti;"
        "bad = [m for m in sys.modules if m.startswith(('credlti.adapters', 'credlti.testing',"
        " 'sqlalchemy', 'redis'))];"
        "print(','.join(bad))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )

    assert result.stdout.strip() == ""


def test_errors_are_all_credlti_errors() -> None:
    """Every exported error class derives from CredltiError and has a unique code."""
    from credlti import errors

    # FieldError is the record CredentialValidationError carries, not an error.
    classes = [getattr(errors, n) for n in errors.__all__ if n != "FieldError"]
    codes = [c.code for c in classes]

    assert all(issubclass(c, errors.CredltiError) for c in classes)
    assert len(codes) == len(set(codes))
