"""A per-variant latency model by request size, and the dispatch rule that uses it (pure).

Sizes fall into log-spaced buckets, `BUCKETS_PER_OCTAVE` per doubling (bucket b holds sizes in
[2**(b/4), 2**((b+1)/4)), about 19 % wide; sizes below 1 share bucket 0). For each variant and bucket the
recorder keeps a latency histogram (stats.LatencyHistogram); `fit` turns them into a `SizeModel`: at each
bucket with at least ``min_samples`` calls (sparser ones pooled with their neighbours, `fit_curve`) the SLO
quantile and the mean latency, linearly interpolated in log-size between bucket centres, held flat below
the smallest observed size and growing beyond the largest as it grew between the last two points, at least
in proportion to the size (`MIN_GROWTH`).

`SizeModel.choose` is the dispatch rule: a size more than an octave beyond all that one variant has served
goes to the other one if that one has served it; otherwise the variants predicted to meet the SLO (the quantile plus the
expected wait behind the calls this replica already has in flight on that variant), the cheapest of them
by price x mean latency (the replica-seconds a call occupies); when none meets it, the fastest. Without an
SLO, the cheapest. `crossover_size` is the smallest size from which the rule, with nothing in flight,
picks the GPU for good (None when it never does within the observed sizes).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping
from dataclasses import dataclass

from gaia_faas.gateway_plugin.stats import LatencyHistogram

CPU, GPU = "cpu", "gpu"
OTHER = {CPU: GPU, GPU: CPU}
BUCKETS_PER_OCTAVE = 4
MIN_SAMPLES = 3  # calls a bucket needs before it counts
_CROSSOVER_STEP = 0.05  # of a bucket: the resolution of the reported crossover (about 1 % in size)


def bucket_of(size: float) -> int:
    """The size bucket of ``size`` (>= 0)."""
    return int(math.floor(BUCKETS_PER_OCTAVE * math.log2(size))) if size > 1.0 else 0


def position(size: float) -> float:
    """``size`` on the bucket axis (continuous: bucket b spans [b, b+1), its centre is b + 0.5)."""
    return BUCKETS_PER_OCTAVE * math.log2(size) if size > 1.0 else 0.0


def size_at(position_: float) -> float:
    return 2.0 ** (position_ / BUCKETS_PER_OCTAVE)


@dataclass(frozen=True)
class Curve:
    """One variant's latency by size: values at the centres of its populated buckets, ascending."""

    centres: tuple[float, ...]
    quantile_ms: tuple[float, ...]
    mean_ms: tuple[float, ...]
    samples: int
    # Growth of log latency per bucket beyond the largest observed size: as between the last two points, at
    # least MIN_GROWTH.
    growth_q: float = 0.0
    growth_mean: float = 0.0

    def at(self, x: float) -> tuple[float, float]:
        """(quantile ms, mean ms) at bucket-axis position ``x``."""
        centres = self.centres
        if x <= centres[0]:
            return self.quantile_ms[0], self.mean_ms[0]
        last = len(centres) - 1
        if x >= centres[last]:
            beyond = x - centres[last]
            return (self.quantile_ms[last] * math.exp(self.growth_q * beyond),
                    self.mean_ms[last] * math.exp(self.growth_mean * beyond))
        i = bisect.bisect_left(centres, x)
        left, right = centres[i - 1], centres[i]
        t = (x - left) / (right - left)
        q, m = self.quantile_ms, self.mean_ms
        return q[i - 1] + t * (q[i] - q[i - 1]), m[i - 1] + t * (m[i] - m[i - 1])

    @property
    def span(self) -> tuple[float, float]:
        return self.centres[0], self.centres[-1]


