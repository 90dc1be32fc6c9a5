"""The replay's discrete-event simulator: requests, replicas, queues, platforms and billing in virtual time.

One `Simulation` is one workload under one routing strategy on one platform, in virtual seconds from 0.
The strategies (replay.py) only point the route, ask for a variant (`scale_up`) and give one back
(`release`); everything else is the platform's and the clients':

* **Arrivals.** Open loop: request ``i`` is sent at its ``send_s`` whatever the strategy does (paired
  traces, synthetic patterns). Closed loop (the sequential thesis scripts): one client sends the next
  request ``think_s`` after the previous answer.
* **Replicas and queues.** A running variant has ``replicas`` replicas of ``concurrency`` slots each
  (default: the template's gunicorn workers x GAIA_THREADS: CPU 2 x 4, GPU one worker per GPU x 4). A
  request is served by the variant the route points at when it is sent (or, under hybrid dispatch, the
  one the strategy's ``dispatcher`` picks for it); it takes a free slot or waits
  in the variant's FIFO queue. Latency = wait (queue, cold start) + service time, the service time being
  the trace's latency for that request on that variant. Service times do not grow with concurrency.
* **Failures.** A request that fails on the serving variant (a ``-1`` row or an ``error`` column): ``5xx``
  answers after the row's latency (or ``FAST_FAILURE_MS``) with status 500; ``refused`` is answered at
  once (status 0, a platform fault) and, as the live proxy does, retried on the other variant when the
  strategy runs both; ``timeout`` holds its slot until the client gives up after ``timeout_s`` (status
  504). Any request not answered within ``timeout_s`` of its send (queueing, a cold start, a slow
  service) fails the same way.
* **Platforms.** ``ce``: every deployed variant runs (and is billed) for the whole run, OpenFaaS CE
  refuses zero replicas, so releases do nothing. ``pro``: a variant with no traffic for
  ``scale_to_zero_after_s`` (``com.openfaas.scale.zero-duration``) is scaled to zero; the controller's
  release (``scale-function`` to 0) takes effect at once. ``knative``: min-scale 0; a variant without
  traffic goes after the stable window plus the scale-to-zero grace period; nothing can be released
  through the API (the actuator's static mode). On ``pro`` and ``knative`` a request for a variant at
  zero starts it (the gateway's scale from zero, the activator) and waits for its cold start.
* **Horizontal scaling**: on pro and knative a running variant has exactly ``replicas`` replicas (the
  Pro autoscaler's and Knative's default targets, 50 req/s and 100 in flight per replica, are far above
  these workloads). On ce, OpenFaaS CE's one AlertManager rule adds replicas: more than 5 answered req/s
  over 10 s, for 5 s, at Prometheus' 15 s evaluations, notified after AlertManager's 5 s group wait and
  every 30 s while it fires, each notification adding 2 replicas (10 % of the default maximum of 20) up to
  CE's cap of 5; once resolved (notified within AlertManager's 10 s group interval) back to ``replicas``.
  Added replicas answer after the cold start. A load beyond the slots queues.
* **Billing.** Per replica-second, from the moment a variant is asked for (a starting replica is
  billed) until it is gone (a released or idle variant first finishes its in-flight and queued requests).
* **What the controller sees**: every answered or failed request lands, at its completion second, in
  the per-second `snapshot.BucketSeries` of the variant that served it, as the live recorder aggregates
  it (``series``); the controller reads it through `snapshot.build_snapshot` with the flush lag.
"""

from __future__ import annotations

import bisect
import heapq
import math
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from gaia_faas.gateway_plugin import policy
from gaia_faas.gateway_plugin.snapshot import BucketSeries
from gaia_faas.gateway_plugin.traces import Workload

