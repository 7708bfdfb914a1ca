"""The test suite's Redis helper: a URL given wins; without redis-server, a clear error."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.redis_server import ENV_URL, RedisMissingError, temporary_redis


def test_a_given_url_is_used_as_is(monkeypatch: pytest.MonkeyPatch) -> None:
    """CREDLTI_TEST_REDIS_URL set: no server is started, the URL comes back."""
    monkeypatch.setenv(ENV_URL, "redis://example.invalid:1/0")
    with temporary_redis() as url:
        assert url == "redis://example.invalid:1/0"


def test_without_redis_server_the_error_says_how_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """No binary on PATH: RedisMissingError naming apt-get and the variable (CI fails on it)."""
    monkeypatch.delenv(ENV_URL, raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(RedisMissingError, match="apt-get install redis-server"):
        temporary_redis().__enter__()


def test_the_session_server_answers(redis_url: str) -> None:
    """The session fixture hands out a loopback URL of a live server."""
    import redis

    client = redis.Redis.from_url(redis_url)
    assert client.ping() is True
    assert client.config_get("appendonly") in ({b"appendonly": b"no"}, {"appendonly": "no"})
    client.close()
