"""Contract suites for the Advantage ports: ``ToolKeyStore`` and ``ServiceTokenCache``.

Subclass :class:`ToolKeyStoreContract` (providing a ``key_store`` fixture) or
:class:`ServiceTokenCacheContract` (providing a ``token_cache`` fixture) in a
``test_*.py`` module to run the same tests against an adapter.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import attrs
import pytest

from credlti.lti.keys import KeyState, ToolKey, generate_key
from credlti.lti.services import ServiceToken, TokenCacheKey

__all__ = ["KEYS", "ServiceTokenCacheContract", "ToolKeyStoreContract"]

T0 = datetime(2026, 1, 15, 12, 0, tzinfo=timezone.utc)
#: Keys generated once (RSA generation is slow): current RSA, next EC, retired RSA.
KEYS: tuple[ToolKey, ...] = (
    generate_key(now=T0, state=KeyState.CURRENT),
    generate_key(now=T0 + timedelta(seconds=1), state=KeyState.NEXT, alg="ES256"),
    generate_key(
        now=T0 - timedelta(days=3), state=KeyState.RETIRED, owner=("https://lms.example", "c1")
    ),
)


def _same_key(a: ToolKey, b: ToolKey) -> None:
    assert a.to_record() == b.to_record()


class ToolKeyStoreContract:
    """What every ``ToolKeyStore`` must do."""

    @pytest.fixture
    def key_store(self) -> Any:
        """A fresh, empty store; subclasses override this fixture."""
        raise NotImplementedError

    def test_empty_store_has_no_keys(self, key_store: Any) -> None:
        """A new store lists nothing and finds nothing."""
        assert key_store.list_keys() == []
        assert key_store.get_key(KEYS[0].kid) is None

    def test_saved_keys_come_back_whole_oldest_first(self, key_store: Any) -> None:
        """Keys round-trip with their private key, state and owner, oldest first."""
        for key in KEYS:
            key_store.save_key(key)

        listed = key_store.list_keys()

        assert [k.kid for k in listed] == [KEYS[2].kid, KEYS[0].kid, KEYS[1].kid]
        for key in KEYS:
            found = key_store.get_key(key.kid)
            assert found is not None
            _same_key(found, key)

    def test_save_replaces_the_key_with_the_same_kid(self, key_store: Any) -> None:
        """Saving a key again (e.g. after a rotation changed its state) replaces it."""
        key_store.save_key(KEYS[1])
        promoted = attrs.evolve(KEYS[1], state=KeyState.CURRENT)

        key_store.save_key(promoted)

        assert [k.state for k in key_store.list_keys()] == [KeyState.CURRENT]

    def test_delete_reports_whether_a_key_was_there(self, key_store: Any) -> None:
        """delete_key is True once, then False; other keys stay."""
        key_store.save_key(KEYS[0])
        key_store.save_key(KEYS[1])

        assert key_store.delete_key(KEYS[0].kid) is True
        assert key_store.delete_key(KEYS[0].kid) is False
        assert [k.kid for k in key_store.list_keys()] == [KEYS[1].kid]


def cache_key(**changes: Any) -> TokenCacheKey:
    """A token cache key with some fields changed."""
    fields: dict[str, Any] = {
        "issuer": "https://lms.example",
        "client_id": "c1",
        "token_url": "https://lms.example/token",
        "scopes": frozenset({"https://purl.imsglobal.org/spec/lti-ags/scope/score"}),
        "deployment_id": None,
    }
    fields.update(changes)
    return TokenCacheKey(**fields)


def token(value: str = "access-1", *, minutes: int = 60) -> ServiceToken:
    """A service token expiring in *minutes*."""
    return ServiceToken(
        access_token=value,
        scopes=frozenset({"https://purl.imsglobal.org/spec/lti-ags/scope/score"}),
        expires_at=T0 + timedelta(minutes=minutes),
    )


class ServiceTokenCacheContract:
    """What every ``ServiceTokenCache`` must do."""

    @pytest.fixture
    def token_cache(self) -> Any:
        """A fresh, empty cache; subclasses override this fixture."""
        raise NotImplementedError

    def test_missing_token_is_none(self, token_cache: Any) -> None:
        """Nothing cached: None."""
        assert token_cache.get_token(cache_key()) is None

    def test_put_then_get_returns_an_equal_token(self, token_cache: Any) -> None:
        """A stored token comes back equal: value, scopes, expiry, type."""
        token_cache.put_token(cache_key(), token())

        found = token_cache.get_token(cache_key())

        assert found == token()
        assert found is not None
        assert found.access_token == "access-1"

    def test_put_replaces_and_keys_are_distinct(self, token_cache: Any) -> None:
        """A newer token replaces the older; other scopes or deployments are other keys."""
        token_cache.put_token(cache_key(), token("old"))
        token_cache.put_token(cache_key(), token("new"))
        token_cache.put_token(cache_key(deployment_id="d-1"), token("dep"))
        other_scopes = cache_key(scopes=frozenset({"x"}))

        assert token_cache.get_token(cache_key()) == token("new")
        assert token_cache.get_token(cache_key(deployment_id="d-1")) == token("dep")
        assert token_cache.get_token(other_scopes) is None

    def test_delete_only_drops_the_token_that_was_seen(self, token_cache: Any) -> None:
        """delete(only=stale) leaves a newer token alone; delete(only=current) drops it."""
        token_cache.put_token(cache_key(), token("newer"))

        assert token_cache.delete_token(cache_key(), only=token("stale")) is False
        assert token_cache.get_token(cache_key()) == token("newer")
        assert token_cache.delete_token(cache_key(), only=token("newer")) is True
        assert token_cache.get_token(cache_key()) is None
        assert token_cache.delete_token(cache_key()) is False
