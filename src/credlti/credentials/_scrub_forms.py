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
from urllib.parse import quote_plus

__all__ = ["BLOB_MIN_BYTES", "basic_auth_forms", "extend_forms", "secret_forms"]

#: Secrets shorter than this (in UTF-8 bytes) get no stable-middle base64 forms: their
#: middle would be 3 characters or fewer and would mask unrelated base64 text.
BLOB_MIN_BYTES = 4

# Characters that no escape or encoding below changes (percent-encoding keeps them,
# JSON/repr/HTML do not escape them): such a secret has no escape forms.
_INERT = re.compile(r"[A-Za-z0-9_.~-]*")


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


def _percent_table(hexdigits: str) -> list[str]:
    """A ``str.translate`` table for bytes as Latin-1 text (a list beats a dict)."""
    table = []
    for code in range(256):
        char = chr(code)
        if (char.isascii() and char.isalnum()) or char in "_.-~":
            table.append(char)
        else:
            table.append("%" + hexdigits[code >> 4] + hexdigits[code & 15])
    return table


_PERCENT = _percent_table("0123456789ABCDEF")
_PERCENT_LOWER = _percent_table("0123456789abcdef")
# ASCII characters whose percent escape has a hex letter (the lower-case form differs).
_HEX_LETTER = re.compile(
    "["
    + re.escape("".join(chr(c) for c, e in enumerate(_PERCENT) if e[0] == "%" and e != e.lower()))
    + "]"
)
_HTML_CHARS = re.compile("[&<>\"']")


def _percent_forms(secret: str, out: list[str]) -> None:
    # quote() percent-encodes the UTF-8 bytes: as Latin-1 text, one character a byte.
    data = secret if secret.isascii() else _utf8(secret).decode("latin-1")
    upper = data.translate(_PERCENT)  # quote(secret, safe="")
    if not secret.isascii() or _HEX_LETTER.search(secret):
        variants: tuple[str, ...] = (upper, data.translate(_PERCENT_LOWER))
    else:
        variants = (upper,)
    for encoded in variants:
        out.append(encoded)
        if "/" in secret:  # quote(secret) keeps "/"
            out.append(encoded.replace("%2F", "/").replace("%2f", "/"))
        if " " in secret:  # quote_plus(secret)
            out.append(encoded.replace("%20", "+"))


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
    if _HTML_CHARS.search(secret):
        out.append(html.escape(secret, quote=True))
        out.append(html.escape(secret, quote=False))


def _b64(raw: bytes) -> str:
    return binascii.b2a_base64(raw, newline=False).decode("ascii")


def _url(encoded: str) -> str:
    return encoded.replace("+", "-").replace("/", "_")


def _base64_forms(raw: bytes, out: list[str]) -> None:
    n = len(raw)
    std = _b64(raw)
    url = _url(std)
    if n < BLOB_MIN_BYTES:
        out += (std, std.rstrip("="), url, url.rstrip("="))
        return
    # Character i of a blob covers bits [6i, 6i + 6); a secret after `shift` bytes
    # covers bits [8 * shift, 8 * (shift + n)). Keep the characters fully inside it:
    # from ceil(8 * shift / 6) to floor(8 * (shift + n) / 6).
    stable = 8 * n // 6
    shift1 = _b64(b"\0" + raw)[2 : (8 * n + 8) // 6]
    shift2 = _b64(b"\0\0" + raw)[3 : (8 * n + 16) // 6]
    out += (std, std.rstrip("="), std[:stable], url, url.rstrip("="), url[:stable])
    out += (shift1, _url(shift1), shift2, _url(shift2))


def secret_forms(secret: str) -> list[str]:
    """Every form of *secret* the scrubber masks, de-duplicated, the secret first.

    Args:
        secret: The plain secret (any ``str``, lone surrogates and NUL included).

    Returns:
        The non-empty forms, in a stable order.
    """
    out: list[str] = []
    extend_forms(secret, out)
    return list(dict.fromkeys(out))


def extend_forms(secret: str, out: list[str]) -> None:
    """Append the forms of a non-empty *secret* to *out*, duplicates included."""
    out.append(secret)
    if not _INERT.fullmatch(secret):
        _escape_forms(secret, out)
    _base64_forms(_utf8(secret), out)


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
