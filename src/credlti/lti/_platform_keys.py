"""The platform key cache and the flow that resolves a platform's signing key.

Rules of this module:

1. No IO and no clock reads: the cache is plain in-memory state; fetching a key set
   is an :class:`~credlti._http.HttpRequest` effect yielded by :func:`key_flow`.
2. Single flight: a cache miss runs the fetch under ``Locked(("jwks", uri), ...)``,
   and the locked sub-flow plans again first, so concurrent launches that missed
   together cause one fetch.
3. A failed fetch falls back to stale cached keys (within ``max_stale``) when it can.
4. Each lookup's result (hit, miss, refetch, wait, stale) is counted on the
   ``credlti.lti.key_set.lookups`` counter (:mod:`credlti._telemetry`, a no-op
   unless the host enables telemetry): only the cache knows which one it was.
"""

from __future__ import annotations

from typing import Any

import attrs

from credlti import _telemetry
from credlti._effects import Flow, Locked
from credlti._http import RemoteCallFailed, RemoteResponse, get_json_flow
from credlti._text import safe_excerpt
from credlti.errors import KeySetFetchError, KidNotFoundError
from credlti.lti._jwks import (
    JwksPolicy,
    KeySetEntry,
    Lookup,
    entry_from_response,
    plan_lookup,
    stale_fallback,
)
from credlti.lti._jws import PublicKey

__all__ = ["KEY_SET_LOOKUPS", "KeyCache", "count_key_lookup", "key_flow"]

_MAX_HITS = 1024
#: The counter of key-set lookups, by ``credlti.result``.
KEY_SET_LOOKUPS = "credlti.lti.key_set.lookups"


def count_key_lookup(result: str) -> None:
    """Count one key-set lookup by its *result* (hit, miss, refetch, wait, stale)."""
    if _telemetry.enabled():
        _telemetry.count(KEY_SET_LOOKUPS, {"credlti.result": result})


def _key_set_error(uri: str, reason: str) -> KeySetFetchError:
    return KeySetFetchError(
        f"the platform key set at {uri} is unavailable ({reason}) and no cached copy can be "
        "used; retry the launch, or check the registration's jwks_uri",
        details={"jwks_uri": uri},
    )


def _kid_not_found(kid: str, uri: str) -> KidNotFoundError:
    shown = safe_excerpt(kid)  # the kid comes from the unverified token header
    return KidNotFoundError(
        f"no usable key with kid '{shown}' in the platform key set at {uri}",
        details={"kid": shown, "jwks_uri": uri},
    )


@attrs.define
class KeyCache:
    """Parsed platform keys per key-set URL, shared by every launch of one tool."""

    policy: JwksPolicy
    entries: dict[str, KeySetEntry] = attrs.field(factory=dict)
    last_miss_fetch: dict[str, float] = attrs.field(factory=dict)
    last_failure: dict[str, float] = attrs.field(factory=dict)
    fetches: int = 0
    # (uri, kid, alg) -> (key, expires_at) of fresh hits: the warm path is one dict get.
    hits: dict[tuple[str, str, str], tuple[PublicKey, float]] = attrs.field(factory=dict)

    def warm(self, uri: str, kid: str, alg: str, now: float) -> PublicKey | None:
        """The key when a fresh lookup for it was already answered (no effect needed)."""
        hit = self.hits.get((uri, kid, alg))
        if hit is not None and now < hit[1]:
            return hit[0]
        return None

    def plan(self, uri: str, kid: str, alg: str, now: float) -> PublicKey | None:
        """The cached key, or ``None`` when the key set must be fetched.

        Raises at once when the answer needs no traffic and is no (an unknown kid
        inside the refetch cooldown, a fetch that failed moments ago).
        """
        found = self.warm(uri, kid, alg, now)
        if found is not None:
            return found
        entry = self.entries.get(uri)
        decision, key = plan_lookup(
            entry,
            kid,
            alg,
            now=now,
            last_miss_fetch=self.last_miss_fetch.get(uri),
            last_failure=self.last_failure.get(uri),
            policy=self.policy,
        )
        if decision is Lookup.REJECT:
            raise _kid_not_found(kid, uri)
        if decision is Lookup.UNAVAILABLE:
            raise _key_set_error(uri, "the last fetch failed moments ago")
        if key is not None and entry is not None and entry.is_fresh(now):
            if len(self.hits) >= _MAX_HITS:
                self.hits.clear()
            self.hits[uri, kid, alg] = (key, entry.expires_at)
        return key

    def settle(
        self,
        uri: str,
        kid: str,
        alg: str,
        now: float,
        response: RemoteResponse | None,
        reason: str,
    ) -> PublicKey:
        """Store a fetch's outcome and answer the lookup (stale keys if it failed).

        A fetched set that lacks the kid starts the refetch cooldown; a fetch that
        finds it does not, so a rotation right after a routine refresh is still seen.
        """
        self.fetches += 1
        if response is not None:
            try:
                entry = entry_from_response(
                    response.status_code,
                    response.headers.get("cache-control"),
                    response.body,
                    now=now,
                    policy=self.policy,
                )
            except ValueError as exc:
                reason = str(exc)
            else:
                self.entries[uri] = entry
                # Forget warm hits: a key the platform just removed must stop verifying.
                self.hits.clear()
                self.last_failure.pop(uri, None)
                key = entry.find(kid, alg)
                if key is None:
                    self.last_miss_fetch[uri] = now
                    raise _kid_not_found(kid, uri)
                return key
        self.last_failure[uri] = now
        key = stale_fallback(self.entries.get(uri), kid, alg, now=now, policy=self.policy)
        if key is None:
            raise _key_set_error(uri, reason)
        count_key_lookup("stale")
        return key


def _fetch_flow(cache: KeyCache, uri: str, kid: str, alg: str, now: float) -> Flow[PublicKey]:
    """Under the key set's lock: plan again, fetch on a miss, settle the cache."""
    # Another launch may have fetched while this one waited for the lock.
    key = cache.plan(uri, kid, alg, now)
    if key is not None:
        count_key_lookup("wait")
        return key
    response: RemoteResponse | None = None
    reason = ""
    try:
        policy = cache.policy
        response = yield from get_json_flow(
            uri, timeout=policy.timeout, max_bytes=policy.max_bytes, deadline=policy.deadline
        )
    except RemoteCallFailed as exc:
        reason = exc.reason
    return cache.settle(uri, kid, alg, now, response, reason)


def key_flow(cache: KeyCache, uri: str, kid: str, alg: str, now: float) -> Flow[PublicKey]:
    """Flow: the platform key *kid* for *alg* from the key set at *uri*.

    Yields nothing when the cache answers; otherwise one :class:`Locked` effect
    whose sub-flow yields the key-set fetch's ``HttpRequest`` effects.

    Raises:
        KidNotFoundError: The key set has no usable key with that kid.
        KeySetFetchError: The key set is unavailable and no cached copy can be used.
    """
    key = cache.plan(uri, kid, alg, now)
    if key is not None:
        count_key_lookup("hit")
        return key
    count_key_lookup("refetch" if uri in cache.entries else "miss")
    found: Any = yield Locked(("jwks", uri), _fetch_flow(cache, uri, kid, alg, now))
    return found  # type: ignore[no-any-return]
