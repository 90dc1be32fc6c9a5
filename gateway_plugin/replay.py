"""`gaia replay`: the routing strategies against request traces, in virtual time (simulator.py).

Strategies:

* ``static-cpu`` / ``static-gpu``: a deployment of that variant alone;
* ``gaia``: the live controller's loop: every ``interval_s`` a snapshot from the recorded per-second buckets
  through `snapshot.build_snapshot` (the same function, the same flush lag), ``policy.decide``, and the
  actuator's contract: scale the target up, poll it until it answers (at most the warm-up timeout), then
  switch the route; release what the decision says (the platform may ignore it);
* ``prototype``: the research prototype re-implemented from its description (see `PrototypeParams`),
  under the same platform model.
"""

from __future__ import annotations

import json
import math
import random
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from gaia_faas.gateway_plugin import hybrid, policy, public_traces, simulator, snapshot
from gaia_faas.gateway_plugin.controller_config import ANNOTATIONS, ConfigError, ControllerConfig
from gaia_faas.gateway_plugin.size_feature import SizeSource, number
from gaia_faas.gateway_plugin.size_model import bucket_of
from gaia_faas.gateway_plugin.stats import SIZE_SLICE_S, LatencyHistogram, merge_sized
from gaia_faas.gateway_plugin.simulator import PLATFORMS, VARIANTS, Platform, Result, Simulation
from gaia_faas.gateway_plugin.traces import (
    FAILURES, THESIS_SOURCE, TRACES_ENV, WORKLOADS, TraceError, Workload, default_traces_dir, find_pairs, load_pair,
    load_workload, pair_name,
)

STRATEGIES = ("static-cpu", "static-gpu", "prototype", "gaia")
# hybrid: gaia plus per-request dispatch by size (requests' param); asked for by name (--strategy hybrid).
ALL_STRATEGIES = STRATEGIES + ("hybrid",)
# The policy's view of the platform (what it may release); ignored by a ControllerConfig without that field.
PLATFORM_ANNOTATION = "com.gaia.platform"
# The actuator polls a scaled-up variant this often until it answers (actuator.Actuator's poll_interval_s).
WARMUP_POLL_S = 0.25
# `gaia replay` without workloads: one scenario of each kind from the project's synthetic pairs
# (benchmarks/scenarios, made by its generate.py; about a second), or the built-in synthetic patterns where
# the checkout's scenarios are not there (an installed package); plus the thesis workloads when their traces are.
SCENARIOS_DIR = Path(__file__).resolve().parents[1] / "benchmarks" / "scenarios"
DEFAULT_SCENARIOS = ("drift-up-down", "spike-10x", "gpu-slower", "gpu-outage-5xx", "low-rate-1min")
SYNTHETIC = tuple(name for name, (needs_traces, _) in WORKLOADS.items() if not needs_traces)
THESIS = tuple(name for name, (needs_traces, _) in WORKLOADS.items() if needs_traces)


@dataclass(frozen=True)
class PrototypeParams:
    """The research prototype's analyzer settings, from its description and experiment setups."""

    interval_s: float = 30.0  # evaluation interval
    window_s: float = 600.0  # p95 window (10 minutes)
    cooldown_s: float = 120.0  # no decisions in the first 2 minutes after a switch
    upper_ms: float = 1000.0  # promote when the CPU p95 exceeds this
    gap_ms: float = 200.0  # demote unless the GPU's p95 is at least this much better than the CPU's
    mitigation_rate_per_s: float = 0.1  # no actions when the last minute's rate is below this
    low_rate_per_s: float = 0.01  # demote when the 30-minute rate falls below this ...
    low_rate_window_s: float = 1800.0
    low_rate_upper_ms: float = 2000.0  # ... and the CPU's p95 was below this
    # A switch patches the Knative service: a new revision starts (cold start, traffic moves when it is
    # ready) and the old revision is scaled to zero after Knative's stable window without traffic.
    retention_s: float = 60.0


