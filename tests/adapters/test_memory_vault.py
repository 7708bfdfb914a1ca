"""The vault port contracts applied to the memory adapters."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from credlti.adapters.memory import (
    AsyncMemoryAuditSink,
    AsyncMemoryNotifier,
    AsyncMemoryOAuthClientRegistry,
    AsyncMemoryStepActivity,
    AsyncMemoryUserDirectory,
    AsyncMemoryVaultStore,
    MemoryAuditSink,
    MemoryNotifier,
    MemoryOAuthClientRegistry,
    MemoryStepActivity,
    MemoryUserDirectory,
    MemoryVaultStore,
)
from credlti.adapters.memory._vault import _PURGED_EVENT_IDS, _purged_event_id
from credlti.credentials import OAuthClient, VaultUser

from .async_bridge import blocking
from .vault_contract import (
    AsyncVaultStoreContract,
    AuditSinkContract,
    NotifierContract,
    OAuthClientRegistryContract,
    StepActivityContract,
    UserDirectoryContract,
    VaultStoreContract,
)


class TestMemoryVaultStore(VaultStoreContract):
    @pytest.fixture
    def make_store(self) -> Callable[[], MemoryVaultStore]:
        return MemoryVaultStore


class TestMemoryUserDirectory(UserDirectoryContract):
    @pytest.fixture
    def make_directory(self) -> Callable[[list[tuple[VaultUser, list[str]]]], MemoryUserDirectory]:
        def make(users: list[tuple[VaultUser, list[str]]]) -> MemoryUserDirectory:
            d = MemoryUserDirectory()
            for user, projects in users:
                d.add_user(user, projects=projects)
            return d

        return make


class TestMemoryStepActivity(StepActivityContract):
    @pytest.fixture
    def make_activity(self) -> Callable[[list[str]], MemoryStepActivity]:
        def make(ids: list[str]) -> MemoryStepActivity:
            a = MemoryStepActivity()
            for i in ids:
                a.record(i)
            return a

        return make


class TestMemoryAuditSink(AuditSinkContract):
    @pytest.fixture
    def make_audit(self) -> Callable[[], MemoryAuditSink]:
        return MemoryAuditSink


class TestMemoryClients(OAuthClientRegistryContract):
    @pytest.fixture
    def make_clients(self) -> Callable[[list[OAuthClient]], MemoryOAuthClientRegistry]:
        def make(clients: list[OAuthClient]) -> MemoryOAuthClientRegistry:
            reg = MemoryOAuthClientRegistry()
            for c in clients:
                reg.add(c)
            return reg

        return make


class TestMemoryNotifier(NotifierContract):
    @pytest.fixture
    def make_notifier(self) -> Callable[[], MemoryNotifier]:
        return MemoryNotifier


# ----------------------------------------------------------------- the async forms
#
# The same suites against the async memory adapters, through the blocking view of
# tests/adapters/async_bridge.py.


class TestAsyncMemoryVaultStore(AsyncVaultStoreContract):
    @pytest.fixture
    def make_async_store(self) -> Callable[[], AsyncMemoryVaultStore]:
        return AsyncMemoryVaultStore


class TestAsyncMemoryUserDirectory(UserDirectoryContract):
    @pytest.fixture
    def make_directory(self) -> Callable[[list[tuple[VaultUser, list[str]]]], Any]:
        def make(users: list[tuple[VaultUser, list[str]]]) -> Any:
            d = AsyncMemoryUserDirectory()
            for user, projects in users:
                d.sync.add_user(user, projects=projects)
            return blocking(d)

        return make


class TestAsyncMemoryStepActivity(StepActivityContract):
    @pytest.fixture
    def make_activity(self) -> Callable[[list[str]], Any]:
        def make(ids: list[str]) -> Any:
            a = AsyncMemoryStepActivity()
            for i in ids:
                a.sync.record(i)
            return blocking(a)

        return make


class TestAsyncMemoryAuditSink(AuditSinkContract):
    @pytest.fixture
    def make_audit(self) -> Callable[[], Any]:
        return lambda: blocking(AsyncMemoryAuditSink())


class TestAsyncMemoryNotifier(NotifierContract):
    @pytest.fixture
    def make_notifier(self) -> Callable[[], Any]:
        return lambda: blocking(AsyncMemoryNotifier())


class TestAsyncMemoryOAuthClientRegistry(OAuthClientRegistryContract):
    @pytest.fixture
    def make_clients(self) -> Callable[[list[OAuthClient]], Any]:
        def make(clients: list[OAuthClient]) -> Any:
            reg = AsyncMemoryOAuthClientRegistry()
            for c in clients:
                reg.sync.add(c)
            return blocking(reg)

        return make


@settings(max_examples=300, deadline=None)
@given(name=st.text(st.characters(exclude_categories=["Cs"]), max_size=80))
def test_purge_event_ids_are_the_name_based_uuids(name: str) -> None:
    """The memory sink's fast id is exactly uuid5 of the credential id and time."""
    assert _purged_event_id(name) == str(uuid.uuid5(_PURGED_EVENT_IDS, name))
