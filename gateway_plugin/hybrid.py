"""Hybrid dispatch: each call of a sized function goes to the variant its size is served best by.

Per worker, `Sizing` holds, for every function that declares `com.gaia.size-from` and has both variants:

- its size source (size_feature.py), rebuilt from the registry at each refresh;
- its `Plan`: the latency-by-size model (size_model.py, fitted from what all replicas recorded in Redis over
  the last ``window_s``) and the dispatch mode, both refreshed every ``refresh_s`` by `run` — the only
  Redis I/O here (each minute is read until no replica records into it any more, then kept); the call path
  reads dictionaries;
- the calls in flight on each variant at this worker and their work (the sum of their predicted mean
  latencies), from which `expected_wait_ms` estimates how long a new call would wait for a free slot of
  the variant's replicas (`replica_slots`: in OpenFaaS mode the replicas available at the last discovery,
  as the provider reported them, else one replica's `SLOTS`; the replay sets them from its simulation).

Modes (`plan_mode`, pure): ``whole`` — whole-function routing, the route's variant serves every call (one
variant is not warm, or the model says one variant serves (almost) every size best; with both warm a few
calls still explore the other one); ``learning`` — both warm, a curve still missing: the route's variant
serves, `LEARNING_EXPLORE` of the calls go to the other to learn it; ``hybrid`` — per-call choice by
`SizeModel.choose`, `explore` of the calls going to the other variant to keep both curves fresh, where that
costs little (`SizeModel.worth_exploring`: not a big matrix to the CPU far beyond the crossover).

Both variants are warm in static mode (the routes file names running services, nothing scales them) and,
in OpenFaaS mode, while the controller holds both up: it says so with `set_warm` (Redis key
``gaia:hybrid:warm:{function}``, with a time to live, renewed while it holds), and with `drain_standby`
(the same key, `DRAINING`) while the standby it gives back drains: not warm.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from gaia_faas.gateway_plugin import policy, size_model
from gaia_faas.gateway_plugin.controller_config import ConfigError, ControllerConfig
from gaia_faas.gateway_plugin.size_feature import (
    JSON_PREFIX_BYTES, SIZE_FROM, PrefixedContent, SizeFromError, SizeSource, parse_size_from, read_prefix,
    size_from_head, size_from_json_prefix)
from gaia_faas.gateway_plugin.size_model import CPU, GPU, SizeModel
from gaia_faas.gateway_plugin.stats import SIZE_SLICE_S, LatencyHistogram, merge_sized, size_slices

WARM_KEY_PREFIX = "gaia:hybrid:warm:"
BODY_KEY = "gaia_body"  # request[BODY_KEY]: the body to send when the size read part of it (proxy._client_body)
EXPLORE = 0.03  # share of hybrid calls sent to the variant the model did not pick
LEARNING_EXPLORE = 0.1  # share of calls sent to the variant with no curve yet, while both are warm
# Hybrid mode starts when the model sends at least 5 % of the recent calls to each variant
# (size_model.hybrid_worth) and, once on, lasts while it still sends 2.5 %.
KEEP_SHARE = 0.025
OTHER = {CPU: GPU, GPU: CPU}
# Calls one replica serves at once: the gaia-python template's defaults (templates/gaia-python/index.py:
# CPU 2 gunicorn workers, GPU one per GPU, each running GAIA_THREADS=4 handlers at once).
SLOTS = {CPU: 8, GPU: 4}
WHOLE, LEARNING, HYBRID = "whole", "learning", "hybrid"

log = logging.getLogger("gaia.hybrid")


def expected_wait_ms(in_flight: int, work_ms: float, slots: int) -> float:
    """How long a new call waits behind ``in_flight`` calls holding ``work_ms`` of predicted work on a variant
    with ``slots`` slots (pure): nothing while a slot is free; else the calls ahead of it beyond the slots,
    each taking its share of the mean work, served ``slots`` at a time."""
    if in_flight < slots:
        return 0.0
    return (in_flight - slots + 1) * (work_ms / in_flight) / slots


def plan_mode(model: SizeModel, warm: bool, worth: bool) -> str:
    """The dispatch mode of one function (see the module docstring; pure). ``worth``: `hybrid_worth`."""
    if not warm:
        return WHOLE
    if not model.complete:
        return LEARNING
    return HYBRID if worth else WHOLE


# What the controller does about hybrid mode at one evaluation (`standby_action`).
KEEP, WARM_UP, DRAIN, RELEASE_HELD, FORGET, NOTHING = "keep", "warm-up", "drain", "release-held", "forget", "nothing"


LEARNING_S = 300.0  # how long the standby is held, after a move to the GPU, to learn its curve
# How long a standby the controller gives back keeps running once the warm flag says it drains: each
# worker's next refresh (`Sizing.refresh_s`, 1 s) stops sending it calls first. Released at once, it got
# the calls of that last second, and the gateway scaled it up again for them (each waiting for a cold start).
DRAIN_S = 2.0
DRAINING = "draining"  # the warm flag's value while the standby drains (workers: not warm)


@dataclass(frozen=True)
class Standby:
    """The controller's hybrid-mode state of one function: the standby it holds up (None: none), until
    when it may hold it to learn a missing curve (None: no learning stretch started), whether it gave the
    standby back itself (`RELEASE_HELD`) in this stay on the GPU (the policy does not know that, and a
    standby held again must then be warmed up, not assumed up), and whether the standby drains before it is
    given back, since when (None: not known, a new leader's)."""

    held: str | None = None
    learn_until: float | None = None
    released: bool = False
    draining: bool = False
    draining_since: float | None = None


def standby_action(plan: "Plan | None", route: str, standby: Standby, standby_released: bool, now: float,
                   drain_s: float = DRAIN_S) -> tuple[str, Standby]:
    """The controller's side of hybrid mode for one function (pure); returns the action and the new state.

    Hybrid mode needs the variant the route is not on (the standby) up. The controller holds it while the
    function runs on the GPU and either the model sends a real share of the calls to each variant
    (``plan.worth``), or sized calls come but one curve is still missing and the learning stretch
    (`LEARNING_S` from the move to the GPU, once per stay there) has not run out: ``KEEP`` (no release of
    it, the warm flag renewed), or ``WARM_UP`` when the policy, or an earlier ``RELEASE_HELD``, released it
    already.
    Otherwise a standby held for hybrid mode is given back, so whole-function routing costs what it did
    before: ``DRAIN`` first, for ``drain_s`` (the flag says so, the workers stop sending it calls, nobody
    releases it), then ``RELEASE_HELD``. Back on the CPU, ``FORGET`` (only the flag goes: the route is on the
    standby now), ``RELEASE_HELD`` for a held GPU; else ``NOTHING``. Without a plan (the function no longer
    declares its size) nothing is worth holding.
    """
    if route != GPU:
        state = Standby()
        if standby.held is None:
            return (FORGET if standby.draining else NOTHING), state
        return (FORGET if standby.held == route else RELEASE_HELD), state
    learn_until = standby.learn_until
    # Learning needs sized calls coming (one curve there, the other missing); without sizes nothing is held.
    missing_one = plan is not None and bool(plan.model.curves) and not plan.model.complete
    if learn_until is None and missing_one:
        learn_until = now + LEARNING_S
    learning = missing_one and learn_until is not None and now < learn_until
    worth = plan is not None and (plan.worth or (standby.held is not None and plan.worth_keeping)) and plan.standby_pays
    if worth or learning:
        if standby.held is None and not standby.draining and (standby_released or standby.released):
            return WARM_UP, Standby(None, learn_until, standby.released)
        return KEEP, Standby(CPU, learn_until)  # a draining standby is still up: held again
    if standby.held is not None:
        return DRAIN, Standby(None, learn_until, draining=True, draining_since=now)
    if standby.draining:
        since = now if standby.draining_since is None else standby.draining_since
        if now - since < drain_s:
            return DRAIN, Standby(None, learn_until, draining=True, draining_since=since)
        return RELEASE_HELD, Standby(None, learn_until, released=True)
    return NOTHING, Standby(None, learn_until, standby.released)


def keep_standby(decision, standby: str):
    """The policy's decision with any release of the held ``standby`` taken out (pure): a SCALE_DOWN of it
    becomes a HOLD, a switch to the GPU keeps it up."""
    if decision.action == policy.SCALE_DOWN and decision.target == standby:
        return replace(decision, action=policy.HOLD, target=None, reason=f"{decision.reason}; {standby} kept for hybrid dispatch")
    if decision.action == policy.SWITCH and decision.release == standby:
        return replace(decision, release=None)
    return decision


@dataclass(frozen=True)
class Plan:
    source: SizeSource
    model: SizeModel
    mode: str
    warm: bool
    refreshed_at: float
    worth: bool = False  # size_model.hybrid_worth over the recent calls: worth starting hybrid mode
    worth_keeping: bool = False  # the same at KEEP_SHARE: worth staying in it (hysteresis against flapping)
    standby_pays: bool = True  # size_model.standby_pays: what the split saves covers holding the standby

    def describe(self) -> dict:
        return {"size_from": self.source.kind + (f":{self.source.name}" if self.source.name else ""), "mode": self.mode,
                "both_warm": self.warm, "worth_it": self.worth, "worth_keeping": self.worth_keeping,
                "standby_pays": self.standby_pays,
                "refreshed_at": round(self.refreshed_at, 3),
                **self.model.describe()}


def make_plan(source: SizeSource, config: ControllerConfig, histograms: Mapping[str, Mapping[int, LatencyHistogram]],
              warm: bool, now: float, previous: Plan | None = None, span_s: float | None = None) -> Plan:
    """The plan of one function from its recorded per-variant, per-bucket histograms (pure); ``previous``:
    the plan it replaces (hybrid mode, once on, lasts while `worth_keeping`); ``span_s``: the seconds the
    histograms cover, over which `size_model.standby_pays` weighs the standby's cost (None: not weighed)."""
    model = size_model.fit(histograms, slo_ms=config.slo_ms, slo_percentile=config.slo_percentile,
                           prices={CPU: config.price_cpu, GPU: config.price_gpu})
    observed: dict[int, int] = {}
    for buckets in histograms.values():
        for bucket, histogram in buckets.items():
            observed[bucket] = observed.get(bucket, 0) + histogram.count
    worth = size_model.hybrid_worth(model, observed)
    keep = worth or size_model.hybrid_worth(model, observed, min_share=KEEP_SHARE)
    was_hybrid = previous is not None and previous.mode == HYBRID
    # On CE both variants run and are billed all the time: a standby held for hybrid dispatch costs nothing more.
    standby_price = 0.0 if config.platform == "ce" else config.price_cpu
    pays = span_s is None or size_model.standby_pays(model, observed, span_s, SLOTS, standby_price)
    return Plan(source, model, plan_mode(model, warm, keep if was_hybrid else worth), warm, now, worth, keep, pays)


def recorded_span_s(now: float, first_minute: int, window_s: float) -> float:
    """Seconds the size records cover: from the start of the first minute that holds any (a record later in
    that minute makes the span longer than it is, so the rate lower: the standby then pays later, not
    sooner), within the window."""
    return min(float(window_s), max(1.0, now - first_minute * SIZE_SLICE_S))


@dataclass
class SizedCall:
    """One call of a sized function between `Sizing.begin` and `Sizing.end`."""

    function: str
    variant: str  # the variant dispatched to
    size: float | None
    queued_ms: float = 0.0  # what this call added to its variant's work in flight
    counted: bool = False  # in the variant's calls in flight (hybrid mode) until `end`
    # The client stalled, or broke its body off, while the size was read from it (proxy._client_body_failed
    # reads these two as it reads them on a ClientBody).
    stalled: bool = False
    broken: bool = False
    started: float = field(default_factory=time.perf_counter)


class Sizing:
    def __init__(self, registry, recorder, stats, redis, *, static_mode: bool, body_idle_s: float,
                 body_min_rate: float = 0.0, refresh_s: float = 1.0, window_s: int = 600, explore: float = EXPLORE,
                 rng=random.random):
        self.registry, self.recorder, self.stats, self.redis = registry, recorder, stats, redis
        self.static_mode = static_mode
        self.body_idle_s, self.body_min_rate = body_idle_s, body_min_rate
        self.refresh_s, self.window_s, self.explore = refresh_s, window_s, explore
        self._rng = rng
        self.sources: dict[str, SizeSource] = {}  # functions that declare size-from and have both variants
        self.plans: dict[str, Plan] = {}
        self._in_flight: dict[tuple[str, str], list] = {}  # (function, variant) -> [calls, predicted work ms]
        # (function, variant) -> slots of its ready replicas, where they are known (`refresh`: what the provider
        # reported at the last discovery; the replay, whose platform scales variants out); absent: one
        # replica's SLOTS. A wait predicted for one replica where several serve would send calls away from a
        # variant that has room.
        self.replica_slots: dict[tuple[str, str], int] = {}
        # Size histograms of minutes no replica records into any more, as read: (function, variant, minute).
        self._closed: dict[tuple[str, str, int], dict[int, LatencyHistogram]] = {}
        self._errors: dict[str, str] = {}

    # -- the call path -----------------------------------------------------------------------------------
    async def begin(self, spec, request, routed: str) -> SizedCall:
        """Read the call's size and pick its variant. For json: sizes, the prefix read is put back in front
        of the body (``request[BODY_KEY]``) for the proxy to send."""
        source = self.sources[spec.name]
        size = None
        if source.kind != "json":
            size = size_from_head(source, request.headers, request.query_string)
        elif request.body_exists:
            try:
                prefix, complete = await read_prefix(request.content, JSON_PREFIX_BYTES, self.body_idle_s, self.body_min_rate)
            except TimeoutError:
                return SizedCall(spec.name, routed, None, stalled=True)
            except Exception:  # the client hung up mid-body: its doing, answered as proxy.ClientBody's breaks
                return SizedCall(spec.name, routed, None, broken=True)
            request[BODY_KEY] = PrefixedContent(prefix, request.content)
            size = size_from_json_prefix(source.name, prefix, complete)
        return self.dispatch(spec.name, routed, size)

    def dispatch(self, function: str, routed: str, size: float | None) -> SizedCall:
        """The variant for a call of ``size`` (None: unknown) whose route says ``routed``."""
        plan = self.plans.get(function)
        if plan is None or size is None or plan.mode == WHOLE and not plan.warm:
            return SizedCall(function, routed, size)
        if plan.mode == HYBRID:
            x = size_model.position(size)
            in_flight = self._in_flight
            cpu = in_flight.get((function, CPU))
            gpu = in_flight.get((function, GPU))
            slots = self.replica_slots
            variant = plan.model.choose(
                x, expected_wait_ms(cpu[0], cpu[1], slots.get((function, CPU), SLOTS[CPU])) if cpu else 0.0,
                expected_wait_ms(gpu[0], gpu[1], slots.get((function, GPU), SLOTS[GPU])) if gpu else 0.0)
            if self._rng() < self.explore and plan.model.worth_exploring(x, OTHER[variant]):
                variant = OTHER[variant]
            predicted = plan.model.curves[variant].at(x)[1]
            held = in_flight.get((function, variant))
            if held is None:
                in_flight[(function, variant)] = [1, predicted]
            else:
                held[0] += 1
                held[1] += predicted
            return SizedCall(function, variant, size, predicted, counted=True)
        explore = LEARNING_EXPLORE if plan.mode == LEARNING else self.explore
        return SizedCall(function, OTHER[routed] if self._rng() < explore else routed, size)

    def end(self, call: SizedCall, response) -> None:
        """The call is done: release its share of the work in flight; record its latency by size when the
        variant answered for itself (no platform fault, no 5xx)."""
        self.release(call)
        if response is None:  # the call raised: nothing to learn from it
            return
        served = response.headers.get("X-Gaia-Variant")
        if call.size is None or served is None or response.status >= 500 or "X-Gaia-Error" in response.headers:
            return
        self.recorder.record_size(call.function, served, size_model.bucket_of(call.size),
                                  (time.perf_counter() - call.started) * 1000.0)

    def release(self, call: SizedCall) -> None:
        """Take a finished call out of its variant's calls in flight."""
        if call.counted:
            held = self._in_flight[(call.function, call.variant)]
            held[0] -= 1
            held[1] = max(0.0, held[1] - call.queued_ms) if held[0] else 0.0

    # -- the refresh (I/O) --------------------------------------------------------------------------------
    def load_sources(self) -> dict[str, tuple[SizeSource, ControllerConfig]]:
        """Set `sources` from the registry; returns each sized function's source and configuration."""
        found = {}
        for name in self.registry.names():
            spec = self.registry.get(name)
            raw = spec.annotations.get(SIZE_FROM) if spec is not None else None
            if raw is None or set(spec.variants) != {CPU, GPU}:
                continue
            try:
                found[name] = (parse_size_from(raw), ControllerConfig.from_annotations(spec.annotations))
                self._errors.pop(name, None)
            except (SizeFromError, ConfigError) as exc:
                if self._errors.get(name) != str(exc):
                    log.error("hybrid dispatch: %s is routed whole until its annotations are fixed: %s", name, exc)
                    self._errors[name] = str(exc)
        self.sources = {name: source for name, (source, _) in found.items()}
        return found

    async def refresh(self, now: float | None = None) -> None:
        """Rebuild the sources from the registry and each plan from Redis (a function whose read fails keeps
        its previous plan)."""
        now = time.time() if now is None else now
        found = self.load_sources()
        for name in [n for n in self.plans if n not in found]:
            del self.plans[name]
        self._count_replica_slots(found)
        minutes = size_slices(now, self.window_s)
        closed_before = minutes[-1] - 1  # a minute that ended over a minute ago gets no more records: read once
        self._closed = {key: buckets for key, buckets in self._closed.items()
                        if key[0] in found and key[2] >= minutes[0]}
        for name, (source, config) in found.items():
            wanted = [(v, m) for v in (CPU, GPU) for m in minutes if m >= closed_before or (name, v, m) not in self._closed]
            try:
                read = await self.stats.sized_slices(name, wanted)
                warm = self.static_mode or await standby_flag(self.redis, name) not in (None, DRAINING)
            except Exception as exc:  # Redis away: keep dispatching on the last plan
                log.debug("hybrid dispatch: %s keeps its plan: %s", name, exc)
                continue
            for (variant, minute), buckets in read.items():
                if minute < closed_before:
                    self._closed[(name, variant, minute)] = buckets
            by_minute = {(v, m): self._closed[(name, v, m)] if (name, v, m) in self._closed else read[(v, m)]
                         for v in (CPU, GPU) for m in minutes}
            histograms = {v: merge_sized([by_minute[(v, m)] for m in minutes]) for v in (CPU, GPU)}
            recorded = [m for (_, m), buckets in by_minute.items() if buckets]
            # In static mode both variants run whatever happens: holding the standby costs nothing more.
            span_s = recorded_span_s(now, min(recorded), self.window_s) if recorded and not self.static_mode else None
            self.plans[name] = make_plan(source, config, histograms, warm, now, self.plans.get(name), span_s)

    def _count_replica_slots(self, functions) -> None:
        """Each sized function's variants' slots from the replicas the provider reported (a variant at zero:
        one replica's, which its first call brings up); none where no provider reports (a routes file)."""
        slots = {}
        for name in functions:
            for variant in (CPU, GPU):
                replicas = self.registry.replicas_of(name, variant)
                if replicas is not None:
                    slots[(name, variant)] = SLOTS[variant] * max(1, replicas.available)
        self.replica_slots = slots

    async def run(self) -> None:
        while True:
            try:
                await self.refresh()
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug in one refresh must not end hybrid dispatch: the next one retries
                log.exception("hybrid dispatch: refresh failed")
            await asyncio.sleep(self.refresh_s)

    def describe(self, function: str) -> dict | None:
        plan = self.plans.get(function)
        return None if plan is None else plan.describe()


async def set_warm(redis, function: str, held: str, ttl_s: float) -> None:
    """Say that both variants of ``function`` are up for ``ttl_s`` (renewed while true), ``held`` being the
    standby the controller keeps up for hybrid mode."""
    await redis.set(WARM_KEY_PREFIX + function, held, px=max(1, int(ttl_s * 1000)))


async def drain_standby(redis, function: str, ttl_s: float) -> None:
    """Say that the standby of ``function`` drains (workers stop sending it calls) for ``ttl_s``, renewed
    until the controller releases it; a new leader finds the drain there and finishes it."""
    await redis.set(WARM_KEY_PREFIX + function, DRAINING, px=max(1, int(ttl_s * 1000)))


async def standby_flag(redis, function: str) -> str | None:
    """The warm flag of ``function``: the standby held up for hybrid mode, `DRAINING`, or None."""
    value = await redis.get(WARM_KEY_PREFIX + function)
    return value.decode() if isinstance(value, bytes) else value


async def clear_warm(redis, function: str) -> None:
    await redis.delete(WARM_KEY_PREFIX + function)