class GaiaStrategy:
    """The live controller's evaluation and the actuator's switch, in virtual time."""

    def __init__(self, config: ControllerConfig, flush_lag_s: float = snapshot.DEFAULT_FLUSH_LAG_S):
        self.config = config
        self.flush_lag_s = flush_lag_s
        self.state = policy.PolicyState()
        self.pending = False  # a switch is warming its target up: the function is not evaluated meanwhile
        self.fresh_from_s: int | None = None

    def snapshot(self, sim: Simulation) -> policy.Snapshot:
        end_s = snapshot.readable_end_s(sim.now, self.flush_lag_s)
        taken = snapshot.build_snapshot(route=sim.route, variants=sim.deployed, pinned=False, series=sim.series,
                                        state=self.state, config=self.config, now=sim.now, end_s=end_s,
                                        fresh_from_s=self.fresh_from_s)
        self.fresh_from_s = end_s
        return taken

    def tick(self, sim: Simulation) -> None:
        if self.pending:
            return
        taken = self.snapshot(sim)
        decision, self.state = policy.decide(taken, self.config, self.state, sim.now)
        self.act(sim, decision, taken)

    def act(self, sim: Simulation, decision: policy.Decision, taken: policy.Snapshot) -> None:
        if decision.action == policy.SCALE_DOWN:
            sim.release(decision.target)
        elif decision.action == policy.SWITCH:
            self.actuate(sim, decision, taken)

    def actuate(self, sim: Simulation, decision: policy.Decision, taken: policy.Snapshot) -> None:
        started = sim.now
        ready = sim.scale_up(decision.target)
        # The first poll at or after the moment it is ready gets the answer.
        answered = started + math.ceil(round((ready - started) / WARMUP_POLL_S, 9)) * WARMUP_POLL_S
        self.pending = True
        # The policy sets each switch's warm-up timeout (it follows the target's observed start).
        timeout_s = decision.warmup_timeout_s or self.config.warmup_timeout_s
        if answered - started > timeout_s:
            def give_up(s: Simulation) -> None:
                s.release(decision.target)
                self.state = policy.switch_failed(self.state, self.config, s.now, target=decision.target,
                                                  waited_s=timeout_s)
                self.pending = False

            sim.at(started + timeout_s, give_up)
            return

        def move(s: Simulation) -> None:
            s.switch(decision.target, decision.reason)
            self.state = policy.switched(self.state, decision, taken, s.now, warmup_s=answered - started)
            self.fresh_from_s = None
            if decision.release is not None:
                s.release(decision.release)
            self.pending = False

        sim.at(answered, move)


