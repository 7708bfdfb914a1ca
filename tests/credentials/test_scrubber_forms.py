"""Each log form of a secret is masked inside a log line; the text around it is kept."""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Callable
from urllib.parse import quote, quote_plus

import pytest

from credlti.credentials import Scrubber, basic_auth_values
from credlti.credentials import _scrubber as scrubber_module
from credlti.credentials._scrub_forms import BLOB_MIN_BYTES, secret_forms
from credlti.credentials._scrubber import LONG_FORM, MAX_SECRET_BYTES, MAX_TOTAL_BYTES
from credlti.errors import CredentialValidationError

SECRET = "p@ss w/rd:'quote\"&<é>\\end%41"


def _lower_hex(text: str) -> str:
    out, i = [], 0
    while i < len(text):
        if text[i] == "%":
            out.append(text[i : i + 3].lower())
            i += 3
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode()


ENCODERS: dict[str, Callable[[str], str]] = {
    "plain": lambda s: s,
    "json_ascii": lambda s: json.dumps(s),
    "json_unicode": lambda s: json.dumps(s, ensure_ascii=False),
    "json_in_object": lambda s: json.dumps({"password": s, "n": 1}),
    "repr": repr,
    "repr_in_longer_string": lambda s: repr("it's " + s),
    "quote": quote,
    "quote_safe_empty": lambda s: quote(s, safe=""),
    "quote_plus": quote_plus,
    "quote_lower_hex": lambda s: _lower_hex(quote(s, safe="")),
    "quote_plus_lower_hex": lambda s: _lower_hex(quote_plus(s)),
    "connection_url": lambda s: f"postgresql://etl:{quote(s, safe='')}@db:5432/app",
    "html_quote": lambda s: html.escape(s, quote=True),
    "html_no_quote": lambda s: html.escape(s, quote=False),
    "base64": lambda s: _b64(s.encode()),
    "base64_unpadded": lambda s: _b64(s.encode()).rstrip("="),
    "base64url": lambda s: _b64url(s.encode()),
    "base64url_unpadded": lambda s: _b64url(s.encode()).rstrip("="),
    "base64_blob_shift_1": lambda s: _b64(b"{" + s.encode() + b"}"),
    "base64_blob_shift_2": lambda s: _b64(b"{x" + s.encode() + b"}"),
    "base64_blob_shift_0": lambda s: _b64(b"{xy" + s.encode() + b"}..."),
    "base64url_blob_shift_1": lambda s: _b64url(b"\xff" + s.encode() + b"\xfe"),
    "base64url_blob_shift_2": lambda s: _b64url(b"\xff\xfe" + s.encode() + b"\xfd"),
}


def _visible(form: str, secret: str) -> list[str]:
    """The pieces of *form* that would give the secret away if they survived."""
    return [f for f in secret_forms(secret) if len(f) >= 4 and f in form]


@pytest.mark.parametrize("name", sorted(ENCODERS))
@pytest.mark.parametrize("secret", [SECRET, "tok_9f8e7d6c5b4a", "ünïcødé-sécret-ü"])
def test_every_form_is_masked_and_the_line_kept(name: str, secret: str) -> None:
    encoded = ENCODERS[name](secret)
    line = f"2026-01-15 INFO sending {encoded} to the API"
    out = Scrubber([secret]).scrub(line)
    assert out.startswith("2026-01-15 INFO sending ")
    assert out.endswith(" to the API")
    assert "***" in out
    for piece in _visible(encoded, secret):
        assert piece not in out, (name, piece)
    if name == "plain" or (name.startswith(("base64_", "base64url")) and "blob" not in name):
        assert out == "2026-01-15 INFO sending *** to the API"


