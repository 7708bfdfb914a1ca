"""Secrets never appear in reprs, exception messages, logs or audit rows."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from credlti.errors import CredentialValidationError, CredltiError

from .helpers import Kit, json_response

SECRETS = ("pg-S3cret-pass", "at-original", "rt-original", "client-S3cret")


def test_reprs_audit_and_logs_hold_no_secret(kit: Kit, caplog: pytest.LogCaptureFixture) -> None:
    """Across create, update, refresh, transfer and purge nothing secret is printed or audited."""
    caplog.set_level(logging.DEBUG)
    pg = kit.pg(project_ids=["p1"])
    oauth = kit.oauth()
    kit.vault.update_credential(
        pg, {"body": {"host": "h", "database": "d", "user": "u", "password": "pg-S3cret-pass2"}}
    )
    kit.clock.advance(timedelta(hours=1).total_seconds())
    kit.provider.responses.append(
        json_response(401, {"error": "invalid_client", "error_description": "client-S3cret"})
    )
    with pytest.raises(CredltiError) as info:
        kit.vault.maybe_refresh_token(oauth)
    pending = kit.vault.initiate_credential_transfer(kit.alice, kit.bob, pg)
    kit.vault.schedule_credential_deletion(oauth)
    kit.vault.purge_deleted()
    texts = [
        repr(pg),
        repr(oauth),
        repr(oauth.oauth_token),
        repr(kit.vault),
        repr(pending),
        repr(kit.store),
        repr(kit.notifier),
        repr(kit.clients),
        str(info.value),
        repr(info.value),
        repr(info.value.details),
        caplog.text,
        *(repr(e) for e in kit.audit.events),
    ]
    blob = "\n".join(texts)
    for secret in (*SECRETS, "pg-S3cret-pass2", pending.token):
        assert secret not in blob


def test_validation_errors_do_not_echo_values(kit: Kit) -> None:
    """A bad secret value in a body is not repeated in the error or its details."""
    with pytest.raises(CredentialValidationError) as info:
        kit.vault.create_credential(
            {
                "name": "x",
                "schema": "postgresql",
                "owner_id": "alice",
                "body": {
                    "host": "h",
                    "database": "d",
                    "user": "u",
                    "password": 99,
                    "port": "pg-S3cret-pass",
                },
            }
        )
    text = str(info.value) + repr(info.value.details) + repr(info.value.field_errors)
    assert "pg-S3cret-pass" not in text
    assert "99" not in text
