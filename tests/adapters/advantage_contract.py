"""Contract suites for the Advantage ports: ``ToolKeyStore`` and ``ServiceTokenCache``.

Subclass :class:`ToolKeyStoreContract` (providing a ``key_store`` fixture) or
:class:`ServiceTokenCacheContract` (providing a ``token_cache`` fixture) in a
``test_*.py`` module to run the same tests against an adapter. An adapter with an
async form (:class:`~credlti.ports.AsyncToolKeyStore`,
:class:`~credlti.ports.AsyncServiceTokenCache`) also provides ``async_key_store`` /
``async_token_cache``: every test then runs against both forms (see
:mod:`tests.adapters.port_driver`).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import attrs
import pytest

from credlti.lti.keys import KeyState, ToolKey, generate_key
from credlti.lti.services import ServiceToken, TokenCacheKey
from tests.adapters.port_driver import PortDriver, TwoForms

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


class ToolKeyStoreContract(TwoForms):
    """What every ``ToolKeyStore`` must do."""

    sync_fixture = "key_store"
    async_fixture = "async_key_store"

    @pytest.fixture
    def key_store(self) -> Any:
        """A fresh, empty store; subclasses override this fixture."""
        raise NotImplementedError

    def test_empty_store_has_no_keys(self, port: PortDriver) -> None:
        """A new store lists nothing and finds nothing."""
        assert port.list_keys() == []
        assert port.get_key(KEYS[0].kid) is None

    def test_saved_keys_come_back_whole_oldest_first(self, port: PortDriver) -> None:
        """Keys round-trip with their private key, state and owner, oldest first."""
        for key in KEYS:
            port.save_key(key)

        listed = port.list_keys()

        assert [k.kid for k in listed] == [KEYS[2].kid, KEYS[0].kid, KEYS[1].kid]
        for key in KEYS:
            found = port.get_key(key.kid)
            assert found is not None
            _same_key(found, key)

    def test_save_replaces_the_key_with_the_same_kid(self, port: PortDriver) -> None:
        """Saving a key again (e.g. after a rotation changed its state) replaces it."""
        port.save_key(KEYS[1])
        promoted = attrs.evolve(KEYS[1], state=KeyState.CURRENT)

        port.save_key(promoted)

        assert [k.state for k in port.list_keys()] == [KeyState.CURRENT]

    def test_delete_reports_whether_a_key_was_there(self, port: PortDriver) -> None:
        """delete_key is True once, then False; other keys stay."""
        port.save_key(KEYS[0])
        port.save_key(KEYS[1])

        assert port.delete_key(KEYS[0].kid) is True
        assert port.delete_key(KEYS[0].kid) is False
        assert [k.kid for k in port.list_keys()] == [KEYS[1].kid]


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


class ServiceTokenCacheContract(TwoForms):
    """What every ``ServiceTokenCache`` must do."""

    sync_fixture = "token_cache"
    async_fixture = "async_token_cache"

    @pytest.fixture
    def token_cache(self) -> Any:
        """A fresh, empty cache; subclasses override this fixture."""
        raise NotImplementedError

    def test_missing_token_is_none(self, port: PortDriver) -> None:
        """Nothing cached: None."""
        assert port.get_token(cache_key()) is None

    def test_put_then_get_returns_an_equal_token(self, port: PortDriver) -> None:
        """A stored token comes back equal: value, scopes, expiry, type."""
        port.put_token(cache_key(), token())

        found = port.get_token(cache_key())

        assert found == token()
        assert found is not None
        assert found.access_token == "access-1"

    def test_put_replaces_and_keys_are_distinct(self, port: PortDriver) -> None:
        """A newer token replaces the older; other scopes or deployments are other keys."""
        port.put_token(cache_key(), token("old"))
        port.put_token(cache_key(), token("new"))
        port.put_token(cache_key(deployment_id="d-1"), token("dep"))
        other_scopes = cache_key(scopes=frozenset({"x"}))

        assert port.get_token(cache_key()) == token("new")
        assert port.get_token(cache_key(deployment_id="d-1")) == token("dep")
        assert port.get_token(other_scopes) is None

    def test_delete_only_drops_the_token_that_was_seen(self, port: PortDriver) -> None:
        """delete(only=stale) leaves a newer token alone; delete(only=current) drops it."""
        port.put_token(cache_key(), token("newer"))

        assert port.delete_token(cache_key(), only=token("stale")) is False
        assert port.get_token(cache_key()) == token("newer")
        assert port.delete_token(cache_key(), only=token("newer")) is True
        assert port.get_token(cache_key()) is None
        assert port.delete_token(cache_key()) is False
