"""The forms a secret takes in logs: escapes, percent-encodings and base64 (pure functions).

:func:`secret_forms` lists, for one secret, every string the :class:`Scrubber` masks:

* the secret itself;
* JSON string escapes (``json.dumps`` with ``ensure_ascii`` true and false), quotes
  stripped so that a secret inside a longer JSON string is found;
* Python ``repr()`` escapes, for both quote styles ``repr`` can pick for the string
  around the secret, quotes stripped;
* percent-encodings (``urllib.parse.quote`` with ``safe="/"`` and ``safe=""``,
  ``quote_plus``), each with upper- and lower-case hex digits;
* HTML escapes (``html.escape`` with ``quote`` true and false);
* base64 and base64url of the UTF-8 bytes, padded and unpadded;
* for secrets of at least :data:`BLOB_MIN_BYTES` bytes, the *stable middle* of their
  base64 and base64url encoding at each of the three byte alignments: the characters
  that depend on the secret's bytes only, whatever bytes come before and after it in a
  longer encoded blob.

Text with lone surrogates is encoded with ``surrogatepass`` (such a secret cannot
occur in UTF-8 bytes otherwise); nothing here raises for any ``str``.
"""

from __future__ import annotations

import base64
import binascii
import html
import json
import re
from urllib.parse import quote, quote_plus

__all__ = ["BLOB_MIN_BYTES", "basic_auth_forms", "secret_forms"]

#: Secrets shorter than this (in UTF-8 bytes) get no stable-middle base64 forms: their
#: middle would be 3 characters or fewer and would mask unrelated base64 text.
BLOB_MIN_BYTES = 4

# Characters that no escape or encoding below changes (percent-encoding keeps them,
# JSON/repr/HTML do not escape them): such a secret has no escape forms.
_INERT = re.compile(r"[A-Za-z0-9_.~-]*")
_HEX = re.compile(r"%[0-9A-F]{2}")


def _lower_hex(text: str) -> str:
    return _HEX.sub(lambda m: m.group(0).lower(), text)


def _percent_table() -> dict[int, str]:
    table: dict[int, str] = {}
    for code in range(128):
        char = chr(code)
        if not (char.isalnum() or char in "_.-~"):
            table[code] = f"%{code:02X}"
    return table


_PERCENT = _percent_table()
# The encoded ASCII characters whose escape has a hex letter, for the lower-case form.
_HEX_LETTER = [
    (chr(code), esc, esc.lower()) for code, esc in _PERCENT.items() if esc != esc.lower()
]
_HTML_CHARS = "&<>\"'"


def _percent_forms(secret: str, out: list[str]) -> None:
    if secret.isascii():
        upper = secret.translate(_PERCENT)  # quote(secret, safe="")
        lower = upper
        for char, up, low in _HEX_LETTER:
            if char in secret:
                lower = lower.replace(up, low)
        for encoded in (upper, lower):
            out.append(encoded)
            if "/" in secret:  # quote(secret) keeps "/"
                out.append(encoded.replace("%2F", "/").replace("%2f", "/"))
            if " " in secret:  # quote_plus(secret)
                out.append(encoded.replace("%20", "+"))
        return
    for encoded in (
        quote(secret, safe="/", errors="surrogatepass"),
        quote(secret, safe="", errors="surrogatepass"),
        quote_plus(secret, safe="", errors="surrogatepass"),
    ):
        out.append(encoded)
        out.append(_lower_hex(encoded))


def _escape_forms(secret: str, out: list[str]) -> None:
    ascii_printable = secret.isascii() and secret.isprintable()
    if not ascii_printable or '"' in secret or "\\" in secret:
        out.append(json.dumps(secret)[1:-1])
        out.append(json.dumps(secret, ensure_ascii=False)[1:-1])
    if not ascii_printable or "'" in secret or "\\" in secret:
        # repr() picks double quotes for a string with ' and no "; single quotes
        # otherwise. Appending quote characters forces each style.
        out.append(repr(secret + "'\"")[1:-4])  # single-quoted: ' escaped
        if '"' not in secret:
            out.append(repr(secret + "'")[1:-2])  # double-quoted: ' literal
    _percent_forms(secret, out)
    if any(char in secret for char in _HTML_CHARS):
        out.append(html.escape(secret, quote=True))
        out.append(html.escape(secret, quote=False))


def _base64_forms(raw: bytes, out: list[str]) -> None:
    n = len(raw)
    full = base64.b64encode(raw).decode("ascii")
    encodings = [full, full.rstrip("=")]
    if n >= BLOB_MIN_BYTES:
        for shift in (0, 1, 2):
            # Character i covers bits [6i, 6i + 6) of the blob; the secret covers bits
            # [8 * shift, 8 * (shift + n)). Keep the characters fully inside it.
            first = -(-8 * shift // 6)
            last = 8 * (shift + n) // 6
            shifted = base64.b64encode(bytes(shift) + raw).decode("ascii")
            encodings.append(shifted[first:last])
    out.extend(encodings)
    out.extend(e.replace("+", "-").replace("/", "_") for e in encodings)


def secret_forms(secret: str) -> list[str]:
    """Every form of *secret* the scrubber masks, de-duplicated, the secret first.

    Args:
        secret: The plain secret (any ``str``, lone surrogates and NUL included).

    Returns:
        The non-empty forms, in a stable order.
    """
    out = [secret]
    if not _INERT.fullmatch(secret):
        _escape_forms(secret, out)
    _base64_forms(secret.encode("utf-8", "surrogatepass"), out)
    return [form for form in dict.fromkeys(out) if form]


def basic_auth_forms(encoded: str) -> list[str]:
    """Forms of a base64 ``login:secret`` string: padded, unpadded, and form-urlencoded.

    The last is ``base64(quote_plus(login) + ":" + quote_plus(secret))``, how OAuth
    clients send ``client_secret_basic`` (RFC 6749 section 2.3.1); it is added when it
    differs and *encoded* decodes to UTF-8 text with a colon.
    """
    out = [encoded, encoded.rstrip("=")]
    try:
        login, sep, secret = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        login, sep, secret = "", "", ""
    if sep:
        raw = f"{quote_plus(login)}:{quote_plus(secret)}".encode("ascii")
        form = base64.b64encode(raw).decode("ascii")
        out += [form, form.rstrip("=")]
    return [form for form in dict.fromkeys(out) if form]
