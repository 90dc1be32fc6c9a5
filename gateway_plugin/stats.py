"""Latency statistics: a mergeable log-bin histogram, the Redis recorder that fills it, and its reader.

Every finished call lands in a per-process buffer (`StatsRecorder.record`, never waits on Redis). A flush
task aggregates the buffer into one histogram per (function, variant, second) and adds it into Redis with
HINCRBY in one pipeline, so replicas merge by simply adding into the same hash. `StatsReader.window`
sums the seconds of a window back into one histogram plus counts.

Redis layout (one hash per function, variant and whole second, expiring after ``ttl_s``):
``gaia:stats:{function}:{variant}:{unix_second}`` with fields
``n`` (requests), ``sum`` (latency ms, float), ``bytes``, ``err`` (status >= 500 or no response),
``pf`` (platform faults: the variant failed as a platform, see proxy.py), ``s:{status}`` (count per status
code; 0 = no response) and ``b:{bin}`` (count per latency bin, see `LatencyHistogram`).

Sized calls (functions that declare `com.gaia.size-from`, see size_model.py) also land, by size bucket, in
``gaia:size:{function}:{variant}:{minute}`` (minute = unix time // 60) with fields ``{size bucket}:{bin}``
(count per latency bin), expiring after ``size_ttl_s``: the per-variant latency-by-size model of all replicas.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from redis.exceptions import NoScriptError

from gaia_faas.gateway_plugin.loop_share import LoopShare

STATS_KEY_PREFIX = "gaia:stats:"
SIZE_KEY_PREFIX = "gaia:size:"
SIZE_SLICE_S = 60  # one size hash per minute: the model reads the last few and forgets older ones

# Bins grow by GAMMA = (1 + a) / (1 - a); reporting a bin by 2 * GAMMA**i / (GAMMA + 1) is then within a
# relative error of `a` of every value in the bin (the DDSketch construction). a = 2% leaves headroom
# under the 5% bar for the rank convention of whoever computes the "exact" quantile.
RELATIVE_ACCURACY = 0.02
GAMMA = (1 + RELATIVE_ACCURACY) / (1 - RELATIVE_ACCURACY)
_LOG_GAMMA = math.log(GAMMA)
# Latencies at or below 1 microsecond share bin ZERO_BIN (no meaningful latency is that small).
MIN_TRACKED_MS = 0.001
ZERO_BIN = math.ceil(math.log(MIN_TRACKED_MS) / _LOG_GAMMA) - 1

log = logging.getLogger(__name__)


def bin_of(latency_ms: float) -> int:
    if latency_ms <= MIN_TRACKED_MS:
        return ZERO_BIN
    return math.ceil(math.log(latency_ms) / _LOG_GAMMA)


def bin_value(index: int) -> float:
    """The representative latency (ms) of bin ``index``: within RELATIVE_ACCURACY of all its members."""
    if index <= ZERO_BIN:
        return 0.0
    return 2.0 * GAMMA**index / (GAMMA + 1.0)


@dataclass
class LatencyHistogram:
    """Log-spaced latency histogram in milliseconds; pure, mergeable, quantiles within 2% relative error."""

    bins: dict[int, int] = field(default_factory=dict)
    count: int = 0
    sum_ms: float = 0.0

    def add(self, latency_ms: float, times: int = 1) -> None:
        index = bin_of(latency_ms)
        self.bins[index] = self.bins.get(index, 0) + times
        self.count += times
        self.sum_ms += latency_ms * times

    def merge(self, other: "LatencyHistogram") -> "LatencyHistogram":
        """Add ``other`` into this histogram (in place) and return self."""
        for index, n in other.bins.items():
            self.bins[index] = self.bins.get(index, 0) + n
        self.count += other.count
        self.sum_ms += other.sum_ms
        return self

    @property
    def mean_ms(self) -> float | None:
        return self.sum_ms / self.count if self.count else None

    def quantile(self, q: float) -> float | None:
        """Nearest-rank quantile (the value at rank ceil(q * count)); None when empty."""
        if not 0.0 <= q <= 1.0:
            raise ValueError(f"quantile must be within [0, 1], got {q}")
        if self.count == 0:
            return None
        rank = max(1, math.ceil(q * self.count))
        seen = 0
        for index in sorted(self.bins):
            seen += self.bins[index]
            if seen >= rank:
                return bin_value(index)
        return bin_value(max(self.bins))  # pragma: no cover - counts always add up to self.count

    @classmethod
    def of(cls, latencies_ms: Iterable[float]) -> "LatencyHistogram":
        histogram = cls()
        for value in latencies_ms:
            histogram.add(value)
        return histogram


@dataclass
class WindowStats:
    """What the reader returns for one function, variant and window [start_s, end_s)."""

    function: str
    variant: str
    start_s: int
    end_s: int
    histogram: LatencyHistogram
    errors: int = 0
    platform_faults: int = 0
    bytes: int = 0
    status_counts: dict[int, int] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return self.histogram.count

    @property
    def rate(self) -> float:
        """Requests per second over the window."""
        return self.count / max(1, self.end_s - self.start_s)

    def quantile(self, q: float) -> float | None:
        return self.histogram.quantile(q)

    def summary(self) -> dict:
        """JSON-ready digest (used by GET /gaia/v1/functions)."""
        return {
            "window_s": self.end_s - self.start_s,
            "count": self.count,
            "rate": round(self.rate, 3),
            "p50_ms": _round(self.quantile(0.5)),
            "p95_ms": _round(self.quantile(0.95)),
            "p99_ms": _round(self.quantile(0.99)),
            "mean_ms": _round(self.histogram.mean_ms),
            "errors": self.errors,
            "platform_faults": self.platform_faults,
            "status_counts": {str(k): v for k, v in sorted(self.status_counts.items())},
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def stats_key(function: str, variant: str, second: int) -> str:
    return f"{STATS_KEY_PREFIX}{function}:{variant}:{second}"


def size_key(function: str, variant: str, slice_: int) -> str:
    return f"{SIZE_KEY_PREFIX}{function}:{variant}:{slice_}"


# One successful sized call: (function, variant, unix time at the end, size bucket, latency ms)
SizedRecord = tuple[str, str, float, int, float]


def aggregate_sized(records: Iterable[SizedRecord]) -> dict[tuple[str, str, int], dict[str, int]]:
    """HINCRBY fields per size hash (function, variant, minute) (pure)."""
    hashes: dict[tuple[str, str, int], dict[str, int]] = {}
    for function, variant, at, bucket, latency_ms in records:
        fields = hashes.setdefault((function, variant, int(at // SIZE_SLICE_S)), {})
        name = f"{bucket}:{bin_of(latency_ms)}"
        fields[name] = fields.get(name, 0) + 1
    return hashes


def size_slices(now: float, window_s: float) -> range:
    """The minutes (size hashes) that overlap the last ``window_s`` seconds before ``now``."""
    last = int(now // SIZE_SLICE_S)
    return range(last - max(1, math.ceil(window_s / SIZE_SLICE_S)) + 1, last + 1)


def merge_sized(slices: Iterable[Mapping[int, LatencyHistogram]]) -> dict[int, LatencyHistogram]:
    """Per-bucket histograms of several minutes added into new ones (pure)."""
    merged: dict[int, LatencyHistogram] = {}
    for buckets in slices:
        for bucket, histogram in buckets.items():
            into = merged.get(bucket)
            if into is None:
                into = merged[bucket] = LatencyHistogram()
            into.merge(histogram)
    return merged


def parse_sized(fields: Mapping[bytes | str, bytes | str], into: dict[int, LatencyHistogram]) -> None:
    """Add one size hash read back from Redis into per-bucket histograms (pure)."""
    for raw_key, raw_value in fields.items():
        key = raw_key.decode() if isinstance(raw_key, bytes) else raw_key
        bucket, _, index = key.partition(":")
        histogram = into.get(int(bucket))
        if histogram is None:
            histogram = into[int(bucket)] = LatencyHistogram()
        n = int(raw_value)
        histogram.bins[int(index)] = histogram.bins.get(int(index), 0) + n
        histogram.count += n
        histogram.sum_ms += bin_value(int(index)) * n  # the bin's value: within 2 % of each member


@dataclass
class BucketAggregate:
    """One (function, variant, second) worth of records, ready to be added into its Redis hash."""

    histogram: LatencyHistogram = field(default_factory=LatencyHistogram)
    errors: int = 0
    platform_faults: int = 0
    bytes: int = 0
    status_counts: dict[int, int] = field(default_factory=dict)

    def record(self, latency_ms: float, status: int, nbytes: int = 0, platform_fault: bool = False) -> None:
        """One finished call (status 0: no response; errors: status >= 500 or none)."""
        self.histogram.add(latency_ms)
        self.bytes += nbytes
        self.status_counts[status] = self.status_counts.get(status, 0) + 1
        if status >= 500 or status == 0:
            self.errors += 1
        if platform_fault:
            self.platform_faults += 1

    def add(self, other: "BucketAggregate") -> "BucketAggregate":
        """Merge another bucket's counts into this one (replicas, or seconds of a window)."""
        self.histogram.merge(other.histogram)
        self.errors += other.errors
        self.platform_faults += other.platform_faults
        self.bytes += other.bytes
        for status, n in other.status_counts.items():
            self.status_counts[status] = self.status_counts.get(status, 0) + n
        return self

    def redis_increments(self) -> tuple[dict[str, int], float]:
        """Integer HINCRBY fields and the float latency sum for HINCRBYFLOAT."""
        fields = {"n": self.histogram.count, "bytes": self.bytes, "err": self.errors, "pf": self.platform_faults}
        fields.update({f"s:{status}": n for status, n in self.status_counts.items()})
        fields.update({f"b:{index}": n for index, n in self.histogram.bins.items()})
        return {k: v for k, v in fields.items() if v}, self.histogram.sum_ms


