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

from gaia_faas.gateway_plugin import policy
from gaia_faas.gateway_plugin.controller_config import ControllerConfig
from gaia_faas.gateway_plugin.stats import BucketAggregate, LatencyHistogram, bin_value

DEFAULT_FLUSH_LAG_S = 0.3


@dataclass
class BucketSeries:
    """One variant's per-second buckets (unix or virtual seconds -> bucket). The replay only ever adds
    seconds; the controller also drops those its window left behind (`drop_before`)."""

    buckets: dict[int, BucketAggregate] = field(default_factory=dict)
    # The seconds present, ascending, so a window visits only those (a replay evaluates a sparse day of
    # seconds tens of thousands of times); rebuilt whenever seconds were added other than at the end.
    _seconds: list[int] = field(default_factory=list, init=False, repr=False, compare=False)

    def add(self, second: int, bucket: BucketAggregate) -> None:
        """Merge a bucket into second ``second`` (several replicas, or one request at a time)."""
        self._bucket(second).add(bucket)

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
        ordered = sorted(buckets)
        in_order = len(self._seconds) == len(self.buckets) and (not ordered or not self._seconds
                                                                 or ordered[0] > self._seconds[-1])
        self.buckets.update(buckets)
        if in_order:
            self._seconds.extend(ordered)

    def drop_before(self, second: int) -> None:
        """Forget the seconds before ``second`` (the controller's window moved past them)."""
        seconds = self.seconds()
        gone = bisect.bisect_left(seconds, second)
        for old in seconds[:gone]:
            del self.buckets[old]
        del seconds[:gone]

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

    def first_second(self, start_s: int, end_s: int) -> int | None:
        """The earliest second start_s <= t < end_s that has a bucket, None when none has."""
        seconds = self.seconds()
        at = bisect.bisect_left(seconds, start_s)
        return seconds[at] if at < len(seconds) and seconds[at] < end_s else None

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


def _summary(bins: Mapping[int, int], count: int, errors: int, span_s: float,
             config: ControllerConfig) -> policy.VariantWindow:
    """`variant_window` of a histogram's bins: one walk up the sorted bins gives the median, the SLO's
    percentile (nearest rank, as `LatencyHistogram.quantile`) and the requests slower than the SLO."""
    if count == 0:
        return policy.VariantWindow(span_s=span_s)
    slo = config.slo_ms
    median_rank = max(1, math.ceil(0.5 * count))
    percentile_rank = max(1, math.ceil(config.slo_percentile / 100.0 * count))
    median = latency = None
    seen = slow = 0
    for index in sorted(bins):
        n = bins[index]
        seen += n
        value = bin_value(index)
        if median is None and seen >= median_rank:
            median = value
        if latency is None and seen >= percentile_rank:
            latency = value
        if slo is not None and value > slo:
            slow += n
    if latency is None or median is None:  # bins that add up to less than the count (never, when recorded)
        latency = bin_value(max(bins)) if latency is None else latency
        median = bin_value(max(bins)) if median is None else median
    return policy.VariantWindow(count=count, slow=slow, latency_ms=latency, median_ms=median,
                                rate_per_s=count / max(1.0, span_s), errors=min(errors, count), span_s=span_s)


def _window_summary(recorded: BucketSeries | None, start_s: int, end_s: int, span_s: float,
                    config: ControllerConfig) -> policy.VariantWindow:
    """`variant_window` of ``recorded.window(start_s, end_s)``, adding up only the latency bins and errors
    the policy reads (the leader builds four of these per function per evaluation)."""
    if recorded is None or not recorded.buckets:  # a variant that served nothing yet (most GPUs of a pool)
        return policy.VariantWindow(span_s=span_s)
    inside = recorded.seconds_in(start_s, end_s)
    if len(inside) == 1:  # the fresh second of a steady evaluation: nothing to add up
        bucket = recorded.buckets[inside[0]]
        return _summary(bucket.histogram.bins, bucket.histogram.count, bucket.errors, span_s, config)
    bins: dict[int, int] = {}
    count = errors = 0
    for second in inside:
        bucket = recorded.buckets[second]
        for index, n in bucket.histogram.bins.items():
            bins[index] = bins.get(index, 0) + n
        count += bucket.histogram.count
        errors += bucket.errors
    return _summary(bins, count, errors, span_s, config)


def _first_second(series: Mapping[str, BucketSeries], start_s: int, end_s: int) -> int | None:
    """The first recorded second in [start_s, end_s) of any variant, None when there is none."""
    firsts = [s for s in (recorded.first_second(start_s, end_s) for recorded in series.values()) if s is not None]
    return min(firsts, default=None)


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
    first = _first_second(series, start_s, end_s)
    if state.observed_since is not None:
        observed_from = max(start_s, min(int(math.floor(state.observed_since)), end_s - 1))
    else:
        observed_from = first if first is not None else end_s
    windows, fresh = {}, {}
    for variant in (policy.CPU, policy.GPU):
        recorded = series.get(variant)
        windows[variant] = _window_summary(recorded, start_s, end_s, end_s - observed_from, config)
        fresh[variant] = (_window_summary(recorded, fresh_from, end_s, end_s - fresh_from, config)
                          if fresh_from < end_s else policy.NO_REQUESTS)
    return policy.Snapshot(route=route, variants=variants, windows=windows, fresh=fresh, pinned=pinned,
                           active_span_s=None if first is None else float(end_s - first))
