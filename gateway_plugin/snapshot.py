"""What the policy sees of a function, built the same way live and in replay.

The recorder (stats.py) adds every finished call into a per-second bucket of its variant; the controller
reads those buckets back from Redis (`StatsReader.fetch_many`) and the replay simulator keeps them in memory.
Both hand the buckets to `build_snapshot`, so the policy is fed by one piece of code whatever the source:
the live flush lag, the histogram's 2% quantiles and the per-second granularity are the replay's too.

A second is readable once it ended ``flush_lag_s`` ago (`readable_end_s`): the recorder flushes every 250
ms, so a second read earlier could still be missing calls of some replica.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache

from gaia_faas.gateway_plugin import policy
from gaia_faas.gateway_plugin.controller_config import ControllerConfig
from gaia_faas.gateway_plugin.stats import BucketAggregate, LatencyHistogram, bin_of, bin_value

DEFAULT_FLUSH_LAG_S = 0.3


class _Totals:
    """The latency bins, requests and errors of several seconds added up: what `_summary` reads."""

    __slots__ = ("bins", "count", "errors")

    def __init__(self):
        self.bins: dict[int, int] = {}
        self.count = self.errors = 0

    def add(self, bucket: BucketAggregate) -> None:
        bins = self.bins
        for index, n in bucket.histogram.bins.items():
            bins[index] = bins.get(index, 0) + n
        self.count += bucket.histogram.count
        self.errors += bucket.errors

    def take(self, bucket: BucketAggregate) -> None:
        """Take away a bucket added before (its bins left empty go: `_summary` walks the bins)."""
        bins = self.bins
        for index, n in bucket.histogram.bins.items():
            left = bins[index] - n
            if left:
                bins[index] = left
            else:
                del bins[index]
        self.count -= bucket.histogram.count
        self.errors -= bucket.errors


@dataclass
class BucketSeries:
    """One variant's per-second buckets (unix or virtual seconds -> bucket). The replay only ever adds
    seconds; the controller also drops those its window left behind (`drop_before`)."""

    buckets: dict[int, BucketAggregate] = field(default_factory=dict)
    # The seconds present, ascending, so a window visits only those (a replay evaluates a sparse day of
    # seconds tens of thousands of times); rebuilt whenever seconds were added other than at the end.
    _seconds: list[int] = field(default_factory=list, init=False, repr=False, compare=False)
    # All the seconds held, added up (`total`): the controller's series hold exactly its window, so each
    # evaluation adds the one new second and takes away the one its window left instead of adding up ten.
    # Kept by `extend` and `drop_before`; None until asked for, and once a second changed in place.
    _total: _Totals | None = field(default=None, init=False, repr=False, compare=False)

    def add(self, second: int, bucket: BucketAggregate) -> None:
        """Merge a bucket into second ``second`` (several replicas, or one request at a time)."""
        self._bucket(second).add(bucket)
        self._total = None

    def _bucket(self, second: int) -> BucketAggregate:
        mine = self.buckets.get(second)
        if mine is None:
            in_order = len(self._seconds) == len(self.buckets) and (not self._seconds or second > self._seconds[-1])
            self.buckets[second] = mine = BucketAggregate()
            if in_order:
                self._seconds.append(second)
        return mine

    def extend(self, buckets: Mapping[int, BucketAggregate]) -> None:
        """Seconds read from Redis that this series does not hold yet (the controller reads each once)."""
        if not buckets:  # a variant that served nothing in the seconds read (most GPUs of a pool)
            return
        ordered = sorted(buckets)
        in_order = len(self._seconds) == len(self.buckets) and (not ordered or not self._seconds
                                                                 or ordered[0] > self._seconds[-1])
        self.buckets.update(buckets)
        if in_order:
            self._seconds.extend(ordered)
        if self._total is not None:
            if in_order:  # new seconds after the last: nothing held is replaced
                for second in ordered:
                    self._total.add(buckets[second])
            else:
                self._total = None

    def drop_before(self, second: int) -> None:
        """Forget the seconds before ``second`` (the controller's window moved past them)."""
        if not self.buckets:
            return
        seconds = self.seconds()
        gone = bisect.bisect_left(seconds, second)
        for old in seconds[:gone]:
            bucket = self.buckets.pop(old)
            if self._total is not None:
                self._total.take(bucket)
        del seconds[:gone]

    def total(self) -> _Totals:
        """Every second held, added up."""
        if self._total is None:
            self._total = _Totals()
            for bucket in self.buckets.values():
                self._total.add(bucket)
        return self._total

    def seconds_in(self, start_s: int, end_s: int) -> list[int]:
        """The seconds start_s <= t < end_s that have a bucket, ascending."""
        seconds = self.seconds()
        return seconds[bisect.bisect_left(seconds, start_s):bisect.bisect_left(seconds, end_s)]

    def seconds(self) -> list[int]:
        """The seconds that have a bucket, ascending."""
        if len(self._seconds) != len(self.buckets):
            self._seconds = sorted(self.buckets)
        return self._seconds

    def record(self, second: int, latency_ms: float, status: int, platform_fault: bool = False) -> None:
        """One finished call, as the recorder would aggregate it (errors: 5xx or no response; a platform
        fault: the variant failed as a platform, e.g. refused the connection, see proxy.py)."""
        self._bucket(second).record(latency_ms, status, platform_fault=platform_fault)
        self._total = None

    def window(self, start_s: int, end_s: int) -> BucketAggregate:
        """All calls of whole seconds start_s <= t < end_s, merged."""
        merged = BucketAggregate()
        for second in self.seconds_in(start_s, end_s):
            merged.add(self.buckets[second])
        return merged


def readable_end_s(now: float, flush_lag_s: float = DEFAULT_FLUSH_LAG_S) -> int:
    """The first whole second that may still be incomplete in the recorded stats."""
    return int(math.floor(now - flush_lag_s))


def horizon_start_s(state: policy.PolicyState, config: ControllerConfig, now: float) -> int:
    """The earliest second `build_snapshot` reads: callers fetch [horizon_start_s, readable_end_s)."""
    return int(math.floor(policy.window_start(state, config, now)))


def variant_window(bucket: BucketAggregate, span_s: float, config: ControllerConfig) -> policy.VariantWindow:
    """The policy's view of merged seconds (quantiles within the histogram's 2%); ``span_s``: the time the
    seconds actually cover (the rate is counted over it)."""
    histogram: LatencyHistogram = bucket.histogram
    return _summary(histogram.bins, histogram.count, bucket.errors, span_s, config)


_NO_REQUESTS: dict[tuple[type, float], policy.VariantWindow] = {}


def _no_requests(span_s: float) -> policy.VariantWindow:
    """The window of no requests over ``span_s``, made once per span (records are immutable): most GPUs of
    a pool serve nothing, and the leader would make and drop two such windows per function per evaluation."""
    key = (type(span_s), span_s)
    window = _NO_REQUESTS.get(key)
    if window is None:
        if len(_NO_REQUESTS) >= 1024:  # spans are whole seconds of a window: a few dozen, unless windows grow
            _NO_REQUESTS.clear()
        window = _NO_REQUESTS[key] = policy.VariantWindow(span_s=span_s)
    return window


def _summary(bins: Mapping[int, int], count: int, errors: int, span_s: float,
             config: ControllerConfig, quantiles: bool = True) -> policy.VariantWindow:
    """`variant_window` of a histogram's bins: one walk up the sorted bins gives the median, the SLO's
    percentile (nearest rank, as `LatencyHistogram.quantile`) and the requests slower than the SLO (those
    of the bins from `_first_slow_bin` up: a bin's value grows with its index). Without ``quantiles``
    the counts alone (latency and median None), the bins unsorted."""
    if count == 0:
        return _no_requests(span_s)
    slow_from = None if config.slo_ms is None else _first_slow_bin(config.slo_ms)
    if not quantiles:
        slow = 0 if slow_from is None else sum(n for index, n in bins.items() if index >= slow_from)
        return policy.VariantWindow(count=count, slow=slow, rate_per_s=count / max(1.0, span_s),
                                    errors=min(errors, count), span_s=span_s)
    median_rank = max(1, math.ceil(0.5 * count))
    percentile_rank = max(1, math.ceil(config.slo_percentile / 100.0 * count))
    median = latency = None
    seen = slow = 0
    for index in sorted(bins):
        n = bins[index]
        seen += n
        if median is None and seen >= median_rank:
            median = index
        if latency is None and seen >= percentile_rank:
            latency = index
        if slow_from is not None and index >= slow_from:
            slow += n
    if latency is None or median is None:  # bins that add up to less than the count (never, when recorded)
        latency = max(bins) if latency is None else latency
        median = max(bins) if median is None else median
    latency_ms = bin_value(latency)
    median_ms = latency_ms if median == latency else bin_value(median)
    return policy.VariantWindow(count=count, slow=slow, latency_ms=latency_ms, median_ms=median_ms,
                                rate_per_s=count / max(1.0, span_s), errors=min(errors, count), span_s=span_s)


@lru_cache(maxsize=256)
def _first_slow_bin(slo_ms: float) -> int:
    """The lowest latency bin whose value is over ``slo_ms``: `bin_of`'s or one above it (a bin's value is a
    little below the top of the bin, the bin below tops out under ``slo_ms``)."""
    index = bin_of(slo_ms)
    while bin_value(index) <= slo_ms:
        index += 1
    return index


def _summary_of(recorded: BucketSeries, inside: list[int], span_s: float, config: ControllerConfig,
                quantiles: bool = True) -> policy.VariantWindow:
    """`variant_window` of the seconds ``inside`` of ``recorded`` (ascending, held), adding up only the
    latency bins and errors the policy reads (the leader builds four of these per function per
    evaluation); ``quantiles`` as `_summary`'s."""
    if not inside:
        return _no_requests(span_s)
    if len(inside) == 1:  # the fresh second of a steady evaluation: nothing to add up
        bucket = recorded.buckets[inside[0]]
        return _summary(bucket.histogram.bins, bucket.histogram.count, bucket.errors, span_s, config, quantiles)
    if len(inside) == len(recorded.buckets):  # the controller's window: every second it holds
        total = recorded.total()
    else:
        total = _Totals()
        for second in inside:
            total.add(recorded.buckets[second])
    return _summary(total.bins, total.count, total.errors, span_s, config, quantiles)


def build_snapshot(*, route: str, variants: frozenset[str], pinned: bool, series: Mapping[str, BucketSeries],
                   state: policy.PolicyState, config: ControllerConfig, now: float, end_s: int,
                   fresh_from_s: int | None) -> policy.Snapshot:
    """The policy's snapshot from recorded buckets readable up to ``end_s`` (exclusive).

    ``fresh_from_s``: the first second not yet seen by the previous evaluation (None: the first one), so
    that a request is counted as fresh once. Rates are counted over the time actually observed: at the
    first evaluation the window reaches back only to the first recorded second (a function that just
    started has not been quiet for the rest of the window).
    """
    start_s = min(horizon_start_s(state, config, now), end_s - 1)
    fresh_from = start_s if fresh_from_s is None else min(fresh_from_s, end_s)
    # Each variant's recorded seconds in the window [start_s, end_s), looked up once: the window's first
    # second, its summary and the fresh seconds' all come from them.
    inside = {}
    first = None
    for variant in (policy.CPU, policy.GPU):
        recorded = series.get(variant)
        if recorded is not None and recorded.buckets:
            seconds = inside[variant] = recorded.seconds_in(start_s, end_s)
            if seconds and (first is None or seconds[0] < first):
                first = seconds[0]
    if state.observed_since is not None:
        observed_from = max(start_s, min(int(math.floor(state.observed_since)), end_s - 1))
    else:
        observed_from = first if first is not None else end_s
    windows, fresh = {}, {}
    for variant in (policy.CPU, policy.GPU):
        seconds = inside.get(variant)
        if seconds is None:  # a variant that served nothing yet (most GPUs of a pool)
            windows[variant] = _no_requests(end_s - observed_from)
            fresh[variant] = _no_requests(end_s - fresh_from) if fresh_from < end_s else policy.NO_REQUESTS
            continue
        recorded = series[variant]
        windows[variant] = _summary_of(recorded, seconds, end_s - observed_from, config)
        if fresh_from >= end_s:
            fresh[variant] = policy.NO_REQUESTS
        else:
            if fresh_from > start_s:  # the seconds of the window from fresh_from on: usually its last one
                seconds = seconds[bisect.bisect_left(seconds, fresh_from):]
            elif fresh_from < start_s:  # the window moved past seconds the last evaluation did not see
                seconds = recorded.seconds_in(fresh_from, end_s)
            fresh[variant] = _summary_of(recorded, seconds, end_s - fresh_from, config, quantiles=False)
    return policy.Snapshot(route=route, variants=variants, windows=windows, fresh=fresh, pinned=pinned,
                           active_span_s=None if first is None else float(end_s - first))