VARIANTS = (policy.CPU, policy.GPU)
CE, PRO, KNATIVE = "ce", "pro", "knative"
PLATFORMS = (CE, PRO, KNATIVE)
# OpenFaaS Pro: com.openfaas.scale.zero-duration, the Pro docs' default (15m) and what `gaia stack` writes
# (com.gaia.gpu-idle, default 15m).
PRO_ZERO_DURATION_S = 900.0
# Knative KPA defaults: the stable window must see no traffic before it wants zero pods, and the last
# pod then goes after scale-to-zero-grace-period.
KNATIVE_STABLE_WINDOW_S = 60.0
KNATIVE_GRACE_S = 30.0
# templates/gaia-python/index.py: CPU 2 gunicorn workers, GPU one per GPU (1), each admitting GAIA_THREADS=4.
DEFAULT_CONCURRENCY = {policy.CPU: 8, policy.GPU: 4}
# The OpenFaaS gateway's upstream_timeout default (docs/ecosystem.md §4): the client's answer by then.
DEFAULT_TIMEOUT_S = 60.0
FAST_FAILURE_MS = 5.0  # a 5xx whose trace row shows no latency
REFUSED_MS = 1.0  # a refused connection is known at once
FAILURE_STATUS = {"5xx": 500, "refused": 0, "timeout": 504}
# OpenFaaS CE's scale-out (faas-netes chart: prometheus-cfg.yaml, alertmanager-cfg.yaml; the gateway's alert
# handler; docs/ecosystem.md §4): the APIHighInvocationRate rule and what a notification does.
CE_RULE_RPS = 5.0  # sum(rate(gateway_function_invocation_total{code="200"}[10s])) > 5
CE_RULE_RANGE_S = 10.0
CE_RULE_FOR_S = 5.0
PROMETHEUS_EVALUATION_S = 15.0
ALERTMANAGER_GROUP_WAIT_S = 5.0
ALERTMANAGER_GROUP_INTERVAL_S = 10.0
ALERTMANAGER_REPEAT_S = 30.0
CE_SCALE_STEP = 2  # ceil(com.openfaas.scale.max 20 x com.openfaas.scale.factor 10 %)
CE_MAX_REPLICAS = 5  # faas-netes CE caps every function at 5 replicas

# Event kinds, in the order they are handled at equal times: answers free slots before anything else.
_COMPLETE, _GIVE_UP, _READY, _ADDED_READY, _CALL, _TICK, _SEND, _IDLE, _ALERT_EVAL, _ALERT_NOTIFY = range(10)
_WAITING, _SERVING, _DONE = 1, 2, 3


@dataclass(frozen=True)
class Platform:
    """What the platform allows: scale to zero, releases, replicas and their concurrency, the timeout."""

    name: str
    # Per variant, the idle time after which it is scaled to zero; None: never (CE).
    scale_to_zero_after_s: Mapping[str, float] | None
    honours_release: bool  # whether the controller's scale-to-zero request takes effect
    replicas: int = 1
    concurrency: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_CONCURRENCY))
    timeout_s: float = DEFAULT_TIMEOUT_S
    # Variants the platform never scales to zero by itself (they run from the start, like every variant on
    # CE): `gaia stack` writes com.openfaas.scale.zero=false (Pro) and min-scale 1 (Knative) on the CPU variant.
    always_on: frozenset[str] = frozenset()
    max_replicas: int = 1  # CE's scale-out adds replicas up to this many (replicas: none)


