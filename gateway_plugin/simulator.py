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
* **Horizontal scaling.** On pro, the Pro autoscaler per variant (each variant is its own OpenFaaS
  function), from the workload's ``com.openfaas.scale.*`` labels (`gaia replay --set`), Pro's defaults where
  absent: type ``rps``, target 50, target-proportion 0.9, min 1 (``--replicas``), max 20. Every
  ``PRO_SCALER_PERIOD_S`` (15 s, our assumption: the period is not published; the chart's Prometheus
  evaluates the recording rules every 15 s) it reads the load of the chart's recording rule
  (``job:function_current_load:sum``): rps, the answers of the last 30 s (any status) per second, rounded
  up; capacity, the highest count of requests in flight (served or queued) at 5 s steps over the last 45 s,
  rounded up; and sets ceil(load / (target x proportion)) replicas within [min, max]: a scale-up at once,
  a scale-down at once too, or, with ``com.openfaas.scale.down.window`` (up to 5m; default off), only to the
  highest recommendation within that window. Added replicas answer after the cold start and are billed
  from the scale-up; a scale-down removes starting replicas first, then the newest. A variant at zero is
  not the autoscaler's (the gateway scales it from zero to min). Ignored: the metrics' scrape intervals
  and Prometheus' rate extrapolation (counts are exact), the type ``cpu`` (refused: the traces carry no
  CPU usage). With the defaults nothing changes below 45 answers/s per replica. Knative has exactly
  ``replicas`` (its default target, 100 in flight per pod, is far above these workloads). On ce, OpenFaaS
  CE's one AlertManager rule adds replicas: more than 5 answered req/s
  over 10 s, for 5 s, at Prometheus' 15 s evaluations, notified after AlertManager's 5 s group wait and
  every 30 s while it fires, each notification adding 2 replicas (10 % of the default maximum of 20) up to
  CE's cap of 5; once resolved (notified within AlertManager's 10 s group interval) back to ``replicas``.
  Added replicas answer after the cold start. A load beyond the slots queues.
* **Billing.** Per replica-second, from the moment a variant (or an added replica) is asked for (a
  starting replica is billed) until it is gone (a released or idle variant first finishes its in-flight
  and queued requests; a replica removed by a scale-down is not billed for the calls it still finishes).
* **What the controller sees**: every answered or failed request lands, at its completion second, in
  the per-second `snapshot.BucketSeries` of the variant that served it, as the live recorder aggregates
  it (``series``); the controller reads it through `snapshot.build_snapshot` with the flush lag.
