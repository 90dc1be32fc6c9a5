"""Latency histogram accuracy, and the recorder -> Redis -> reader path with several replicas."""

from __future__ import annotations

import asyncio
import math
import random

import pytest
import redis.asyncio as aioredis

from gaia_faas.gateway_plugin.stats import (
    LatencyHistogram,
    StatsReader,
    StatsRecorder,
    aggregate,
    parse_bucket,
    stats_key,
)
from gaia_faas.processes import free_port


def exact_quantile(values, q):
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_quantiles_within_two_percent_of_exact(seed):
    rng = random.Random(seed)
    values = [rng.lognormvariate(3.0, 1.5) for _ in range(20_000)] + [0.05, 0.0004, 250_000.0]
    histogram = LatencyHistogram.of(values)
    assert histogram.count == len(values)
    assert histogram.sum_ms == pytest.approx(sum(values))
    for q in (0.0, 0.01, 0.5, 0.9, 0.95, 0.99, 0.999, 1.0):
        exact = exact_quantile(values, q)
        estimate = histogram.quantile(q)
        if exact <= 0.001:
            assert estimate == 0.0
        else:
            assert abs(estimate - exact) / exact <= 0.02, (q, estimate, exact)


def test_merge_equals_histogram_of_union():
    rng = random.Random(7)
    a = [rng.uniform(1, 500) for _ in range(3000)]
    b = [rng.expovariate(0.01) + 0.5 for _ in range(5000)]
    merged = LatencyHistogram.of(a).merge(LatencyHistogram.of(b))
    union = LatencyHistogram.of(a + b)
    assert merged.bins == union.bins and merged.count == union.count
    assert merged.sum_ms == pytest.approx(union.sum_ms)


def test_empty_histogram_and_bad_quantile():
    assert LatencyHistogram().quantile(0.5) is None
    with pytest.raises(ValueError, match="within"):
        LatencyHistogram.of([1.0]).quantile(1.5)


def test_bucket_round_trips_through_redis_fields():
    records = [("f", "cpu", 100.2, 12.5, 200, 10, False), ("f", "cpu", 100.7, 40.0, 500, 0, False),
               ("f", "cpu", 100.9, 3.0, 0, 0, True), ("f", "gpu", 101.0, 1.0, 200, 5, False)]
    buckets = aggregate(records)
    assert set(buckets) == {("f", "cpu", 100), ("f", "gpu", 101)}
    increments, sum_ms = buckets[("f", "cpu", 100)].redis_increments()
    fields = {k: str(v) for k, v in increments.items()} | {"sum": str(sum_ms)}
    bucket = parse_bucket(fields)
    assert bucket.histogram.count == 3 and bucket.errors == 2 and bucket.platform_faults == 1
    assert bucket.status_counts == {200: 1, 500: 1, 0: 1} and bucket.bytes == 10
    assert bucket.histogram.sum_ms == pytest.approx(55.5)


def test_replicas_merge_in_redis_and_reader_matches_exact_quantiles(redis_url):
    """Three recorders (three replicas) write the same seconds; the reader's quantiles are within 5%."""
    rng = random.Random(11)
    now = 1_800_000_000.0
    values = {name: [rng.lognormvariate(4.0, 0.8) for _ in range(4000)] for name in ("r1", "r2", "r3")}

    async def scenario():
        client = aioredis.Redis.from_url(redis_url)
        try:
            for replica, latencies in values.items():
                times = iter([now + (i % 30) + 0.5 for i in range(len(latencies))])
                recorder = StatsRecorder(client, ttl_s=120, clock=lambda: next(times))
                for i, latency in enumerate(latencies):
                    recorder.record("resnet", "gpu", latency, 500 if i % 100 == 0 else 200, nbytes=100)
                assert await recorder.flush() == len(latencies)
            reader = StatsReader(client)
            window = await reader.window("resnet", "gpu", int(now), int(now) + 30)
            ttl = await client.ttl(stats_key("resnet", "gpu", int(now)))
            partial = await reader.window("resnet", "gpu", int(now), int(now) + 10)
            return window, ttl, partial
        finally:
            await client.aclose()

    window, ttl, partial = asyncio.run(scenario())
    every = [v for latencies in values.values() for v in latencies]
    assert window.count == len(every)
    assert window.rate == pytest.approx(len(every) / 30)
    assert window.errors == 3 * 40 and window.status_counts == {200: 3 * 3960, 500: 3 * 40}
    assert window.bytes == 100 * len(every)
    for q in (0.5, 0.95, 0.99):
        exact = exact_quantile(every, q)
        assert abs(window.quantile(q) - exact) / exact <= 0.05, q
    assert 0 < ttl <= 120
    assert partial.count == sum(1 for latencies in values.values() for i in range(len(latencies)) if i % 30 < 10)


def test_reader_rejects_empty_window(redis_url):
    async def scenario():
        client = aioredis.Redis.from_url(redis_url)
        try:
            await StatsReader(client).window("f", "cpu", 10, 10)
        finally:
            await client.aclose()

    with pytest.raises(ValueError, match="empty window"):
        asyncio.run(scenario())


