"""Every error code the docs name exists, on the class the docs name."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from credlti import errors

DOCS = Path(__file__).resolve().parents[2] / "docs"
ROW = re.compile(r"^\| `(\w+)` \| `(\w+)` \|", re.MULTILINE)
NAMED_CODE = re.compile(r"\bcodes? `(\w+)`|\.code == \"(\w+)\"")
CODES = {
    cls.code
    for _, cls in inspect.getmembers(errors, inspect.isclass)
    if issubclass(cls, errors.CredltiError) and not cls.__dict__.get("_abstract", False)
}


@pytest.mark.parametrize("name", ["credentials.md", "errors.md"])
def test_table_rows_match_the_classes(name: str) -> None:
    rows = ROW.findall((DOCS / name).read_text(encoding="utf-8"))
    for class_name, code in rows:
        assert getattr(errors, class_name).code == code, class_name
    if name == "errors.md":
        assert len(rows) > 30


@pytest.mark.parametrize("name", ["credentials.md", "errors.md"])
def test_every_code_named_in_prose_or_examples_exists(name: str) -> None:
    found = NAMED_CODE.findall((DOCS / name).read_text(encoding="utf-8"))
    named = [prose or compared for prose, compared in found]
    assert named
    unknown = sorted(set(named) - CODES)
    assert not unknown, f"{name} names codes no concrete error carries: {unknown}"