# One finished call: (function, variant, unix time at the end, latency ms, status or 0, bytes, platform fault)
Record = tuple[str, str, float, float, int, int, bool]


def aggregate(records: Iterable[Record]) -> dict[tuple[str, str, int], BucketAggregate]:
    """Group records into per-second buckets (pure)."""
    buckets: dict[tuple[str, str, int], BucketAggregate] = {}
    for function, variant, at, latency_ms, status, nbytes, platform_fault in records:
        key = (function, variant, int(at))
        bucket = buckets.get(key)
        if bucket is None:
            bucket = buckets[key] = BucketAggregate()
        bucket.record(latency_ms, status, nbytes, platform_fault)
    return buckets


def parse_bucket(fields: Mapping[bytes | str, bytes | str]) -> BucketAggregate:
    """Inverse of `BucketAggregate.redis_increments` for one hash read back from Redis, as bytes or str
    (pure)."""
    bucket = BucketAggregate()
    histogram, statuses = bucket.histogram, bucket.status_counts
    for raw_key, value in fields.items():
        key = raw_key if isinstance(raw_key, bytes) else raw_key.encode()
        kind = key[:2]
        if kind == b"b:":
            histogram.bins[int(key[2:])] = int(value)
        elif kind == b"s:":
            statuses[int(key[2:])] = int(value)
        elif key == b"n":
            histogram.count = int(value)
        elif key == b"sum":
            histogram.sum_ms = float(value)
        elif key == b"bytes":
            bucket.bytes = int(value)
        elif key == b"err":
            bucket.errors = int(value)
        elif key == b"pf":
            bucket.platform_faults = int(value)
    return bucket