"""

from __future__ import annotations

import bisect
import heapq
import math
import re
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

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
# The OpenFaaS Pro autoscaler (docs.openfaas.com/architecture/autoscaling; the faas-netes chart's
# prometheus-pro-cfg.yaml recording rules job:function_current_load:sum), driven by each variant's labels.
SCALE_TYPE = "com.openfaas.scale.type"
SCALE_TARGET = "com.openfaas.scale.target"
SCALE_PROPORTION = "com.openfaas.scale.target-proportion"
SCALE_MIN = "com.openfaas.scale.min"
SCALE_MAX = "com.openfaas.scale.max"
SCALE_DOWN_WINDOW = "com.openfaas.scale.down.window"
SCALE_LABELS = (SCALE_TYPE, SCALE_TARGET, SCALE_PROPORTION, SCALE_MIN, SCALE_MAX, SCALE_DOWN_WINDOW)
RPS, CAPACITY = "rps", "capacity"
# The rps rule: ceil(sum(rate(gateway_function_invocation_total[30s]))), every answer whatever its status.
PRO_RPS_RANGE_S = 30.0
# The capacity rule: ceil(sum(max_over_time(gateway_function_invocation_inflight[45s:5s]))).
PRO_INFLIGHT_RANGE_S = 45.0
PRO_INFLIGHT_STEP_S = 5.0
# How often the autoscaler reads the load and sets the replicas: not published. The chart's Prometheus
# evaluates the recording rules every 15 s (evaluation_interval), so a faster loop would read the same value;
# we assume one scaling decision per rule evaluation.
PRO_SCALER_PERIOD_S = 15.0
PRO_DOWN_WINDOW_MAX_S = 300.0  # com.openfaas.scale.down.window: a Go duration up to 5m; default off

# Event kinds, in the order they are handled at equal times: answers free slots before anything else.
(_COMPLETE, _GIVE_UP, _READY, _ADDED_READY, _CALL, _TICK, _SEND, _IDLE, _ALERT_EVAL, _ALERT_NOTIFY, _INFLIGHT_SAMPLE,
 _SCALE_EVAL) = range(12)
_WAITING, _SERVING, _DONE = 1, 2, 3


@dataclass(frozen=True)
class ProAutoscaling:
    """One variant's OpenFaaS Pro autoscaler labels (the Pro defaults when a label is absent)."""

    type: str = RPS  # com.openfaas.scale.type: rps (answers per second) or capacity (requests in flight)
    target: float = 50.0  # com.openfaas.scale.target: load per replica
    proportion: float = 0.9  # com.openfaas.scale.target-proportion
    min_replicas: int = 1  # com.openfaas.scale.min: what a running variant never goes below
    max_replicas: int = 20  # com.openfaas.scale.max
    down_window_s: float = 0.0  # com.openfaas.scale.down.window: scale down to the window's highest recommendation

    def desired(self, load: float) -> int:
        """Replicas for a function-wide ``load``: ready pods x (mean load per pod / (target x proportion))
        is load / (target x proportion), rounded up, within [min, max]."""
        wanted = math.ceil(round(load / (self.target * self.proportion), 9))
        return max(self.min_replicas, min(self.max_replicas, wanted))


def _go_duration_s(label: str, text: str) -> float:
    """A Go duration as the labels carry it: 90s, 2m, 1m30s (or plain seconds)."""
    parts = re.fullmatch(r"(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?", text)
    if parts and any(parts.groups()):
        hours, minutes, seconds = (float(g) if g else 0.0 for g in parts.groups())
        return hours * 3600.0 + minutes * 60.0 + seconds
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{label} expects a duration such as 90s or 2m, got {text!r}") from None


def _label_values(label: str, text: str) -> dict[str, str]:
    """One value for both variants, or cpu=VALUE,gpu=VALUE (each variant is its own OpenFaaS function)."""
    if "=" not in text:
        return {v: text.strip() for v in VARIANTS}
    values = {}
    for part in text.split(","):
        key, _, value = part.partition("=")
        if key.strip() not in VARIANTS or not value.strip():
            raise ValueError(f"{label} expects VALUE or cpu=VALUE,gpu=VALUE, got {text!r}")
        values[key.strip()] = value.strip()
    return values


