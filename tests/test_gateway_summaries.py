"""The API's stats windows (summaries.WindowCache) against a real Redis: the same figures as StatsReader,
each sealed second read once, whole minutes merged once, and Redis failures reported fast."""

from __future__ import annotations

import asyncio
import random

import pytest
import redis.asyncio as aioredis

from gaia_faas.gateway_plugin.stats import StatsReader, StatsRecorder
from gaia_faas.gateway_plugin.summaries import SEALED_AFTER_S, Busy, WindowCache


def test_windows_match_the_reader_and_repeat_queries_read_only_the_newest_seconds(redis_url):
    now = [1_800_000_000.5]
    rng = random.Random(7)

    async def scenario():
        client = aioredis.Redis.from_url(redis_url)
        recorder = StatsRecorder(client, clock=lambda: now[0])
        start = int(now[0]) - 900
        for second in range(start, int(now[0])):
            for _ in range(rng.choice((0, 0, 1, 3))):
                now[0] = second + rng.random()
                recorder.record("f", rng.choice(("cpu", "gpu")), rng.lognormvariate(3, 1), rng.choice((200, 200, 500)))
        now[0] = start + 900.5
        await recorder.flush()
        cache = WindowCache(client, reads_per_s=1e6, clock=lambda: now[0])
        reader = StatsReader(client)
        keys = [("f", "cpu"), ("f", "gpu")]
        for window_s in (900, 61, 7, 1, 600):
            got = await cache.windows(keys, window_s)
            for key in keys:
                want = await reader.recent(*key, window_s, now=now[0])
                assert got[key].summary() == want.summary(), (window_s, key)
        assert got[("f", "cpu")].count > 200 and got[("f", "gpu")].errors > 0  # not an empty comparison
        first_reads = cache.reads
        assert first_reads <= 2 * 900 + 5 * 2 * (SEALED_AFTER_S + 1)
        now[0] += 30  # half a minute later: only the new and the unsealed seconds are read
        await cache.windows(keys, 900)
        assert cache.reads - first_reads <= 2 * (30 + SEALED_AFTER_S)
        got = await cache.windows(keys, 900)
        for key in keys:
            assert got[key].summary() == (await reader.recent(*key, 900, now=now[0])).summary()
        await client.aclose()

    asyncio.run(scenario())


def test_a_failing_redis_fails_fast_and_too_many_waiting_queries_are_busy(redis_server):
    async def scenario():
        client = aioredis.Redis.from_url("redis://127.0.0.1:1/0",
                                         socket_connect_timeout=0.2)
        cache = WindowCache(client, max_waiting=1)
        with pytest.raises(Exception):
            await cache.windows([("f", "cpu")], 60)
        # Within a second of a failure the cache does not ask Redis again.
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(Exception):
            await cache.windows([("f", "cpu")], 60)
        assert loop.time() - started < 0.05
        slow = WindowCache(aioredis.Redis.from_url(redis_server.url), reads_per_s=20, max_waiting=1)
        first = asyncio.create_task(slow.windows([("f", "cpu")], 120))
        await asyncio.sleep(0.05)
        with pytest.raises(Busy):
            await slow.windows([("f", "cpu")], 60)
        first.cancel()
        await client.aclose()
        await slow.redis.aclose()

    asyncio.run(scenario())
