"""Properties of the scrubber over arbitrary text and secrets (Hypothesis)."""

from __future__ import annotations

import base64
import html
import json
from urllib.parse import quote, quote_plus

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from credlti.credentials import Scrubber, basic_auth_values
from credlti.credentials import _scrubber as scrubber_module
from credlti.credentials._scrub_forms import secret_forms
from credlti.errors import CredltiError

# Every code point, lone surrogates and NUL included.
ANY_CHAR = st.characters(exclude_categories=())
SMALL_ALPHABET = st.sampled_from("ab*%=+/\\'\"&<> \x00\udc80é")


def _encodings(secret: str) -> list[str]:
    raw = secret.encode("utf-8", "surrogatepass")
    return [
        secret,
        json.dumps(secret),
        json.dumps(secret, ensure_ascii=False),
        repr(secret),
        quote(secret, errors="surrogatepass"),
        quote_plus(secret, errors="surrogatepass"),
        html.escape(secret),
        base64.b64encode(raw).decode(),
        base64.urlsafe_b64encode(b"x" + raw + b"yz").decode(),
        base64.b64encode(b"xy" + raw).decode(),
    ]


@st.composite
def cases(draw: st.DrawFn, chars: st.SearchStrategy[str]) -> tuple[list[str], str]:
    secrets = draw(st.lists(st.text(chars, min_size=1, max_size=12), min_size=1, max_size=4))
    pieces = []
    for _ in range(draw(st.integers(0, 6))):
        pieces.append(draw(st.text(chars, max_size=8)))
        secret = draw(st.sampled_from(secrets))
        pieces.append(draw(st.sampled_from(_encodings(secret))))
    pieces.append(draw(st.text(chars, max_size=8)))
    return secrets, "".join(pieces)


def _check(secrets: list[str], text: str) -> None:
    scrubber = Scrubber(secrets)
    out = scrubber.scrub(text)
    for secret in secrets:
        for form in secret_forms(secret):
            assert form not in out or form in scrubber.mask, (secret, form, out)
    assert scrubber.scrub(out) == out


@given(cases(SMALL_ALPHABET))
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_no_form_survives_and_scrub_is_idempotent(case: tuple[list[str], str]) -> None:
    _check(*case)


@given(cases(ANY_CHAR))
@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
def test_any_characters(case: tuple[list[str], str]) -> None:
    _check(*case)


@given(
    st.lists(st.text(ANY_CHAR, max_size=20), max_size=4),
    st.text(ANY_CHAR, max_size=60),
    st.text(ANY_CHAR, max_size=4),
    st.integers(-2, 5),
)
@settings(max_examples=200)
def test_never_a_bare_exception(secrets: list[str], text: str, mask: str, min_length: int) -> None:
    """Any secrets, text, mask and minimum: a result or a credlti error, nothing else."""
    try:
        scrubber = Scrubber(secrets, mask=mask, min_length=min_length)
        out = scrubber.scrub(text)
    except CredltiError:
        return
    assert isinstance(out, str)
    assert scrubber.scrub(out) == out


@given(
    st.dictionaries(
        st.text(SMALL_ALPHABET, min_size=1, max_size=6),
        st.one_of(st.text(ANY_CHAR, max_size=10), st.integers(), st.booleans(), st.none()),
        max_size=6,
    )
)
@settings(max_examples=150)
def test_basic_pairs_of_any_body_are_masked(body: dict[str, object]) -> None:
    pairs = basic_auth_values(body)
    scrubber = Scrubber(basic_auth=pairs)
    for pair in pairs:
        assert scrubber.scrub(f"Basic {pair}") == "Basic ***"


def _reference(forms: set[str], text: str, mask: str) -> str:
    """Naive scrub: every occurrence of every form, touching stretches merged."""
    spans = sorted(
        (i, i + len(f)) for f in forms for i in range(len(text)) if text.startswith(f, i)
    )
    merged: list[list[int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    out, kept = [], 0
    for start, end in merged:
        out += [text[kept:start], mask]
        kept = end
    return "".join([*out, text[kept:]])


@given(
    st.lists(st.text("ab'<", min_size=1, max_size=14), min_size=1, max_size=12),
    st.text("ab'<&#;x", max_size=80),
    st.sampled_from([(1, 1), (2, 1), (2, 2), (3, 8), (8, 8)]),
)
@example(["pq", "zq", "zrq", "zrss", "rsssssss"], "pqzrsssssss!", (1, 1))  # a long anchor
@settings(max_examples=300)
def test_matches_a_naive_scrubber(secrets: list[str], text: str, anchors: tuple[int, int]) -> None:
    """Any anchor lengths and group sizes give the naive result (one pass, no '*')."""
    saved = scrubber_module.MIN_ANCHOR, scrubber_module.GROUP_SIZE, scrubber_module.LONG_FORM
    scrubber_module.MIN_ANCHOR, scrubber_module.GROUP_SIZE = anchors
    scrubber_module.LONG_FORM = 6  # forms longer than 6 go through str.find
    try:
        scrubber = Scrubber(secrets, mask="~")
        forms = {f for s in secrets for f in secret_forms(s)}
        assert scrubber.scrub(text) == _reference(forms, text, "~")
    finally:
        scrubber_module.MIN_ANCHOR, scrubber_module.GROUP_SIZE, scrubber_module.LONG_FORM = saved