def platform(name: str, *, replicas: int = 1, concurrency: Mapping[str, int] | None = None,
             timeout_s: float = DEFAULT_TIMEOUT_S, scale_to_zero_after_s: float | Mapping[str, float] | None = None,
             always_on: frozenset[str] | set[str] = frozenset(), ce_max_replicas: int = CE_MAX_REPLICAS) -> Platform:
    """A platform model by name; ``scale_to_zero_after_s`` overrides the idle time of pro and knative (one
    value, or per variant: ``{"gpu": 900}`` models `gaia stack --knative`'s GPU retention period),
    ``ce_max_replicas`` the cap of CE's scale-out (at most ``replicas``: none)."""
    if name not in PLATFORMS:
        raise ValueError(f"unknown platform {name!r}; known: {', '.join(PLATFORMS)}")
    if replicas < 1:
        raise ValueError(f"replicas must be at least 1, got {replicas}")
    slots = {**DEFAULT_CONCURRENCY, **(concurrency or {})}
    if any(n < 1 for n in slots.values()):
        raise ValueError(f"concurrency must be at least 1 per replica, got {slots}")
    if not timeout_s > 0:
        raise ValueError(f"the timeout must be above 0 s, got {timeout_s}")
    idle = scale_to_zero_after_s if isinstance(scale_to_zero_after_s, Mapping) else (
        {} if scale_to_zero_after_s is None else {v: scale_to_zero_after_s for v in VARIANTS})
    if not set(idle) <= set(VARIANTS) or not all(value >= 0 for value in idle.values()):
        raise ValueError(f"the idle time before scaling to zero must be at least 0 s per variant, got {idle}")
    unknown = sorted(set(always_on) - set(VARIANTS))
    if unknown:
        raise ValueError(f"always-on variants must be among {', '.join(VARIANTS)}, got {', '.join(unknown)}")
    kept = frozenset(always_on)
    if name == CE:
        return Platform(CE, None, False, replicas, slots, timeout_s, frozenset(VARIANTS),
                        max(replicas, ce_max_replicas))
    if name == PRO:
        return Platform(PRO, {v: idle.get(v, PRO_ZERO_DURATION_S) for v in VARIANTS}, True, replicas, slots,
                        timeout_s, kept)
    return Platform(KNATIVE, {v: idle.get(v, KNATIVE_STABLE_WINDOW_S + KNATIVE_GRACE_S) for v in VARIANTS}, False,
                    replicas, slots, timeout_s, kept)


@dataclass
class Served:
    send_s: float
    done_s: float
    variant: str  # the variant that answered (or failed it)
    latency_ms: float
    failure: str | None = None  # None: answered; else 5xx, refused or timeout

    @property
    def failed(self) -> bool:
        return self.failure is not None


# Requests above the SLO (or failed) in a row that make a "sustained violation" for first_switch_delay_s.
SUSTAINED_REQUESTS = 3


@dataclass
class Result:
    workload: str
    strategy: str
    slo_ms: float | None
    slo_percentile: float
    platform: str
    replicas: int = 1
    served: list[Served] = field(default_factory=list)
    switches: list[tuple[float, str, str, str]] = field(default_factory=list)  # (time, from, to, reason)
    provisioned: list[tuple[str, float, float]] = field(default_factory=list)  # (variant, start, end)
    added: list[tuple[str, float, float]] = field(default_factory=list)  # one replica CE's scale-out added
    prices: dict[str, float] = field(default_factory=dict)
    start_variant: str = policy.CPU

    @property
    def cost(self) -> float:
        return sum(self.seconds_on(variant) * price for variant, price in self.prices.items())

    def seconds_on(self, variant: str) -> float:
        """Replica-seconds of a variant."""
        return (sum(end - start for v, start, end in self.provisioned if v == variant) * self.replicas
                + sum(end - start for v, start, end in self.added if v == variant))

    def route_at_end(self) -> str:
        return self.switches[-1][2] if self.switches else self.start_variant

    def attempts(self, variant: str) -> list[float]:
        """Provisioned stretches of a variant, in seconds (each GPU attempt is one)."""
        return [end - start for v, start, end in self.provisioned if v == variant]

    def violates(self, served: Served) -> bool:
        return served.failed or (self.slo_ms is not None and served.latency_ms > self.slo_ms)

    def first_switch_delay_s(self) -> float | None:
        """From the first request (its send time) of the first run of SUSTAINED_REQUESTS requests above
        the SLO or failed to the first switch after it; None without such a run or switch."""
        if not self.switches:
            return None
        run_start, run = None, 0
        for served in sorted(self.served, key=lambda s: s.send_s):
            if self.violates(served):
                run += 1
                if run == 1:
                    run_start = served.send_s
                if run >= SUSTAINED_REQUESTS:
                    break
            else:
                run = 0
        if run < SUSTAINED_REQUESTS:
            return None
        later = [t for t, *_ in self.switches if t >= run_start]
        return round(later[0] - run_start, 3) if later else None

    def summary(self) -> dict:
        """Latencies of answered requests; violations count failed requests too."""
        answered = sorted(s.latency_ms for s in self.served if not s.failed)
        failed = len(self.served) - len(answered)
        violations = sum(1 for s in self.served if self.violates(s))
        rank = max(1, math.ceil(0.95 * len(answered)))
        return {
            "platform": self.platform,
            "requests": len(self.served),
            "mean_ms": round(sum(answered) / len(answered), 1) if answered else None,
            "p95_ms": round(answered[rank - 1], 1) if answered else None,
            "slo_ms": self.slo_ms,
            "slo_percentile": self.slo_percentile,
            "slo_violation_pct": round(100.0 * violations / len(self.served), 2) if self.served else 0.0,
            "failed": failed,
            "cost": round(self.cost, 6),
            "switches": len(self.switches),
            "first_switch_delay_s": self.first_switch_delay_s(),
            "gpu_seconds": round(self.seconds_on(policy.GPU), 1),
            "cpu_seconds": round(self.seconds_on(policy.CPU), 1),
        }


