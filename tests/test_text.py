"""Checks on outside text (credlti._text): identifiers, safe excerpts, URL normal form."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from credlti._text import MAX_ID_LENGTH, id_problem, normalise_url, safe_excerpt


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


# --------------------------------------------------------------------------- safe excerpts

_UNSAFE_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("plain text, é 漢字", "plain text, é 漢字"),
        ("a\r\nb", "a\\r\\nb"),
        ("<script>", "\\x3cscript\\x3e"),
        ('it\'s "quoted"', 'it\\\'s \\"quoted\\"'),
        ("back\\slash", "back\\\\slash"),
        ("lone \ud800", "lone \ufffd"),
        ("bidi \u202e", "bidi \\u202e"),
        ("nul\x00", "nul\\x00"),
        ("x" * 101, "x" * 100 + "..."),
        (7, "7"),
        (None, "None"),
        (["a\n", "<"], "[\\'a\\\\n\\', \\'\\x3c\\']"),
    ],
)
def test_safe_excerpt_escapes_what_is_dangerous(value: object, shown: str) -> None:
    """Controls, markup, quotes and surrogates are escaped; readable text stays readable."""
    assert safe_excerpt(value) == shown


def test_safe_excerpt_survives_a_hostile_repr() -> None:
    """An object whose repr raises is named by its type, escaped like the rest."""

    class Hostile:
        def __repr__(self) -> str:
            raise RuntimeError

    shown = safe_excerpt(Hostile())
    assert shown.startswith("\\x3cHostile instance at ")


@given(st.one_of(st.text(), st.text(st.characters(categories=["Cs", "Cc", "Cf", "Zl", "Zp"]))))
def test_safe_excerpt_never_holds_controls_or_markup(value: str) -> None:
    """Property: any text becomes printable, markup-free, bounded, valid UTF-8."""
    for limit in (1, 20, 100):
        shown = safe_excerpt(value, limit=limit)
        assert not [c for c in shown if unicodedata.category(c) in _UNSAFE_CATEGORIES]
        assert "<" not in shown
        assert ">" not in shown
        shown.encode("utf-8")
        assert len(shown) <= limit + 3


@given(st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=100))
def test_safe_excerpt_keeps_plain_text(value: str) -> None:
    """Property: printable ASCII without quotes, markup or backslashes is unchanged."""
    if not set(value) & set("\\'\"<>`"):
        assert safe_excerpt(value) == value


# --------------------------------------------------------------------------- URL normal form


@pytest.mark.parametrize(
    ("url", "normal"),
    [
        ("HTTPS://Tool.Example.COM:443/a/%7e%41b", ("https", "tool.example.com", None, "/a/~Ab")),
        ("http://127.0.0.1:80", ("http", "127.0.0.1", None, "/")),
        ("https://[::1]:8443/x?q=1#f", ("https", "::1", 8443, "/x")),
        ("https://tool.example.com/a%3ab/é", ("https", "tool.example.com", None, "/a%3Ab/%C3%A9")),
    ],
)
def test_normal_form(url: str, normal: tuple[object, ...]) -> None:
    """RFC 3986 §6.2.2: case, default port, unreserved escapes, upper-case hex, IRI text."""
    assert tuple(normalise_url(url)) == normal


@pytest.mark.parametrize(
    "url",
    [
        "https://h/a/../b",
        "https://h/a/%2E%2e/b",
        "https://h/a/..;/b",
        "https://h/a//b",
        "https://h/a%2Fb",
        "https://h/a%5Cb",
        "https://h/a%25b",
        "https://h/a\\b",
        "https://h/a b",
        "https://h/a<b",
        "https://u@h/",
        "https://h%2e/",
        "https://hé/",
        "ftp://h/",
        "https:///x",
        "https://h/\x00",
        "https://h:99999/",
    ],
)
def test_ambiguous_urls_are_refused(url: str) -> None:
    """Dot segments, encoded separators, credentials, odd hosts: refused, never repeated."""
    with pytest.raises(ValueError, match=r"^(it|its) ") as info:
        normalise_url(url)
    assert url not in str(info.value)


def test_is_within_compares_whole_segments() -> None:
    """/launch contains /launch and /launch/7, not /launcher; the origin must be the same."""
    base = normalise_url("https://tool.example.com/launch/")
    assert normalise_url("https://tool.example.com/launch").is_within(base)
    assert normalise_url("https://tool.example.com/launch/7").is_within(base)
    assert not normalise_url("https://tool.example.com/launcher").is_within(base)
    assert not normalise_url("https://tool.example.com:8443/launch").is_within(base)
    assert normalise_url("https://tool.example.com/x").is_within(
        normalise_url("https://tool.example.com")
    )
