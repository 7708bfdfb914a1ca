"""The credential body gate: JSON values only, bounded, and no value in any error."""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from credlti.credentials._values import BodyLimits, check_body, check_coerced, parse_body_text

LIMITS = BodyLimits()
#: Every fixed word the gate's messages use (the path parts come from keys, not values).
RULES_WORDING = (
    "must be a JSON object; has a key that is not text; has a key that is not valid text; "
    "nests deeper than; holds more than items; is not valid text (it holds a lone "
    "surrogate); send UTF-8 text; is longer than bytes; is an integer beyond +/-; send it "
    "as text; is not a finite number (NaN and infinities are not JSON); is a , not a JSON "
    "value (text, number, boolean, null); is larger than bytes; is not a JSON object text"
    " bytes set datetime object NoneType"
)
SECRET = "s3cr3t-\udc80-value"


def _messages(errors: tuple[Any, ...]) -> str:
    return " ".join(f"{e.path} {e.message}" for e in errors)


@pytest.mark.parametrize(
    "value",
    [
        b"bytes",
        {1, 2},
        datetime(2026, 1, 1, tzinfo=timezone.utc),
        object(),
        float("nan"),
        float("inf"),
        -float("inf"),
        10**5000,
        2**53,
    ],
    ids=["bytes", "set", "datetime", "object", "nan", "inf", "-inf", "huge", "2**53"],
)
def test_non_json_values_are_refused_by_path(value: object) -> None:
    copy, errors = check_body({"password": value}, limits=LIMITS)

    assert copy is None
    assert [e.path for e in errors] == ["body.password"]
    assert "password" not in errors[0].message


def test_lone_surrogate_is_refused_without_echoing_the_text() -> None:
    copy, errors = check_body({"api_key": SECRET}, limits=LIMITS)

    assert copy is None
    assert "surrogate" in errors[0].message
    assert "s3cr3t" not in _messages(errors)


def test_deep_nesting_is_refused_without_recursion() -> None:
    body: dict[str, Any] = {}
    inner = body
    for _ in range(20_000):
        inner["x"] = {}
        inner = inner["x"]

    copy, errors = check_body(body, limits=LIMITS)

    assert copy is None
    assert any("deeper than 32" in e.message for e in errors)


def test_caps_on_one_value_the_body_and_the_item_count() -> None:
    small = BodyLimits(max_body_bytes=100, max_value_bytes=10, max_items=5)

    assert check_body({"k": "x" * 11}, limits=small)[1][0].message == "is longer than 10 bytes"
    assert (
        "larger than 100"
        in check_body({f"k{i}": "x" * 9 for i in range(8)}, limits=BodyLimits(max_body_bytes=100))[
            1
        ][0].message
    )
    assert "more than 5 items" in check_body({"a": list(range(10))}, limits=small)[1][0].message


def test_json_text_with_nan_or_bad_syntax_is_refused_without_quoting_it() -> None:
    for text in ['{"x": NaN}', '{"x": Infinity}', '{"password": "s3cr3t"', "[1]", "\udc80"]:
        copy, errors = parse_body_text(text, limits=LIMITS)
        assert copy is None
        assert "s3cr3t" not in _messages(errors)


def test_a_good_body_comes_back_as_plain_json() -> None:
    body = {"user": "ada", "port": 5432, "ratio": 0.5, "tags": ("a", "b"), "n": None, "ok": True}

    copy, errors = check_body(body, limits=LIMITS)

    assert errors == ()
    assert copy == {**body, "tags": ["a", "b"]}
    assert parse_body_text(json.dumps(body), limits=LIMITS) == (copy, ())


hostile_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(alphabet=st.characters(codec=None), max_size=40),
    st.binary(max_size=10),
    st.sets(st.integers(), max_size=2),
)
hostile_bodies = st.recursive(
    hostile_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.text(max_size=8), st.integers()), inner, max_size=4),
    ),
    max_leaves=30,
)


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, (list, tuple)):
        return [s for v in value for s in _strings(v)]
    return []


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(max_size=8), hostile_bodies, max_size=5))
def test_any_body_is_json_or_refused_without_its_values(body: dict[str, Any]) -> None:
    copy, errors = check_body(body, limits=LIMITS)

    if copy is not None:
        assert errors == ()
        text = json.dumps(copy, allow_nan=False)  # strict JSON, encodable
        text.encode("utf-8")
        assert json.loads(text) == copy
    else:
        assert errors
        shown = " ".join(e.message for e in errors)
        for value in _strings(body):
            # A value that happens to be a word of the rules' own wording ("boolea")
            # proves nothing; every other value must be absent.
            if len(value) >= 6 and value not in RULES_WORDING:
                assert value not in shown


def test_finite_floats_survive() -> None:
    copy, _ = check_body({"x": 1e308}, limits=LIMITS)

    assert copy is not None
    assert math.isfinite(copy["x"])


REPLACEMENTS = st.one_of(
    st.integers(-(2**60), 2**60),
    st.floats(),
    st.booleans(),
    st.none(),
    st.text(max_size=4),
    st.just("x" * 70),
    st.builds(lambda n: {"n": n}, st.integers()),
    st.builds(lambda: [1] * 5),
)


@settings(max_examples=400, deadline=None)
@given(
    body=st.dictionaries(st.text(max_size=4), hostile_bodies, max_size=5),
    changes=st.dictionaries(st.text(max_size=4), REPLACEMENTS, max_size=3),
    removed=st.sets(st.text(max_size=4), max_size=2),
    caps=st.sampled_from(
        [LIMITS, BodyLimits(max_body_bytes=60, max_value_bytes=8, max_depth=3, max_items=6)]
    ),
)
def test_rechecking_coerced_values_equals_the_whole_gate(
    body: dict[str, Any], changes: dict[str, Any], removed: set[str], caps: BodyLimits
) -> None:
    """What the schema's coercion changed is re-gated alone, with the same result."""
    gated, _ = check_body(body, limits=caps)
    if gated is None:
        return
    typed = {k: v for k, v in gated.items() if k not in removed}
    typed.update(changes)
    assert check_coerced(gated, typed, limits=caps) == check_body(typed, limits=caps)


def test_an_unchanged_body_is_not_walked_again() -> None:
    gated, _ = check_body({"a": "1", "b": [1, 2]}, limits=LIMITS)
    assert gated is not None
    typed = dict(gated)
    result, errors = check_coerced(gated, typed, limits=LIMITS)
    assert result is typed
    assert errors == ()
