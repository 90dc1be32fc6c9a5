"""The routing policy: decides per function whether traffic should move between the CPU and GPU variant.

Pure: ``decide(snapshot, config, state, now)`` returns ``(Decision, new state)`` and reads nothing else (no
I/O, no clock, no globals), so the live controller and ``gaia replay`` run the same code and the unit tests
drive it with synthetic snapshots. The caller acts on the decision and reports back through ``switched``,
``switch_failed`` or ``promotion_denied`` (also pure).

A switch is always "scale the target up, wait until it answers (``Decision.warmup_timeout_s``), then move
the route" (see actuator.py); the policy only says which variant and why, with the numbers behind it.

What counts is what the SLO is about: a request is *bad* when it is slower than ``slo_ms`` or failed (a
5xx or no answer); a variant meets the SLO when its share of bad requests is at most the allowed share
(5% for a p95). Per variant the state keeps:

* evidence of a violation: a CUSUM of the bad-request indicator testing "the bad share is the allowed one"
  against "it is four times that" (``_EVIDENCE_RATIO``). It grows by ln 4 ~ 1.39 per bad request and
  shrinks by a little per good one, so a step to "everything slow" alarms after ``min_samples`` bad
  requests, while a variant that hovers at its allowance rarely does;
* knowledge per request-rate band (octaves): the bad share over the last ``horizon_requests``
  requests seen at that rate, with when it was last seen. The SLO percentile is judged on it only with a
  confidence bound (Wilson, 95% one-sided): "violates" when even the lower bound is above the allowance,
  "meets" when enough requests for that percentile were seen and the share is within the allowance;
* an error sketch (the last ``_ERROR_MEMORY`` requests): a variant with at least ``error_min`` failures
  and ``error_rate`` of its requests failing is *failing*; it loses the route at once, whatever its
  latency, and is tried again (a real switch, judged on its first requests) after an exponential
  back-off. That is the probe: it works the same live and in replay, and costs a few requests per try;
* observed warm-up time, warm-up failures, and a back-off for failed attempts.

Per function, every evaluation (knobs in controller_config.py, documented in docs/controller.md):

* ``cpu``/``gpu`` modes, a single variant, no SLO, or a manual pin: hold.
* On CPU: promote when the CPU is failing, or violates (evidence over ``sustain_s`` with ``min_samples``
  bad requests, or the confident bad share at this rate), the GPU is not backing off or known not to help,
  and the violations avoided are worth the GPU's cost on this platform (``violation_cost``).
* On GPU: re-judged at every evaluation. Leave at once when it is failing; demote when it violates and the
  CPU is not known to be worse, when the CPU is known to meet the SLO at this rate, when the violations it
  avoids are not worth its cost, when the function is silent for its own rate (idle, or the GPU hangs),
  or (exploration, within a quarter of the allowance) when what we know of the CPU at this rate is stale
  or unknown at a low rate.
* After every switch, verify by requests, not by time: once the new variant served ``verify_samples``
  requests (and ``verify_s`` passed) its bad share must beat the bar set when switching (GPU: the CPU's
  share times ``1 - gpu_margin``; CPU: its allowance or its predicted share); otherwise back at once.
  After ``scale_down_after_s`` of probation the other variant is released (not on CE, where nothing can be).
* At most ``max_switches_per_hour`` switches in any hour, never more: a promotion needs room for its way
  back, a demotion room for a promotion and its way back, so a failed attempt can always be undone and a
  violating CPU always promoted. At least ``cooldown_s`` between switches that are not verification or
  failure outcomes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from functools import lru_cache
from dataclasses import MISSING, dataclass, field, fields

from gaia_faas.gateway_plugin.controller_config import ControllerConfig

CPU = "cpu"
GPU = "gpu"
VARIANTS = (CPU, GPU)
_BOTH = frozenset(VARIANTS)
HOUR_S = 3600.0

HOLD = "hold"
SWITCH = "switch"
SCALE_DOWN = "scale_down"

_EVIDENCE_RATIO = 4.0  # the CUSUM's alternative: the bad share is this many times the allowed one
_Z = 1.645  # one-sided 95% confidence for the Wilson bounds
_ERROR_MEMORY = 20.0  # requests the error sketch remembers
_RATE_MEMORY = 20.0  # requests the request-rate estimate remembers
_RATE_WINDOW_MIN = 5  # requests in the window before its rate is trusted over the long estimate
_MIN_RATE = 1e-4
_COUNT_SLACK = 0.05
_RHYTHM_GAPS = 2.0  # a function that came back from a silence is idle only after twice that silence  # decayed counts are a little below the whole requests they stand for


_FIELD_NAMES: dict[type, frozenset[str]] = {}


def replace(record, **changes):
    """A copy of one of the policy's frozen records with ``changes`` (what `dataclasses.replace` does for
    them: they have no ``__post_init__`` and every field is an ``__init__`` field), ten times cheaper:
    `dataclasses.replace` inspects the class's fields on every call, and the leader makes a dozen copies
    per function per evaluation, for a thousand functions a tick."""
    return _replaced(record, changes)


def _replaced(record, changes: dict):
    """`replace` with the changes in a dict (the policy's own copies, which build them up as they go)."""
    names = _FIELD_NAMES.get(type(record))
    if names is None:
        names = _FIELD_NAMES[type(record)] = frozenset(f.name for f in fields(record))
    if not changes.keys() <= names:
        raise TypeError(f"{type(record).__name__} has no field {', '.join(sorted(changes.keys() - names))}")
    copy = object.__new__(type(record))
    copy.__dict__.update(record.__dict__)
    copy.__dict__.update(changes)
    return copy


_UNSET = object()  # a field with a default factory that the caller left out


def record(cls):
    """``dataclass(frozen=True)``, with an ``__init__`` that fills the new instance's ``__dict__`` in one go.
    Why: a frozen dataclass's own ``__init__`` sets each field through ``object.__setattr__``, three times
    slower, and the leader makes a dozen records per function per evaluation (a tenth of its evaluation
    of 1,000 functions). Everything else (fields, defaults, equality, hash, immutability) is the
    dataclass's; the records have no ``__post_init__`` and every field is an ``__init__`` field."""
    cls = dataclass(frozen=True)(cls)
    namespace: dict = {"_UNSET": _UNSET}
    parameters, values = [], []
    for f in fields(cls):
        if f.default is not MISSING:
            namespace[f"_default_{f.name}"] = f.default
            parameters.append(f"{f.name}=_default_{f.name}")
            values.append(f"{f.name!r}: {f.name}")
        elif f.default_factory is not MISSING:
            namespace[f"_factory_{f.name}"] = f.default_factory
            parameters.append(f"{f.name}=_UNSET")
            values.append(f"{f.name!r}: _factory_{f.name}() if {f.name} is _UNSET else {f.name}")
        else:
            parameters.append(f.name)
            values.append(f"{f.name!r}: {f.name}")
    exec(f"def __init__(self, {', '.join(parameters)}):\n    self.__dict__.update({{{', '.join(values)}}})\n",
         namespace)
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    cls.__init__ = init
    return cls


@record
class VariantWindow:
    """Requests of one variant over a stretch of time (the window since ``window_start``, or the fresh ones)."""

    count: int = 0
    slow: int = 0  # requests slower than the SLO's milliseconds
    latency_ms: float | None = None  # latency at the SLO percentile; None without requests
    median_ms: float | None = None
    rate_per_s: float = 0.0  # count over the time actually observed
    errors: int = 0  # failed requests (status >= 500 or no answer)
    span_s: float = 0.0  # the time actually observed

    @property
    def bad(self) -> int:
        """Requests that violate the SLO: slow or failed (a slow failure counts once)."""
        return min(self.count, self.slow + self.errors)

    @classmethod
    def of(cls, latencies_ms: list[float], span_s: float, config: ControllerConfig, errors: int = 0) -> "VariantWindow":
        """Exact window of individual latencies (tests); nearest-rank quantiles as in stats.py."""
        if not latencies_ms:
            return cls(span_s=span_s)
        ordered = sorted(latencies_ms)

        def at(percentile: float) -> float:
            return ordered[max(1, math.ceil(percentile / 100.0 * len(ordered))) - 1]

        slow = 0 if config.slo_ms is None else sum(1 for value in ordered if value > config.slo_ms)
        return cls(count=len(ordered), slow=slow, latency_ms=at(config.slo_percentile), median_ms=at(50.0),
                   rate_per_s=len(ordered) / max(span_s, 1e-9), errors=min(errors, len(ordered)), span_s=span_s)


NO_REQUESTS = VariantWindow()


@record
class Snapshot:
    """What the policy sees of a function at one evaluation.

    ``windows``: per variant, the requests completed since ``window_start(...)``; ``fresh``: per variant,
    the requests completed since the previous evaluation (each request is fresh once: what the policy
    accumulates in its state comes from these), their counts only (no latency quantiles: nothing
    accumulates those).
    """

    route: str  # the variant traffic goes to now
    variants: frozenset[str]  # the variants the function has
    windows: Mapping[str, VariantWindow] = field(default_factory=dict)
    fresh: Mapping[str, VariantWindow] = field(default_factory=dict)
    pinned: bool = False
    active_span_s: float | None = None  # from the window's first recorded second to its end (None: unknown)

    def window(self, variant: str) -> VariantWindow:
        return self.windows.get(variant, NO_REQUESTS)

    def fresh_window(self, variant: str) -> VariantWindow:
        return self.fresh.get(variant, NO_REQUESTS)


@record
class Band:
    """What a variant showed at one request-rate band: decayed request and bad-request counts."""

    band: int  # round(log2(rate))
    n: float
    bad: float
    seen_at: float

    @property
    def share(self) -> float:
        return self.bad / self.n if self.n else 0.0


@record
class VariantMemory:
    """What the policy remembers about one variant."""

    evidence: float = 0.0  # CUSUM of "violates the SLO", in nats
    stretch_n: float = 0.0  # requests since the evidence was last zero
    stretch_bad: float = 0.0
    stretch_since: float | None = None  # when the evidence last left zero
    bands: tuple[Band, ...] = ()  # per request-rate band, ascending by band
    error_n: float = 0.0  # error sketch: decayed requests and failures
    error_bad: float = 0.0
    start_s: float | None = None  # how long its last successful warm-up took
    warmup_failures: int = 0  # consecutive warm-ups that timed out
    failures: int = 0  # consecutive failed attempts on it (verification failed, failing by errors)
    retry_after: float | None = None  # not tried again before this
    failed_at_level_ms: float | None = None  # GPU: the CPU's median when it last failed to help

    def band(self, index: int) -> Band | None:
        return next((b for b in self.bands if b.band == index), None)


@record
class PolicyState:
    """What the policy remembers between evaluations of one function."""

    cpu: VariantMemory = field(default_factory=VariantMemory)
    gpu: VariantMemory = field(default_factory=VariantMemory)
    switch_times: tuple[float, ...] = ()  # route switches within the last hour
    last_switch_at: float | None = None
    verifying: bool = False  # the last switch is not verified yet
    verified_at: float | None = None  # when the current variant first passed verification (probation start)
    served: int = 0  # requests the route's variant served since the last switch
    served_bad: int = 0
    served_errors: int = 0
    bar_share: float | None = None  # the bad share the new variant must stay below (set when switching)
    returning: bool = False  # the last switch went back to the variant we had (nothing to judge but errors)
    previous_level_ms: float | None = None  # the replaced variant's median when we left it
    standby_released: bool = False  # the variant not in use was scaled down
    pending_target: str | None = None  # the target of the last SWITCH decision, until it is carried out
    last_request_at: float | None = None
    long_gap_s: float = 0.0  # the longest silence the function recently came back from
    last_eval_at: float | None = None
    observed_since: float | None = None  # where the first evaluation's view began (rates count from there)
    rate_n: float = 0.0  # request-rate estimate: decayed requests over decayed observed seconds
    rate_t: float = 0.0
    warmup_retry_after: float | None = None  # the last switch failed to warm its target up
    capacity_retry_after: float | None = None  # the caller had no GPU capacity for the last promotion

    def memory(self, variant: str) -> VariantMemory:
        return self.cpu if variant == CPU else self.gpu

    def with_memory(self, variant: str, memory: VariantMemory) -> "PolicyState":
        return replace(self, cpu=memory) if variant == CPU else replace(self, gpu=memory)


@record
class Decision:
    action: str  # HOLD, SWITCH or SCALE_DOWN
    reason: str  # a short slug, e.g. "cpu-violates-slo"
    target: str | None = None  # SWITCH: the variant to move to; SCALE_DOWN: the variant to release
    release: str | None = None  # SWITCH: the variant to scale down right after the switch
    numbers: Mapping[str, float | int | str | None] = field(default_factory=dict)
    warmup_timeout_s: float | None = None  # SWITCH: how long to wait for the target to answer

    def to_json(self) -> dict:
        return {"action": self.action, "reason": self.reason, "target": self.target, "release": self.release,
                "warmup_timeout_s": self.warmup_timeout_s, "numbers": dict(self.numbers)}


def window_start(state: PolicyState, config: ControllerConfig, now: float) -> float:
    """Where the windows of a snapshot begin: ``window_s`` back, but never before the last switch, so a
    variant is judged on what it did since it serves. (What needs a longer horizon is accumulated in the
    state from the fresh requests of every evaluation.)"""
    start = now - config.window_s
    if state.last_switch_at is not None:
        start = max(start, state.last_switch_at)
    return start


def start_variant(config: ControllerConfig, variants: frozenset[str] | set[str]) -> str:
    """The variant a function starts on: the one its mode leans to, if it has it."""
    leaning = GPU if config.mode in ("gpu", "gpu_preferred") else CPU
    return leaning if leaning in variants else sorted(variants)[0]


def other(variant: str) -> str:
    return GPU if variant == CPU else CPU


def band_of(rate_per_s: float) -> int:
    """Rate bands are octaves: what a variant showed at 3 req/s says something about 2 and 5 req/s."""
    return round(math.log2(max(rate_per_s, _MIN_RATE)))


def wilson(bad: float, n: float) -> tuple[float, float]:
    """One-sided 95% Wilson bounds (lower, upper) of a share ``bad / n``; (0, 1) without requests."""
    if n <= 0:
        return 0.0, 1.0
    centre, half = _wilson_centre_half(bad, n)
    return max(0.0, centre - half), min(1.0, centre + half)


def wilson_lower(bad: float, n: float) -> float:
    """`wilson`'s lower bound alone (what the judging asks for, a few times per evaluation)."""
    if n <= 0:
        return 0.0
    centre, half = _wilson_centre_half(bad, n)
    return max(0.0, centre - half)


def _wilson_centre_half(bad: float, n: float) -> tuple[float, float]:
    p = min(1.0, bad / n)
    z2 = _Z * _Z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = _Z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return centre, half


def enough_samples(config: ControllerConfig) -> int:
    """Requests a bad share must rest on before it says the SLO is met: one allowed violation's worth
    (20 for a p95, 100 for a p99), at least ``min_samples``."""
    return _enough_samples(config.min_samples, config.allowed_share)


@lru_cache(maxsize=64)  # asked a few times per evaluation of every function
def _enough_samples(min_samples: int, allowed_share: float) -> int:
    return max(min_samples, math.ceil(1.0 / allowed_share))


# --- accumulating what the snapshot shows into the state ---------------------------------------------

def _decay(value: float, requests: float, memory: float) -> float:
    return value * _kept(requests, memory)


def _kept(requests: float, memory: float) -> float:
    """What a decayed count remembering ``memory`` requests keeps of itself over ``requests`` more (one
    factor for the several counts decayed together)."""
    return (1.0 - 1.0 / memory) ** requests


def _evidence_steps(config: ControllerConfig) -> tuple[float, float]:
    """CUSUM increments for a bad and a good request."""
    return _evidence_steps_at(config.allowed_share)


@lru_cache(maxsize=64)
def _evidence_steps_at(p0: float) -> tuple[float, float]:
    p1 = min(_EVIDENCE_RATIO * p0, (1.0 + p0) / 2.0)
    return math.log(p1 / p0), math.log((1.0 - p1) / (1.0 - p0))


def evidence_threshold(config: ControllerConfig) -> float:
    """The evidence of ``min_samples`` bad requests in a row: what a violation needs."""
    return config.min_samples * _evidence_steps(config)[0] - 1e-9


def _absorb(memory: VariantMemory, fresh: VariantWindow, band: int, config: ControllerConfig,
            now: float) -> VariantMemory:
    count = fresh.count
    if count == 0:
        return memory
    bad = fresh.bad
    up, down = _evidence_steps(config)
    evidence = memory.evidence + bad * up + (count - bad) * down
    if evidence <= 0.0:
        evidence = 0.0
        stretch = (0.0, 0.0, None)
    elif memory.evidence == 0.0:
        stretch = (float(count), float(bad), now)
    else:
        stretch = (memory.stretch_n + count, memory.stretch_bad + bad, memory.stretch_since)
    bands = memory.bands
    at = 0  # where the band is or goes (they ascend)
    for known in bands:
        if known.band >= band:
            break
        at += 1
    known = bands[at] if at < len(bands) and bands[at].band == band else None
    n, bad_n = (0.0, 0.0) if known is None else (known.n, known.bad)
    kept = _kept(count, config.horizon_requests)
    bands = bands[:at] + (Band(band, n * kept + count, bad_n * kept + bad, now),) + bands[at + (known is not None):]
    error_n, error_bad = _error_sketch(memory, fresh)
    return _replaced(memory, {"evidence": evidence, "stretch_n": stretch[0], "stretch_bad": stretch[1],
                              "stretch_since": stretch[2], "bands": bands, "error_n": error_n, "error_bad": error_bad})


def _error_sketch(memory: VariantMemory, fresh: VariantWindow) -> tuple[float, float]:
    """The variant's error sketch (its last `_ERROR_MEMORY` requests, decayed) with the fresh requests in:
    (requests, failed ones)."""
    kept = _kept(fresh.count, _ERROR_MEMORY)
    return memory.error_n * kept + fresh.count, memory.error_bad * kept + fresh.errors


def request_rate(snapshot: Snapshot, rate_n: float, rate_t: float) -> float:
    """The function's request rate now: the window's, over the time it actually observed (from its first
    request on, so a burst after a pause shows its own rate at once), when it holds enough requests;
    otherwise the long estimate ``rate_n / rate_t`` (the state's, which also counts the silence since the
    last request)."""
    count, span = 0, 0.0
    for variant in snapshot.variants:
        window = snapshot.window(variant)
        count += window.count
        span = max(span, window.span_s)
    if snapshot.active_span_s is not None:
        span = min(span, snapshot.active_span_s)  # after a silence, the window's quiet start is not the rate
    if count >= _RATE_WINDOW_MIN and span > 0:
        return count / span
    return rate_n / rate_t if rate_t > 0 else count / max(span, 1.0)


def _observe(snapshot: Snapshot, config: ControllerConfig, state: PolicyState, now: float) -> tuple[PolicyState, float]:
    """The state with what the snapshot shows accumulated, and the function's request rate now
    (`request_rate` of that state). One copy of the state per evaluation: the leader makes a thousand."""
    fresh_of = snapshot.fresh
    fresh_total, fresh_span = 0, 0.0
    for variant in snapshot.variants:
        fresh = fresh_of.get(variant, NO_REQUESTS)
        fresh_total += fresh.count
        if fresh.span_s > fresh_span:
            fresh_span = fresh.span_s
    elapsed = 0.0 if state.last_eval_at is None else max(0.0, now - state.last_eval_at)
    if state.last_eval_at is None:
        elapsed = max((snapshot.window(v).span_s for v in snapshot.variants), default=0.0)
    rate_kept = _kept(fresh_total, _RATE_MEMORY)
    rate_n = state.rate_n * rate_kept + fresh_total
    rate_t = state.rate_t * rate_kept + elapsed
    changes = {"last_eval_at": now, "rate_n": rate_n, "rate_t": rate_t}
    if state.observed_since is None:
        changes["observed_since"] = now - elapsed
    if fresh_total and state.last_request_at is not None:
        # The longest silence the function came back from, forgotten over horizon_requests requests.
        changes["long_gap_s"] = max(_decay(state.long_gap_s, fresh_total, config.horizon_requests),
                                    now - state.last_request_at)
    if fresh_total or state.last_request_at is None:
        changes["last_request_at"] = now  # idle time counts from the first evaluation
    # The fresh requests are filed under the rate they came at: the window's, or the last seconds' when
    # those alone hold enough requests (at the onset of a spike the window still shows the old rate, and
    # the first queued requests must not be filed as "slow at the old rate").
    rate_now = rate = request_rate(snapshot, rate_n, rate_t)
    if fresh_total >= _RATE_WINDOW_MIN and fresh_span > 0:
        rate = max(rate, fresh_total / fresh_span)
    band = band_of(rate)
    route_fresh = fresh_of.get(snapshot.route, NO_REQUESTS)
    changes["served"] = state.served + route_fresh.count
    changes["served_bad"] = state.served_bad + route_fresh.bad
    changes["served_errors"] = state.served_errors + route_fresh.errors
    changes["switch_times"] = _prune(state.switch_times, now) if state.switch_times else ()
    for variant in VARIANTS:
        if variant not in snapshot.variants or snapshot.pinned:
            continue  # what a pinned function shows does not count towards a switch once unpinned
        memory, fresh = state.memory(variant), fresh_of.get(variant, NO_REQUESTS)
        if memory.retry_after is not None and now < memory.retry_after:
            # Its back-off stands for what it showed: late answers of a failed attempt teach nothing,
            # except that late failures (timeouts) say it was failing.
            error_n, error_bad = _error_sketch(memory, fresh)
            changes[variant] = replace(memory, error_n=error_n, error_bad=error_bad)
        elif fresh.count:
            changes[variant] = _absorb(memory, fresh, band, config, now)
    return _replaced(state, changes), rate_now


# --- judging ---------------------------------------------------------------------------------------

def failing(memory: VariantMemory, window: VariantWindow, config: ControllerConfig) -> bool:
    """Enough of its recent requests failed (in the window, or over its last requests at any rate): the
    variant must not keep the route."""
    return _crosses(window.errors, window.count, config) or _crosses(memory.error_bad, memory.error_n, config)


def _crosses(errors: float, count: float, config: ControllerConfig) -> bool:
    return errors >= config.error_min - 1e-9 and errors >= config.error_rate * count


def violation(memory: VariantMemory, band: int, config: ControllerConfig, now: float) -> float | None:
    """The variant's bad share if it violates the SLO now, else None: a sustained run of evidence (a step
    change, seen in a few requests; twice the evidence where the variant is known to stay within its
    allowance at this rate), or the confident share (Wilson lower bound) it showed at this rate or the
    nearest lower ones: above four times the allowance over the requests the percentile needs, or above the
    allowance over five times those (a share just above it, seen over many)."""
    shares = []
    enough = enough_samples(config)
    fresh = _fresh(memory.bands, config, now)
    # Known over many requests to stay within its allowance at this rate (or the nearest lower ones): a
    # short run of slow requests is more likely a cluster than a change, so the evidence must be twice
    # as strong.
    n, bad = _nearest_at_or_below(fresh, band, 5 * enough)
    within = n >= 5 * enough - _COUNT_SLACK and bad / n <= config.allowed_share
    needed = evidence_threshold(config) * (2.0 if within else 1.0)
    if (memory.evidence >= needed and memory.stretch_since is not None
            and now - memory.stretch_since >= config.sustain_s and memory.stretch_bad >= config.min_samples):
        shares.append(memory.stretch_bad / memory.stretch_n)
    # What it showed at this rate or the nearest lower ones (less load is no better for it), once there
    # are enough requests: a share just above the allowance needs five times more than a large one.
    n, bad = _nearest_at_or_below(fresh, band, enough)
    lower = wilson_lower(bad, n) if n >= enough - _COUNT_SLACK else 0.0
    if lower > config.allowed_share and (n >= 5 * enough - _COUNT_SLACK
                                         or lower > _EVIDENCE_RATIO * config.allowed_share):
        shares.append(bad / n)
    return max(shares) if shares else None


def _fresh(bands: tuple[Band, ...], config: ControllerConfig, now: float) -> tuple[Band, ...]:
    """The bands seen within ``knowledge_ttl_s`` (what the judging trusts), in their order: usually all."""
    ttl = config.knowledge_ttl_s
    for b in bands:
        if now - b.seen_at > ttl:
            return tuple(b for b in bands if now - b.seen_at <= ttl)
    return bands


def predicted_share(memory: VariantMemory, band: int, config: ControllerConfig, now: float,
                    pessimistic: bool = False) -> float | None:
    """The bad share the variant is expected to show at this rate band, from fresh knowledge: its own band
    when it holds enough requests (a verification's worth), else pooled with the nearest bands above (more
    load is no better), never less than what a band below showed (then the rate is not what makes it slow:
    request sizes are: its Wilson lower bound, or with ``pessimistic`` its share). None when nothing fresh
    is known at or above this rate, nor a violation below."""
    if not memory.bands:  # never served (most GPUs of a pool)
        return None
    fresh = _fresh(memory.bands, config, now)
    needed = min(config.min_samples, config.verify_samples)  # a verification's verdict is knowledge
    n, bad = _nearest_at_or_above(fresh, band, needed)
    base = bad / n if n >= needed - _COUNT_SLACK else None
    below = 0.0  # the highest share below (shares are never negative)
    for b in fresh:
        if b.band < band and b.n >= needed - _COUNT_SLACK:
            share = b.share if pessimistic else wilson_lower(b.bad, b.n)
            if share > below:
                below = share
    if base is None:
        return below if below > config.allowed_share else None
    return max(base, below)


def _nearest_at_or_above(bands: list[Band], band: int, needed: float) -> tuple[float, float]:
    """(requests, bad) of the bands at or above ``band``, nearest first, until ``needed`` requests: the
    rate's own band alone when it holds enough (what was bad under more load says nothing about less).
    ``bands`` ascend by band, as `VariantMemory.bands` do."""
    n = bad = 0.0
    for b in bands:
        if b.band < band:
            continue
        n, bad = n + b.n, bad + b.bad
        if n >= needed - _COUNT_SLACK:
            break
    return n, bad


def _nearest_at_or_below(bands: list[Band], band: int, needed: float) -> tuple[float, float]:
    """(requests, bad) of the bands at or below ``band``, nearest first, until ``needed`` requests
    (``bands`` ascending by band)."""
    n = bad = 0.0
    for b in reversed(bands):
        if b.band > band:
            continue
        n, bad = n + b.n, bad + b.bad
        if n >= needed - _COUNT_SLACK:
            break
    return n, bad


def meets_at(memory: VariantMemory, band: int, config: ControllerConfig, now: float) -> bool:
    """Known to meet the SLO at this rate: over enough requests for the percentile, seen at this rate or
    the nearest higher ones, the share within the allowance with ``cpu_headroom`` to spare, and no band at
    or below this rate violating confidently."""
    fresh = _fresh(memory.bands, config, now)
    n, bad = _nearest_at_or_above(fresh, band, enough_samples(config))
    if n < enough_samples(config) - _COUNT_SLACK or bad / n > config.allowed_share * (1.0 - config.cpu_headroom):
        return False
    return not any(wilson_lower(b.bad, b.n) > config.allowed_share for b in fresh if b.band <= band)


def gpu_cost_per_s(config: ControllerConfig, state: PolicyState) -> float:
    """What holding the route on the GPU costs per second more than on the CPU, on this platform: nothing
    on CE (both variants run and are billed all the time), the price difference where the CPU is released
    (pro), plus the one-off costs of a round trip (the GPU's start; on Knative each release also keeps the
    released variant billed for the stable window) spread over ``payback_s``."""
    if config.platform == "ce":
        return 0.0
    start_s = state.gpu.start_s if state.gpu.start_s is not None else config.warmup_timeout_s / 4.0
    one_off = start_s * config.price_gpu
    if config.platform == "knative":
        one_off += config.release_delay_s * (config.price_cpu + config.price_gpu)
    return max(0.0, config.price_gpu - config.price_cpu) + one_off / config.payback_s


def excess_avoided_per_s(rate: float, cpu_share: float, gpu_share: float, allowed_share: float) -> float:
    """Violations per second the GPU avoids at ``rate``, given each variant's bad share. Meet the SLO, then
    minimise cost: violations within the allowance cost nothing, so only the excess over it counts."""
    return max(0.0, rate * (max(0.0, cpu_share - allowed_share) - max(0.0, gpu_share - allowed_share)))


def economics(state: PolicyState, config: ControllerConfig, rate: float, now: float,
              cpu_share: float | None = None, gpu_share: float | None = None) -> dict:
    """The expected benefit of the GPU at this rate: the pool allocator (issue 10) ranks promotions by it."""
    band = band_of(rate)
    cpu_known = True  # False: nothing is known of the CPU at this rate, and its share below is a 0 by default
    if cpu_share is None:
        cpu_share = predicted_share(state.cpu, band, config, now)
        if cpu_share is None:
            known = state.cpu.band(band)
            cpu_known = known is not None
            cpu_share = known.share if known is not None else 0.0
    if gpu_share is None:  # what the GPU showed, taken at its word: a failed try is not soon repeated
        gpu_share = predicted_share(state.gpu, band, config, now, pessimistic=True) or 0.0
    avoided = excess_avoided_per_s(rate, cpu_share, gpu_share, config.allowed_share)
    cost = gpu_cost_per_s(config, state)
    return {"request_rate_per_s": round(rate, 5), "cpu_bad_share": round(cpu_share, 4),
            "cpu_bad_share_known": cpu_known, "gpu_bad_share": round(gpu_share, 4), "expected_violations_avoided_per_s": round(avoided, 6),
            "benefit_per_s": round(avoided * config.violation_cost, 8), "gpu_cost_per_s": round(cost, 8)}


def warmup_timeout(state: PolicyState, config: ControllerConfig, target: str) -> float:
    """Twice the target's observed start (at least ``warmup_timeout_s``), doubled per timed-out warm-up,
    at most ``warmup_timeout_max_s``: a variant that takes 75 s to start gets there on the second try."""
    memory = state.memory(target)
    base = max(config.warmup_timeout_s, 2.0 * memory.start_s if memory.start_s is not None else 0.0)
    return min(config.warmup_timeout_max_s, base * 2.0 ** min(40, memory.warmup_failures))


# --- the decision ----------------------------------------------------------------------------------

_NUMBER_NAMES = {v: tuple(f"{v}_{name}" for name in ("p_ms", "count", "slow", "errors", "rate")) for v in VARIANTS}


def _numbers(snapshot: Snapshot, config: ControllerConfig, econ: Mapping, **extra) -> dict:
    numbers: dict = {"slo_ms": config.slo_ms, "slo_percentile": config.slo_percentile}
    for variant in VARIANTS:  # in name order
        if variant not in snapshot.variants:
            continue
        window = snapshot.window(variant)
        p_ms, count, slow, errors, rate = _NUMBER_NAMES[variant]
        numbers[p_ms] = None if window.latency_ms is None else round(window.latency_ms, 1)
        numbers[count] = window.count
        numbers[slow] = window.slow
        numbers[errors] = window.errors
        numbers[rate] = round(window.rate_per_s, 3)
    numbers.update(econ)
    numbers.update(extra)
    return numbers


def _prune(switch_times: tuple[float, ...], now: float) -> tuple[float, ...]:
    return tuple(t for t in switch_times if now - t < HOUR_S)


def _room_for(state: PolicyState, config: ControllerConfig, switches: int, now: float) -> bool:
    return len(_prune(state.switch_times, now)) + switches <= config.max_switches_per_hour


def _cooled_down(state: PolicyState, config: ControllerConfig, now: float) -> bool:
    return state.last_switch_at is None or now - state.last_switch_at >= config.cooldown_s


def _backoff(base_s: float, failures: int, config: ControllerConfig) -> float:
    return min(config.backoff_max_s, base_s * 2.0 ** min(40, max(0, failures - 1)))


class _Context:
    """One evaluation's inputs, so the branches below read as rules."""

    def __init__(self, snapshot: Snapshot, config: ControllerConfig, state: PolicyState, now: float, rate: float):
        self.snapshot, self.config, self.now = snapshot, config, now
        self.rate = rate
        self.band = band_of(self.rate)
        self.econ = economics(state, config, self.rate, now)

    def failing(self, state: PolicyState, variant: str) -> bool:
        return failing(state.memory(variant), self.snapshot.window(variant), self.config)

    def hold(self, state: PolicyState, reason: str, **extra) -> tuple[Decision, PolicyState]:
        return Decision(HOLD, reason, numbers=_numbers(self.snapshot, self.config, self.econ, **extra)), state

    def switch(self, state: PolicyState, target: str, reason: str, release: str | None = None,
               **extra) -> tuple[Decision, PolicyState]:
        """A SWITCH, if the hourly budget has room for it (it is never exceeded), else a hold."""
        if not _room_for(state, self.config, 1, self.now):
            return self.hold(state, "switch-budget-exhausted", wanted=reason,
                             switches_last_hour=len(state.switch_times))
        if self.config.platform == "ce":
            release = None  # CE keeps every variant at one replica: nothing to release
        numbers = _numbers(self.snapshot, self.config, self.econ, **extra)
        timeout = warmup_timeout(state, self.config, target)
        decision = Decision(SWITCH, reason, target=target, release=release, numbers=numbers,
                            warmup_timeout_s=timeout)
        return decision, replace(state, pending_target=target)


def decide(snapshot: Snapshot, config: ControllerConfig, state: PolicyState, now: float) -> tuple[Decision, PolicyState]:
    """One evaluation of one function: what to do now, and what to remember."""
    state, rate = _observe(snapshot, config, state, now)
    ctx = _Context(snapshot, config, state, now, rate)
    if config.mode in ("cpu", "gpu"):
        return Decision(HOLD, f"mode-{config.mode}-never-migrates"), state
    if snapshot.variants != _BOTH:
        return Decision(HOLD, "single-variant"), state
    if snapshot.pinned:
        # A violation seen while pinned does not count towards a promotion afterwards.
        return ctx.hold(state.with_memory(CPU, replace(state.cpu, evidence=0.0, stretch_n=0.0, stretch_bad=0.0,
                                                       stretch_since=None)), "pinned")
    if config.slo_ms is None:
        return Decision(HOLD, "no-slo"), state
    if state.verifying:
        return _verify(ctx, state)
    if snapshot.route == CPU:
        return _on_cpu(ctx, state)
    return _on_gpu(ctx, state)


def _failed(memory: VariantMemory, retry_after: float, errors: bool = False) -> VariantMemory:
    """One more failed attempt: not tried again before ``retry_after``. What a variant that failed by
    errors showed is forgotten (an outage passes; once its back-off expires it is tried afresh); what a
    slow one showed is knowledge, kept until it goes stale."""
    if errors:  # only failures seen from now on say it is still failing
        memory = replace(memory, bands=(), error_n=0.0, error_bad=0.0)
    return replace(memory, failures=memory.failures + 1, retry_after=retry_after)


def _leave_failing(ctx: _Context, state: PolicyState, route: str) -> tuple[Decision, PolicyState]:
    """The route's variant is failing: away at once (no cooldown), try it again after a back-off."""
    config, now = ctx.config, ctx.now
    memory = state.memory(route)
    failures = memory.failures + 1
    wait = _backoff(config.error_backoff_s, failures, config)
    state = state.with_memory(route, _failed(memory, now + wait, errors=True))
    return ctx.switch(replace(state, verifying=False, returning=True), other(route), f"{route}-failing", release=route,
                      error_share=round(memory.error_bad / max(memory.error_n, 1e-9), 3), retry_in_s=round(wait, 1))


def _on_cpu(ctx: _Context, state: PolicyState) -> tuple[Decision, PolicyState]:
    config, now = ctx.config, ctx.now
    gpu_usable = state.gpu.retry_after is None or now >= state.gpu.retry_after
    if ctx.failing(state, CPU) and gpu_usable and not ctx.failing(state, GPU):
        return _leave_failing(ctx, state, CPU)
    if gpu_usable and ctx.failing(state, GPU):
        # The GPU's late answers (timeouts) say it failed after we left it: back off before trying it.
        failures = state.gpu.failures + 1
        state = state.with_memory(GPU, _failed(state.gpu, now + _backoff(config.error_backoff_s, failures, config),
                                               errors=True))
        gpu_usable = False
    share = violation(state.cpu, ctx.band, config, now)
    if share is None:
        reason = "cpu-violates-slo-not-sustained" if state.cpu.evidence > 0 else "cpu-meets-slo"
        return ctx.hold(state, reason, evidence=round(state.cpu.evidence, 2))
    since = {"cpu_bad_share_now": round(share, 3), "slow_requests": round(state.cpu.stretch_bad, 1)}
    # Retry early only if the CPU's level is well above the one the GPU failed at over the window (a
    # window's median: one noisy request is no reason to pay for another attempt).
    cpu = ctx.snapshot.window(CPU)
    failed_at = state.gpu.failed_at_level_ms
    grown = failed_at is not None and cpu.median_ms is not None and cpu.median_ms >= failed_at * config.retry_growth
    if not gpu_usable:
        if not grown:
            return ctx.hold(state, "gpu-known-not-to-help", retry_in_s=round(state.gpu.retry_after - now, 1),
                            gpu_failed_at_level_ms=failed_at, **since)
    # Once the CPU grew well beyond the level the GPU was tried at, what the GPU showed then is no guide.
    # Taken at the share the CPU violates with before the holds below, so that their numbers carry what
    # the GPU is worth: the GPU pool ranks a function waiting for capacity by them, and the rate's band
    # alone may know nothing of the CPU yet (a violation seen by its evidence), which would rank it at 0.
    ctx.econ = economics(state, config, ctx.rate, now, cpu_share=share, gpu_share=0.0 if grown else None)
    silence = now - state.last_request_at
    if _answer_due_s(state, config, now) <= silence <= _RHYTHM_GAPS * state.long_gap_s:
        # In a pause of its rhythm (as `_idle_for_s` takes it: up to twice the silences it came back from;
        # longer, and it is idle) and silent for longer
        # than a promotion's first answer would be due: a GPU taken now would serve nobody, and its
        # verification would take the silence for a GPU that hangs (gpu-not-answering, a back-off as for a
        # failure). Asked again with the next requests.
        return ctx.hold(state, "cpu-violates-slo-in-a-pause", silent_s=round(silence, 1), **since)
    if state.warmup_retry_after is not None and now < state.warmup_retry_after:
        return ctx.hold(state, "waiting-to-retry-warmup", **since)
    if state.capacity_retry_after is not None and now < state.capacity_retry_after:
        return ctx.hold(state, "waiting-for-gpu-capacity", **since)
    if not _cooled_down(state, config, now):
        return ctx.hold(state, "cooldown", **since)
    if not _room_for(state, config, 2, now):
        return ctx.hold(state, "switch-budget-exhausted", switches_last_hour=len(state.switch_times), **since)
    if ctx.econ["benefit_per_s"] < ctx.econ["gpu_cost_per_s"]:
        return ctx.hold(state, "gpu-not-worth-its-cost", **since)
    state = replace(state, bar_share=share * (1.0 - config.gpu_margin), returning=False)
    return ctx.switch(state, GPU, "cpu-violates-slo", **since)


def _idle_for_s(state: PolicyState, config: ControllerConfig, now: float) -> tuple[float, float]:
    """(seconds since the last request, seconds after which the function counts as idle): ``idle_gaps``
    of its own typical gap between requests, or twice the longest silence it recently came back from
    (bursts with pauses: the pause is its rhythm), never less than ``idle_demote_s``."""
    silence = now - state.last_request_at
    return silence, max(config.idle_demote_s, config.idle_gaps * _typical_gap_s(state, now),
                        _RHYTHM_GAPS * state.long_gap_s)


def _typical_gap_s(state: PolicyState, now: float) -> float:
    """The function's typical gap between requests, the current silence left out."""
    observed = state.rate_t - (now - state.last_request_at)
    return observed / state.rate_n if state.rate_n > 0 and observed > 0 else 0.0


def _answer_due_s(state: PolicyState, config: ControllerConfig, now: float) -> float:
    """How long after a switch the new variant must have answered once: ``idle_gaps`` of the function's
    typical gap plus twice the SLO, at least ``verify_s`` and 5 s."""
    return max(config.verify_s, 5.0, config.idle_gaps * _typical_gap_s(state, now) + 2.0 * config.slo_ms / 1000.0)


def _on_gpu(ctx: _Context, state: PolicyState) -> tuple[Decision, PolicyState]:
    config, now, band = ctx.config, ctx.now, ctx.band
    cpu_usable = state.cpu.retry_after is None or now >= state.cpu.retry_after
    if ctx.failing(state, GPU) and not ctx.failing(state, CPU):
        return _leave_failing(ctx, state, GPU)
    if not _cooled_down(state, config, now):
        return ctx.hold(state, "cooldown")
    if not _room_for(state, config, 3, now):
        # A demotion keeps room for a promotion and its way back.
        return ctx.hold(state, "switch-budget-exhausted", switches_last_hour=len(state.switch_times))
    cpu_share = predicted_share(state.cpu, band, config, now)
    gpu_share = violation(state.gpu, band, config, now)
    if gpu_share is not None and (cpu_share is None or cpu_share <= gpu_share):
        # The GPU violates and the CPU is not known to do worse: it does not earn its price. A CPU that
        # does worse after all is promoted back by its verification.
        memory = state.gpu
        state = state.with_memory(GPU, _failed(memory, now + _backoff(config.backoff_s, memory.failures + 1, config)))
        return _demote(ctx, state, "gpu-not-better", cpu_share, gpu_bad_share_now=round(gpu_share, 3))
    silence, idle_after = _idle_for_s(state, config, now)
    if silence >= idle_after and cpu_usable:
        # Idle, or the GPU stopped answering (requests hang until the client's timeout: their errors come
        # late, and then back it off): leave it, and do not come back for as long as it was silent.
        state = state.with_memory(GPU, replace(state.gpu, retry_after=now + silence))
        return _demote(ctx, state, "gpu-idle", cpu_share, release=GPU, idle_s=round(silence, 1),
                       idle_after_s=round(idle_after, 1))
    if config.platform == "ce" or not cpu_usable:
        return ctx.hold(state, "gpu-keeps-serving")  # on CE the GPU costs nothing more: only violations count
    if meets_at(state.cpu, band, config, now):
        return _demote(ctx, state, "cpu-meets-slo-at-this-rate", cpu_share)
    if cpu_share is not None:
        # Judged on the CPU's share at its upper confidence bound: a few good CPU requests are no reason
        # to drop the GPU; that is meets_at's job, on enough of them.
        fresh = _fresh(state.cpu.bands, config, now)
        n, bad = _nearest_at_or_above(fresh, band, enough_samples(config))
        upper = max(wilson(bad, n)[1], cpu_share) if n else cpu_share
        cautious = economics(state, config, ctx.rate, now, cpu_share=upper)
        if cautious["benefit_per_s"] < cautious["gpu_cost_per_s"]:
            return _demote(ctx, state, "gpu-not-worth-its-cost", cpu_share, release=GPU)
    if cpu_share is None:
        # Nothing fresh is known of the CPU at this rate: try it when the load is low (gpu_preferred) or
        # when what we knew went stale (any preferred mode); a failed trial backs off.
        stale = any(b.band >= band for b in state.cpu.bands) or state.cpu.failures > 0
        low = config.mode == "gpu_preferred" and ctx.rate <= config.explore_rate_per_s
        first_look = low and state.cpu.failures == 0 and not state.cpu.bands
        # A trial that fails costs about verify_samples violations: trials spend at most a quarter of
        # the allowance, so at any rate they wait for enough requests served since the last switch.
        earned = state.served >= 4.0 * config.verify_samples / config.allowed_share
        if (low or stale) and (first_look or earned):
            return _demote(ctx, state, "low-rate-try-cpu" if low else "cpu-knowledge-stale-try-cpu", None)
    return ctx.hold(state, "gpu-keeps-serving")


def _demote(ctx: _Context, state: PolicyState, reason: str, cpu_share: float | None, release: str | None = None,
            **extra) -> tuple[Decision, PolicyState]:
    """To the CPU; its verification must see at most the allowed share (or the share it was expected to
    show, when we left the GPU knowingly, for its cost). The GPU stays up during the CPU's probation unless
    ``release`` says otherwise."""
    allowed = ctx.config.allowed_share
    bar = allowed if cpu_share is None else max(allowed, cpu_share)
    # Leaving the GPU knowingly (released with the switch) leaves nothing to go back to: the CPU is then
    # judged by the usual rules at once, not verified.
    state = replace(state, bar_share=bar, returning=release is not None)
    return ctx.switch(state, CPU, reason, release=release, **extra)


def _verify(ctx: _Context, state: PolicyState) -> tuple[Decision, PolicyState]:
    """Judge the variant we switched to by its requests since the switch, at every evaluation until it has
    served well for ``scale_down_after_s`` (and at least ``verify_samples`` requests); then release the other."""
    config, now = ctx.config, ctx.now
    route = ctx.snapshot.route
    elapsed = now - state.last_switch_at
    numbers = {"since_switch_s": round(elapsed, 3), "served": state.served, "served_bad": state.served_bad,
               "bar_share": None if state.bar_share is None else round(state.bar_share, 3)}
    if ctx.failing(state, route):
        return _leave_failing(ctx, state, route)
    if state.returning:
        # Back on the variant we had, or left the other knowingly: nothing to verify, the usual rules apply.
        state = replace(state, verifying=False, standby_released=True)
        return _on_cpu(ctx, state) if route == CPU else _on_gpu(ctx, state)
    due_s = _answer_due_s(state, config, now)
    if state.last_request_at is not None and state.last_request_at <= state.last_switch_at:
        # Switched in a pause of its rhythm (a GPU the pool freed then): its requests are due once the pause
        # is over, not before (the pause's length as `_idle_for_s` takes it: twice the silences it came back
        # from); a silence until then is no sign of a hang.
        due_s += max(0.0, state.last_request_at + _RHYTHM_GAPS * state.long_gap_s - state.last_switch_at)
    if state.served == 0 and route == GPU and elapsed >= due_s:
        # Not a single answer where requests were due: it hangs (their timeouts will say so much later).
        memory = state.memory(route)
        wait = _backoff(config.error_backoff_s, memory.failures + 1, config)
        state = replace(state.with_memory(route, _failed(memory, now + wait, errors=True)), verifying=False,
                        returning=True)
        return ctx.switch(state, CPU, "gpu-not-answering", release=GPU, retry_in_s=round(wait, 1), **numbers)
    if state.served < config.verify_samples or elapsed < config.verify_s:
        return ctx.hold(state, f"verifying-{route}", **numbers)
    share = state.served_bad / state.served
    numbers["share"] = round(share, 3)
    bar = state.bar_share if state.bar_share is not None else config.allowed_share
    too_bad = share > bar if route == CPU else share >= bar and state.served_bad > 0
    if too_bad and route == CPU and state.served_bad < config.verify_samples:
        too_bad = False  # one slow request on a CPU is no verdict
    if too_bad and 2 * state.served_errors >= state.served_bad:
        return _leave_failing(ctx, state, route)  # mostly failures, if fewer than error_min: an outage
    if too_bad:
        memory = state.memory(route)
        failures = memory.failures + 1
        base = config.backoff_s if route == GPU else config.explore_backoff_s
        wait = _backoff(base, failures, config)
        memory = replace(_failed(memory, now + wait),
                         failed_at_level_ms=state.previous_level_ms if route == GPU else memory.failed_at_level_ms)
        state = replace(state.with_memory(route, memory), verifying=False, returning=True)
        reason = "gpu-does-not-help" if route == GPU else "cpu-misses-slo-after-demotion"
        return ctx.switch(state, other(route), reason, release=route, backoff_s=round(wait, 1), **numbers)
    verified_at = state.verified_at if state.verified_at is not None else now
    state = replace(state, verified_at=verified_at)
    if now - verified_at < config.scale_down_after_s:
        return ctx.hold(state, f"{route}-on-probation", **numbers)
    done = replace(state, verifying=False, standby_released=True)
    done = done.with_memory(route, replace(done.memory(route), failures=0, retry_after=None, failed_at_level_ms=None))
    if state.standby_released or config.platform == "ce":
        return ctx.hold(done, f"{route}-verified", **numbers)
    return Decision(SCALE_DOWN, f"{route}-verified", target=other(route),
                    numbers=_numbers(ctx.snapshot, config, ctx.econ, **numbers)), done


# --- what the caller reports back ------------------------------------------------------------------

def switched(state: PolicyState, decision: Decision, previous: Snapshot, now: float,
             warmup_s: float | None = None) -> PolicyState:
    """The route moved to ``decision.target`` at ``now`` (``previous`` was the snapshot that led to it;
    ``warmup_s``: how long the target took to answer, which sets its next warm-up timeout)."""
    target = decision.target
    replaced = previous.window(previous.route)
    memory = state.memory(target)
    # The target is judged afresh on the requests it serves from now on.
    memory = replace(memory, evidence=0.0, stretch_n=0.0, stretch_bad=0.0, stretch_since=None, error_n=0.0,
                     error_bad=0.0, warmup_failures=0, start_s=warmup_s if warmup_s is not None else memory.start_s)
    state = state.with_memory(target, memory)
    return replace(
        state, switch_times=_prune(state.switch_times, now) + (now,), last_switch_at=now, verifying=True,
        verified_at=None, served=0, served_bad=0, served_errors=0, previous_level_ms=replaced.median_ms,
        standby_released=decision.release is not None, warmup_retry_after=None, capacity_retry_after=None,
        pending_target=None)


def switch_failed(state: PolicyState, config: ControllerConfig, now: float, target: str | None = None,
                  waited_s: float | None = None) -> PolicyState:
    """The target did not answer within its warm-up timeout: keep the route, retry later (the wait and the
    next timeout double with each consecutive failure)."""
    target = target or state.pending_target or other(CPU)
    memory = state.memory(target)
    failures = memory.warmup_failures + 1
    state = state.with_memory(target, replace(memory, warmup_failures=failures))
    return replace(state, warmup_retry_after=now + _backoff(config.warmup_retry_s, failures, config),
                   pending_target=None)


def promotion_denied(state: PolicyState, config: ControllerConfig, now: float) -> PolicyState:
    """The caller refused the promotion for lack of GPU capacity: no switch happened, no budget was used;
    the policy asks again after ``capacity_retry_s``."""
    return replace(state, capacity_retry_after=now + config.capacity_retry_s, pending_target=None)


def capacity_available(state: PolicyState) -> PolicyState:
    """The caller has a GPU for a promotion it refused before: the policy asks again at its next
    evaluation instead of waiting out ``capacity_retry_s`` (a GPU the pool keeps free for it serves nobody,
    and a burst may be over by then)."""
    return replace(state, capacity_retry_after=None)