class StatsRecorder:
    """Bounded in-memory buffer of finished calls, flushed to Redis in pipelined batches.

    ``record`` is synchronous and O(1): the hot path never waits on Redis. When the buffer is full the
    record is dropped and counted (``dropped["buffer_full"]``); a flush that Redis refuses drops its batch
    and counts it (``dropped["redis_error"]``). ``on_drop(reason, n)`` and ``on_redis_error()`` let the
    caller feed its metrics.
    """

    def __init__(self, redis, *, ttl_s: int = 3600, max_buffer: int = 100_000, flush_interval_s: float = 0.25,
                 on_drop=None, on_redis_error=None, clock=time.time, size_ttl_s: int = 900):
        self.redis = redis
        self.ttl_s = ttl_s
        self.size_ttl_s = size_ttl_s
        self.max_buffer = max_buffer
        self.flush_interval_s = flush_interval_s
        self.dropped: dict[str, int] = {"buffer_full": 0, "redis_error": 0}
        self.flushed = 0
        self._buffer: list[Record] = []
        self._sized: list[SizedRecord] = []
        self._on_drop = on_drop
        self._on_redis_error = on_redis_error
        self._clock = clock

    def record(self, function: str, variant: str, latency_ms: float, status: int, nbytes: int = 0,
               platform_fault: bool = False) -> None:
        if len(self._buffer) >= self.max_buffer:
            self._count_drop("buffer_full", 1)
            return
        self._buffer.append((function, variant, self._clock(), latency_ms, status, nbytes, platform_fault))

    def record_size(self, function: str, variant: str, bucket: int, latency_ms: float) -> None:
        """A successful call of a sized function (its size bucket), for the latency-by-size model."""
        if len(self._sized) >= self.max_buffer:
            self._count_drop("buffer_full", 1)
            return
        self._sized.append((function, variant, self._clock(), bucket, latency_ms))

    def _count_drop(self, reason: str, n: int) -> None:
        self.dropped[reason] += n
        if self._on_drop is not None:
            self._on_drop(reason, n)

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    async def flush(self) -> int:
        """Write the buffer to Redis; return how many records were stored."""
        if not self._buffer and not self._sized:
            return 0
        batch, self._buffer = self._buffer, []
        sized, self._sized = self._sized, []
        buckets = aggregate(batch)
        pipe = self.redis.pipeline(transaction=False)
        for (function, variant, slice_), fields in aggregate_sized(sized).items():
            key = size_key(function, variant, slice_)
            for name, amount in fields.items():
                pipe.hincrby(key, name, amount)
            pipe.expire(key, self.size_ttl_s)
        for (function, variant, second), bucket in buckets.items():
            key = stats_key(function, variant, second)
            increments, sum_ms = bucket.redis_increments()
            for name, amount in increments.items():
                pipe.hincrby(key, name, amount)
            pipe.hincrbyfloat(key, "sum", sum_ms)
            pipe.expire(key, self.ttl_s)
        try:
            await pipe.execute()
        except Exception as exc:  # any Redis or connection failure: drop the batch, counted
            log.warning("stats flush failed, %d records dropped: %s", len(batch) + len(sized), exc)
            self._count_drop("redis_error", len(batch) + len(sized))
            if self._on_redis_error is not None:
                self._on_redis_error()
            return 0
        self.flushed += len(batch)
        return len(batch)

    async def run(self) -> None:
        """Flush every ``flush_interval_s`` until cancelled; a final flush happens on cancellation."""
        try:
            while True:
                await asyncio.sleep(self.flush_interval_s)
                await self.flush()
        except asyncio.CancelledError:
            await asyncio.shield(self.flush())
            raise


