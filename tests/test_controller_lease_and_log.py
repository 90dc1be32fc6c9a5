"""Leader lease and decision stream against a real redis-server."""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis

from gaia_faas.gateway_plugin.decisions import DecisionLog, DecisionRecord
from gaia_faas.gateway_plugin.leader import LEADER_KEY, LeaderLease


def run(coro):
    return asyncio.run(coro)


def test_one_leader_at_a_time_and_takeover_within_two_ttls(redis_url):
    async def scenario():
        r = aioredis.Redis.from_url(redis_url)
        a = LeaderLease(r, "a", ttl_s=0.6)
        b = LeaderLease(r, "b", ttl_s=0.6)
        assert await a.try_acquire() and a.is_leader
        assert not await b.try_acquire() and not b.is_leader
        assert await a.try_acquire()  # renewal
        assert await b.holder() == "a"
        # a dies (stops renewing, never releases): b runs its loop and must lead within 2 TTLs
        loop = asyncio.get_running_loop()
        died = loop.time()
        task = asyncio.create_task(b.run())
        while not b.is_leader:
            await asyncio.sleep(0.01)
            assert loop.time() - died < 2 * 0.6, "no takeover within two TTLs"
        assert await b.holder() == "b"
        assert not await a.try_acquire() and not a.is_leader
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        assert await r.get(LEADER_KEY) is None  # released on the way out
        await r.aclose()

    run(scenario())


def test_release_only_removes_the_own_lease(redis_url):
    async def scenario():
        r = aioredis.Redis.from_url(redis_url)
        a, b = LeaderLease(r, "a", ttl_s=5), LeaderLease(r, "b", ttl_s=5)
        await a.try_acquire()
        await b.release()
        assert await a.holder() == "a"
        await a.release()
        assert await a.holder() is None and not a.is_leader
        await r.aclose()

    run(scenario())


def test_a_leader_that_cannot_reach_redis_steps_down_when_its_lease_lapses(redis_server, redis_url):
    async def scenario():
        r = aioredis.Redis.from_url(redis_url, socket_connect_timeout=0.2, socket_timeout=0.5)
        lease = LeaderLease(r, "a", ttl_s=0.5)
        assert await lease.try_acquire()
        redis_server.stop()
        try:
            assert await lease.try_acquire()  # still within its last renewal
            await asyncio.sleep(0.55)
            assert not await lease.try_acquire() and not lease.is_leader
        finally:
            redis_server.start()
        await r.aclose()

    run(scenario())


def test_decisions_are_appended_capped_and_read_newest_first(redis_url):
    async def scenario():
        r = aioredis.Redis.from_url(redis_url)
        log = DecisionLog(r, maxlen=50)
        for i in range(300):
            await log.append(DecisionRecord(time=1000.0 + i, function="matmul" if i % 2 else "resnet", action="switch",
                                            from_variant="cpu", to_variant="gpu", reason="cpu-violates-slo",
                                            numbers={"cpu_p_ms": 1200.5, "i": i}, by="test"))
        assert await r.xlen(log.key) < 300  # trimmed (approximately) to maxlen
        newest = await log.recent(limit=3)
        assert [d.numbers["i"] for d in newest] == [299, 298, 297]
        assert newest[0].to_json()["from"] == "cpu" and newest[0].to_json()["to"] == "gpu"
        only = await log.recent(limit=5, function="resnet")
        assert [d.numbers["i"] for d in only] == [298, 296, 294, 292, 290]
        assert all(d.function == "resnet" and d.id for d in only)
        assert await log.recent(function="nobody") == []
        await r.aclose()

    run(scenario())
