"""`gaia replay`: run the routing policies against request traces in virtual time.

A discrete-event simulation per (workload, strategy). Requests are served by the variant the route points
at when they are sent; a variant that is not ready yet (still starting) adds the wait for it. Strategies:

* ``static-cpu`` / ``static-gpu``: one variant, provisioned for the whole run;
* ``gaia``: policy.py, evaluated every ``interval_s`` on exact windows of completed requests, acting like
  actuator.py: scale the target up, switch the route once it is ready (so clients never wait for it),
  scale the old variant down when the policy says so;
* ``prototype``: the research prototype re-implemented from its description (see `PrototypeParams`).

Cost = for each variant, provisioned seconds (from the request to scale it up until it is scaled down and
its in-flight requests are done, or the run ends) x its price per second.
"""

from __future__ import annotations

import bisect
import heapq
import json
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from gaia_faas.gateway_plugin import policy
from gaia_faas.gateway_plugin.controller_config import ConfigError, ControllerConfig
from gaia_faas.gateway_plugin.traces import WORKLOADS, TraceError, Workload, load_workload

STRATEGIES = ("static-cpu", "static-gpu", "prototype", "gaia")
VARIANTS = (policy.CPU, policy.GPU)
# Requests above the SLO in a row that make a "sustained violation" for first_switch_delay_s.
SUSTAINED_REQUESTS = 3

# Event kinds, in the order they are handled at equal times.
_COMPLETE, _READY, _WARMUP_FAILED, _TICK, _SEND = range(5)


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


@dataclass
class Served:
    send_s: float
    done_s: float
    variant: str
    latency_ms: float


@dataclass
class Result:
    workload: str
    strategy: str
    slo_ms: float | None
    served: list[Served] = field(default_factory=list)
    switches: list[tuple[float, str, str, str]] = field(default_factory=list)  # (time, from, to, reason)
    provisioned: list[tuple[str, float, float]] = field(default_factory=list)  # (variant, start, end)
    prices: dict[str, float] = field(default_factory=dict)

    @property
    def cost(self) -> float:
        return sum((end - start) * self.prices[variant] for variant, start, end in self.provisioned)

    def seconds_on(self, variant: str) -> float:
        return sum(end - start for v, start, end in self.provisioned if v == variant)

    def route_at_end(self) -> str:
        return self.switches[-1][2] if self.switches else self.served[0].variant

    def attempts(self, variant: str) -> list[float]:
        """Provisioned stretches of a variant, in seconds (each GPU attempt is one)."""
        return [end - start for v, start, end in self.provisioned if v == variant]

    def first_switch_delay_s(self) -> float | None:
        """From the first request (its send time) of the first run of SUSTAINED_REQUESTS requests above
        the SLO to the first switch after it; None without such a run or switch."""
        if self.slo_ms is None or not self.switches:
            return None
        run_start, run = None, 0
        for served in self.served:
            if served.latency_ms > self.slo_ms:
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
        latencies = sorted(s.latency_ms for s in self.served)
        rank = max(1, math.ceil(0.95 * len(latencies)))
        violations = sum(1 for value in latencies if self.slo_ms is not None and value > self.slo_ms)
        return {
            "mean_ms": round(sum(latencies) / len(latencies), 1),
            "p95_ms": round(latencies[rank - 1], 1),
            "slo_violation_pct": round(100.0 * violations / len(latencies), 2),
            "cost": round(self.cost, 6),
            "switches": len(self.switches),
            "first_switch_delay_s": self.first_switch_delay_s(),
            "gpu_seconds": round(self.seconds_on(policy.GPU), 1),
        }