def fit_curve(buckets: Mapping[int, LatencyHistogram], quantile: float, min_samples: int = MIN_SAMPLES) -> Curve | None:
    """The curve of one variant from its per-bucket histograms; None with fewer than ``min_samples`` calls.

    A bucket with fewer calls is pooled with its larger neighbours until the pool has enough (the pool's
    centre: the calls' mean bucket position), so sparse sizes still make a curve and dense ones keep full
    resolution; calls left over at the top join the last pool."""
    pools: list[tuple[float, LatencyHistogram]] = []
    histogram, weighted = LatencyHistogram(), 0.0
    for bucket in sorted(buckets):
        h = buckets[bucket]
        if not h.count:
            continue
        histogram.merge(h)
        weighted += (bucket + 0.5) * h.count
        if histogram.count >= min_samples:
            pools.append((weighted, histogram))
            histogram, weighted = LatencyHistogram(), 0.0
    if histogram.count:
        if not pools:
            return None
        last_weighted, last = pools[-1]
        pools[-1] = (last_weighted + weighted, last.merge(histogram))
    if not pools:
        return None
    centres = tuple(w / h.count for w, h in pools)
    quantiles = tuple(h.quantile(quantile) for _, h in pools)
    means = tuple(h.mean_ms for _, h in pools)
    return Curve(centres=centres, quantile_ms=quantiles, mean_ms=means, samples=sum(h.count for _, h in pools),
                 growth_q=_growth(centres, quantiles), growth_mean=_growth(centres, means))


# Beyond the largest size a variant served, its latency grows at least in proportion to the size (log
# latency by ln 2 per octave): a variant never looks best for sizes it has not been seen to handle.
MIN_GROWTH = math.log(2.0) / BUCKETS_PER_OCTAVE


def _growth(centres: tuple[float, ...], values: tuple[float, ...]) -> float:
    if len(centres) < 2 or min(values[-2:]) <= 0:
        return MIN_GROWTH
    return max(MIN_GROWTH, math.log(values[-1] / values[-2]) / (centres[-1] - centres[-2]))


@dataclass(frozen=True)
class SizeModel:
    """Both variants' curves and the SLO and prices the rule weighs them with."""

    curves: Mapping[str, Curve]
    slo_ms: float | None
    prices: Mapping[str, float]

    @property
    def complete(self) -> bool:
        """Both variants have a curve: the rule can compare them."""
        return CPU in self.curves and GPU in self.curves

    def choose(self, x: float, wait_cpu_ms: float = 0.0, wait_gpu_ms: float = 0.0) -> str:
        """The variant for a call at bucket-axis position ``x`` (see the module docstring); needs `complete`.
        ``wait_*_ms``: the expected wait behind calls already in flight on each variant."""
        cpu_curve, gpu_curve = self.curves[CPU], self.curves[GPU]
        # Sizes over an octave beyond all that a variant has served go to the one that has served them.
        cpu_seen = x <= cpu_curve.centres[-1] + BUCKETS_PER_OCTAVE
        gpu_seen = x <= gpu_curve.centres[-1] + BUCKETS_PER_OCTAVE
        if cpu_seen != gpu_seen:
            return CPU if cpu_seen else GPU
        cpu_q, cpu_mean = cpu_curve.at(x)
        gpu_q, gpu_mean = gpu_curve.at(x)
        cpu_q += wait_cpu_ms
        gpu_q += wait_gpu_ms
        slo = self.slo_ms
        cpu_cost = self.prices[CPU] * (cpu_mean + wait_cpu_ms)
        gpu_cost = self.prices[GPU] * (gpu_mean + wait_gpu_ms)
        if slo is not None:
            cpu_ok, gpu_ok = cpu_q <= slo, gpu_q <= slo
            if cpu_ok != gpu_ok:
                return CPU if cpu_ok else GPU
            if not cpu_ok:  # neither meets it: the faster
                return CPU if cpu_q <= gpu_q else GPU
        return CPU if cpu_cost <= gpu_cost else GPU

    def worth_exploring(self, x: float, variant: str) -> bool:
        """Whether a call at ``x`` may go to ``variant`` instead of the rule's pick, to keep its curve fresh:
        when that variant is predicted to meet the SLO, or to take at most twice as long as the other."""
        q = self.curves[variant].at(x)[0]
        if self.slo_ms is not None and q <= self.slo_ms:
            return True
        return q <= 2.0 * self.curves[OTHER[variant]].at(x)[0]

    def crossover_size(self) -> float | None:
        """The smallest size from which `choose` (nothing in flight) picks the GPU up to the largest observed
        size; None when the CPU wins at the largest, or the model is not complete."""
        if not self.complete:
            return None
        low = min(c.span[0] for c in self.curves.values())
        high = max(c.span[1] for c in self.curves.values())
        if self.choose(high) != GPU:
            return None
        steps = int(math.ceil((high - low) / _CROSSOVER_STEP))
        x = high
        for i in range(steps, -1, -1):  # walk down from the largest size while the GPU keeps winning
            candidate = low + i * _CROSSOVER_STEP
            if self.choose(candidate) != GPU:
                return size_at(x)
            x = candidate
        return size_at(x)

    def describe(self) -> dict:
        """JSON-ready digest: the crossover and, per variant, the points of its curve."""
        crossover = self.crossover_size()
        return {
            "crossover_size": None if crossover is None else round(crossover, 3),
            "slo_ms": self.slo_ms,
            "variants": {v: {"samples": c.samples,
                             "points": [{"size": round(size_at(x), 3), "quantile_ms": round(q, 3), "mean_ms": round(m, 3)}
                                        for x, q, m in zip(c.centres, c.quantile_ms, c.mean_ms)]}
                         for v, c in sorted(self.curves.items())},
        }


