"""The scrubber: one Aho-Corasick automaton over every form of every secret.

Build: each secret (at least ``min_length`` characters) contributes the forms of
:func:`credlti.credentials._scrub_forms.secret_forms`; each basic-auth string those of
:func:`credlti.credentials._scrub_forms.basic_auth_forms`. A form enters the automaton
by an *anchor*: its first :data:`MIN_ANCHOR` characters (the whole form when
shorter), shared by up to :data:`GROUP_SIZE` forms (the forms of one secret mostly
begin alike); a form finding that group full takes its first 16, 32, ... characters
instead (anchors stop growing at :data:`LONG_FORM`). The trie is thus small (a few
characters per form, not the form's length) and at most :data:`LONG_FORM` deep
whatever the secrets, which bounds the work per text character: pyahocorasick walks
the failure chain of its state at every character.

Scan: every anchor hit is checked in place (``str.startswith``, at most
:data:`LONG_FORM` characters); a form longer than that is looked for with ``str.find``
from its first anchor hit on, once per scan. Hits come ordered by end position; each
confirmed form is an interval of the text, overlapping or touching intervals are
merged on a stack (amortized constant time per hit) and each merged stretch is
replaced by the mask once. When the mask shares a character with some form (a secret
containing ``*``), masking can create a new occurrence (``a`` + ``***``); the scan then
repeats until nothing changes, at most :data:`MAX_PASSES` times, after which the whole
text is replaced by the mask.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple

import ahocorasick  # type: ignore[import-not-found,unused-ignore]
import attrs

from credlti.credentials._scrub_forms import basic_auth_forms, extend_forms
from credlti.errors import CredentialValidationError, FieldError

__all__ = [
    "GROUP_SIZE",
    "LONG_FORM",
    "MAX_PASSES",
    "MAX_SECRET_BYTES",
    "MAX_TOTAL_BYTES",
    "MIN_ANCHOR",
    "Scrubber",
]

#: Shortest anchor: a form enters the automaton by its first ``MIN_ANCHOR`` characters
#: (whole when shorter), or 2, 4, ... times that many when that anchor's group is full.
MIN_ANCHOR = 8
#: Most forms sharing one anchor (each hit checks them all).
GROUP_SIZE = 8
#: Forms longer than this are found with ``str.find`` (one linear pass per scan) once
#: their anchor shows up; shorter ones are checked in place with ``str.startswith``.
LONG_FORM = 256
#: Largest secret a scrubber accepts, in UTF-8 bytes (its forms weigh up to ~110x).
MAX_SECRET_BYTES = 2 * 1024 * 1024
#: Largest total size of the secrets and basic-auth strings of one scrubber, in bytes.
MAX_TOTAL_BYTES = 4 * 1024 * 1024
#: Scans of one text before falling back to masking all of it (mask-made matches only).
MAX_PASSES = 8


def _too_large(message: str) -> CredentialValidationError:
    return CredentialValidationError(
        message, field_errors=(FieldError(path="secrets", message=message),)
    )


def _checked_total(total: int, size: int) -> int:
    total += size
    if total > MAX_TOTAL_BYTES:
        msg = f"the secrets total over {MAX_TOTAL_BYTES} bytes, the scrubber's bound"
        raise _too_large(msg)
    return total


def _find_runs(text: str, form: str, pos: int, starts: list[int], ends: list[int]) -> None:
    """Append the merged occurrences of *form* in ``text[pos:]`` (linear in the text)."""
    size = len(form)
    first = text.find(form, pos)
    while first >= 0:
        start, end = first, first + size
        # Overlapping occurrences: jump along the run by the shift that repeats it.
        nxt = text.find(form, start + 1, end + size - 1)
        while nxt >= 0:
            shift = nxt - start
            start, end = nxt, nxt + size
            tail = form[size - shift :]
            while text.startswith(tail, end):
                start += shift
                end += shift
            nxt = text.find(form, start + 1, end + size - 1)
        starts.append(first)
        ends.append(end)
        first = text.find(form, end)


def _rank_table() -> list[str]:
    """ASCII translate table: characters of typical log text by falling frequency."""
    frequent = " etaoinsrhldcumfpgwybvkxjqz\nETAOINSRHLDCUMFPGWYBVKXJQZ0123456789.,:/-_=\"'"
    table = [chr(len(frequent) + code) for code in range(128)]
    for rank, char in enumerate(frequent):
        table[ord(char)] = chr(rank)
    return table


_RANK = _rank_table()


def _text_rank(anchor: str) -> str:
    return anchor[:2].translate(_RANK)


class _Compiled(NamedTuple):
    """A built automaton: anchor index -> (anchor length, forms), and the mask hazard."""

    automaton: Any
    groups: list[tuple[int, list[str]]]
    hazard: bool


def _merge(starts: list[int], ends: list[int]) -> tuple[list[int], list[int]]:
    """Merge overlapping or touching intervals given in any order."""
    order = sorted(range(len(starts)), key=starts.__getitem__)
    out_s: list[int] = []
    out_e: list[int] = []
    for i in order:
        s, e = starts[i], ends[i]
        if out_s and s <= out_e[-1]:
            out_e[-1] = max(out_e[-1], e)
        else:
            out_s.append(s)
            out_e.append(e)
    return out_s, out_e


@attrs.define(init=False)
class Scrubber:
    """Masks every form of every secret in text, in time linear in the text.

    The forms: the secret itself, its JSON, ``repr()``, percent (``quote``,
    ``quote_plus``, either hex case) and HTML escapes, its base64 and base64url
    encodings (padded or not) and, for secrets of 4 bytes or more, the part of those
    encodings that stays the same inside a longer base64 blob at any byte alignment.
    Overlapping or adjacent matches are masked as one. See ``docs/scrubber.md``.

    Example::

        scrubber = Scrubber(["hunter2"], basic_auth=basic_auth_values(body))
        scrubber.scrub("login with hunter2")   # 'login with ***'

    Args:
        secrets: Secrets to mask; those shorter than *min_length* are ignored.
        basic_auth: Base64 ``user:password`` strings (see ``basic_auth_values``).
        mask: The replacement for each masked stretch of text.
        min_length: Secrets with fewer characters are not masked (default 1: only
            empty strings are skipped).

    Raises:
        CredentialValidationError: A secret is larger than :data:`MAX_SECRET_BYTES`
            (UTF-8) or all of them together exceed :data:`MAX_TOTAL_BYTES`.

    ``scrub`` may run in several threads at once; ``add`` must not run while another
    thread scrubs with the same instance (build a new scrubber instead).
    """

    mask: str
    min_length: int
    _forms: dict[str, None] = attrs.field(repr=False)
    _total: int = attrs.field(repr=False)
    _compiled: _Compiled | None = attrs.field(repr=False)

    def __init__(
        self,
        secrets: Iterable[str] = (),
        *,
        basic_auth: Iterable[str] = (),
        mask: str = "***",
        min_length: int = 1,
    ) -> None:
        self.mask = mask
        self.min_length = max(1, min_length)
        self._forms = {}
        self._total = 0
        self._compiled = None
        self.add(secrets, basic_auth=basic_auth)

    def __len__(self) -> int:
        """How many distinct strings (secrets and their forms) are masked."""
        return len(self._forms)

    def add(self, secrets: Iterable[str], *, basic_auth: Iterable[str] = ()) -> None:
        """Add secrets (with all their forms) and basic-auth strings.

        Raises:
            CredentialValidationError: The size bounds of the class are exceeded.
        """
        new: list[str] = []
        total = self._total
        for secret in secrets:
            if len(secret) < self.min_length:
                continue
            size = len(secret) if secret.isascii() else len(secret.encode("utf-8", "surrogatepass"))
            if size > MAX_SECRET_BYTES:
                msg = f"a secret of {size} bytes exceeds the scrubber's {MAX_SECRET_BYTES}"
                raise _too_large(msg)
            total = _checked_total(total, size)
            extend_forms(secret, new)
        for encoded in basic_auth:
            total = _checked_total(total, len(encoded))
            new.extend(basic_auth_forms(encoded))
        self._total = total
        before = len(self._forms)
        self._forms.update(dict.fromkeys(new))
        if len(self._forms) != before:
            self._compiled = None  # rebuilt on the next scrub

    def _build(self) -> _Compiled:
        forms = list(self._forms)
        anchors: dict[str, list[str]] = {}
        for form in forms:
            anchor = form[:MIN_ANCHOR]
            taken = anchors.get(anchor)
            if taken is None:
                anchors[anchor] = [form]
                continue
            # A full group: the first prefix of 2, 4, ... times MIN_ANCHOR characters
            # whose group has room.
            cut, size = MIN_ANCHOR, len(form)
            while len(taken) >= GROUP_SIZE and cut < size and cut < LONG_FORM:
                cut *= 2
                anchor = form[:cut]
                taken = anchors.setdefault(anchor, [])
            taken.append(form)
        automaton = ahocorasick.Automaton()
        add_word = automaton.add_word
        groups: list[tuple[int, list[str]]] = []
        # pyahocorasick looks a character up among a node's children in insertion
        # order: inserting anchors that begin with common log characters first makes
        # the frequent lookups near the root short (about 15% faster scans).
        for index, anchor in enumerate(sorted(anchors, key=_text_rank)):
            add_word(anchor, index)
            groups.append((len(anchor), anchors[anchor]))
        automaton.make_automaton()
        joined = "".join(forms)
        hazard = not self.mask or any(char in joined for char in set(self.mask))
        # One assignment: a concurrent scrub sees the old or the new build, never half.
        self._compiled = compiled = _Compiled(automaton, groups, hazard)
        return compiled

    def _pass(self, text: str, compiled: _Compiled) -> str:
        starts: list[int] = []
        ends: list[int] = []
        extra_s: list[int] = []
        extra_e: list[int] = []
        done: set[str] = set()
        groups = compiled.groups
        for last, group in compiled.automaton.iter(text):
            size, forms = groups[group]
            start = last + 1 - size
            end = -1
            for form in forms:
                length = len(form)
                if length > LONG_FORM:
                    if form not in done:  # found in one linear pass over the rest
                        done.add(form)
                        _find_runs(text, form, start, extra_s, extra_e)
                elif start + length > end and (length == size or text.startswith(form, start)):
                    end = start + length
            if end < 0:
                continue
            if starts and start <= ends[-1]:
                # Hits come by anchor end, so this match ends after the last stretch
                # starts: they overlap. It may reach back over earlier stretches too
                # (a long anchor); those end before the last one starts.
                if ends[-1] > end:
                    end = ends[-1]
                while len(starts) > 1 and start <= ends[-2]:
                    starts.pop()
                    ends.pop()
                ends[-1] = end
                if start < starts[-1]:
                    starts[-1] = start
            else:
                starts.append(start)
                ends.append(end)
        if not starts and not extra_s:
            return text
        if extra_s:
            starts, ends = _merge(starts + extra_s, ends + extra_e)
        parts: list[str] = []
        kept = 0
        mask = self.mask
        for start, end in zip(starts, ends, strict=True):
            parts.append(text[kept:start])
            parts.append(mask)
            kept = end
        parts.append(text[kept:])
        return "".join(parts)

    def scrub(self, text: str) -> str:
        """Return *text* with every form of every secret replaced by the mask.

        The result contains no form of any secret (bar a form that is part of the
        mask itself), and scrubbing it again changes nothing.
        """
        if not self._forms or not text:
            return text
        compiled = self._compiled if self._compiled is not None else self._build()
        out = self._pass(text, compiled)
        if not compiled.hazard or out is text:
            return out
        for _ in range(MAX_PASSES):
            again = self._pass(out, compiled)
            if again == out:
                return out
            out = again
        return self.mask
