"""The pool's holdings in a real Redis: grants are atomic with the capacity and the leader lease, observed
holders are recorded without replacing stored ones, and a lost hash is told apart from an empty pool."""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis

from gaia_faas.gateway_plugin.holdings import EPOCH_FIELD, HOLDINGS_KEY, Holding, Holdings
from gaia_faas.gateway_plugin.leader import LEADER_KEY


def test_grants_never_exceed_the_capacity_even_with_two_writers_at_once(redis_url):
    async def scenario():
        r = aioredis.Redis.from_url(redis_url)
        holdings = Holdings(r)
        assert await holdings.load() == ({}, False)  # nothing yet: not known (a fresh or flushed Redis)
        await r.set(LEADER_KEY, "leader-a")
        # A stale leader (b) and the real one (a) race for a pool of 2 with 6 functions each.
        results = await asyncio.gather(*(holdings.grant(f"f{i}", Holding(since=1.0, by=who), 2, who, 1.0)
                                         for i in range(6) for who in ("leader-a", "leader-b")))
        assert results.count(1) == 2 and results.count(-1) == 6 and results.count(0) == 4
        stored, known = await holdings.load()
        assert known and len(stored) == 2 and all(h.by == "leader-a" for h in stored.values())
        # A holder may renew its own holding when the pool is full; unlimited grants always succeed.
        name = next(iter(stored))
        assert await holdings.grant(name, Holding(since=1.0, warmup_s=3.5), 2, "leader-a", 2.0) == 1
        assert (await holdings.load())[0][name].warmup_s == 3.5
        assert await holdings.grant("f9", Holding(since=2.0), None, "leader-a", 2.0) == 1
        await holdings.release("f9")
        await holdings.release(name)
        assert await holdings.grant("f8", Holding(since=3.0), 2, "leader-a", 3.0) == 1
        await r.aclose()

    asyncio.run(scenario())


def test_observed_holders_are_added_never_replaced_and_a_flush_is_detected(redis_url):
    async def scenario():
        r = aioredis.Redis.from_url(redis_url)
        holdings = Holdings(r)
        await r.set(LEADER_KEY, "me")
        assert await holdings.grant("a", Holding(since=5.0, by="me"), 1, "me", 5.0) == 1
        added = await holdings.record({"a": Holding(since=9.0, by="observed"), "b": Holding(since=9.0, by="observed")}, 9.0)
        assert added == 1
        stored, known = await holdings.load()
        assert known and stored["a"].since == 5.0 and stored["b"].by == "observed"
        await r.flushall()
        assert await holdings.load() == ({}, False)
        assert await holdings.record({}, 10.0) == 0  # rebuilt, empty: known again
        assert await holdings.load() == ({}, True)
        await r.hset(HOLDINGS_KEY, "broken", "{not json")
        stored, _ = await holdings.load()
        assert stored["broken"].by == "damaged"  # a damaged holding still holds
        assert EPOCH_FIELD not in stored
        await r.aclose()

    asyncio.run(scenario())
