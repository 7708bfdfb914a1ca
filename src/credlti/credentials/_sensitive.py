"""Sensitive values of a credential body and a linear-time scrubber (pure functions).

A *sensitive value* is every non-empty scalar leaf of the body, at any depth and in
lists, except those under a documented safe key (:data:`SAFE_KEYS`, compared
case-insensitively on the leaf's own key) and booleans. Numbers count, as text.

The :class:`Scrubber` masks each secret, its base64 forms (standard and URL-safe,
without padding) and the HTTP basic-auth strings. It compiles all of them into one
trie-shaped regular expression and, at every position of the text, takes the
longest secret starting there; overlapping hits are merged and masked as one. The
cost is linear in the text (times the longest secret), not in the number of
secrets, and unlike pairwise encoding (Lightning's O(n²) samples) its memory is
linear in the total length of the secrets.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

__all__ = ["SAFE_KEYS", "Scrubber", "basic_auth_values", "sensitive_values"]

#: Keys whose values are identifiers or locations, not secrets (Lightning's list + ``port``).
SAFE_KEYS = frozenset(
    {
        "account",
        "apiurl",
        "apiversion",
        "baseurl",
        "database",
        "email",
        "host",
        "hosturl",
        "instanceurl",
        "loginurl",
        "port",
        "user",
        "username",
    }
)
_USER_KEYS = ("username", "email", "user")


def _leaves(value: Any, key: str | None, out: list[tuple[str | None, Any]]) -> None:
    if isinstance(value, Mapping):
        for k, v in value.items():
            _leaves(v, str(k), out)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _leaves(item, key, out)
    else:
        out.append((key, value))


def sensitive_values(body: Any, *, safe_keys: Iterable[str] = SAFE_KEYS) -> list[str]:
    """Every secret leaf of *body* as text, de-duplicated, in first-seen order.

    Args:
        body: A credential body (nested mappings and lists) or ``None``.
        safe_keys: Lowercase keys whose leaves are not secrets.

    Returns:
        The values as strings (numbers in their JSON form); booleans, ``None`` and
        empty strings are skipped.
    """
    safe = {k.lower() for k in safe_keys}
    pairs: list[tuple[str | None, Any]] = []
    _leaves(body, None, pairs)
    seen: dict[str, None] = {}
    for key, value in pairs:
        if value is None or isinstance(value, bool):
            continue
        if key is not None and key.lower() in safe:
            continue
        text = value if isinstance(value, str) else str(value)
        if text:
            seen.setdefault(text, None)
    return list(seen)


def basic_auth_values(body: Any) -> list[str]:
    """Base64 ``user:password`` strings for every mapping (at any depth) with a login.

    A mapping with a ``username``, ``email`` or ``user`` string yields
    ``base64("<login>:<password>")`` (password ``""`` when absent, as Lightning).
    """
    out: dict[str, None] = {}

    def walk(node: Any) -> None:
        if isinstance(node, Mapping):
            password = node.get("password")
            password = password if isinstance(password, str) else ""
            for key in _USER_KEYS:
                login = node.get(key)
                if isinstance(login, str) and login:
                    out.setdefault(base64.b64encode(f"{login}:{password}".encode()).decode(), None)
            for child in node.values():
                walk(child)
        elif isinstance(node, (list, tuple)):
            for child in node:
                walk(child)

    walk(body)
    return list(out)


def encoded_forms(secret: str) -> list[str]:
    """The secret and its base64 forms (standard and URL-safe, padding stripped)."""
    raw = secret.encode()
    std = base64.b64encode(raw).decode().rstrip("=")
    url = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    return list(dict.fromkeys([secret, std, url]))


_END = ""


def _trie_pattern(words: Iterable[str]) -> str:
    root: dict[str, Any] = {}
    for word in words:
        node = root
        for ch in word:
            node = node.setdefault(ch, {})
        node[_END] = True

    def build(node: dict[str, Any]) -> str:
        alts = []
        for ch in sorted(k for k in node if k != _END):
            run, cur = ch, node[ch]
            while len(cur) == 1 and _END not in cur:
                ((nxt, cur),) = cur.items()
                run += nxt
            alts.append(re.escape(run) + build(cur))
        if not alts:
            return ""
        body = alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"
        # Greedy optional: a longer secret is preferred over its own prefix.
        return f"(?:{body})?" if _END in node else body

    return build(root)


def _compile(words: list[str]) -> re.Pattern[str] | None:
    if not words:
        return None
    firsts = "".join(sorted({re.escape(w[0]) for w in words}))
    try:
        trie = _trie_pattern(words)
    except RecursionError:  # pathological nesting: plain longest-first alternation
        trie = "(?:" + "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)) + ")"
    return re.compile(f"(?=[{firsts}])(?=({trie}))")


@attrs.define(init=False)
class Scrubber:
    """Masks secrets in text, longest first, in time linear in the text.

    Example::

        scrubber = Scrubber(["hunter2"], basic_auth=basic_auth_values(body))
        scrubber.scrub("login with hunter2")   # 'login with ***'
    """

    mask: str
    _words: set[str] = attrs.field(repr=False)
    _pattern: re.Pattern[str] | None = attrs.field(repr=False)

    def __init__(
        self,
        secrets: Iterable[str] = (),
        *,
        basic_auth: Iterable[str] = (),
        mask: str = "***",
    ) -> None:
        self.mask = mask
        self._words = set()
        self._pattern = None
        self.add(secrets, basic_auth=basic_auth)

    def __len__(self) -> int:
        """How many distinct strings (secrets and their encodings) are masked."""
        return len(self._words)

    def add(self, secrets: Iterable[str], *, basic_auth: Iterable[str] = ()) -> None:
        """Add secrets (and their base64 forms) and basic-auth strings."""
        for secret in secrets:
            if secret:
                self._words.update(f for f in encoded_forms(secret) if f)
        self._words.update(b for b in basic_auth if b)
        self._pattern = _compile(sorted(self._words))

    def scrub(self, text: str) -> str:
        """Return *text* with every occurrence of every secret replaced by the mask."""
        pattern = self._pattern
        if pattern is None or not text:
            return text
        parts: list[str] = []
        last = 0  # end of the text already emitted
        span_start = span_end = -1
        for match in pattern.finditer(text):
            start = match.start()
            end = start + len(match.group(1))
            if end == start:
                continue
            if start <= span_end:  # overlaps or touches the current span: extend it
                span_end = max(span_end, end)
                continue
            if span_end > 0:
                parts.append(text[last:span_start])
                parts.append(self.mask)
                last = span_end
            span_start, span_end = start, end
        if span_end > 0:
            parts.append(text[last:span_start])
            parts.append(self.mask)
            last = span_end
        parts.append(text[last:])
        return "".join(parts)
