"""Flow for key rotation: rewrite every ciphertext not made with the primary key.

Credentials are walked in id-ordered batches, each batch in one unit of work; once
the flow returns, older keys can be removed from the key ring.
"""

from __future__ import annotations

from collections.abc import Sequence

from attrs import evolve

from credlti._effects import Emit, Flow
from credlti.credentials._flows_common import seal_token, unseal_token
from credlti.credentials._records import CredentialRow, ReencryptResult
from credlti.credentials._vault_effects import (
    Atomic,
    GetRow,
    GetTokenRow,
    NeedsReseal,
    Open,
    PutTokenRow,
    ScanRows,
    Seal,
    UpdateRow,
)

__all__ = ["reencrypt_flow"]


def reencrypt_flow(batch_size: int) -> Flow[ReencryptResult]:
    """Rewrite every ciphertext not made with the primary key, batch by batch.

    After each committed batch the running totals are emitted (``Emit``).
    """
    after: str | None = None
    bodies = tokens = 0
    while True:
        rows = yield ScanRows(after_id=after, limit=batch_size)
        if not rows:
            break
        after = rows[-1].id
        counts = yield Atomic(flow=_reencrypt_batch(rows))
        bodies += counts[0]
        tokens += counts[1]
        yield Emit(ReencryptResult(credentials=bodies, tokens=tokens))
    return ReencryptResult(credentials=bodies, tokens=tokens)


def _reencrypt_batch(rows: Sequence[CredentialRow]) -> Flow[tuple[int, int]]:
    bodies = tokens = 0
    for scanned in rows:
        row = yield GetRow(credential_id=scanned.id, for_update=True)
        if row is None:
            continue
        blob = row.body_ciphertext
        if blob is not None and (yield NeedsReseal(blob)):
            body = yield Open(ciphertext=blob, kind="credential", record_id=row.id, field="body")
            sealed = yield Seal(value=body, kind="credential", record_id=row.id, field="body")
            yield UpdateRow(evolve(row, body_ciphertext=sealed))
            bodies += 1
        token_row = yield GetTokenRow(row.id)
        if token_row and (yield NeedsReseal(token_row.ciphertext)):
            token = yield from unseal_token(token_row)
            yield PutTokenRow((yield from seal_token(row.id, token_row.client_id, token)))
            tokens += 1
    return bodies, tokens
