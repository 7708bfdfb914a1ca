"""Telemetry of the vault: operation spans, OAuth refreshes, purge batches, no secret."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from credlti.credentials._vault_handlers import PURGED_METRIC
from credlti.errors import CredltiError
from tests.otel import Exported, detach, exported

from .helpers import PG_BODY, Kit

SECRETS = [
    PG_BODY["password"],
    "client-S3cret",  # the OAuth client secret
    "at-original",
    "rt-original",
    "at-1",  # the refreshed access token the fake provider hands out
]


@pytest.fixture(name="otel")
def _otel() -> Iterator[Exported]:
    yield exported()
    detach()


def test_create_and_failed_get_are_operation_spans(kit: Kit, otel: Exported) -> None:
    """Each public vault method is a span: operation, outcome, credential id, error code."""
    created = kit.pg()
    with pytest.raises(CredltiError) as caught:
        kit.vault.get_credential_or_raise("no-such-credential")

    (create,) = otel.finished("credlti.credentials.create_credential")
    assert create.attributes == {
        "credlti.operation": "create_credential",
        "credlti.credential_id": created.id,
        "credlti.outcome": "ok",
    }
    (failed,) = otel.finished("credlti.credentials.get_credential_or_raise")
    assert failed.attributes is not None
    assert failed.attributes["credlti.outcome"] == "error"
    assert failed.attributes["credlti.error_code"] == caught.value.code
    otel.assert_no_secret(SECRETS)


def test_a_refresh_is_a_span_with_the_provider_status(kit: Kit, otel: Exported) -> None:
    """maybe_refresh_token: the operation span and the token endpoint request inside it."""
    cred = kit.oauth()
    kit.clock.advance(timedelta(minutes=56).total_seconds())
    kit.vault.maybe_refresh_token(cred, actor_id="worker")

    (operation,) = otel.finished("credlti.credentials.maybe_refresh_token")
    (request,) = otel.finished("credlti.credentials.oauth_refresh")
    assert request.parent is not None
    assert request.parent.span_id == operation.context.span_id
    assert request.attributes == {
        "server.address": "oauth.example.org",
        "http.response.status_code": 200,
        "credlti.outcome": "ok",
    }
    otel.assert_no_secret(SECRETS)


def test_purge_batches_carry_true_counts(kit: Kit, otel: Exported) -> None:
    """One span per purge batch with its counts; the purged counter by action."""
    for name in ("a", "b", "c"):
        kit.vault.schedule_credential_deletion(kit.pg(name=name), actor_id="admin")
    result = kit.vault.purge_deleted(batch_size=2)
    assert (result.scrubbed, result.deleted) == (3, 3)

    batches = otel.finished("credlti.credentials.purge_batch")
    assert [b.attributes for b in batches] == [
        {"credlti.scrubbed": 2, "credlti.deleted": 2, "credlti.kept": 0, "credlti.outcome": "ok"},
        {"credlti.scrubbed": 1, "credlti.deleted": 1, "credlti.kept": 0, "credlti.outcome": "ok"},
    ]
    assert otel.counted(PURGED_METRIC, credlti__action="deleted") == 3
    assert otel.counted(PURGED_METRIC, credlti__action="scrubbed") == 3
    (purge,) = otel.finished("credlti.credentials.purge_deleted")
    assert all(b.parent is not None for b in batches)
    assert {b.parent.span_id for b in batches if b.parent} == {purge.context.span_id}
    otel.assert_no_secret(SECRETS)
