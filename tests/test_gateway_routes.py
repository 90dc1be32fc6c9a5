"""Route state in Redis: writers, pin semantics, pub/sub propagation, cache with Redis away."""

from __future__ import annotations

import asyncio
import time

import pytest
import redis.asyncio as aioredis

from gaia_faas.gateway_plugin.routes import ROUTE_KEY_PREFIX, RoutePinned, RouteTable, default_variant
from gaia_faas.processes import RedisServer


def test_default_variant_follows_mode_and_available_variants():
    assert default_variant(("cpu", "gpu"), "gpu_preferred") == "gpu"
    assert default_variant(("cpu", "gpu"), "gpu") == "gpu"
    assert default_variant(("cpu", "gpu"), "cpu_preferred") == "cpu"
    assert default_variant(("cpu", "gpu"), None) == "cpu"
    assert default_variant(("gpu",), "cpu") == "gpu"
    with pytest.raises(ValueError):
        default_variant((), "cpu")


def test_a_function_without_a_stored_route_follows_its_start_variant_when_its_mode_changes(redis_url):
    """The start-variant routes are made once per function (the proxy asks per request), yet a spec whose
    mode changed starts where the new mode leans, and a route Redis holds still wins."""
    async def scenario():
        client = aioredis.Redis.from_url(redis_url)
        starts = {"resnet": "cpu"}
        table = RouteTable(client, starts.__getitem__)
        try:
            first = table.current("resnet")
            assert (first.variant, first.reason) == ("cpu", "start variant")
            assert table.current("resnet") == first
            starts["resnet"] = "gpu"  # stack.yml now says gpu_preferred
            assert table.current("resnet").variant == "gpu"
            await table.switch("resnet", "cpu", "cpu meets the SLO")
            assert table.current("resnet").variant == "cpu" and table.current("resnet").reason == "cpu meets the SLO"
        finally:
            await client.aclose()

    asyncio.run(scenario())


async def _wait(predicate, timeout=2.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.005)


def test_switch_pin_unpin_and_propagation_under_100ms(redis_url):
    async def scenario():
        clients = [aioredis.Redis.from_url(redis_url) for _ in range(2)]
        changes = []
        writer = RouteTable(clients[0], lambda f: "cpu")
        follower = RouteTable(clients[1], lambda f: "cpu", on_change=lambda old, new: changes.append(new))
        task = asyncio.create_task(follower.run())
        try:
            await _wait(lambda: follower.connected)
            assert follower.current("matmul").variant == "cpu"
            assert follower.current("matmul").reason == "start variant"

            started = time.monotonic()
            state = await writer.switch("matmul", "gpu", "p95 above SLO")
            await _wait(lambda: follower.current("matmul").variant == "gpu")
            propagation = time.monotonic() - started
            assert state.by == "controller" and state.reason == "p95 above SLO" and not state.pinned
            assert follower.current("matmul").reason == "p95 above SLO"

            await writer.pin("matmul", "cpu", "maintenance")
            with pytest.raises(RoutePinned, match="pinned"):
                await writer.switch("matmul", "gpu", "controller wants gpu")
            await _wait(lambda: follower.current("matmul").pinned)
            assert follower.current("matmul").variant == "cpu"

            unpinned = await writer.unpin("matmul")
            assert unpinned.variant == "cpu" and not unpinned.pinned
            await writer.switch("matmul", "gpu", "allowed again")
            await _wait(lambda: follower.current("matmul").variant == "gpu" and not follower.current("matmul").pinned)
            stored = await clients[0].hgetall(ROUTE_KEY_PREFIX + "matmul")
            with pytest.raises(ValueError, match="unknown variant"):
                await writer.switch("matmul", "tpu", "nope")
            return propagation, stored, changes
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            for client in clients:
                await client.aclose()

    propagation, stored, changes = asyncio.run(scenario())
    assert propagation < 0.1
    assert stored[b"variant"] == b"gpu" and stored[b"pinned"] == b"0" and stored[b"by"] == b"controller"
    assert [(c.variant, c.pinned) for c in changes] == [("gpu", False), ("cpu", True), ("cpu", False), ("gpu", False)]


def test_cache_survives_redis_outage_and_resyncs_after():
    """With Redis stopped the table keeps answering from cache; back up, it reloads what changed meanwhile."""
    server = RedisServer().start()
    try:
        async def scenario():
            client = aioredis.Redis.from_url(server.url, socket_connect_timeout=0.3, socket_timeout=1)
            table = RouteTable(client, lambda f: "cpu", reload_interval_s=0.5)
            task = asyncio.create_task(table.run())
            try:
                await _wait(lambda: table.connected)
                await table.switch("resnet", "gpu", "slow on cpu")
                await asyncio.to_thread(server.stop)
                await _wait(lambda: not table.connected, timeout=5)
                assert table.current("resnet").variant == "gpu"  # from cache
                await asyncio.to_thread(server.start)
                # A change made by another replica while this one was disconnected is picked up on reconnect.
                other = aioredis.Redis.from_url(server.url)
                await RouteTable(other, lambda f: "cpu").switch("resnet", "cpu", "recovered")
                await other.aclose()
                await _wait(lambda: table.current("resnet").reason == "recovered", timeout=6)
                return table.current("resnet")
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
                await client.aclose()

        state = asyncio.run(scenario())
        assert state.variant == "cpu"
    finally:
        server.close()


def test_plugin_redis_client_waits_one_timeout_on_a_paused_redis_and_retries_a_dead_connection():
    """The client the plugin builds (app.redis_client): a timeout is not retried; a connection that died
    with a Redis restart is replaced at once."""
    import os
    import signal

    from gaia_faas.gateway_plugin.app import GatewayConfig, redis_client

    with RedisServer() as server:
        async def scenario():
            client = redis_client(GatewayConfig(redis_url=server.url, routes_file="x", redis_timeout_s=0.4))
            await client.set("k", "v")
            os.kill(server._proc.pid, signal.SIGSTOP)
            started = time.monotonic()
            try:
                await client.get("k")
            except Exception as exc:
                error = exc
            finally:
                os.kill(server._proc.pid, signal.SIGCONT)
            took = time.monotonic() - started
            await client.aclose()
            client = redis_client(GatewayConfig(redis_url=server.url, routes_file="x", redis_timeout_s=0.4))
            await client.get("k")  # a pooled connection
            server.stop()
            server.start()
            value = await client.set("k2", "v") and await client.get("k2")  # the dead connection is replaced, no error
            await client.aclose()
            return error, took, value

        error, took, value = asyncio.run(scenario())
    assert "Timeout" in type(error).__name__ and 0.35 <= took < 0.75, (error, took)  # one timeout, not two
    assert value == b"v"
