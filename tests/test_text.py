"""Identifier checks shared by every adapter (credlti._text)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from credlti._text import MAX_ID_LENGTH, id_problem


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, "must be text, not NoneType"),
        (b"abc", "must be text, not bytes"),
        ("", "must not be empty"),
        ("x" * (MAX_ID_LENGTH + 1), "must be at most 255 characters"),
        ("a\x00b", "must not hold control or separator characters"),
        ("name\n", "must not hold control or separator characters"),
        ("a\udc80", "must be valid text (it holds a lone surrogate)"),
    ],
)
def test_bad_ids_are_named_without_their_value(value: object, reason: str) -> None:
    assert id_problem(value) == reason


@pytest.mark.parametrize("value", ["abc", "x" * MAX_ID_LENGTH, "0b6f-é-中 id", "a/b?c=d"])
def test_good_ids_pass(value: str) -> None:
    assert id_problem(value) is None


@given(st.text())
def test_accepted_ids_encode_and_have_no_controls(value: str) -> None:
    if id_problem(value) is None:
        value.encode("utf-8")
        assert "\x00" not in value
        assert 0 < len(value) <= MAX_ID_LENGTH