def test_blob_forms_mask_the_stable_middle_only() -> None:
    """Inside a longer base64 blob only the secret's own characters go; the rest stays."""
    secret = "s3cret-value-1234"
    for prefix in (b"", b"a", b"ab", b"abc"):
        blob = _b64(prefix + secret.encode() + b"-and-some-trailing-bytes")
        out = Scrubber([secret]).scrub(blob)
        assert out != blob
        head, _, tail = out.partition("***")
        assert blob.startswith(head)
        assert blob.endswith(tail)
        assert len(head) <= -(-8 * len(prefix) // 6)  # at most the prefix's own chars


def test_short_secrets_get_no_blob_forms() -> None:
    """Below BLOB_MIN_BYTES the stable middle would be tiny: only whole encodings count."""
    short = "k" * (BLOB_MIN_BYTES - 1)
    assert set(secret_forms(short)) == {
        short,
        _b64(short.encode()),
        _b64(short.encode()).rstrip("="),
    }
    assert Scrubber([short]).scrub(f"x {_b64(short.encode())} y") == "x *** y"


def test_min_length_skips_short_secrets() -> None:
    """min_length (default 1: only empty strings skipped) leaves shorter secrets alone."""
    scrubber = Scrubber(["abc", "abcdefgh"], min_length=4)
    assert scrubber.scrub("abc abcdefgh") == "abc ***"
    assert Scrubber(["abc"]).scrub("abc") == "***"


def test_overlapping_and_adjacent_secrets_are_one_mask() -> None:
    scrubber = Scrubber(["xab", "abcd", "wxyz-long"])
    assert scrubber.scrub("-xabcd-") == "-***-"
    assert scrubber.scrub("-xababcd-") == "-***-"  # touching: one mask
    assert scrubber.scrub("xab wxyz-longxab abcd") == "*** *** ***"
    chain = Scrubber(["aaab", "abbb", "bbbc", "bccc"])
    assert chain.scrub("<aaabbbccc>") == "<***>"


def test_a_longer_secret_wins_over_its_prefix() -> None:
    scrubber = Scrubber(["secret", "secret-and-more"])
    assert scrubber.scrub("[secret-and-more]") == "[***]"
    assert scrubber.scrub("[secret-and-mo]") == "[***-and-mo]"


def test_mask_characters_in_secrets_cannot_rebuild_a_secret() -> None:
    """A secret with '*' would reappear as 'a' + '***': scrubbing repeats until stable."""
    scrubber = Scrubber(["a*"])
    out = scrubber.scrub("baaaa*b")
    assert "a*" not in out
    assert scrubber.scrub(out) == out
    assert Scrubber(["ab"], mask="").scrub("aabb") == ""


def test_long_forms_and_periodic_runs() -> None:
    """Forms longer than LONG_FORM are found by a linear search, overlapping runs too."""
    secret = "ab" * LONG_FORM
    scrubber = Scrubber([secret])
    assert scrubber.scrub("x" + "ab" * (3 * LONG_FORM) + "a!") == "x***a!"
    assert scrubber.scrub("x" + "ab" * (LONG_FORM - 1) + "!") == "x" + "ab" * (LONG_FORM - 1) + "!"
    pem = "-----BEGIN KEY-----\n" + "MIIE" * 300 + "\n-----END KEY-----"
    out = Scrubber([pem]).scrub("key=" + json.dumps(pem) + " ok")
    assert out == 'key="***" ok'


class TestBasicAuth:
    def _header(self, login: str, secret: str) -> str:
        return "Authorization: Basic " + _b64(f"{login}:{secret}".encode())

    @pytest.mark.parametrize(
        ("body", "login", "secret"),
        [
            ({"client_id": "app-42", "client_secret": "cs-9f8e7d"}, "app-42", "cs-9f8e7d"),
            ({"login": "etl", "password": "hunter2-long"}, "etl", "hunter2-long"),
            ({"key": "AKIA123456", "secret": "wJalrXUtnFEMI"}, "AKIA123456", "wJalrXUtnFEMI"),
            ({"key": "AKIA123456", "secret": "wJalrXUtnFEMI"}, "wJalrXUtnFEMI", "AKIA123456"),
            ({"user": {"name": "n", "token": "tk-123456"}}, "n", "tk-123456"),
            ({"consumer": 1234, "pin": "9876-5432"}, "1234", "9876-5432"),
        ],
    )
    def test_any_login_with_any_secret_of_the_same_mapping(
        self, body: dict[str, object], login: str, secret: str
    ) -> None:
        pairs = basic_auth_values(body)
        assert _b64(f"{login}:{secret}".encode()) in pairs
        out = Scrubber(basic_auth=pairs).scrub(self._header(login, secret) + " sent")
        assert out == "Authorization: Basic *** sent"

    def test_oauth_form_urlencoded_pair(self) -> None:
        """client_secret_basic form-urlencodes both halves first (RFC 6749 2.3.1)."""
        body = {"client_id": "my app", "client_secret": "s/cr+t=="}
        encoded = _b64(f"{quote_plus('my app')}:{quote_plus('s/cr+t==')}".encode())
        out = Scrubber(basic_auth=basic_auth_values(body)).scrub(f"Basic {encoded}")
        assert out == "Basic ***"

    def test_rules_at_the_edges(self) -> None:
        # Safe keys are logins, never secrets; a login with ':' is no Basic user-id.
        assert basic_auth_values({"host": "h", "port": 5432}) == []
        assert basic_auth_values({"url": "https://a:b@c", "token": "t"}) == [
            _b64(b"t:https://a:b@c")
        ]
        # Lists and booleans are not leaves of the mapping.
        assert basic_auth_values({"ids": ["a"], "ok": True, "pw": "p"}) == []
        # A wide mapping pairs only its login-named leaves.
        wide: dict[str, object] = {f"field{i}": f"v{i}" for i in range(40)}
        wide["Client-ID"] = "cid"
        pairs = basic_auth_values(wide)
        assert len(pairs) == 40
        assert all(base64.b64decode(p).startswith(b"cid:") for p in pairs)


def test_size_bounds_raise_a_credlti_error() -> None:
    with pytest.raises(CredentialValidationError) as info:
        Scrubber(["x" * (MAX_SECRET_BYTES + 1)])
    assert info.value.details["fields"] == ["secrets"]
    scrubber = Scrubber()
    with pytest.raises(CredentialValidationError):  # counted in UTF-8 bytes
        Scrubber(["\U0001f600" * (MAX_SECRET_BYTES // 4 + 1)])
    for _ in range(MAX_TOTAL_BYTES // MAX_SECRET_BYTES):
        scrubber.add(["y" * MAX_SECRET_BYTES])
    with pytest.raises(CredentialValidationError):
        scrubber.add(["z"])


@pytest.mark.parametrize(
    ("secret", "text"),
    [
        ("\udc80lone-surrogate", "a \udc80lone-surrogate b"),
        ("nul\x00inside", 'x "nul\\u0000inside" y'),
        ("s3cret-value", "text with \ud800 and \x00 and s3cret-value"),
    ],
)
def test_surrogates_and_nul(secret: str, text: str) -> None:
    out = Scrubber([secret]).scrub(text)
    assert "***" in out
    assert secret not in out


def test_a_long_anchor_reaching_back_keeps_the_stretches_it_swallows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A hit whose anchor starts before earlier stretches must not cut their ends."""
    monkeypatch.setattr(scrubber_module, "MIN_ANCHOR", 1)
    monkeypatch.setattr(scrubber_module, "GROUP_SIZE", 1)
    # Anchors: "pq" -> "p", "zq" -> "z", "zrq" -> "zr", "zrss" -> "zrss", "rsssssss" -> "r".
    scrubber = Scrubber(["pq", "zq", "zrq", "zrss", "rsssssss"], mask="~")
    assert scrubber.scrub("pqzrsssssss!") == "~!"