def test_full_buffer_and_unreachable_redis_drop_records_counted():
    async def scenario():
        # Nothing listens on this port: every flush fails the way a stopped Redis does.
        client = aioredis.Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=0.5)
        drops = []
        errors = []
        recorder = StatsRecorder(client, max_buffer=5, on_drop=lambda reason, n: drops.append((reason, n)),
                                 on_redis_error=lambda: errors.append(1))
        for i in range(8):
            recorder.record("f", "cpu", 1.0 + i, 200)
        stored = await recorder.flush()
        await client.aclose()
        return recorder, drops, errors, stored

    recorder, drops, errors, stored = asyncio.run(scenario())
    assert stored == 0
    assert recorder.dropped == {"buffer_full": 3, "redis_error": 5}
    assert drops == [("buffer_full", 1)] * 3 + [("redis_error", 5)]
    assert errors == [1] and recorder.buffered == 0


def test_the_controllers_read_is_the_same_whatever_its_chunks_and_round_trips(redis_url, monkeypatch):
    """`StatsReader.fetch_many` reads about FETCH_CHUNK hashes per script call and FETCH_CALLS_PER_TRIP calls
    per round trip (the event loop runs between trips): every function gets its own seconds back, seconds
    without calls absent, however the keys fall into chunks and trips."""
    from gaia_faas.gateway_plugin import stats
    from gaia_faas.gateway_plugin.loop_share import LoopShare

    async def read(chunk: int, calls: int):
        monkeypatch.setattr(stats, "FETCH_CHUNK", chunk)
        monkeypatch.setattr(stats, "FETCH_CALLS_PER_TRIP", calls)
        redis = aioredis.Redis.from_url(redis_url)
        try:
            reader = StatsReader(redis)
            requests = [(f"fn{i}", ("cpu", "gpu"), 100, 110) for i in range(7)]
            found = await reader.fetch_many(requests, LoopShare())
            return [{variant: {second: bucket.histogram.count for second, bucket in seconds.items()}
                     for variant, seconds in by_variant.items()} for by_variant in found]
        finally:
            await redis.aclose()

    async def record():
        redis = aioredis.Redis.from_url(redis_url)
        at = [0.0]
        recorder = StatsRecorder(redis, clock=lambda: at[0])
        for i in range(7):
            for second in range(100, 110, 1 + i % 3):  # every second, every other one, every third one
                at[0] = second + 0.5
                for _ in range(i + 1):
                    recorder.record(f"fn{i}", "cpu" if second % 2 else "gpu", 10.0, 200)
        await recorder.flush()
        await redis.aclose()

    asyncio.run(record())
    expected = [{"cpu": {s: i + 1 for s in range(100, 110, 1 + i % 3) if s % 2},
                 "gpu": {s: i + 1 for s in range(100, 110, 1 + i % 3) if not s % 2}} for i in range(7)]
    for chunk, calls in ((1000, 4), (3, 2), (1, 1), (7, 3)):  # 140 keys: one trip; 24; 140; 7
        assert asyncio.run(read(chunk, calls)) == expected, (chunk, calls)


def test_the_controllers_read_holds_what_the_policy_reads_of_each_hash(redis_url):
    """`fetch_many` takes each hash apart in Redis (requests, errors, latency bins as integers): the same
    figures as the whole hash read back (`StatsReader.window`), sub-millisecond bins (negative indices),
    errors of both kinds and several replicas' flushes included; read again after Redis lost the script."""
    from gaia_faas.gateway_plugin.loop_share import LoopShare

    async def scenario():
        redis = aioredis.Redis.from_url(redis_url)
        try:
            for replica in range(2):
                recorder = StatsRecorder(redis, clock=lambda: 200.5)
                for i, latency in enumerate((0.0004, 0.2, 3.0, 45.0, 45.0, 1200.0, 98_000.0)):
                    recorder.record("mixed", "cpu", latency, (200, 500, 0, 503)[(i + replica) % 4])
                await recorder.flush()
            reader = StatsReader(redis)
            [found] = await reader.fetch_many([("mixed", ("cpu", "gpu"), 199, 202)], LoopShare())
            whole = await reader.window("mixed", "cpu", 200, 201)
            await redis.script_flush()  # as a restarted Redis: the script is loaded again
            [again] = await reader.fetch_many([("mixed", ("cpu", "gpu"), 199, 202)], LoopShare())
            assert {v: {s: b.histogram.bins for s, b in seconds.items()} for v, seconds in again.items()} == \
                {v: {s: b.histogram.bins for s, b in seconds.items()} for v, seconds in found.items()}
            return found, whole
        finally:
            await redis.aclose()

    found, whole = asyncio.run(scenario())
    assert found["gpu"] == {} and list(found["cpu"]) == [200]
    bucket = found["cpu"][200]
    assert bucket.histogram.count == whole.histogram.count == 14
    assert bucket.errors == whole.errors and bucket.errors > 0
    assert bucket.histogram.bins == whole.histogram.bins and min(bucket.histogram.bins) < 0