def pro_autoscaling(labels: Mapping[str, str], replicas: int = 1) -> dict[str, ProAutoscaling]:
    """Per variant, the Pro autoscaler's settings from a function's com.openfaas.scale.* labels (other keys
    are ignored); ``replicas`` (`gaia replay --replicas`) stands for com.openfaas.scale.min where no label
    sets it. Raises ValueError naming the label."""
    fields_by_variant: dict[str, dict] = {v: {"min_replicas": replicas} for v in VARIANTS}
    for label in SCALE_LABELS:
        raw = labels.get(label)
        if raw is None or not str(raw).strip():
            continue
        for variant, text in _label_values(label, str(raw)).items():
            chosen = fields_by_variant[variant]
            try:
                if label == SCALE_TYPE:
                    if text == "cpu":
                        raise ValueError(f"{label}=cpu is not modelled: the traces carry no CPU usage (use rps or capacity)")
                    if text not in (RPS, CAPACITY):
                        raise ValueError(f"{label} must be rps or capacity, got {text!r}")
                    chosen["type"] = text
                elif label == SCALE_DOWN_WINDOW:
                    window = _go_duration_s(label, text)
                    if not 0.0 <= window <= PRO_DOWN_WINDOW_MAX_S:
                        raise ValueError(f"{label} must be between 0s and 5m, got {text!r}")
                    chosen["down_window_s"] = window
                elif label in (SCALE_MIN, SCALE_MAX):
                    chosen["min_replicas" if label == SCALE_MIN else "max_replicas"] = int(text)
                else:
                    chosen["target" if label == SCALE_TARGET else "proportion"] = float(text)
            except ValueError as exc:
                if label in str(exc):
                    raise
                raise ValueError(f"{label} expects a number, got {text!r}") from None
    for chosen in fields_by_variant.values():  # --replicas above Pro's default maximum raises that maximum
        chosen.setdefault("max_replicas", max(ProAutoscaling.max_replicas, chosen["min_replicas"]))
    settings = {v: ProAutoscaling(**chosen) for v, chosen in fields_by_variant.items()}
    for variant, setting in settings.items():
        if not (setting.target > 0 and math.isfinite(setting.target)) or not 0 < setting.proportion <= 10:
            raise ValueError(f"{variant}: {SCALE_TARGET} and {SCALE_PROPORTION} must be above 0, got "
                             f"{setting.target:g} and {setting.proportion:g}")
        if not 1 <= setting.min_replicas <= setting.max_replicas:
            raise ValueError(f"{variant}: {SCALE_MIN} ({setting.min_replicas}) must be at least 1 and at most "
                             f"{SCALE_MAX} ({setting.max_replicas})")
    return settings


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
    # Pro: per variant, its autoscaler's labels (`with_scale_labels`); empty on ce and knative.
    autoscaling: Mapping[str, ProAutoscaling] = field(default_factory=dict)

    def base_replicas(self, variant: str) -> int:
        """Replicas a running variant has without any scale-out (Pro: com.openfaas.scale.min)."""
        setting = self.autoscaling.get(variant)
        return self.replicas if setting is None else setting.min_replicas


