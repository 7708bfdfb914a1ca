"""Sensitive values of a credential body and the basic-auth strings they make (pure functions).

A *sensitive value* is every non-empty scalar leaf of the body, at any depth and in
lists, except those under a documented safe key (:data:`SAFE_KEYS`, compared
case-insensitively on the leaf's own key) and booleans. Numbers count, as text.

:func:`basic_auth_values` lists the ``Authorization: Basic`` strings the body can
produce (the pairing rule is on the function). The :class:`Scrubber` (defined in
``_scrubber``, re-exported here) masks every form of the values and those strings.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from typing import Any

from credlti.credentials._scrubber import Scrubber

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


#: A mapping with more direct scalar leaves than this pairs only its :data:`LOGIN_KEYS`.
MAX_PAIRED_LEAVES = 32
#: Keys (lowercase, ``-`` and ``_`` dropped) that name a login in a wide mapping.
LOGIN_KEYS = frozenset(
    {"accesskeyid", "clientid", "consumerkey", "email", "keyid", "login", "user", "username"}
)


def _scalar_text(value: Any) -> str | None:
    if value is None or isinstance(value, (bool, Mapping, list, tuple)):
        return None
    text = value if isinstance(value, str) else str(value)
    return text or None


def _login_key(key: str) -> str:
    return key.lower().replace("-", "").replace("_", "")


def _basic(login: str, password: str, out: dict[str, None]) -> None:
    raw = f"{login}:{password}".encode("utf-8", "surrogatepass")
    out.setdefault(base64.b64encode(raw).decode("ascii"), None)


def _mapping_pairs(node: Mapping[Any, Any], safe: set[str], out: dict[str, None]) -> None:
    leaves = [(str(k), t) for k, v in node.items() if (t := _scalar_text(v)) is not None]
    secrets = [(k, t) for k, t in leaves if k.lower() not in safe]
    partners = leaves
    if len(leaves) > MAX_PAIRED_LEAVES:
        partners = [(k, t) for k, t in leaves if _login_key(k) in LOGIN_KEYS]
    for key, login in partners:
        if ":" in login:  # a Basic user-id cannot contain a colon (RFC 7617)
            continue
        for other, secret in secrets:
            if other != key:
                _basic(login, secret, out)
    password = node.get("password")
    if not isinstance(password, str):
        for key in _USER_KEYS:
            user = node.get(key)
            if isinstance(user, str) and user:
                _basic(user, "", out)


def basic_auth_values(body: Any, *, safe_keys: Iterable[str] = SAFE_KEYS) -> list[str]:
    """Base64 ``login:secret`` strings (HTTP Basic credentials) the body can produce.

    The rule, applied to every mapping of the body at any depth: each direct scalar
    leaf (string or number, the *login*) is paired with each secret leaf of the same
    mapping under another key (a leaf :func:`sensitive_values` would return). So
    ``username`` + ``password``, ``client_id`` + ``client_secret``, ``login`` +
    ``password`` and ``key`` + ``secret`` all count, in both orders when both are
    secrets. A login containing ``:`` is skipped (RFC 7617 forbids it). (The
    :class:`Scrubber` also masks each pair with both halves form-urlencoded, the OAuth
    ``client_secret_basic`` encoding of RFC 6749 section 2.3.1.) A mapping with
    more than :data:`MAX_PAIRED_LEAVES` scalar leaves pairs only its leaves named in
    :data:`LOGIN_KEYS` (``client_id``, ``login``, ``username``...; case, ``-`` and
    ``_`` ignored), so the count of pairs stays linear in its size. As before, a ``username``,
    ``email`` or ``user`` in a mapping without a string ``password`` also yields
    ``base64("<login>:")``.

    Args:
        body: A credential body (nested mappings and lists) or ``None``.
        safe_keys: Lowercase keys whose leaves are not secrets.

    Returns:
        The padded base64 strings, de-duplicated, in first-seen order.
    """
    safe = {k.lower() for k in safe_keys}
    out: dict[str, None] = {}

    def walk(node: Any) -> None:
        if isinstance(node, Mapping):
            _mapping_pairs(node, safe, out)
            for child in node.values():
                walk(child)
        elif isinstance(node, (list, tuple)):
            for child in node:
                walk(child)

    walk(body)
    return list(out)