FETCH_CHUNK = 1000  # hashes per script call of `StatsReader.fetch_many` (a call blocks Redis 2-4 ms)
# Script calls per round trip of `fetch_many`: packing a pipeline and parsing its replies hold the event loop,
# ~1.5 ms per call; a leader's first evaluation of 5,000 functions reads 110 calls' worth.
FETCH_CALLS_PER_TRIP = 4
# The seconds of a list of "function variant start end" lines (end exclusive), in that order, and per hash
# what the policy reads of it (`snapshot.build_snapshot`) as integers: {requests, errors, bin, count, bin,
# count, ...}, {} where the second has no hash. The keys are built here, not sent: the client packs each
# argument of a command in Python, and two thousand keys took longer to pack than Redis takes to read
# them. The hash is taken apart here too: a Lua number comes back as an integer reply, which the client
# reads as an int, where the whole hash would be a pair of byte strings per field to slice and convert.
# (Keys a script builds are not declared to Redis: fine on one Redis server, not on a Redis Cluster.)
_READ_BUCKETS_LUA = """
local prefix = ARGV[1]
local out = {}
for name, variant, first, last in string.gmatch(ARGV[2], "(%S+) (%S+) (%d+) (%d+)") do
  for second = tonumber(first), tonumber(last) - 1 do
    local fields = redis.call('HGETALL', prefix .. name .. ':' .. variant .. ':' .. string.format('%d', second))
    local bucket = {}
    if #fields > 0 then
      bucket = {0, 0}
      for j = 1, #fields, 2 do
        local field = fields[j]
        if string.sub(field, 1, 2) == 'b:' then
          bucket[#bucket + 1] = tonumber(string.sub(field, 3))
          bucket[#bucket + 1] = tonumber(fields[j + 1])
        elseif field == 'n' then
          bucket[1] = tonumber(fields[j + 1])
        elseif field == 'err' then
          bucket[2] = tonumber(fields[j + 1])
        end
      end
    end
    out[#out + 1] = bucket
  end
end
return out
"""


def bucket_of_counts(counts: list[int]) -> BucketAggregate:
    """The bucket of one reply of `_READ_BUCKETS_LUA`: its requests, errors and latency bins."""
    return BucketAggregate(LatencyHistogram(dict(zip(counts[2::2], counts[3::2])), counts[0]), counts[1])


