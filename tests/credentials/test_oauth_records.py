"""OAuth client metadata, pending-authorization records and their memory store."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from credlti.adapters.memory import MemoryPendingAuthorizations
from credlti.credentials import OAuthClient, PendingAuthorization
from credlti.credentials._authorization import pkce_challenge, secret_text, state_key

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)


def _pending(key: str, at: datetime = NOW, ttl: float = 600) -> PendingAuthorization:
    return PendingAuthorization(
        state_hash=key,
        code_verifier="v" * 43,
        client_id="c",
        user_id="u",
        redirect_uri="https://a.example/cb",
        scopes=(),
        created_at=at,
        expires_at=at + timedelta(seconds=ttl),
    )


def test_scopes_are_normalised() -> None:
    """Scopes given as text (space or comma separated) or lists, de-duplicated, kept in order."""
    client = OAuthClient(
        id="c",
        client_id="x",
        token_endpoint="https://t.example/token",
        mandatory_scopes="openid,  email openid OpenID",
        optional_scopes=["a", " b ", "", "A"],
        project_ids=["p1", "p1"],
    )
    assert client.mandatory_scopes == ("openid", "email")
    assert client.optional_scopes == ("a", "b")
    assert client.project_ids == frozenset({"p1"})


def test_pkce_matches_rfc7636_appendix_b() -> None:
    """The S256 challenge of the RFC's example verifier is the RFC's example challenge."""
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert pkce_challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    assert len(secret_text(bytes(32))) == 43
    assert state_key("s") != state_key("t")


def test_memory_store_is_single_use_and_bounded() -> None:
    """take() returns a record once; expired records and overflow are dropped on put()."""
    store = MemoryPendingAuthorizations(max_entries=3)
    store.put(_pending("a"))
    assert store.take("a") is not None
    assert store.take("a") is None
    store.put(_pending("old", ttl=1))
    store.put(_pending("b", at=NOW + timedelta(seconds=5)))
    assert store.take("old") is None
    for key in ["c", "d", "e"]:
        store.put(_pending(key, at=NOW + timedelta(seconds=5)))
    assert len(store) == 3
    assert store.take("b") is None
    assert store.take("e") is not None