class HybridStrategy(GaiaStrategy):
    """Hybrid dispatch on top of the gaia strategy, with the live code (hybrid.py, size_model.py): each request
    with a size (its ``param``) goes where `hybrid.Sizing.dispatch` sends it; every answered one is recorded
    by size bucket into per-minute slices, as the recorder writes them to Redis; each evaluation refits the
    plan from the last ``window_s`` of slices (`hybrid.make_plan`) and applies the controller's standby rule
    (`hybrid.standby_action`, `hybrid.keep_standby`). The flush lag of the size records is not modelled."""

    FUNCTION = "replayed"

    def __init__(self, config: ControllerConfig, sizes: list[float | None], seed: int = 0, window_s: int = 600):
        super().__init__(config)
        self.sizes = sizes
        self.window_s = window_s
        self.sizing = hybrid.Sizing(None, None, None, None, static_mode=False, body_idle_s=0.0,
                                    rng=random.Random(seed).random)
        self.source = SizeSource("json", "param")
        self.slices: dict[int, dict[str, dict[int, LatencyHistogram]]] = {}  # minute -> variant -> bucket
        self.calls: dict[int, hybrid.SizedCall] = {}
        self.standby = hybrid.Standby()  # the standby held up for hybrid dispatch, the learning stretch
        self.warming = False

    # -- the dispatcher the simulation calls ---------------------------------------------------------------
    def choose(self, sim: Simulation, i: int) -> str:
        for variant in VARIANTS:  # the autoscaler may have scaled either out (or back) since the last call
            self.sizing.replica_slots[(self.FUNCTION, variant)] = sim.slots(variant)
        call = self.sizing.dispatch(self.FUNCTION, sim.route, self.sizes[i])
        self.calls[i] = call
        return call.variant

    def finished(self, sim: Simulation, i: int, variant: str, latency_ms: float, failure: str | None) -> None:
        call = self.calls.pop(i, None)
        if call is not None:
            self.sizing.release(call)
        size = self.sizes[i]
        if failure is None and size is not None:
            buckets = self.slices.setdefault(int(sim.now // SIZE_SLICE_S), {}).setdefault(variant, {})
            bucket = bucket_of(size)
            histogram = buckets.get(bucket)
            if histogram is None:
                histogram = buckets[bucket] = LatencyHistogram()
            histogram.add(latency_ms)

    # -- the evaluation -------------------------------------------------------------------------------------
    def refit(self, sim: Simulation) -> hybrid.Plan:
        last = int(sim.now // SIZE_SLICE_S)
        first = last - max(1, math.ceil(self.window_s / SIZE_SLICE_S)) + 1
        for minute in [m for m in self.slices if m < first]:
            del self.slices[minute]
        merged = {v: merge_sized(by_variant.get(v, {}) for by_variant in self.slices.values()) for v in VARIANTS}
        warm = self.standby.held is not None and sim.is_ready(policy.CPU) and sim.is_ready(policy.GPU)
        span_s = hybrid.recorded_span_s(sim.now, min(self.slices), self.window_s) if self.slices else None
        plan = hybrid.make_plan(self.source, self.config, merged, warm, sim.now, self.sizing.plans.get(self.FUNCTION),
                                span_s)
        self.sizing.plans[self.FUNCTION] = plan
        return plan

    def tick(self, sim: Simulation) -> None:
        plan = self.refit(sim)
        if self.pending:
            return
        taken = self.snapshot(sim)
        decision, self.state = policy.decide(taken, self.config, self.state, sim.now)
        held = self.standby.held
        action, self.standby = hybrid.standby_action(plan, sim.route, self.standby, self.state.standby_released, sim.now)
        standby = policy.other(sim.route)
        if action in (hybrid.KEEP, hybrid.DRAIN):
            decision = hybrid.keep_standby(decision, standby)
        elif action == hybrid.WARM_UP and decision.action == policy.HOLD and not self.warming:
            self.warming = True

            def warmed(s: Simulation) -> None:
                self.warming = False
                if s.route != standby:
                    self.standby = replace(self.standby, held=standby)

            sim.at(sim.scale_up(standby), warmed)
        elif action == hybrid.RELEASE_HELD:
            sim.release(held or standby)  # a drained standby: no longer held, the one next to the route
        self.act(sim, decision, taken)


def request_sizes(workload: Workload) -> list[float | None]:
    """Each request's size: its ``param`` as a number (the matrix size, the prompt's tokens), else None."""
    return [number(r.param) if r.param else None for r in workload.requests]


class PrototypeStrategy:
    """The research prototype's analyzer, re-implemented from its description (exact windows of the
    answered requests: its Prometheus queries counted 2xx responses only)."""

    def __init__(self, params: PrototypeParams):
        self.params = params
        self.last_switch_at: float | None = None

    @staticmethod
    def _p95(values: list[float]) -> float | None:
        if not values:
            return None
        ordered = sorted(values)
        return ordered[max(1, math.ceil(0.95 * len(ordered))) - 1]

    def tick(self, sim: Simulation) -> None:
        p = self.params
        if self.last_switch_at is not None and sim.now - self.last_switch_at < p.cooldown_s:
            return
        cpu_p95 = self._p95(sim.history(policy.CPU, p.window_s)) or self._p95(sim.history(policy.CPU))
        gpu_p95 = self._p95(sim.history(policy.GPU, p.window_s))
        if sim.route == policy.GPU:
            low_rate = sim.answered_since(p.low_rate_window_s) / p.low_rate_window_s < p.low_rate_per_s
            if low_rate and (cpu_p95 is None or cpu_p95 < p.low_rate_upper_ms):
                return self._switch(sim, policy.CPU, "low-request-rate")
        if sim.answered_since(60.0) / 60.0 < p.mitigation_rate_per_s:
            return None  # cold-start mitigation: no actions at a low request rate
        if sim.route == policy.CPU and cpu_p95 is not None and cpu_p95 > p.upper_ms:
            return self._switch(sim, policy.GPU, "cpu-p95-above-upper-bound")
        if sim.route == policy.GPU and cpu_p95 is not None and gpu_p95 is not None and cpu_p95 - gpu_p95 < p.gap_ms:
            return self._switch(sim, policy.CPU, "gpu-improvement-below-gap")
        return None

    def _switch(self, sim: Simulation, target: str, reason: str) -> None:
        ready = sim.scale_up(target)
        old = sim.route
        self.last_switch_at = sim.now

        def retire_old(s: Simulation) -> None:
            if s.route != old:
                s.release(old)

        def move(s: Simulation) -> None:
            s.switch(target, reason)
            s.at(s.now + self.params.retention_s, retire_old)

        sim.at(ready, move)


def replay(workload: Workload, strategy: str, config: ControllerConfig, platform: Platform | None = None,
           progress: Callable[[float], None] | None = None,
           prototype: PrototypeParams = PrototypeParams(), overrides: Mapping[str, str] | None = None) -> Result:
    """One workload under one strategy (default platform: pro with its defaults). The platform reads the
    workload's com.openfaas.scale.* labels, ``overrides`` winning (`gaia replay --set`)."""
    platform = scaled_platform(platform or simulator.platform(simulator.PRO), workload, overrides or {})
    prices = {policy.CPU: config.price_cpu, policy.GPU: config.price_gpu}

    def simulation(start: str, deployed: Iterable[str]) -> Simulation:
        return Simulation(workload, strategy, start, platform, frozenset(deployed), prices, config.slo_ms,
                          config.slo_percentile, progress)

    if strategy == "static-cpu":
        return simulation(policy.CPU, [policy.CPU]).run(None, 0.0, 0.0)
    if strategy == "static-gpu":
        return simulation(policy.GPU, [policy.GPU]).run(None, 0.0, 0.0)
    if strategy == "prototype":
        return simulation(policy.CPU, VARIANTS).run(PrototypeStrategy(prototype).tick, prototype.interval_s,
                                                    prototype.interval_s)
    if strategy == "gaia":
        start = policy.start_variant(config, frozenset(VARIANTS))
        return simulation(start, VARIANTS).run(GaiaStrategy(config).tick, config.interval_s, config.interval_s)
    if strategy == "hybrid":
        start = policy.start_variant(config, frozenset(VARIANTS))
        sim = simulation(start, VARIANTS)
        dispatcher = HybridStrategy(config, request_sizes(workload))
        sim.dispatcher = dispatcher
        return sim.run(dispatcher.tick, config.interval_s, config.interval_s)
    raise ValueError(f"unknown strategy {strategy!r}; known: {', '.join(ALL_STRATEGIES)}")


def scaled_platform(platform: Platform, workload: Workload, overrides: Mapping[str, str]) -> Platform:
    """The platform with the function's autoscaler labels (its annotations, then the overrides)."""
    try:
        return simulator.with_scale_labels(platform, {**workload.annotations, **overrides})
    except ValueError as exc:
        raise ConfigError(f"{workload.name}: {exc}") from None


def check_overrides(overrides: Mapping[str, str]) -> None:
    known = set(ANNOTATIONS.values()) | set(simulator.SCALE_LABELS)
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ConfigError(f"unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")


def workload_config(workload: Workload, overrides: Mapping[str, str], platform: str = simulator.PRO) -> ControllerConfig:
    """The function's configuration: its annotations, the platform it runs on (com.gaia.platform: what the
    policy may release there), then the overrides."""
    return ControllerConfig.from_annotations({**workload.annotations, PLATFORM_ANNOTATION: platform, **overrides})


def replay_workload(workload: Workload, platform: str | Platform = simulator.PRO,
                    strategies: Iterable[str] = STRATEGIES, overrides: Mapping[str, str] | None = None) -> dict[str, Result]:
    """Every strategy on one workload: {strategy: Result}."""
    overrides = dict(overrides or {})
    check_overrides(overrides)
    model = simulator.platform(platform) if isinstance(platform, str) else platform
    config = workload_config(workload, overrides, model.name)
    return {strategy: replay(workload, strategy, config, model, overrides=overrides) for strategy in strategies}


def replay_pair(cpu_csv: Path, gpu_csv: Path, platform: str | Platform = simulator.PRO,
                strategies: Iterable[str] = STRATEGIES, overrides: Mapping[str, str] | None = None,
                failure: str | None = None, cold_start: Mapping[str, float] | None = None) -> dict[str, dict]:
    """One pair of traces under every strategy: {strategy: summary} (the shape of ``gaia replay --json``)."""
    workload = load_pair(Path(cpu_csv), Path(gpu_csv), failure=failure,
                         cold_start_s=dict(cold_start) if cold_start else None)
    return {s: r.summary() for s, r in replay_workload(workload, platform, strategies, overrides).items()}


# --- presentation ------------------------------------------------------------------------------------

def _cell(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def format_table(results: dict[str, dict[str, Result]]) -> str:
    header = ("workload", "strategy", "mean ms", "p95 ms", "SLO viol %", "failed", "cost", "switches",
              "to switch s", "GPU s")
    rows = [header]
    for workload, by_strategy in results.items():
        for strategy, result in by_strategy.items():
            s = result.summary()
            rows.append((workload, strategy, _cell(s["mean_ms"], ".0f"), _cell(s["p95_ms"], ".0f"),
                         f"{s['slo_violation_pct']:.1f}", str(s["failed"]), f"{s['cost']:.5f}", str(s["switches"]),
                         _cell(s["first_switch_delay_s"], ".1f"), f"{s['gpu_seconds']:.0f}"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) if i < 2 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths)))
             for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def plot(results: dict[str, dict[str, Result]], path: Path) -> None:
    """Latency per request over time, one panel per (workload, strategy), the active variant shaded,
    failed requests as red crosses at their time of failure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [(w, s, r) for w, by in results.items() for s, r in by.items()]
    fig, axes = plt.subplots(len(panels), 1, figsize=(11, 2.4 * len(panels)), squeeze=False)
    colours = {policy.CPU: "tab:blue", policy.GPU: "tab:green"}
    for ax, (workload, strategy, result) in zip(axes[:, 0], panels):
        end = max(s.done_s for s in result.served)
        spans, route_at, t0 = [], result.start_variant, 0.0
        for t, _, to, _ in result.switches:
            spans.append((t0, t, route_at))
            t0, route_at = t, to
        spans.append((t0, end, route_at))
        for start, stop, variant in spans:
            ax.axvspan(start, stop, color=colours[variant], alpha=0.08, lw=0)
        for variant in VARIANTS:
            points = [(s.done_s, max(s.latency_ms, 0.1)) for s in result.served if s.variant == variant and not s.failed]
            if points:
                ax.scatter(*zip(*points), s=6, color=colours[variant], label=f"served on {variant.upper()}")
        failed = [(s.done_s, max(s.latency_ms, 0.1)) for s in result.served if s.failed]
        if failed:
            ax.scatter(*zip(*failed), s=10, marker="x", color="tab:red", label="failed")
        for t, _, to, reason in result.switches:
            ax.axvline(t, color="black", lw=0.8, ls="--")
            ax.annotate(f"→{to}", (t, 1), xycoords=("data", "axes fraction"), fontsize=7, va="top")
        if result.slo_ms is not None:
            ax.axhline(result.slo_ms, color="tab:red", lw=0.8, label="SLO")
        ax.set_yscale("log")
        ax.set_ylabel("latency ms")
        ax.set_title(f"{workload} — {strategy} ({result.platform})", fontsize=9, loc="left")
        ax.legend(fontsize=7, loc="upper left")
    axes[-1, 0].set_xlabel("seconds since start (virtual time)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# --- CLI ----------------------------------------------------------------------------------------------

def add_arguments(parser) -> None:
    parser.add_argument("workloads", nargs="*", metavar="WORKLOAD",
                        help="built-in workloads to replay (see --list; without any, --pair or --pairs: "
                             f"the scenarios {', '.join(DEFAULT_SCENARIOS)} of benchmarks/scenarios, plus the "
                             "thesis workloads when their traces are found)")
    parser.add_argument("--pair", nargs=2, action="append", default=[], metavar=("CPU.csv", "GPU.csv"), type=Path,
                        help="replay a pair of traces (name: the CPU file's stem without -cpu; repeatable)")
    parser.add_argument("--pairs", action="append", default=[], metavar="DIR", type=Path,
                        help="replay every NAME-cpu.csv / NAME-gpu.csv pair in DIR (repeatable)")
    parser.add_argument("--platform", choices=PLATFORMS, default=simulator.PRO,
                        help="what may scale to zero and be released: ce (nothing), pro (idle variants after the "
                             "zero duration, releases), knative (idle variants after the stable window + grace); "
                             "default pro")
    parser.add_argument("--failure", choices=FAILURES, default=None,
                        help="how -1 rows without an error column fail (default: the pair's NAME.json, else 5xx)")
    parser.add_argument("--cold-start", metavar="cpu=S,gpu=S", default=None,
                        help="cold start of each variant in seconds (overrides NAME.json and the trace)")
    parser.add_argument("--replicas", type=int, default=1,
                        help="replicas of a running variant (default 1); on pro its com.openfaas.scale.min, the "
                             "autoscaler adding more by the com.openfaas.scale.* labels (--set)")
    parser.add_argument("--concurrency", metavar="cpu=N,gpu=N", default=None,
                        help="requests one replica serves at once (default: the template's workers x GAIA_THREADS, "
                             "cpu=8,gpu=4; GenTD26 functions cpu=1,gpu=1)")
    parser.add_argument("--timeout", type=float, default=None, metavar="S",
                        help=f"the client's answer deadline (the gateway timeout, default {simulator.DEFAULT_TIMEOUT_S:g}; "
                             f"GenTD26 functions {public_traces.GENTD26_TIMEOUT_S:g})")
    parser.add_argument("--scale-to-zero-after", default=None, metavar="S|cpu=S,gpu=S",
                        help=f"idle seconds before pro/knative remove a variant, for both or per variant (default "
                             f"pro {simulator.PRO_ZERO_DURATION_S:g}, knative "
                             f"{simulator.KNATIVE_STABLE_WINDOW_S + simulator.KNATIVE_GRACE_S:g}; gaia stack "
                             "--knative's GPU retention: gpu=900)")
    parser.add_argument("--ce-max-replicas", type=int, default=simulator.CE_MAX_REPLICAS, metavar="N",
                        help="ce: the replicas CE's AlertManager rule may scale a variant out to (default "
                             f"{simulator.CE_MAX_REPLICAS}, CE's cap; 1: no scale-out)")
    parser.add_argument("--always-on", metavar="VARIANT[,VARIANT]", default="",
                        help="variants pro/knative never scale to zero by themselves, e.g. cpu as gaia stack "
                             "deploys it (com.openfaas.scale.zero=false, min-scale 1); default none")
    parser.add_argument("--strategy", action="append", choices=ALL_STRATEGIES,
                        help="strategy to run (repeatable; default: all four)")
    parser.add_argument("--traces", type=Path, default=None,
                        help=f"folder with the thesis traces (default: ${TRACES_ENV} or ../shared/traces)")
    parser.add_argument("--set", action="append", default=[], metavar="ANNOTATION=VALUE",
                        help="override a com.gaia.* annotation for every workload, e.g. com.gaia.slo-ms=800, or a "
                             "label of the Pro autoscaler (com.openfaas.scale.type, .target, .target-proportion, "
                             ".min, .max, .down.window), for both variants or per variant: "
                             "com.openfaas.scale.target=cpu=8,gpu=4")
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object {WORKLOAD: {STRATEGY: {...}}} instead of the table")
    parser.add_argument("--plot", type=Path, metavar="FILE.png", help="draw latency per request over time")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    parser.add_argument("--list", action="store_true", help="list the built-in workloads and exit")
    parser.add_argument("--pool", type=int, default=None, metavar="N",
                        help="replay all the workloads at once on one shared pool of N GPUs, under the pool "
                             "strategies (pool allocator, first come first served, the prototype, static CPU, static "
                             "GPU for the busiest N); --json prints {STRATEGY: {...}}")
    production = parser.add_argument_group("production traces (with --pool; read from DIR, never copied)")
    production.add_argument("--gentd26", type=Path, metavar="DIR",
                            help="Alibaba GenTD26 (lora_request_trace.csv, basemodel_update_latency_anon.csv): each "
                                 "base model one function, a window of it (see --trace-start, --trace-hours, --top-models)")
    production.add_argument("--azure-llm", type=Path, metavar="DIR",
                            help="the Azure LLM inference trace 2023: the code and conversation services as two "
                                 "functions, service time from the tokens")
    production.add_argument("--trace-start", metavar="TIME", default=None,
                            help="GenTD26: the window's start, e.g. 2024-12-03T00:00 (default: the busiest window)")
    production.add_argument("--trace-hours", type=float, default=public_traces.DEFAULT_HOURS, metavar="H",
                            help="hours of each production trace to replay (default %(default)g; Azure's has one)")
    production.add_argument("--top-models", type=int, default=public_traces.DEFAULT_TOP, metavar="K",
                            help="GenTD26: the K models with the most requests in the window (default %(default)s; "
                                 "0: all)")
    production.add_argument("--cpu-gpu-class", choices=sorted(public_traces.CPU_GPU_RATIOS),
                            default=public_traces.DIFFUSION_CLASS,
                            help="GenTD26: the thesis workload class whose CPU/GPU speed ratio gives the CPU service "
                                 "times (default %(default)s, the closest to diffusion)")


def _overrides(pairs: list[str]) -> dict[str, str]:
    overrides = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.startswith(("com.gaia.", "com.openfaas.scale.")):
            raise ConfigError(f"--set expects com.gaia.NAME=VALUE or com.openfaas.scale.NAME=VALUE, got {pair!r}")
        overrides[key.strip()] = value.strip()
    check_overrides(overrides)
    return overrides


def _per_variant(option: str, text: str | None, kind: type) -> dict:
    """``cpu=2,gpu=75`` -> {"cpu": 2.0, "gpu": 75.0}."""
    if text is None:
        return {}
    values = {}
    for part in text.split(","):
        key, sep, raw = part.partition("=")
        key = key.strip()
        try:
            value = kind(raw.strip())
        except ValueError:
            value = None
        if not sep or key not in VARIANTS or value is None or not math.isfinite(value) or value < 0:
            raise ConfigError(f"{option} expects cpu=VALUE,gpu=VALUE with {kind.__name__} values of at least 0, "
                              f"got {text!r}")
        values[key] = value
    return values


def _idle_times(text: str | None) -> float | dict[str, float] | None:
    """``--scale-to-zero-after``: one number of seconds for both variants, or cpu=S,gpu=S."""
    if text is None or "=" in text:
        return _per_variant("--scale-to-zero-after", text, float) or None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise ConfigError(f"--scale-to-zero-after expects seconds (at least 0) or cpu=S,gpu=S, got {text!r}")
    return value


def _platform(args, timeout_s: float = simulator.DEFAULT_TIMEOUT_S,
              concurrency: Mapping[str, int] | None = None) -> Platform:
    """The platform of the options; ``timeout_s`` and ``concurrency``: the defaults where those are not given."""
    try:
        return simulator.platform(args.platform, replicas=args.replicas,
                                  concurrency=_per_variant("--concurrency", args.concurrency, int) or concurrency,
                                  timeout_s=timeout_s if args.timeout is None else args.timeout,
                                  scale_to_zero_after_s=_idle_times(args.scale_to_zero_after),
                                  always_on={v.strip() for v in args.always_on.split(",") if v.strip()},
                                  ce_max_replicas=args.ce_max_replicas)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _workloads(args, cold_start: dict[str, float]) -> list[Workload]:
    """What to replay: named built-ins, pairs and pair folders; without any, the default set."""
    explicit = bool(args.workloads or args.pair or args.pairs)
    unknown = [n for n in args.workloads if n not in WORKLOADS]
    if unknown:
        raise TraceError(f"unknown workload(s) {', '.join(unknown)}; known: {', '.join(WORKLOADS)}")
    names = list(args.workloads)
    pairs = [(pair_name(cpu), cpu, gpu) for cpu, gpu in args.pair]
    if not explicit:
        scenarios = [(name, SCENARIOS_DIR / f"{name}-cpu.csv", SCENARIOS_DIR / f"{name}-gpu.csv")
                     for name in DEFAULT_SCENARIOS]
        if all(cpu.is_file() and gpu.is_file() for _, cpu, gpu in scenarios):
            pairs = scenarios
        else:
            names = list(SYNTHETIC)
        directory = args.traces or default_traces_dir()
        if directory.is_dir():
            names += THESIS
        else:
            print(f"gaia replay: thesis workloads skipped: no traces at {directory} (they are {THESIS_SOURCE}; "
                  f"pass --traces DIR)", file=sys.stderr)
    workloads = []
    for name in names:
        workload = load_workload(name, args.traces)
        if cold_start:
            workload = Workload(workload.name, workload.description, workload.requests, workload.closed_loop,
                                workload.annotations, {**workload.cold_start_s, **cold_start}, workload.warm_start)
        workloads.append(workload)
    for directory in args.pairs:
        pairs += find_pairs(directory)
    for _, cpu, gpu in pairs:
        workloads.append(load_pair(cpu, gpu, failure=args.failure, cold_start_s=cold_start or None))
    seen: set[str] = set()
    for workload in workloads:
        if workload.name in seen:
            raise TraceError(f"workload name {workload.name!r} appears twice; replay those pairs separately")
        seen.add(workload.name)
    return workloads


def run(args) -> int:
    if args.list:
        for name, (needs_traces, _) in WORKLOADS.items():
            print(f"{name:24s} {'thesis trace' if needs_traces else 'synthetic'}")
        return 0
    strategies = args.strategy or list(STRATEGIES)
    if args.pool is not None:
        return _run_pool(args)
    if args.gentd26 or args.azure_llm:
        print("gaia replay: --gentd26 and --azure-llm are inputs of the pool replay; add --pool N", file=sys.stderr)
        return 2
    try:
        overrides = _overrides(args.set)
        cold_start = _per_variant("--cold-start", args.cold_start, float)
        model = _platform(args)
        results: dict[str, dict[str, Result]] = {}
        for workload in _workloads(args, cold_start):
            config = workload_config(workload, overrides, model.name)
            results[workload.name] = {}
            for strategy in strategies:
                progress = None if args.quiet else _progress_printer(workload.name, strategy)
                results[workload.name][strategy] = replay(workload, strategy, config, model, progress,
                                                          overrides=overrides)
                if progress is not None:
                    print(file=sys.stderr)
    except (ConfigError, TraceError) as exc:
        print(f"gaia replay: {exc}", file=sys.stderr)
        return 2
    if args.plot:
        try:
            plot(results, args.plot)
        except OSError as exc:
            print(f"gaia replay: cannot write the plot to {args.plot}: {exc.strerror or exc}", file=sys.stderr)
            return 2
        if not args.quiet:
            print(f"plot written to {args.plot}", file=sys.stderr)
    if args.json:
        print(json.dumps({w: {s: r.summary() for s, r in by.items()} for w, by in results.items()}))
    else:
        print(f"platform: {model.name}")
        print(format_table(results))
    return 0


def _run_pool(args) -> int:
    from gaia_faas.gateway_plugin import pool_replay

    if args.pool < 0:
        print(f"gaia replay: --pool must be 0 or more GPUs, got {args.pool}", file=sys.stderr)
        return 2
    if args.strategy or args.plot:
        print("gaia replay: --pool runs its own strategies and draws no plot; drop --strategy/--plot", file=sys.stderr)
        return 2
    try:
        overrides = _overrides(args.set)
        if any(label in overrides for label in simulator.SCALE_LABELS):
            raise ConfigError("--pool runs one replica per variant (the pool counts a GPU per GPU variant); "
                              "drop the com.openfaas.scale.* settings")
        model = _platform(args)
        cold_start = _per_variant("--cold-start", args.cold_start, float)
        production, inputs, platforms = _production(args, cold_start)
        workloads = production  # a production trace alone replaces the default set
        if args.workloads or args.pair or args.pairs or not production:
            workloads = _workloads(args, cold_start) + production
        if len({w.name for w in workloads}) < len(workloads):
            raise TraceError("a function name appears twice among the inputs; replay those separately")
        configs = {w.name: workload_config(w, overrides, model.name) for w in workloads}
        runs = {}
        for strategy in pool_replay.POOL_STRATEGIES:
            if not args.quiet:
                print(f"replaying {len(workloads)} functions on {args.pool} GPU(s) / {strategy}", file=sys.stderr)
            runs[strategy] = pool_replay.replay_pool(workloads, configs, strategy, args.pool, model,
                                                     platforms=platforms).summary()
    except (ConfigError, TraceError) as exc:
        print(f"gaia replay: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps({**runs, "inputs": inputs} if inputs else runs))
        return 0
    print(f"platform: {model.name}; {len(workloads)} functions on one pool of {args.pool} GPU(s)")
    for line in inputs:
        print(line)
    print(pool_replay.format_pool_table(runs))
    return 0


def _production(args, cold_start: dict[str, float]) -> tuple[list[Workload], list[str], dict[str, Platform]]:
    """The production traces asked for: (their functions, what was replayed in words, the GenTD26 functions'
    own platform)."""
    workloads, inputs, platforms = [], [], {}
    if args.gentd26:
        start = None
        if args.trace_start is not None:
            try:
                start = datetime.fromisoformat(args.trace_start)
            except ValueError:
                raise ConfigError(f"--trace-start expects a date and time like 2024-12-03T00:00, got "
                                  f"{args.trace_start!r}") from None
        if args.top_models < 0:
            raise ConfigError(f"--top-models must be 0 (all) or more, got {args.top_models}")
        gentd, selection = public_traces.load_gentd26(
            args.gentd26, start, args.trace_hours, args.top_models or None,
            public_traces.CPU_GPU_RATIOS[args.cpu_gpu_class])
        image_platform = _platform(args, public_traces.GENTD26_TIMEOUT_S, public_traces.GENTD26_CONCURRENCY)
        platforms.update({w.name: image_platform for w in gentd})
        workloads += gentd
        inputs += selection.describe()
        inputs.append(f"GenTD26 platform: timeout {image_platform.timeout_s:g} s, concurrency per replica "
                      + ",".join(f"{v}={n}" for v, n in sorted(image_platform.concurrency.items()))
                      + ("" if args.timeout is not None and args.concurrency is not None else
                         " (GenTD26's defaults where --timeout/--concurrency are not given: image requests are long "
                         "and the trace's exec times are of one request alone on a GPU)"))
    if args.azure_llm:
        azure, described = public_traces.load_azure_llm(args.azure_llm, args.trace_hours)
        workloads += azure
        inputs.append(described)
    if cold_start:
        workloads = [replace(w, cold_start_s={**w.cold_start_s, **cold_start}) for w in workloads]
    return workloads, inputs, platforms


def _progress_printer(workload: str, strategy: str) -> Callable[[float], None]:
    def show(fraction: float) -> None:
        print(f"\rreplaying {workload} / {strategy}: {fraction:4.0%}", end="", file=sys.stderr, flush=True)

    show(0.0)
    return show
