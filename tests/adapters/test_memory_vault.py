"""The vault port contracts applied to the memory adapters."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from credlti.adapters.memory import (
    MemoryAuditSink,
    MemoryNotifier,
    MemoryOAuthClientRegistry,
    MemoryStepActivity,
    MemoryUserDirectory,
    MemoryVaultStore,
)
from credlti.credentials import OAuthClient, VaultUser

from .vault_contract import (
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
