"""The vault's argument gate (pure): every public method checks its arguments here first.

Identifiers that name something to look up (a credential id from a URL, a share id,
a receiver id) are checked with :func:`credlti._text.id_problem`, the same way on
every backend, before they reach a store: a malformed one cannot name anything, so
it is *not found* (the typed not-found error, or ``None`` where the method's
contract says so). Arguments of the wrong type or shape (``actor_id=b"x"``, a plain
``dict`` where a :class:`VaultUser` is expected, a ``batch_size`` of ``0``) raise
:class:`~credlti.errors.VaultArgumentError`. No message repeats the value.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NoReturn

from credlti._text import id_problem
from credlti.credentials._records import Credential, ProjectRef, TransferForm, VaultUser
from credlti.credentials._values import BodyLimits, check_body
from credlti.errors import (
    CredentialNotFoundError,
    CredltiError,
    NotOwnerError,
    StorageError,
    TransferTokenError,
    UserNotFoundError,
    VaultArgumentError,
)

__all__ = [
    "MAX_BATCH_SIZE",
    "actor",
    "attributes",
    "batch_size",
    "credential_id",
    "credential_or_id",
    "email",
    "form",
    "lookup_id",
    "owner_id",
    "project",
    "record",
    "sanitized",
    "transfer_token",
    "user",
    "user_id",
]

#: The largest ``batch_size`` the purge and the key rotation accept.
MAX_BATCH_SIZE = 10_000
#: The longest transfer token accepted (tokens are 43 characters).
_MAX_TOKEN = 128


def _wrong(parameter: str, expected: str, value: object) -> NoReturn:
    msg = f"{parameter} must be {expected}, not {type(value).__name__}"
    raise VaultArgumentError(msg, details={"parameter": parameter})


def _not_found(parameter: str) -> NoReturn:
    raise CredentialNotFoundError(
        f"no credential with this id (the {parameter} is not a valid identifier)",
        details={"parameter": parameter},
    )


def lookup_id(value: object, parameter: str = "credential_id") -> str | None:
    """*value* when it can be an id; ``None`` for malformed text (nothing can match it).

    Raises:
        VaultArgumentError: *value* is not text.
    """
    if not isinstance(value, str):
        _wrong(parameter, "text (an id)", value)
    return None if id_problem(value) else value


def credential_id(value: object, parameter: str = "credential_id") -> str:
    """A credential id to act on; malformed text is CredentialNotFoundError."""
    found = lookup_id(value, parameter)
    if found is None:
        _not_found(parameter)
    return found


def credential_or_id(value: object, parameter: str = "credential") -> str:
    """The id of a :class:`Credential` record or of an id (see :func:`credential_id`)."""
    if isinstance(value, Credential):
        return credential_id(value.id, parameter)
    if not isinstance(value, str):
        _wrong(parameter, "a Credential or its id", value)
    return credential_id(value, parameter)


def record(
    value: object, limits: BodyLimits, parameter: str = "credential", *, ids: bool = True
) -> Credential | None:
    """A credential record given by the caller, checked; ``None`` for ``None`` or an id.

    A record given by the caller is checked like a stored one: valid ids (its own,
    its owner's, its OAuth client's), and a body and token the vault would store;
    ids go through :func:`credential_id`.
    """
    if value is None or (ids and isinstance(value, str)):
        return None
    if isinstance(value, Credential):
        credential_id(value.id, parameter)
        for field in ("owner_id", "oauth_client_id", "schema"):
            text = getattr(value, field)
            if (text is not None or field != "oauth_client_id") and id_problem(text):
                msg = f"{parameter}.{field} is not a valid identifier; pass the credential id"
                raise VaultArgumentError(msg, details={"parameter": parameter})
        token = value.oauth_token
        parts: list[tuple[object, str]] = [(value.body or {}, f"{parameter}.body")]
        if token is not None:
            secrets = {"a": token.access_token, "r": token.refresh_token, "x": dict(token.extra)}
            parts.append((secrets, f"{parameter}.oauth_token"))
        for part, path in parts:
            if check_body(part, limits=limits, path=path)[1]:
                msg = f"{path} holds values the vault would not store; pass the credential id"
                raise VaultArgumentError(msg, details={"parameter": parameter})
        return value
    _wrong(parameter, "a Credential, its id or None", value)


def actor(value: object) -> str | None:
    """An ``actor_id``: ``None`` or a valid id (it is written to the audit trail)."""
    if value is None:
        return None
    problem = id_problem(value)
    if problem:
        msg = f"actor_id {problem}; pass the id of the acting user"
        raise VaultArgumentError(msg, details={"parameter": "actor_id"})
    return value  # type: ignore[return-value]


def user(value: object, parameter: str) -> VaultUser:
    """A :class:`VaultUser` argument (its id is checked by the caller as the role needs)."""
    if not isinstance(value, VaultUser) or not isinstance(value.email, str):
        _wrong(parameter, "a VaultUser", value)
    return value


def user_id(value: object, parameter: str = "receiver_id") -> str:
    """The id of a user to look up; malformed text is UserNotFoundError."""
    found = lookup_id(value, parameter)
    if found is None:
        raise UserNotFoundError(
            f"no user with this id (the {parameter} is not a valid identifier)",
            details={"parameter": parameter},
        )
    return found


def owner_id(value: object, parameter: str = "owner") -> str:
    """The id of the acting owner (a :class:`VaultUser` or an id); malformed is NotOwnerError."""
    if isinstance(value, VaultUser):
        value = value.id
    elif not isinstance(value, str):
        _wrong(parameter, "a VaultUser or a user id", value)
    if id_problem(value):
        raise NotOwnerError(
            f"the {parameter} is not a valid user id, so it owns no credential",
            details={"parameter": parameter},
        )
    return value


def transfer_token(value: object) -> str:
    """A transfer token from a link: printable ASCII text of sane length."""
    if (
        not isinstance(value, str)
        or not 0 < len(value) <= _MAX_TOKEN
        or not value.isascii()
        or not value.isprintable()
    ):
        raise TransferTokenError(
            "the transfer link is invalid or was already used; start a new transfer"
        )
    return value


def attributes(value: object, *, optional: bool = False) -> Mapping[Any, Any]:
    """The ``attrs`` mapping of a create/update/change call (its content is validated later)."""
    if value is None and optional:
        return {}
    if not isinstance(value, Mapping):
        _wrong("attrs", "a mapping of credential fields", value)
    return value


def email(value: object) -> str | None:
    """The receiver email of a transfer form: text or ``None`` (checked by the validation)."""
    if value is not None and not isinstance(value, str):
        _wrong("email", "text or None", value)
    return value


def form(value: object) -> TransferForm:
    """A :class:`TransferForm` argument."""
    if not isinstance(value, TransferForm):
        _wrong("form", "a TransferForm", value)
    return value


def project(value: object, parameter: str = "project") -> ProjectRef:
    """A :class:`ProjectRef` argument."""
    if not isinstance(value, ProjectRef):
        _wrong(parameter, "a ProjectRef", value)
    return value


def batch_size(value: object) -> int | None:
    """``None`` or an integer from 1 to :data:`MAX_BATCH_SIZE`."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_BATCH_SIZE:
        msg = f"batch_size must be an integer from 1 to {MAX_BATCH_SIZE} or None"
        raise VaultArgumentError(msg, details={"parameter": "batch_size"})
    return value


def sanitized(error: CredltiError) -> CredltiError:
    """*error* ready to leave the vault: no internal frames, no foreign chained errors.

    The traceback of the flows (whose frames hold the caller's plaintext) is dropped;
    chained errors are kept only while they are credlti errors, except that a storage
    error keeps its driver's error (the statement and parameters hold ids and
    ciphertexts only: bodies reach storage encrypted).
    """
    link: BaseException = error
    while True:
        nxt = link.__cause__ or link.__context__
        if nxt is None:
            break
        if not isinstance(nxt, CredltiError) and not isinstance(link, StorageError):
            link.__cause__ = None
            link.__context__ = None
            link.__suppress_context__ = True
            break
        if not isinstance(nxt, CredltiError):
            break
        nxt.__traceback__ = None
        link = nxt
    return error.with_traceback(None)