def fit(histograms: Mapping[str, Mapping[int, LatencyHistogram]], *, slo_ms: float | None, slo_percentile: float,
        prices: Mapping[str, float], min_samples: int = MIN_SAMPLES) -> SizeModel:
    """The model from per-variant, per-bucket histograms. The quantile is the SLO percentile's when there
    is an SLO, else the median (only the mean then matters to the rule)."""
    quantile = slo_percentile / 100.0 if slo_ms is not None else 0.5
    curves = {}
    for variant, buckets in histograms.items():
        curve = fit_curve(buckets, quantile, min_samples)
        if curve is not None:
            curves[variant] = curve
    return SizeModel(curves=curves, slo_ms=slo_ms, prices=dict(prices))


def hybrid_worth(model: SizeModel, observed: Mapping[int, int], min_share: float = 0.05) -> bool:
    """Is per-request dispatch worth holding both variants? When the rule sends at least ``min_share`` of the
    recently observed calls (``observed``: calls per size bucket) to each variant (pure). Otherwise one
    variant serves (almost) all sizes best and whole-function routing loses nothing."""
    if not model.complete:
        return False
    total = sum(observed.values())
    if total == 0:
        return False
    on_gpu = sum(n for b, n in observed.items() if model.choose(b + 0.5) == GPU)
    return min(on_gpu, total - on_gpu) >= min_share * total


def standby_pays(model: SizeModel, observed: Mapping[int, int], span_s: float, slots: Mapping[str, int],
                 standby_price_per_s: float) -> bool:
    """Does holding the CPU up next to the GPU for hybrid dispatch pay for itself (pure)? Over the recent
    calls (``observed``: calls per size bucket in the last ``span_s`` seconds), the calls the rule sends to
    the CPU either keep the SLO (the GPU is predicted to miss it for them, the CPU to meet it: that pays,
    whatever it costs), or each saves price_gpu x its GPU mean / a GPU replica's ``slots`` of GPU
    replica-seconds (the platform's autoscaler runs fewer GPU replicas for less load) and spends price_cpu x
    its CPU mean / a CPU replica's slots. Holding the standby costs ``standby_price_per_s`` (its replica,
    busy or not; 0 where it runs anyway, as on CE). It pays when the savings per second reach that."""
    if not model.complete or span_s <= 0:
        return False
    if standby_price_per_s <= 0:
        return True
    cpu_curve, gpu_curve = model.curves[CPU], model.curves[GPU]
    saved = 0.0
    for bucket, count in observed.items():
        x = bucket + 0.5
        if model.choose(x) != CPU:
            continue
        cpu_q, cpu_mean = cpu_curve.at(x)
        gpu_q, gpu_mean = gpu_curve.at(x)
        if model.slo_ms is not None and gpu_q > model.slo_ms >= cpu_q:
            return True
        saved += count * (model.prices[GPU] * gpu_mean / slots[GPU] - model.prices[CPU] * cpu_mean / slots[CPU]) / 1000.0
    return saved / span_s >= standby_price_per_s