class StatsReader:
    """Async reader of the recorded windows, for the API and the controller's asyncio loop."""

    def __init__(self, redis):
        self.redis = redis
        self._read_sha = None  # the fetch_many script's, once loaded

    async def window(self, function: str, variant: str, start_s: int, end_s: int) -> WindowStats:
        """Merged stats of all replicas for whole seconds start_s <= t < end_s (raises on Redis errors)."""
        start_s, end_s = int(start_s), int(end_s)
        if end_s <= start_s:
            raise ValueError(f"empty window: end_s ({end_s}) must be after start_s ({start_s})")
        pipe = self.redis.pipeline(transaction=False)
        for second in range(start_s, end_s):
            pipe.hgetall(stats_key(function, variant, second))
        result = WindowStats(function, variant, start_s, end_s, LatencyHistogram())
        merged = BucketAggregate(histogram=result.histogram)
        for fields in await pipe.execute():
            if fields:
                merged.add(parse_bucket(fields))
        result.errors, result.platform_faults = merged.errors, merged.platform_faults
        result.bytes, result.status_counts = merged.bytes, merged.status_counts
        return result

    async def fetch_many(self, requests: Iterable[tuple[str, Iterable[str], int, int]], share: LoopShare
                         ) -> list[dict[str, dict[int, BucketAggregate]]]:
        """The per-second buckets (seconds without calls absent) of each function's variants for
        ``(function, variants, start_s, end_s)`` each, start_s <= t < end_s, holding what the policy reads:
        requests, errors and latency bins (the controller's evaluation of all functions; raises on Redis
        errors). The hashes are read by a script, ``FETCH_CHUNK`` or a few more per call (a variant's seconds
        stay in one), ``FETCH_CALLS_PER_TRIP`` calls per pipeline: a steady evaluation of 1,000 functions is
        one round trip, Redis work is linear in the seconds read, and there is no per-command client cost
        (which, at thousands of hashes, is most of the time). The event loop runs between the round trips
        and, with ``share`` (`LoopShare`), between functions while the replies are taken apart."""
        plan, calls, lines, hashes = [], [], [], 0
        for function, variants, start_s, end_s in requests:
            await share.pause()
            variants, seconds = list(variants), range(int(start_s), int(end_s))
            plan.append((function, variants, seconds))
            for variant in variants if seconds else ():
                lines.append(f"{function} {variant} {seconds.start} {seconds.stop}")
                hashes += len(seconds)
                if hashes >= FETCH_CHUNK:
                    calls.append("\n".join(lines))
                    lines, hashes = [], 0
        if lines:
            calls.append("\n".join(lines))
        read: list = []
        for first in range(0, len(calls), FETCH_CALLS_PER_TRIP):
            for chunk in await self._read_trip(calls[first:first + FETCH_CALLS_PER_TRIP]):
                read += chunk
        replies = iter(read)
        results = []
        for function, variants, seconds in plan:
            await share.pause()
            found: dict[str, dict[int, BucketAggregate]] = {}
            for variant in variants:
                found[variant] = {second: bucket_of_counts(counts)
                                  for second, counts in zip(seconds, replies) if counts}
            results.append(found)
        return results

    async def _read_trip(self, calls: list[str]) -> list:
        """One pipeline of `_READ_BUCKETS_LUA` calls, by its SHA: redis-py's Script objects would ask
        SCRIPT EXISTS first, a round trip more per pipeline. Loaded again where Redis lost it (a restart)."""
        async def send() -> list:
            pipe = self.redis.pipeline(transaction=False)
            for call in calls:
                pipe.evalsha(self._read_sha, 0, STATS_KEY_PREFIX, call)
            return await pipe.execute()

        if self._read_sha is None:
            self._read_sha = await self.redis.script_load(_READ_BUCKETS_LUA)
        try:
            return await send()
        except NoScriptError:
            self._read_sha = await self.redis.script_load(_READ_BUCKETS_LUA)
            return await send()

    async def recent(self, function: str, variant: str, seconds: int = 60, now: float | None = None) -> WindowStats:
        """The last ``seconds`` whole seconds before now (the current, still-filling second excluded)."""
        end_s = int(time.time() if now is None else now)
        return await self.window(function, variant, end_s - seconds, end_s)

    async def sized_slices(self, function: str, keys: Iterable[tuple[str, int]]) -> dict[tuple[str, int], dict[int, LatencyHistogram]]:
        """The per-bucket latency histograms of each (variant, minute) asked for, merged over all replicas, in
        one pipeline (raises on Redis errors); a minute without calls maps to {}."""
        keys = list(keys)
        pipe = self.redis.pipeline(transaction=False)
        for variant, slice_ in keys:
            pipe.hgetall(size_key(function, variant, slice_))
        result: dict[tuple[str, int], dict[int, LatencyHistogram]] = {}
        for key, fields in zip(keys, await pipe.execute() if keys else ()):
            parse_sized(fields, result.setdefault(key, {}))
        return result

    async def sized(self, function: str, variants: Iterable[str], now: float, window_s: int) -> dict[str, dict[int, LatencyHistogram]]:
        """Per variant, the latency histogram of each size bucket over the minutes that overlap the last
        ``window_s`` seconds (`size_slices`), merged over all replicas (raises on Redis errors)."""
        variants = list(variants)
        read = await self.sized_slices(function, [(v, m) for v in variants for m in size_slices(now, window_s)])
        return {v: merge_sized(buckets for (variant, _), buckets in read.items() if variant == v) for v in variants}