def with_scale_labels(model: Platform, labels: Mapping[str, str]) -> Platform:
    """The platform with a function's com.openfaas.scale.* labels: Pro's autoscaler reads them; CE's
    AlertManager rule and Knative's defaults, as modelled, do not."""
    if model.name != PRO or not any(label in labels for label in SCALE_LABELS):
        return model  # without labels: the platform's own settings (Pro's defaults unless set otherwise)
    return replace(model, autoscaling=pro_autoscaling(labels, model.replicas))


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
                        timeout_s, kept, autoscaling=pro_autoscaling({}, replicas))
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
    added: list[tuple[str, float, float]] = field(default_factory=list)  # one replica a scale-out added
    base_replicas: dict[str, int] = field(default_factory=dict)  # per variant, where it differs from replicas
    prices: dict[str, float] = field(default_factory=dict)
    start_variant: str = policy.CPU

    @property
    def cost(self) -> float:
        return sum(self.seconds_on(variant) * price for variant, price in self.prices.items())

    def seconds_on(self, variant: str) -> float:
        """Replica-seconds of a variant."""
        return (sum(end - start for v, start, end in self.provisioned if v == variant)
                * self.base_replicas.get(variant, self.replicas)
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
                 "last_active", "stopping", "added", "alert_since", "firing", "notices", "waiting", "inflight_samples",
                 "recommendations")

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
        self.waiting = 0  # queued requests still waiting (the queue also holds those that gave up)
        # Pro's autoscaler: (time, requests in flight) every PRO_INFLIGHT_STEP_S, its recent recommendations.
        self.inflight_samples: deque[tuple[float, int]] = deque()
        self.recommendations: deque[tuple[float, int]] = deque()

    def in_flight(self) -> int:
        """What the gateway counts in flight for this function: requests served or waiting for a slot."""
        return self.busy + self.waiting

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
                             platform_model.replicas, prices=dict(prices), start_variant=start,
                             base_replicas={v: platform_model.base_replicas(v) for v in VARIANTS})
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
        self._variants = {v: _Variant(v, platform_model.base_replicas(v) * platform_model.concurrency[v],
                                      platform_model.concurrency[v], workload.cold_start_s.get(v, 0.0))
                          for v in sorted(deployed)}
        n = len(workload.requests)
        self._sent = [0.0] * n
        self._state = [0] * n
        self._outstanding = n
        # Answered requests per variant in completion order (for the prototype's exact windows).
        self._ok_done: dict[str, list[float]] = {v: [] for v in VARIANTS}
        self._ok_latency: dict[str, list[float]] = {v: [] for v in VARIANTS}
        # Every finished request per variant (any status), in completion order: the gateway's invocation count.
        self._done: dict[str, list[float]] = {v: [] for v in VARIANTS}
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
        self.begin(on_tick, interval_s, first_tick_s)
        self.advance(math.inf)
        return self.finish()

    # Several simulations on one clock (`gaia replay --pool`): begin each, advance them all to the next
    # shared evaluation, evaluate, repeat; finish each.
    def begin(self, on_tick: Callable[["Simulation"], None] | None, interval_s: float, first_tick_s: float) -> None:
        requests = self.workload.requests
        if self.workload.closed_loop:
            self._push(0.0, _SEND, 0)
        else:
            for i, request in enumerate(requests):
                self._push(request.send_s, _SEND, i)
        self._on_tick, self._interval_s = on_tick, interval_s
        if on_tick is not None:
            self._push(first_tick_s, _TICK, None)
        if self.platform.max_replicas > self.platform.replicas:
            self._push(PROMETHEUS_EVALUATION_S, _ALERT_EVAL, None)
        scaled = [self.platform.autoscaling[v] for v in self._variants if v in self.platform.autoscaling
                  and self.platform.autoscaling[v].max_replicas > self.platform.autoscaling[v].min_replicas]
        if scaled:
            self._push(PRO_SCALER_PERIOD_S, _SCALE_EVAL, None)
            if any(setting.type == CAPACITY for setting in scaled):
                self._push(0.0, _INFLIGHT_SAMPLE, None)
        for variant in self._variants.values():
            self._settle(variant)
        self._step = max(1, len(requests) // 20)
        self._reported = 0

    @property
    def finished(self) -> bool:
        return not (self._events and self._outstanding)

    def advance(self, until: float) -> None:
        """Handle the events up to ``until`` (inclusive); the clock then reads ``until`` if it got there."""
        total = len(self.workload.requests)
        events = self._events
        while events and self._outstanding and events[0][0] <= until:
            self.now, kind, _, payload = heapq.heappop(events)
            if kind == _SEND:
                self._sent[payload] = self.now
                dispatcher = self.dispatcher
                self._dispatch(payload, self.route if dispatcher is None else dispatcher.choose(self, payload),
                               may_fail_over=True)
            elif kind == _COMPLETE:
                self._complete(*payload)
            elif kind == _TICK:
                self._on_tick(self)
                self._push(self.now + self._interval_s, _TICK, None)
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
            elif kind == _INFLIGHT_SAMPLE:
                self._sample_in_flight()
                self._push(self.now + PRO_INFLIGHT_STEP_S, _INFLIGHT_SAMPLE, None)
            elif kind == _SCALE_EVAL:
                self._autoscale()
                self._push(self.now + PRO_SCALER_PERIOD_S, _SCALE_EVAL, None)
            finished = total - self._outstanding
            if self._progress is not None and finished != self._reported and finished % self._step == 0:
                self._reported = finished
                self._progress(finished / total)
        if math.isfinite(until) and self._outstanding:
            self.now = max(self.now, until)

    def finish(self) -> Result:
        for variant in self._variants.values():
            if variant.up:
                self._down(variant)
        self.result.provisioned.sort(key=lambda p: p[1])
        self.result.added.sort(key=lambda p: p[1])
        return self.result

    def slots(self, name: str) -> int:
        """Requests the variant's ready replicas serve at once; at least one replica's (a starting variant's
        calls wait for its cold start, not behind other calls)."""
        variant = self._variants.get(name)
        per_replica = self.platform.concurrency[name]
        return per_replica if variant is None else max(per_replica, variant.capacity(self.now))

    def variant_up(self, name: str) -> bool:
        """Whether the variant has replicas (starting, serving or finishing its requests): what holds a GPU."""
        variant = self._variants.get(name)
        return variant is not None and variant.up

    def down_since(self, name: str) -> float | None:
        """When the variant's replicas last went (released or idle), None while it runs or if it never ran."""
        if self.variant_up(name):
            return None
        return next((end for variant, _, end in reversed(self.result.provisioned) if variant == name), None)

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
            variant.waiting += 1
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
            self._variants[name].waiting -= 1
            self._finish(i, name, FAILURE_STATUS["timeout"], "timeout")

    def _finish(self, i: int, name: str, status: int, failure: str | None) -> None:
        latency_ms = (self.now - self._sent[i]) * 1000.0
        self._state[i] = _DONE
        self._outstanding -= 1
        self._done[name].append(self.now)
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
                variant.waiting -= 1
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
        variant.recommendations.clear()
        variant.up = False
        variant.stopping = False
        variant.ready_at = math.inf

    # --- Pro's autoscaler --------------------------------------------------------------------------
    def _sample_in_flight(self) -> None:
        """The capacity rule's subquery steps: each variant's requests in flight every PRO_INFLIGHT_STEP_S."""
        for variant in self._variants.values():
            samples = variant.inflight_samples
            samples.append((self.now, variant.in_flight()))
            while samples and samples[0][0] <= self.now - PRO_INFLIGHT_RANGE_S:
                samples.popleft()

    def _load(self, variant: _Variant, setting: ProAutoscaling) -> float:
        """job:function_current_load:sum for one variant now (each rule rounds its load up)."""
        if setting.type == CAPACITY:
            return math.ceil(max((n for t, n in variant.inflight_samples if t > self.now - PRO_INFLIGHT_RANGE_S),
                                 default=variant.in_flight()))
        done = self._done[variant.name]
        answered = len(done) - bisect.bisect_right(done, self.now - PRO_RPS_RANGE_S)
        return math.ceil(round(answered / PRO_RPS_RANGE_S, 9))

    def _autoscale(self) -> None:
        """One turn of the Pro autoscaler: every running variant to its desired replicas (scale-up at once;
        scale-down to the highest recommendation within com.openfaas.scale.down.window)."""
        for variant in self._variants.values():
            setting = self.platform.autoscaling.get(variant.name)
            if setting is None or not variant.up or variant.stopping or setting.max_replicas == setting.min_replicas:
                continue  # at zero (the gateway scales from zero, not the autoscaler), or on its way there
            desired = setting.desired(self._load(variant, setting))
            history = variant.recommendations
            history.append((self.now, desired))
            while history[0][0] < self.now - setting.down_window_s:  # the current one always stays
                history.popleft()
            current = setting.min_replicas + len(variant.added)
            if desired > current:
                for _ in range(desired - current):
                    replica = [self.now, False]
                    variant.added.append(replica)
                    self._push(self.now + variant.cold_start_s, _ADDED_READY, (variant.name, replica))
            elif desired < current:
                keep = min(current, max(n for _, n in history))
                self._remove_replicas(variant, current - keep)

    def _remove_replicas(self, variant: _Variant, count: int) -> None:
        """Scale down by ``count`` added replicas: starting ones first, then the newest (a ReplicaSet's
        preference); what they hold finishes, no new request starts beyond the remaining slots."""
        if count <= 0:
            return
        order = sorted(range(len(variant.added)), key=lambda k: (variant.added[k][1], -variant.added[k][0]))
        gone = set(order[:count])
        for k in sorted(gone):
            self.result.added.append((variant.name, variant.added[k][0], self.now))
        variant.added = [replica for k, replica in enumerate(variant.added) if k not in gone]

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
