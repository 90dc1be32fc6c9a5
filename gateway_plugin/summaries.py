"""Stats windows for the HTTP API, at a bounded cost that never reaches the proxy's latency.

The recorder writes one Redis hash per function, variant and second (stats.py). Reading a one-hour window
straight from Redis is 3,600 HGETALLs per variant, parsed on the worker's event loop, which is the loop
that proxies: four such calls a second once multiplied proxy p50 by a hundred. `WindowCache` instead:

- reads each second from Redis once, after it is sealed (``SEALED_AFTER_S`` old: no replica writes to it
  any more), and keeps it; merges each whole minute once; only the last few seconds are read every time;
- paces its reads to ``reads_per_s`` per worker in batches of ``batch`` hashes, yielding the event loop
  between batches, so a cold one-hour query costs the proxy a few milliseconds of loop time per batch,
  spread over seconds, instead of one stall of hundreds of milliseconds;
- runs one read at a time per worker and refuses (`Busy`, a 429 for the API) when ``max_waiting``
  queries already wait;
- fails fast for a second after Redis failed, so that a paused Redis costs one socket timeout per
  second per worker, not one per query.
"""

from __future__ import annotations

import asyncio
import time

from gaia_faas.gateway_plugin.stats import BucketAggregate, WindowStats, parse_bucket, stats_key

SEALED_AFTER_S = 5  # flushes run every 0.25 s; replicas' clocks agree within a few seconds
MINUTE = 60


class Busy(Exception):
    """Too many API stats queries already wait in this worker."""


class WindowCache:
    def __init__(self, redis, *, reads_per_s: float = 1000.0, max_window_s: int = 3600, batch: int = 25,
                 max_waiting: int = 4, clock=time.time):
        self.redis = redis
        self.reads_per_s = reads_per_s
        self.max_window_s = max_window_s
        self.batch = batch
        self.max_waiting = max_waiting
        self.reads = 0  # Redis hashes read so far (for tests and benchmarks)
        self._clock = clock
        self._seconds: dict[tuple[str, str], dict[int, BucketAggregate | None]] = {}
        self._minutes: dict[tuple[str, str], dict[int, BucketAggregate]] = {}
        self._lock = asyncio.Lock()
        self._waiting = 0
        self._tokens = float(batch)
        self._tokens_at = time.monotonic()
        self._failed: tuple[float, BaseException] | None = None
        self._evicted_at = 0

    async def windows(self, keys: list[tuple[str, str]], window_s: int) -> dict[tuple[str, str], WindowStats]:
        """The last ``window_s`` whole seconds of each (function, variant), merged over all replicas.
        Raises `Busy`, or the Redis error (at once for a second after a failure)."""
        window_s = min(int(window_s), self.max_window_s)
        if self._waiting >= self.max_waiting:
            raise Busy(f"{self._waiting} stats queries already wait in this worker")
        self._waiting += 1
        try:
            async with self._lock:
                failed = self._failed
                if failed is not None and time.monotonic() - failed[0] < 1.0:
                    raise failed[1]
                end_s = int(self._clock())
                try:
                    fresh = await self._fetch(keys, end_s - window_s, end_s)
                except Exception as exc:
                    self._failed = (time.monotonic(), exc)
                    raise
                self._failed = None
                self._evict(end_s)
                return {key: self._merge(key, end_s - window_s, end_s, fresh[key]) for key in keys}
        finally:
            self._waiting -= 1

    async def _fetch(self, keys, start_s: int, end_s: int) -> dict[tuple[str, str], dict[int, BucketAggregate | None]]:
        """Read the sealed seconds not cached yet (into the cache) and the unsealed ones (returned)."""
        sealed_end = end_s - SEALED_AFTER_S
        wanted: list[tuple[tuple[str, str], int, bool]] = []
        for key in keys:
            cached = self._seconds.setdefault(key, {})
            minutes = self._minutes.get(key, {})
            second = start_s
            while second < end_s:
                if second % MINUTE == 0 and second // MINUTE in minutes and second + MINUTE <= end_s:
                    second += MINUTE
                    continue
                if second >= sealed_end:
                    wanted.append((key, second, False))
                elif second not in cached:
                    wanted.append((key, second, True))
                second += 1
        fresh: dict[tuple[str, str], dict[int, BucketAggregate | None]] = {key: {} for key in keys}
        for offset in range(0, len(wanted), self.batch):
            chunk = wanted[offset:offset + self.batch]
            await self._pace(len(chunk))
            pipe = self.redis.pipeline(transaction=False)
            for (function, variant), second, _ in chunk:
                pipe.hgetall(stats_key(function, variant, second))
            results = await pipe.execute()
            self.reads += len(chunk)
            for (key, second, sealed), fields in zip(chunk, results):
                bucket = parse_bucket(fields) if fields else None
                (self._seconds[key] if sealed else fresh[key])[second] = bucket
        return fresh

    async def _pace(self, n: int) -> None:
        """Token bucket: ``reads_per_s`` refill, at most one batch banked; always yields the loop once."""
        now = time.monotonic()
        self._tokens = min(float(self.batch), self._tokens + (now - self._tokens_at) * self.reads_per_s)
        self._tokens_at = now
        self._tokens -= n
        await asyncio.sleep(max(0.0, -self._tokens / self.reads_per_s))

    def _merge(self, key, start_s: int, end_s: int, fresh: dict[int, BucketAggregate | None]) -> WindowStats:
        function, variant = key
        total = BucketAggregate()
        cached = self._seconds[key]
        minutes = self._minutes.setdefault(key, {})
        sealed_end = end_s - SEALED_AFTER_S
        second = start_s
        while second < end_s:
            if second % MINUTE == 0 and second + MINUTE <= min(end_s, sealed_end):
                minute = minutes.get(second // MINUTE)
                if minute is None:
                    minute = minutes[second // MINUTE] = _sum(cached.get(s) for s in range(second, second + MINUTE))
                total.add(minute)
                second += MINUTE
                continue
            bucket = cached.get(second) if second < sealed_end else fresh.get(second)
            if bucket is not None:
                total.add(bucket)
            second += 1
        return WindowStats(function, variant, start_s, end_s, total.histogram, errors=total.errors,
                           platform_faults=total.platform_faults, bytes=total.bytes, status_counts=total.status_counts)

    def _evict(self, end_s: int) -> None:
        """Forget what no window can reach any more (once a minute: a scan of the whole cache)."""
        if end_s - self._evicted_at < MINUTE:
            return
        self._evicted_at = end_s
        oldest = end_s - self.max_window_s - MINUTE
        for cached in self._seconds.values():
            for second in [s for s in cached if s < oldest]:
                del cached[second]
        for minutes in self._minutes.values():
            for minute in [m for m in minutes if m * MINUTE < oldest]:
                del minutes[minute]


def _sum(buckets) -> BucketAggregate:
    total = BucketAggregate()
    for bucket in buckets:
        if bucket is not None:
            total.add(bucket)
    return total
