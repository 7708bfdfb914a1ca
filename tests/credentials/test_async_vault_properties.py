"""Property tests for AsyncVault: every public method, any input, as for Vault.

The strategies and the check are those of ``test_vault_properties`` (each call
either succeeds or raises a CredltiError, a failed call changes no stored row, the
secret appears in no error and no audit event); the vault under test is an
:class:`~credlti.credentials.AsyncVault` on the async adapters, driven through the
blocking view of ``tests/adapters/async_bridge.py``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from credlti.credentials import AsyncVault, Vault

from .async_helpers import ASYNC_BACKENDS, open_async_backend
from .backends import Backend
from .test_vault_gate import assert_clean
from .test_vault_properties import CALLS, SECRET, _run

EXAMPLES = {"async-memory": 40}
#: AsyncVault's name for each Vault method whose name differs (none but close).
RENAMED = {"close": "aclose"}


def _public(cls: type) -> dict[str, Callable[..., object]]:
    return {
        name: member
        for name, member in inspect.getmembers(cls)
        if not name.startswith("_") and callable(member) and not isinstance(member, type)
    }


def test_every_public_vault_method_has_its_async_twin() -> None:
    """Same names (close is aclose), same parameters; each twin's docstring names Vault's."""
    sync, twin = _public(Vault), _public(AsyncVault)
    assert {RENAMED.get(name, name) for name in sync} == set(twin)
    for name, method in sync.items():
        other = twin[RENAMED.get(name, name)]
        assert inspect.signature(other).parameters.keys() == (
            inspect.signature(method).parameters.keys()
        ), name
        assert f"Vault.{name}" in (other.__doc__ or ""), name


@pytest.fixture(name="backend", params=ASYNC_BACKENDS)
def _backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    with open_async_backend(request.param) as backend:
        yield backend


@pytest.mark.parametrize("method", sorted(CALLS))
def test_any_input_works_or_fails_cleanly(backend: Backend, method: str) -> None:
    call = CALLS[method]

    @settings(
        max_examples=EXAMPLES[backend.name],
        deadline=None,
        database=None,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.filter_too_much,
        ],
    )
    @given(data=st.data())
    def check(data: st.DataObject) -> None:
        backend.notifier.down = data.draw(st.booleans())
        seen = len(backend.tee.recorded)
        try:
            error = _run(backend, call, data)
        finally:
            backend.notifier.down = False
        if error is not None:
            assert_clean(error, SECRET)
        for event in backend.tee.recorded[seen:]:
            assert SECRET not in repr(event), event.action

    check()
