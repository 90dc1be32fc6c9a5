"""Session-wide real servers for the tests: one redis-server on a free loopback port."""

from __future__ import annotations

import pytest

from gaia_faas.processes import RedisServer


@pytest.fixture(scope="session")
def redis_server():
    """A real redis-server for the whole session. Tests that stop it must start it again."""
    server = RedisServer().start()
    yield server
    server.close()


@pytest.fixture
def redis_url(redis_server):
    """The session server's URL with its data flushed, so each test starts from an empty Redis."""
    import redis

    redis_server.start()
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    client.close()
    return redis_server.url
