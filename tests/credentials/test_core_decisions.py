"""The pure decisions: transfer checks, purge plans, OAuth freshness and classification."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from credlti.credentials import (
    ClientAuthMethod,
    Credential,
    CredentialRow,
    OAuthClient,
    OAuthToken,
    ProjectShare,
    TransferForm,
    TransferStatus,
    TransferTokenRow,
    VaultUser,
    _deletion,
    _oauth,
    _transfer,
)
from credlti.errors import (
    CredentialNotFoundError,
    NotOwnerError,
    NotPendingError,
    ReauthorizationRequiredError,
    TemporaryRefreshError,
    TransferNotAllowedError,
    TransferTokenError,
    UserNotFoundError,
)

NOW = datetime(2026, 1, 15, 12, tzinfo=timezone.utc)
OWNER = VaultUser(id="o", email="o@x.org")
RECV = VaultUser(id="r", email="r@x.org")


def cred(status: TransferStatus | None = None, projects: tuple[str, ...] = ("p1",)) -> Credential:
    shares = tuple(
        ProjectShare(id=f"s{p}", credential_id="c", project_id=p, created_at=NOW) for p in projects
    )
    return Credential(
        id="c",
        name="n",
        schema="raw",
        owner_id="o",
        body={},
        transfer_status=status,
        shares=shares,
        created_at=NOW,
        updated_at=NOW,
    )


def row_for(token: str, **over: object) -> TransferTokenRow:
    base = _transfer.new_transfer_row(
        row_id="t", credential=cred(), receiver=RECV, token=token, now=NOW, ttl=timedelta(days=2)
    )
    from attrs import evolve

    return evolve(base, **over)  # type: ignore[arg-type]


class TestTransferDecisions:
    def test_initiate_ok(self) -> None:
        """An owner may transfer to a member of every shared project."""
        assert _transfer.check_initiate(cred(), OWNER, RECV, {"p1"}).id == "c"

    @pytest.mark.parametrize(
        ("args", "error"),
        [
            ((None, OWNER, RECV, {"p1"}), CredentialNotFoundError),
            ((cred(), OWNER, None, ()), UserNotFoundError),
            ((cred(), RECV, OWNER, {"p1"}), NotOwnerError),
            ((cred(), OWNER, OWNER, {"p1"}), TransferNotAllowedError),
            ((cred(), OWNER, RECV, set()), TransferNotAllowedError),
        ],
    )
    def test_initiate_errors(self, args: tuple, error: type[Exception]) -> None:  # type: ignore[type-arg]
        """Each refusal is its own typed error."""
        with pytest.raises(error):
            _transfer.check_initiate(*args)

    def test_missing_projects_are_listed(self) -> None:
        """The error names the projects the receiver lacks."""
        with pytest.raises(TransferNotAllowedError) as info:
            _transfer.check_initiate(cred(projects=("p1", "p2")), OWNER, RECV, {"p1"})
        assert info.value.field_errors[0].message.endswith("p2")

    def test_token_is_long_and_only_hash_stored(self) -> None:
        """Tokens carry >= 32 random bytes; the row holds only the SHA-256."""
        token = _transfer.encode_token(bytes(32))
        assert len(token) >= 43
        assert row_for(token).token_hash == _transfer.hash_token(token) != token.encode()
        with pytest.raises(ValueError, match="32"):
            _transfer.encode_token(bytes(16))

    def test_confirm_ok(self) -> None:
        """The right token, owner and receiver confirm a pending transfer."""
        row = row_for("tok")
        got = _transfer.check_confirm(
            cred(TransferStatus.PENDING), RECV, "o", "tok", [row], {"p1"}, NOW
        )
        assert got == row

    @pytest.mark.parametrize(
        ("kwargs", "error"),
        [
            ({"credential": None}, CredentialNotFoundError),
            ({"receiver": None}, UserNotFoundError),
            ({"token": "wrong"}, TransferTokenError),
            ({"rows": []}, TransferTokenError),
            ({"owner_id": "r"}, NotOwnerError),
            ({"receiver": VaultUser(id="z", email="z@x")}, TransferTokenError),
            ({"now": NOW + timedelta(days=2)}, TransferTokenError),
            ({"credential": cred(None)}, NotPendingError),
            ({"projects": set()}, TransferNotAllowedError),
        ],
    )
    def test_confirm_errors(self, kwargs: dict, error: type[Exception]) -> None:  # type: ignore[type-arg]
        """Every way a confirmation can fail has its own typed error."""
        args: dict[str, Any] = {
            "credential": cred(TransferStatus.PENDING),
            "receiver": RECV,
            "owner_id": "o",
            "token": "tok",
            "rows": [row_for("tok")],
            "projects": {"p1"},
            "now": NOW,
        }
        args.update(kwargs)
        with pytest.raises(error):
            _transfer.check_confirm(
                args["credential"],
                args["receiver"],
                args["owner_id"],
                args["token"],
                args["rows"],
                args["projects"],
                args["now"],
            )

    def test_revoke(self) -> None:
        """Revoke needs the credential, its owner and a pending status, in that order."""
        assert _transfer.check_revoke(cred(TransferStatus.PENDING), "o").id == "c"
        for credential, owner, error in [
            (None, "o", CredentialNotFoundError),
            (cred(TransferStatus.PENDING), "x", NotOwnerError),
            (cred(), "o", NotPendingError),
            (cred(TransferStatus.COMPLETED), "o", NotPendingError),
        ]:
            with pytest.raises(error):
                _transfer.check_revoke(credential, owner)

    @pytest.mark.parametrize(
        ("email", "receiver", "projects", "message"),
        [
            (None, None, (), "can't be blank"),
            ("no-at-sign", None, (), "must have the @ sign and no spaces"),
            ("O@X.org", OWNER, {"p1"}, "You cannot transfer a credential to yourself"),
            ("who@x.org", None, (), "User does not exist"),
            ("r@x.org", RECV, set(), "User doesn't have access to these projects: p1"),
            ("x" * 200 + "@x.org", None, (), "should be at most 160 character(s)"),
        ],
    )
    def test_validate_form(
        self, email: str | None, receiver: VaultUser | None, projects: set[str], message: str
    ) -> None:
        """Form validation reports one message per failed rule (emails case-insensitive)."""
        form = _transfer.validate_transfer_form(
            TransferForm(email=email), OWNER, cred(), receiver, projects
        )
        assert form.validated
        assert not form.valid
        assert [e.message for e in form.errors] == [message]

    def test_validate_form_ok(self) -> None:
        """A valid form carries the receiver."""
        form = _transfer.validate_transfer_form(
            TransferForm(email="r@x.org"), OWNER, cred(), RECV, {"p1"}
        )
        assert form.valid
        assert form.receiver == RECV


class TestDeletionDecisions:
    def row(self, cid: str, when: datetime | None, body: bytes | None = b"x") -> CredentialRow:
        return CredentialRow(
            id=cid,
            name=cid,
            schema="raw",
            owner_id="o",
            body_ciphertext=body,
            scheduled_deletion=when,
            created_at=NOW,
            updated_at=NOW,
        )

    def test_deletion_date(self) -> None:
        """Absent days means now; otherwise now plus the days; negative is refused."""
        assert _deletion.deletion_date(NOW, None) == NOW
        assert _deletion.deletion_date(NOW, 7) == NOW + timedelta(days=7)
        with pytest.raises(ValueError, match=">= 0"):
            _deletion.deletion_date(NOW, -1)

    def test_plan(self) -> None:
        """Due rows are scrubbed; those with activity are kept, the rest deleted."""
        rows = [
            self.row("a", NOW),
            self.row("b", NOW - timedelta(days=1), None),
            self.row("c", NOW + timedelta(seconds=1)),
            self.row("d", None),
        ]
        plan = _deletion.plan_purge(rows, NOW, {"b"})
        assert plan.scrub == ("a", "b")
        assert plan.delete == ("a",)
        assert plan.keep == ("b",)
        assert plan.newly_scrubbed == 1


class TestOAuthDecisions:
    def token(self, expires_at: datetime | None) -> OAuthToken:
        return OAuthToken(
            access_token="a",
            refresh_token="r",
            scopes=("s",),
            expires_at=expires_at,
            last_refreshed=NOW,
            extra={"instance_url": "u"},
            version=3,
        )

    @pytest.mark.parametrize(
        ("delta", "fresh"),
        [
            (timedelta(minutes=6), True),
            (timedelta(minutes=5), False),
            (timedelta(0), False),
            (None, False),
        ],
    )
    def test_freshness(self, delta: timedelta | None, fresh: bool) -> None:
        """Fresh only while expiry is strictly more than the buffer ahead; unknown is stale."""
        tok = self.token(NOW + delta if delta is not None else None)
        assert _oauth.is_fresh(tok, NOW, timedelta(minutes=5)) is fresh

    @pytest.mark.parametrize(
        ("data", "expected"),
        [
            ({"expires_in": 60}, NOW + timedelta(seconds=60)),
            ({"expires_in": "60", "expires_at": 1}, NOW + timedelta(seconds=60)),
            ({"expires_at": int((NOW + timedelta(hours=1)).timestamp())}, NOW + timedelta(hours=1)),
            ({"expires_at": "2026-01-15T13:00:00Z"}, NOW + timedelta(hours=1)),
            ({"expires_in": 0}, None),
            ({}, None),
        ],
    )
    def test_parse_expiry(self, data: dict, expected: datetime | None) -> None:  # type: ignore[type-arg]
        """expires_in wins; expires_at may be epoch or ISO-8601."""
        assert _oauth.parse_expiry(data, NOW) == expected

    def test_refresh_response_keeps_previous_values(self) -> None:
        """A response without refresh_token, scope, type or expiry keeps the old values."""
        new = _oauth.parse_token_response(
            200,
            b'{"access_token": "n"}',
            None,
            self.token(NOW),
            NOW,
            default_lifetime=timedelta(hours=1),
        )
        assert (new.access_token, new.refresh_token, new.scopes, new.token_type) == (
            "n",
            "r",
            ("s",),
            "Bearer",
        )
        assert new.expires_at == NOW + timedelta(hours=1)
        assert new.extra["instance_url"] == "u"
        rotated = _oauth.parse_token_response(
            200,
            b'{"access_token": "n", "refresh_token": "r2", "scope": "a b"}',
            None,
            self.token(NOW),
            NOW,
            default_lifetime=None,
        )
        assert rotated.refresh_token == "r2"
        assert rotated.scopes == ("a", "b")
        assert rotated.expires_at is None

    @pytest.mark.parametrize(
        ("status", "body", "retry", "kind", "wait"),
        [
            (400, b'{"error": "invalid_grant"}', None, ReauthorizationRequiredError, None),
            (401, b"", None, ReauthorizationRequiredError, None),
            (500, b'{"error": "invalid_grant"}', None, ReauthorizationRequiredError, None),
            (429, b"", "7", TemporaryRefreshError, 7.0),
            (503, b"", "Thu, 15 Jan 2026 12:00:30 GMT", TemporaryRefreshError, 30.0),
            (500, b"", None, TemporaryRefreshError, None),
            (502, b"<html>", None, TemporaryRefreshError, None),
            (504, b"", "soon", TemporaryRefreshError, None),
            (None, b"", None, TemporaryRefreshError, None),
            (418, b"", None, ReauthorizationRequiredError, None),
            (400, b'{"error": "temporarily_unavailable"}', None, TemporaryRefreshError, None),
        ],
    )
    def test_classify(
        self, status: int | None, body: bytes, retry: str | None, kind: type, wait: float | None
    ) -> None:
        """400/401/invalid_grant need reauthorisation; 408/429/5xx/network are temporary."""
        err = _oauth.classify_failure(status, body, retry, NOW)
        assert type(err) is kind
        assert err.retry_after == wait

    @pytest.mark.parametrize("body", [b"not json", b"[]", b'{"token_type": "Bearer"}'])
    def test_unusable_success_is_temporary(self, body: bytes) -> None:
        """A 200 without a usable access_token is a temporary failure."""
        with pytest.raises(TemporaryRefreshError):
            _oauth.parse_token_response(
                200, body, None, self.token(NOW), NOW, default_lifetime=None
            )

    def test_client_auth_methods(self) -> None:
        """Secret in the form (post), in a Basic header (basic), or none (public client)."""
        base = OAuthClient(
            id="c", client_id="id:1", client_secret="s/2", token_endpoint="https://t"
        )
        headers, form = _oauth.build_refresh_request(base, "rt")
        assert form == {
            "grant_type": "refresh_token",
            "refresh_token": "rt",
            "client_id": "id:1",
            "client_secret": "s/2",
        }
        from attrs import evolve

        headers, form = _oauth.build_refresh_request(
            evolve(base, auth_method=ClientAuthMethod.CLIENT_SECRET_BASIC), "rt"
        )
        assert "client_secret" not in form
        assert headers["Authorization"] == "Basic aWQlM0ExOnMlMkYy"
        _, form = _oauth.build_refresh_request(
            evolve(base, auth_method=ClientAuthMethod.NONE), "rt"
        )
        assert form["client_id"] == "id:1"
        assert "client_secret" not in form

    def test_grant_validation(self) -> None:
        """Create-time tokens need access+refresh tokens, Bearer, scopes and expected scopes."""
        tok, errors = _oauth.token_from_grant(
            {
                "access_token": "a",
                "refresh_token": "r",
                "token_type": "bearer",
                "scopes": ["A"],
                "expires_in": 10,
            },
            NOW,
            expected_scopes="a offline_access",
        )
        assert errors == ()
        assert tok is not None
        assert tok.scopes == ("A",)
        _, errors = _oauth.token_from_grant(
            {"token_type": "mac", "expires_in": "soon"}, NOW, expected_scopes=["x"]
        )
        assert {e.path for e in errors} == {
            "oauth_token.access_token",
            "oauth_token.refresh_token",
            "oauth_token.token_type",
            "oauth_token.scope",
            "oauth_token.expires_in",
        }
        _, errors = _oauth.token_from_grant(
            {"access_token": "a", "refresh_token": "r", "scope": "b"}, NOW, expected_scopes=["c"]
        )
        assert errors[0].message.startswith("missing required scopes: c")
        assert _oauth.token_from_grant("x", NOW)[1][0].path == "oauth_token"
