"""Public namespaces export exactly what they define, sorted, and nothing private."""

from __future__ import annotations

import importlib
import types
from typing import TypeVar

import pytest

PUBLIC_MODULES = [
    "credlti",
    "credlti.contrib",
    "credlti.contrib.django",
    "credlti.contrib.flask",
    "credlti.contrib.starlette",
    "credlti.credentials",
    "credlti.credentials.ports",
    "credlti.errors",
    "credlti.lti",
    "credlti.lti.deep_linking",
    "credlti.lti.keys",
    "credlti.lti.ports",
    "credlti.lti.registration",
    "credlti.lti.services",
    "credlti.ports",
    "credlti.testing",
]
#: The framework integrations: one API per framework (``open_launch``, ``error_page``).
FRAMEWORK_TWINS = ("credlti.contrib.django", "credlti.contrib.flask", "credlti.contrib.starlette")
#: Namespaces whose every public name must be listed in ``__all__``.
COMPLETE_MODULES = [
    "credlti.contrib",
    "credlti.contrib.django",
    "credlti.contrib.flask",
    "credlti.contrib.starlette",
    "credlti.credentials",
    "credlti.credentials.ports",
    "credlti.errors",
    "credlti.lti",
    "credlti.lti.deep_linking",
    "credlti.lti.keys",
    "credlti.lti.ports",
    "credlti.lti.registration",
    "credlti.lti.services",
    "credlti.testing",
]


def _sort_key(name: str) -> tuple[int, str]:
    """Constants first, then classes, then functions, each alphabetical (ruff's order)."""
    if name.startswith("__"):
        return (2, name)
    if name.isupper():
        return (0, name)
    return (1 if name[:1].isupper() else 2, name)


@pytest.mark.parametrize("name", PUBLIC_MODULES)
def test_all_is_resolvable_without_duplicates(name: str) -> None:
    """Every name in __all__ exists, and __all__ has no duplicates."""
    module = importlib.import_module(name)
    exported = list(module.__all__)

    assert len(exported) == len(set(exported))
    assert exported == sorted(exported, key=_sort_key), f"{name}.__all__ is not sorted"
    assert not [n for n in exported if n.startswith("_") and n != "__version__"]
    for item in exported:
        assert hasattr(module, item), f"{name}.{item} is in __all__ but missing"


def _defined_here_or_privately(value: object, namespace: str) -> bool:
    """Defined in *namespace*, or (for a package) in one of its private modules."""
    origin = getattr(value, "__module__", None)
    if not isinstance(origin, str) or isinstance(value, TypeVar):
        return False
    module = importlib.import_module(namespace)
    if origin == namespace or not hasattr(module, "__path__"):
        return origin == namespace
    rest = origin.removeprefix(namespace + ".").split(".")
    return origin.startswith(namespace + ".") and rest[0].startswith("_")


@pytest.mark.parametrize("name", COMPLETE_MODULES)
def test_all_lists_every_public_name(name: str) -> None:
    """No public class or function is defined or re-exported without being in __all__."""
    module = importlib.import_module(name)
    public = {
        item
        for item, value in vars(module).items()
        if not item.startswith("_")
        and not isinstance(value, types.ModuleType)
        and _defined_here_or_privately(value, name)
    }

    assert public <= set(module.__all__)


@pytest.mark.parametrize("name", PUBLIC_MODULES)
def test_all_exports_nothing_private(name: str) -> None:
    """No underscore name, and nothing defined in a test kit or adapter, is exported."""
    module = importlib.import_module(name)
    for item in module.__all__:
        dunder = item.startswith("__") and item.endswith("__")  # __version__
        assert dunder or not item.startswith("_"), f"{name}.{item} is private"
        origin = getattr(getattr(module, item), "__module__", "") or ""
        foreign = origin.startswith(("credlti.testing", "credlti.adapters"))
        assert not foreign or origin.startswith(name + "."), item


def test_services_have_one_public_path() -> None:
    """The service modules are private: credlti.lti.services is the one namespace."""
    import pkgutil

    import credlti.lti.services as services

    names = [info.name for info in pkgutil.iter_modules(services.__path__)]
    assert names
    assert all(n.startswith("_") for n in names), names


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


def test_import_lti_loads_no_vault_no_schema_validator_and_no_adapter() -> None:
    """`import credlti.lti` stays in its domain: no credentials, jsonschema or adapter."""
    import subprocess
    import sys

    code = (
        "import sys, credlti.lti;"
        "bad = [m for m in sys.modules if m.split('.')[0] == 'jsonschema'"
        " or m.startswith(('credlti.credentials', 'credlti.adapters', 'credlti.testing'))];"
        "print(','.join(bad))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )

    assert result.stdout.strip() == ""


def test_errors_are_all_credlti_errors() -> None:
    """Every exported error class derives from CredltiError and has a unique code."""
    from credlti import errors

    # FieldError is the record CredentialValidationError carries, not an error; the
    # warning categories are warnings.
    classes = [
        getattr(errors, n)
        for n in errors.__all__
        if n != "FieldError" and not issubclass(getattr(errors, n), Warning)
    ]
    codes = [c.code for c in classes]

    assert all(issubclass(c, errors.CredltiError) for c in classes)
    assert len(codes) == len(set(codes))


def test_no_two_public_names_alike() -> None:
    """A name exported by two namespaces is one object (a re-export), never two things."""
    seen: dict[str, tuple[str, object]] = {}
    clashes = []
    for namespace in PUBLIC_MODULES:
        module = importlib.import_module(namespace)
        for name in module.__all__:
            value = getattr(module, name)
            # The framework integrations are alternatives with one API, by design.
            twins = {seen[name][0], namespace} <= set(FRAMEWORK_TWINS) if name in seen else False
            if name in seen and seen[name][1] is not value and not twins:
                clashes.append(f"{name}: {seen[name][0]} and {namespace}")
            seen.setdefault(name, (namespace, value))

    assert clashes == []