class Simulation:
    """One workload under one strategy, in virtual seconds from 0."""

    def __init__(self, workload: Workload, config: ControllerConfig, strategy: str, start: str,
                 progress: Callable[[float], None] | None = None):
        self.workload = workload
        self.config = config
        self.result = Result(workload.name, strategy, config.slo_ms,
                             prices={policy.CPU: config.price_cpu, policy.GPU: config.price_gpu})
        self.route = start
        self.now = 0.0
        self._events: list = []
        self._counter = 0
        self._since: dict[str, float] = {}  # variant -> when it was asked to scale up
        self._ready_at: dict[str, float] = {}
        self._busy_until: dict[str, float] = {v: 0.0 for v in VARIANTS}
        # completed requests per variant, in completion order
        self._done: dict[str, list[float]] = {v: [] for v in VARIANTS}
        self._latency: dict[str, list[float]] = {v: [] for v in VARIANTS}
        self._next = 0  # next request index to send
        self._progress = progress
        self.scale_up(start)
        if workload.warm_start:
            self._ready_at[start] = 0.0

    # --- platform model --------------------------------------------------------------------------
    def scale_up(self, variant: str) -> float:
        """Ask for the variant; return when it will answer."""
        if variant not in self._since:
            self._since[variant] = self.now
            self._ready_at[variant] = self.now + self.workload.cold_start_s.get(variant, 0.0)
        return max(self.now, self._ready_at[variant])

    def scale_down(self, variant: str) -> None:
        if variant in self._since:
            end = max(self.now, self._busy_until[variant])
            self.result.provisioned.append((variant, self._since.pop(variant), end))
            del self._ready_at[variant]

    def switch(self, target: str, reason: str) -> None:
        self.result.switches.append((self.now, self.route, target, reason))
        self.route = target

    def at(self, when: float, kind: int, payload=None) -> None:
        self._counter += 1
        heapq.heappush(self._events, (when, kind, self._counter, payload))

    # --- windows over completed requests ---------------------------------------------------------
    def completed_after(self, variant: str, start: float) -> list[float]:
        """Latencies of the variant's requests completed in (start, now]."""
        return self._latency[variant][bisect.bisect_right(self._done[variant], start):]

    def history(self, variant: str, seconds: float | None = None) -> list[float]:
        return self._latency[variant] if seconds is None else self.completed_after(variant, self.now - seconds)

    def completed_since(self, seconds: float) -> int:
        return sum(len(self.completed_after(v, self.now - seconds)) for v in VARIANTS)

    # --- the run -----------------------------------------------------------------------------------
    def run(self, on_tick: Callable[["Simulation"], None] | None, interval_s: float, first_tick_s: float) -> Result:
        requests = self.workload.requests
        if self.workload.closed_loop:
            self.at(0.0, _SEND, 0)
        else:
            for i, request in enumerate(requests):
                self.at(request.send_s, _SEND, i)
        if on_tick is not None:
            self.at(first_tick_s, _TICK)
        outstanding = len(requests)
        step = max(1, len(requests) // 20)
        while self._events and outstanding:
            self.now, kind, _, payload = heapq.heappop(self._events)
            if kind == _SEND:
                self._send(payload)
            elif kind == _COMPLETE:
                outstanding -= 1
                self._complete(payload)
                if self._progress is not None and (len(requests) - outstanding) % step == 0:
                    self._progress((len(requests) - outstanding) / len(requests))
            elif kind == _TICK:
                on_tick(self)
                self.at(self.now + interval_s, _TICK)
            else:
                payload(self)
        for variant in list(self._since):
            self.scale_down(variant)
        self.result.provisioned.sort(key=lambda p: p[1])
        return self.result

    def _send(self, index: int) -> None:
        request = self.workload.requests[index]
        variant = self.route
        ready = self.scale_up(variant)
        warm_ms = request.cpu_ms if variant == policy.CPU else request.gpu_ms
        latency_ms = (ready - self.now) * 1000.0 + warm_ms
        done = self.now + latency_ms / 1000.0
        self._busy_until[variant] = max(self._busy_until[variant], done)
        self.result.served.append(Served(self.now, done, variant, latency_ms))
        self.at(done, _COMPLETE, (index, variant, latency_ms))

    def _complete(self, payload) -> None:
        index, variant, latency_ms = payload
        self._done[variant].append(self.now)
        self._latency[variant].append(latency_ms)
        if self.workload.closed_loop and index + 1 < len(self.workload.requests):
            self.at(self.now + self.workload.requests[index + 1].think_s, _SEND, index + 1)


# --- strategies ------------------------------------------------------------------------------------

class GaiaStrategy:
    """policy.decide on exact windows; switches only once the target answers (actuator.py's contract)."""

    def __init__(self, config: ControllerConfig):
        self.config = config
        self.state = policy.PolicyState()
        self.pending = False
        self.last_tick: float | None = None

    def snapshot(self, sim: Simulation) -> policy.Snapshot:
        start = policy.window_start(self.state, self.config, sim.now)
        span = sim.now - start
        windows = {v: policy.VariantWindow.of(sim.completed_after(v, start), span, self.config) for v in VARIANTS}
        fresh_start = start if self.last_tick is None else self.last_tick
        fresh = {v: policy.VariantWindow.of(sim.completed_after(v, fresh_start), max(sim.now - fresh_start, 1e-9),
                                            self.config) for v in VARIANTS}
        self.last_tick = sim.now
        return policy.Snapshot(route=sim.route, variants=frozenset(VARIANTS), windows=windows, fresh=fresh)

    def tick(self, sim: Simulation) -> None:
        if self.pending:
            return  # the actuator is still warming a variant up; the controller waits for it
        snapshot = self.snapshot(sim)
        decision, self.state = policy.decide(snapshot, self.config, self.state, sim.now)
        if decision.action == policy.SCALE_DOWN:
            sim.scale_down(decision.target)
        elif decision.action == policy.SWITCH:
            self._actuate(sim, decision, snapshot)

    def _actuate(self, sim: Simulation, decision: policy.Decision, snapshot: policy.Snapshot) -> None:
        ready = sim.scale_up(decision.target)
        self.pending = True
        if ready - sim.now > self.config.warmup_timeout_s:
            def give_up(s: Simulation) -> None:
                s.scale_down(decision.target)
                self.state = policy.switch_failed(self.state, self.config, s.now)
                self.pending = False

            sim.at(sim.now + self.config.warmup_timeout_s, _WARMUP_FAILED, give_up)
            return

        def move(s: Simulation) -> None:
            s.switch(decision.target, decision.reason)
            self.state = policy.switched(self.state, decision, snapshot, s.now)
            if decision.release is not None:
                s.scale_down(decision.release)
            self.pending = False

        sim.at(ready, _READY, move)


class PrototypeStrategy:
    """The research prototype's analyzer, re-implemented from its description."""

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
            low_rate = sim.completed_since(p.low_rate_window_s) / p.low_rate_window_s < p.low_rate_per_s
            if low_rate and (cpu_p95 is None or cpu_p95 < p.low_rate_upper_ms):
                return self._switch(sim, policy.CPU, "low-request-rate")
        if sim.completed_since(60.0) / 60.0 < p.mitigation_rate_per_s:
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
                s.scale_down(old)

        def move(s: Simulation) -> None:
            s.switch(target, reason)
            s.at(s.now + self.params.retention_s, _READY, retire_old)

        sim.at(ready, _READY, move)


def replay(workload: Workload, strategy: str, config: ControllerConfig,
           progress: Callable[[float], None] | None = None,
           prototype: PrototypeParams = PrototypeParams()) -> Result:
    if strategy == "static-cpu":
        return Simulation(workload, config, strategy, policy.CPU, progress).run(None, 0.0, 0.0)
    if strategy == "static-gpu":
        return Simulation(workload, config, strategy, policy.GPU, progress).run(None, 0.0, 0.0)
    if strategy == "prototype":
        sim = Simulation(workload, config, strategy, policy.CPU, progress)
        return sim.run(PrototypeStrategy(prototype).tick, prototype.interval_s, prototype.interval_s)
    if strategy == "gaia":
        start = policy.start_variant(config, frozenset(VARIANTS))
        sim = Simulation(workload, config, strategy, start, progress)
        return sim.run(GaiaStrategy(config).tick, config.interval_s, config.interval_s)
    raise ValueError(f"unknown strategy {strategy!r}; known: {', '.join(STRATEGIES)}")


def workload_config(workload: Workload, overrides: dict[str, str]) -> ControllerConfig:
    return ControllerConfig.from_annotations({**workload.annotations, **overrides})


# --- presentation ------------------------------------------------------------------------------------

def format_table(results: dict[str, dict[str, Result]]) -> str:
    header = ("workload", "strategy", "mean ms", "p95 ms", "SLO viol %", "cost", "switches", "to switch s", "GPU s")
    rows = [header]
    for workload, by_strategy in results.items():
        for strategy, result in by_strategy.items():
            s = result.summary()
            delay = "-" if s["first_switch_delay_s"] is None else f"{s['first_switch_delay_s']:.1f}"
            rows.append((workload, strategy, f"{s['mean_ms']:.0f}", f"{s['p95_ms']:.0f}", f"{s['slo_violation_pct']:.1f}",
                         f"{s['cost']:.5f}", str(s["switches"]), delay, f"{s['gpu_seconds']:.0f}"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) if i < 2 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths)))
             for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def plot(results: dict[str, dict[str, Result]], path: Path) -> None:
    """Latency per request over time, one panel per (workload, strategy), the active variant shaded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [(w, s, r) for w, by in results.items() for s, r in by.items()]
    fig, axes = plt.subplots(len(panels), 1, figsize=(11, 2.4 * len(panels)), squeeze=False)
    colours = {policy.CPU: "tab:blue", policy.GPU: "tab:green"}
    for ax, (workload, strategy, result) in zip(axes[:, 0], panels):
        end = max(s.done_s for s in result.served)
        spans, route_at = [], result.served[0].variant if not result.switches else result.switches[0][1]
        t0 = 0.0
        for t, _, to, _ in result.switches:
            spans.append((t0, t, route_at))
            t0, route_at = t, to
        spans.append((t0, end, route_at))
        for start, stop, variant in spans:
            ax.axvspan(start, stop, color=colours[variant], alpha=0.08, lw=0)
        for variant in VARIANTS:
            points = [(s.done_s, s.latency_ms) for s in result.served if s.variant == variant]
            if points:
                ax.scatter(*zip(*points), s=6, color=colours[variant], label=f"served on {variant.upper()}")
        for t, _, to, reason in result.switches:
            ax.axvline(t, color="black", lw=0.8, ls="--")
            ax.annotate(f"→{to}", (t, 1), xycoords=("data", "axes fraction"), fontsize=7, va="top")
        if result.slo_ms is not None:
            ax.axhline(result.slo_ms, color="tab:red", lw=0.8, label="SLO")
        ax.set_yscale("log")
        ax.set_ylabel("latency ms")
        ax.set_title(f"{workload} — {strategy}", fontsize=9, loc="left")
        ax.legend(fontsize=7, loc="upper left")
    axes[-1, 0].set_xlabel("seconds since start (virtual time)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# --- CLI ----------------------------------------------------------------------------------------------

def add_arguments(parser) -> None:
    parser.add_argument("workloads", nargs="*", metavar="WORKLOAD",
                        help="workloads to replay (default: all; see --list)")
    parser.add_argument("--strategy", action="append", choices=STRATEGIES,
                        help="strategy to run (repeatable; default: all four)")
    parser.add_argument("--traces", type=Path, default=None,
                        help="folder with the thesis traces (default: $GAIA_TRACES or ../shared/traces)")
    parser.add_argument("--set", action="append", default=[], metavar="ANNOTATION=VALUE",
                        help="override a com.gaia.* annotation for every workload, e.g. com.gaia.slo-ms=800")
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object {WORKLOAD: {STRATEGY: {...}}} instead of the table")
    parser.add_argument("--plot", type=Path, metavar="FILE.png", help="draw latency per request over time")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    parser.add_argument("--list", action="store_true", help="list the workloads and exit")


def _overrides(pairs: list[str]) -> dict[str, str]:
    overrides = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.startswith("com.gaia."):
            raise ConfigError(f"--set expects com.gaia.NAME=VALUE, got {pair!r}")
        overrides[key.strip()] = value.strip()
    return overrides


def run(args) -> int:
    if args.list:
        for name, (needs_traces, _) in WORKLOADS.items():
            print(f"{name:24s} {'trace' if needs_traces else 'synthetic'}")
        return 0
    names = args.workloads or list(WORKLOADS)
    strategies = args.strategy or list(STRATEGIES)
    try:
        overrides = _overrides(args.set)
        unknown = [n for n in names if n not in WORKLOADS]
        if unknown:
            raise TraceError(f"unknown workload(s) {', '.join(unknown)}; known: {', '.join(WORKLOADS)}")
        results: dict[str, dict[str, Result]] = {}
        for name in names:
            workload = load_workload(name, args.traces)
            config = workload_config(workload, overrides)
            results[name] = {}
            for strategy in strategies:
                progress = None if args.quiet else _progress_printer(name, strategy)
                results[name][strategy] = replay(workload, strategy, config, progress)
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
        print(format_table(results))
    return 0


def _progress_printer(workload: str, strategy: str) -> Callable[[float], None]:
    def show(fraction: float) -> None:
        print(f"\rreplaying {workload} / {strategy}: {fraction:4.0%}", end="", file=sys.stderr, flush=True)

    show(0.0)
    return show