class _Variant:
    """One deployed variant's replicas: whether they exist, when they answer, their slots and queue."""

    __slots__ = ("name", "slots", "replica_slots", "cold_start_s", "up", "since", "ready_at", "busy", "queue",
                 "last_active", "stopping", "added", "alert_since", "firing", "notices")

    def __init__(self, name: str, slots: int, replica_slots: int, cold_start_s: float):
        self.name = name
        self.slots = slots  # of the base replicas
        self.replica_slots = replica_slots
        self.cold_start_s = cold_start_s
        self.up = False
        self.since = 0.0  # when the current replicas were asked for (billing)
        self.ready_at = math.inf
        self.busy = 0
        self.queue: deque[int] = deque()
        self.last_active = 0.0
        self.stopping = False  # released or idle, but still finishing its requests
        self.added: list[list] = []  # replicas CE's scale-out added: [since, ready]
        self.alert_since: float | None = None  # CE's rule: pending since
        self.firing = False
        self.notices = 0  # generation of AlertManager notifications (a resolve cancels the repeats)

    def capacity(self, now: float) -> int:
        base = self.slots if self.ready_at <= now else 0
        return base + self.replica_slots * sum(1 for _, ready in self.added if ready)


class Simulation:
    """One workload under one strategy on one platform."""

    def __init__(self, workload: Workload, strategy: str, start: str, platform_model: Platform,
                 deployed: frozenset[str], prices: Mapping[str, float], slo_ms: float | None,
                 slo_percentile: float = 95.0, progress: Callable[[float], None] | None = None):
        if start not in deployed:
            raise ValueError(f"start variant {start} is not deployed")
        self.workload = workload
        self.platform = platform_model
        self.deployed = frozenset(deployed)
        self.result = Result(workload.name, strategy, slo_ms, slo_percentile, platform_model.name,
                             platform_model.replicas, prices=dict(prices), start_variant=start)
        self.route = start
        # Per-request dispatch (replay.HybridStrategy): .choose(sim, i) -> variant when request i is sent,
        # .finished(sim, i, variant, latency_ms, failure) when it is done; None: every request follows the route.
        self.dispatcher = None
        self.now = 0.0
        # What the live recorder would hold: per variant, per completion second, every finished call.
        self.series = {v: BucketSeries() for v in VARIANTS}
        self._events: list = []
        self._counter = 0
        self._progress = progress
        self._variants = {v: _Variant(v, platform_model.replicas * platform_model.concurrency[v],
                                      platform_model.concurrency[v], workload.cold_start_s.get(v, 0.0))
                          for v in sorted(deployed)}
        n = len(workload.requests)
        self._sent = [0.0] * n
        self._state = [0] * n
        self._outstanding = n
        # Answered requests per variant in completion order (for the prototype's exact windows).
        self._ok_done: dict[str, list[float]] = {v: [] for v in VARIANTS}
        self._ok_latency: dict[str, list[float]] = {v: [] for v in VARIANTS}
        # The start variant and the always-on ones (on CE: all) run from the start; the others are at zero.
        for variant in self._variants.values():
            if variant.name == start or variant.name in platform_model.always_on:
                self._start(variant)
                if workload.warm_start:
                    variant.ready_at = 0.0

    # --- what strategies use -----------------------------------------------------------------------
    def at(self, when: float, callback: Callable[["Simulation"], None]) -> None:
        self._push(when, _CALL, callback)

    def scale_up(self, name: str) -> float:
        """Ask for a variant (the actuator's scale-up and warm-up request); return when it answers."""
        variant = self._variants[name]
        if not variant.up:
            self._start(variant)
        variant.stopping = False
        variant.last_active = max(variant.last_active, self.now)
        return max(self.now, variant.ready_at)

    def release(self, name: str) -> bool:
        """The controller's request to scale a variant to zero; False where the platform ignores it."""
        if not self.platform.honours_release:
            return False
        self._stop(self._variants[name])
        return True

    def switch(self, target: str, reason: str) -> None:
        self.result.switches.append((self.now, self.route, target, reason))
        self.route = target

    def is_ready(self, name: str) -> bool:
        """The variant runs and answers now (not at zero, not starting, not on its way down)."""
        variant = self._variants.get(name)
        return variant is not None and variant.up and not variant.stopping and variant.ready_at <= self.now

    def answered_after(self, variant: str, start: float) -> list[float]:
        """Latencies of the variant's requests answered (not failed) in (start, now]."""
        return self._ok_latency[variant][bisect.bisect_right(self._ok_done[variant], start):]

    def history(self, variant: str, seconds: float | None = None) -> list[float]:
        return self._ok_latency[variant] if seconds is None else self.answered_after(variant, self.now - seconds)

    def answered_since(self, seconds: float) -> int:
        return sum(len(self.answered_after(v, self.now - seconds)) for v in VARIANTS)

    # --- the run -----------------------------------------------------------------------------------
    def run(self, on_tick: Callable[["Simulation"], None] | None, interval_s: float, first_tick_s: float) -> Result:
        requests = self.workload.requests
        if self.workload.closed_loop:
            self._push(0.0, _SEND, 0)
        else:
            for i, request in enumerate(requests):
                self._push(request.send_s, _SEND, i)
        if on_tick is not None:
            self._push(first_tick_s, _TICK, None)
        if self.platform.max_replicas > self.platform.replicas:
            self._push(PROMETHEUS_EVALUATION_S, _ALERT_EVAL, None)
        for variant in self._variants.values():
            self._settle(variant)
        total = len(requests)
        step = max(1, total // 20)
        reported = 0
        events = self._events
        while events and self._outstanding:
            self.now, kind, _, payload = heapq.heappop(events)
            if kind == _SEND:
                self._sent[payload] = self.now
                dispatcher = self.dispatcher
                self._dispatch(payload, self.route if dispatcher is None else dispatcher.choose(self, payload),
                               may_fail_over=True)
            elif kind == _COMPLETE:
                self._complete(*payload)
            elif kind == _TICK:
                on_tick(self)
                self._push(self.now + interval_s, _TICK, None)
            elif kind == _CALL:
                payload(self)
            elif kind == _READY:
                self._settle(self._variants[payload])
            elif kind == _GIVE_UP:
                self._give_up(*payload)
            elif kind == _IDLE:
                self._idle_check(self._variants[payload])
            elif kind == _ADDED_READY:
                name, replica = payload
                replica[1] = True
                self._settle(self._variants[name])
            elif kind == _ALERT_EVAL:
                self._evaluate_rule()
                self._push(self.now + PROMETHEUS_EVALUATION_S, _ALERT_EVAL, None)
            elif kind == _ALERT_NOTIFY:
                self._notified(*payload)
            finished = total - self._outstanding
            if self._progress is not None and finished != reported and finished % step == 0:
                reported = finished
                self._progress(finished / total)
        for variant in self._variants.values():
            if variant.up:
                self._down(variant)
        self.result.provisioned.sort(key=lambda p: p[1])
        self.result.added.sort(key=lambda p: p[1])
        return self.result

    # --- requests ----------------------------------------------------------------------------------
    def _push(self, when: float, kind: int, payload) -> None:
        self._counter += 1
        heapq.heappush(self._events, (when, kind, self._counter, payload))

    def _dispatch(self, i: int, name: str, may_fail_over: bool) -> None:
        _, failure = self.workload.requests[i].on(name)
        if failure == "refused":
            self.series[name].record(int(self.now), REFUSED_MS, FAILURE_STATUS["refused"], platform_fault=True)
            other = policy.other(name)
            if may_fail_over and other in self._variants:
                return self._dispatch(i, other, may_fail_over=False)
            self._state[i] = _SERVING
            self._push(self.now + REFUSED_MS / 1000.0, _COMPLETE, (i, name, FAILURE_STATUS["refused"], "refused", False))
            return None
        variant = self._variants[name]
        variant.last_active = self.now
        variant.stopping = False
        if not variant.up:
            self._start(variant)  # scale from zero: the request waits for the cold start
        if variant.busy < variant.capacity(self.now):
            self._serve(i, variant)
        else:
            self._state[i] = _WAITING
            variant.queue.append(i)
            self._push(self._sent[i] + self.platform.timeout_s, _GIVE_UP, (i, name))
        return None

    def _serve(self, i: int, variant: _Variant) -> None:
        service_ms, failure = self.workload.requests[i].on(variant.name)
        left_s = self._sent[i] + self.platform.timeout_s - self.now
        if failure == "timeout":
            hold_s, status = left_s, FAILURE_STATUS["timeout"]
        elif failure == "5xx":
            hold_s, status = (FAST_FAILURE_MS if service_ms is None else service_ms) / 1000.0, FAILURE_STATUS["5xx"]
        else:
            hold_s, status = service_ms / 1000.0, 200
        if hold_s > left_s:
            hold_s, status, failure = left_s, FAILURE_STATUS["timeout"], "timeout"
        variant.busy += 1
        self._state[i] = _SERVING
        self._push(self.now + hold_s, _COMPLETE, (i, variant.name, status, failure, True))

    def _complete(self, i: int, name: str, status: int, failure: str | None, held_slot: bool) -> None:
        self._finish(i, name, status, failure)
        if held_slot:
            variant = self._variants[name]
            variant.busy -= 1
            variant.last_active = self.now
            self._settle(variant)

    def _give_up(self, i: int, name: str) -> None:
        """A queued request reached the timeout before a slot took it."""
        if self._state[i] == _WAITING:
            self._finish(i, name, FAILURE_STATUS["timeout"], "timeout")

    def _finish(self, i: int, name: str, status: int, failure: str | None) -> None:
        latency_ms = (self.now - self._sent[i]) * 1000.0
        self._state[i] = _DONE
        self._outstanding -= 1
        if failure != "refused":  # a refused call was recorded when it was refused
            self.series[name].record(int(self.now), latency_ms, status)
        if failure is None:
            self._ok_done[name].append(self.now)
            self._ok_latency[name].append(latency_ms)
        self.result.served.append(Served(self._sent[i], self.now, name, latency_ms, failure))
        if self.dispatcher is not None:
            self.dispatcher.finished(self, i, name, latency_ms, failure)
        if self.workload.closed_loop and i + 1 < len(self.workload.requests):
            self._push(self.now + self.workload.requests[i + 1].think_s, _SEND, i + 1)

    # --- replicas ----------------------------------------------------------------------------------
    def _start(self, variant: _Variant) -> None:
        variant.up = True
        variant.since = self.now
        variant.ready_at = self.now + variant.cold_start_s
        variant.last_active = self.now
        self._push(variant.ready_at, _READY, variant.name)

    def _settle(self, variant: _Variant) -> None:
        """Start queued requests on free slots; an emptied variant stops or waits to go idle."""
        capacity = variant.capacity(self.now)
        if not variant.up or capacity == 0:
            return
        queue = variant.queue
        while queue and variant.busy < capacity:
            i = queue.popleft()
            if self._state[i] == _WAITING:
                self._serve(i, variant)
        if variant.busy == 0 and not queue:
            if variant.stopping:
                self._down(variant)
            elif self.platform.scale_to_zero_after_s is not None and variant.name not in self.platform.always_on:
                self._push(max(variant.last_active, variant.ready_at) + self.platform.scale_to_zero_after_s[variant.name],
                           _IDLE, variant.name)

    def _idle_check(self, variant: _Variant) -> None:
        idle_since = max(variant.last_active, variant.ready_at)
        if (variant.up and variant.busy == 0 and not variant.queue
                and self.now >= idle_since + self.platform.scale_to_zero_after_s[variant.name] - 1e-9):
            self._down(variant)

    def _stop(self, variant: _Variant) -> None:
        if not variant.up:
            return
        if variant.busy or variant.queue:
            variant.stopping = True  # finishes what it holds (a starting one: once it is up)
        else:
            self._down(variant)

    def _down(self, variant: _Variant) -> None:
        self.result.provisioned.append((variant.name, variant.since, self.now))
        self._remove_added(variant)
        variant.up = False
        variant.stopping = False
        variant.ready_at = math.inf

    # --- CE's scale-out ----------------------------------------------------------------------------
    def _evaluate_rule(self) -> None:
        """Prometheus evaluates APIHighInvocationRate for every variant."""
        for variant in self._variants.values():
            done = self._ok_done[variant.name]
            rate = (len(done) - bisect.bisect_right(done, self.now - CE_RULE_RANGE_S)) / CE_RULE_RANGE_S
            if rate > CE_RULE_RPS:
                if variant.alert_since is None:
                    variant.alert_since = self.now
                if not variant.firing and self.now - variant.alert_since >= CE_RULE_FOR_S:
                    variant.firing = True
                    variant.notices += 1
                    self._push(self.now + ALERTMANAGER_GROUP_WAIT_S, _ALERT_NOTIFY, (variant.name, variant.notices))
            else:
                variant.alert_since = None
                if variant.firing:
                    variant.firing = False
                    variant.notices += 1
                    self._push(self.now + ALERTMANAGER_GROUP_INTERVAL_S, _ALERT_NOTIFY, (variant.name, variant.notices))

    def _notified(self, name: str, notice: int) -> None:
        """The gateway's alert handler: a firing alert adds a step of replicas, a resolved one goes back."""
        variant = self._variants[name]
        if notice != variant.notices:
            return  # superseded by a later state of the alert
        if not variant.firing:
            self._remove_added(variant)
            return
        if variant.up:
            room = self.platform.max_replicas - self.platform.replicas - len(variant.added)
            for _ in range(max(0, min(CE_SCALE_STEP, room))):
                replica = [self.now, False]
                variant.added.append(replica)
                self._push(self.now + variant.cold_start_s, _ADDED_READY, (name, replica))
        self._push(self.now + ALERTMANAGER_REPEAT_S, _ALERT_NOTIFY, (name, notice))

    def _remove_added(self, variant: _Variant) -> None:
        """Added replicas go (what they hold finishes; no new request starts beyond the remaining slots)."""
        for since, _ in variant.added:
            self.result.added.append((variant.name, since, self.now))
        variant.added = []
