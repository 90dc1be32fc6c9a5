"""`gaia replay --pool N`: several functions replayed at once on one shared pool of N GPUs.

Each function is its own `simulator.Simulation` (open loop, the platform profiles of the single-function
replay); they share one clock: every ``interval_s`` all of them are advanced to the same virtual time,
then the functions are evaluated together. A function holds a GPU while its GPU variant has replicas in
the simulation (from the scale-up until the platform removed them), for the pool's release grace after
that (``PoolConfig.release_grace_s``: the pod terminates and keeps its GPU, as on Kubernetes), and while
its route points at its GPU (a GPU scaled to zero for idleness comes back with the next request), the same
accounting as the live pool. Strategies:

* ``pool``: the live controller: `policy.decide` per function, then `pool.allocate` over all of them
  (benefit per GPU-second, preemption by ratio after the dwell), then the actuator's switch.
* ``fcfs``: today's independent policy with the capacity enforced first come, first served: a promotion
  is carried out when a GPU is free at that moment, else it waits; nothing is preempted.
* ``prototype-fcfs``: the research prototype's analyzer (replay.PrototypeStrategy), capacity first come,
  first served the same way.
* ``static-cpu``: every function on its CPU.
* ``static-gpu-busiest``: the N functions with the most requests on their GPU the whole run, the others
  on their CPU.

``capacity_exceeded`` counts the evaluations at which more functions occupied a GPU (replicas, or a pod still
terminating within the grace) than the capacity.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from gaia_faas.gateway_plugin import policy, pool, replay
from gaia_faas.gateway_plugin.controller_config import ControllerConfig
from gaia_faas.gateway_plugin.simulator import VARIANTS, Platform, Result, Simulation
from gaia_faas.gateway_plugin.traces import Workload

POOL_STRATEGIES = ("pool", "fcfs", "prototype-fcfs", "static-cpu", "static-gpu-busiest")


@dataclass
class PoolResult:
    strategy: str
    capacity: int
    results: dict[str, Result] = field(default_factory=dict)
    capacity_exceeded: int = 0  # evaluations with more GPU variants up than the capacity
    max_held: int = 0
    denied: int = 0  # promotions kept waiting (evaluations), pool strategies only
    preempted: int = 0

    def summary(self) -> dict:
        served = [(result, s) for result in self.results.values() for s in result.served]
        within = sum(1 for result, s in served if not result.violates(s))
        return {
            "strategy": self.strategy, "capacity": self.capacity, "functions": len(self.results),
            "requests": len(served),
            "slo_attainment_pct": round(100.0 * within / len(served), 2) if served else 100.0,
            "gpu_seconds": round(sum(r.seconds_on(policy.GPU) for r in self.results.values()), 1),
            "cost": round(sum(r.cost for r in self.results.values()), 6),
            "switches": sum(len(r.switches) for r in self.results.values()),
            "capacity_exceeded": self.capacity_exceeded, "max_held": self.max_held,
            "denied": self.denied, "preempted": self.preempted,
        }


class _CappedPrototype(replay.PrototypeStrategy):
    """The prototype, whose promotions wait while no GPU is free (first come, first served)."""

    def __init__(self, params: replay.PrototypeParams, room: Callable[[], bool]):
        super().__init__(params)
        self.room = room

    def _switch(self, sim: Simulation, target: str, reason: str) -> None:
        if target == policy.GPU and not self.room():
            return
        super()._switch(sim, target, reason)


def _terminating(sim: Simulation, grace_s: float) -> bool:
    """Its GPU's replicas went less than ``grace_s`` ago: the pod is still terminating and keeps its GPU."""
    down = sim.down_since(policy.GPU)
    return down is not None and sim.now < down + grace_s


def _holds_gpu(sim: Simulation, grace_s: float) -> bool:
    """Whether a function counts against the pool: while its GPU variant has replicas or its pod terminates,
    and while its route points at its GPU even with the variant scaled to zero (pro's idle scale-down): its
    next request scales the GPU from zero without asking the pool, so the live controller counts a function
    routed to its GPU as a holder too (`Controller._current_holdings`). A function whose trace is over holds
    nothing: it is no longer evaluated, so it would never release its GPU, and its bill already ends with its
    last request (`Simulation.finish`); counting it would leave a GPU blocked for the rest of a longer replay."""
    return not sim.finished and (sim.variant_up(policy.GPU) or sim.route == policy.GPU or _terminating(sim, grace_s))


def _held(sims: Mapping[str, Simulation], grace_s: float) -> int:
    return sum(1 for sim in sims.values() if _holds_gpu(sim, grace_s))


def _gpus_occupied(sims: Mapping[str, Simulation], grace_s: float) -> int:
    """Functions whose GPU has replicas or a pod still terminating: what the capacity is checked against (a
    finished function's are billed no more, see `_holds_gpu`)."""
    return sum(1 for sim in sims.values()
               if not sim.finished and (sim.variant_up(policy.GPU) or _terminating(sim, grace_s)))


def replay_pool(workloads: list[Workload], configs: Mapping[str, ControllerConfig], strategy: str, capacity: int,
                platform: Platform, pool_config: pool.PoolConfig = pool.PoolConfig(),
                interval_s: float = 1.0, platforms: Mapping[str, Platform] | None = None) -> PoolResult:
    """Replay ``workloads`` together under ``strategy`` with ``capacity`` GPUs; ``platforms`` gives some
    functions their own timeout and concurrency (GenTD26's image requests), the others run on ``platform``."""
    if strategy not in POOL_STRATEGIES:
        raise ValueError(f"unknown pool strategy {strategy!r}; known: {', '.join(POOL_STRATEGIES)}")
    if capacity < 0:
        raise ValueError(f"the GPU pool needs a capacity of 0 or more, got {capacity}")
    # One replica per running variant, as before the Pro autoscaler was modelled: the pool counts one GPU per
    # GPU variant up, and a scale-out would hold GPUs it does not count.
    platform = replace(platform, autoscaling={})
    platforms = {name: replace(own, autoscaling={}) for name, own in (platforms or {}).items()}
    outcome = PoolResult(strategy, capacity)
    busiest = {w.name for w in sorted(workloads, key=lambda w: (-len(w.requests), w.name))[:capacity]}
    sims: dict[str, Simulation] = {}
    gaia: dict[str, replay.GaiaStrategy] = {}
    prototypes: dict[str, _CappedPrototype] = {}
    for workload in sorted(workloads, key=lambda w: w.name):
        config = configs[workload.name]
        prices = {policy.CPU: config.price_cpu, policy.GPU: config.price_gpu}
        own_platform = platforms.get(workload.name, platform)

        def simulation(start: str, deployed) -> Simulation:
            return Simulation(workload, strategy, start, own_platform, frozenset(deployed), prices, config.slo_ms,
                              config.slo_percentile)

        if strategy == "static-cpu" or (strategy == "static-gpu-busiest" and workload.name not in busiest):
            sims[workload.name] = simulation(policy.CPU, [policy.CPU])
        elif strategy == "static-gpu-busiest":
            sims[workload.name] = simulation(policy.GPU, [policy.GPU])
        elif strategy == "prototype-fcfs":
            sims[workload.name] = simulation(policy.CPU, VARIANTS)
            prototypes[workload.name] = _CappedPrototype(
                replay.PrototypeParams(), lambda: _held(sims, pool_config.release_grace_s) < capacity)
        else:
            # A function that leans to its GPU starts there only while the pool has room.
            start = policy.start_variant(config, frozenset(VARIANTS))
            if start == policy.GPU and sum(1 for s in sims.values() if s.route == policy.GPU) >= capacity:
                start = policy.CPU
            sims[workload.name] = simulation(start, VARIANTS)
            gaia[workload.name] = replay.GaiaStrategy(config)
    for sim in sims.values():
        sim.begin(None, 0.0, 0.0)
    held_since: dict[str, float] = {}
    basis: dict[str, float | None] = {}
    basis_rate: dict[str, float | None] = {}  # the policy's request rate when the basis was seen
    expected: dict[str, pool.ExpectedBenefit] = {}
    waiting_since: dict[str, float] = {}
    now = 0.0
    while not all(sim.finished for sim in sims.values()):
        now += interval_s
        for sim in sims.values():
            sim.advance(now)
        for name, prototype in prototypes.items():
            if not sims[name].finished:
                prototype.tick(sims[name])
        if gaia:
            _evaluate(sims, gaia, configs, capacity, pool_config, strategy, now, held_since, basis, basis_rate,
                      expected, waiting_since, outcome)
        held = _gpus_occupied(sims, pool_config.release_grace_s)
        outcome.max_held = max(outcome.max_held, held)
        if held > capacity:
            outcome.capacity_exceeded += 1
    outcome.results = {name: sim.finish() for name, sim in sims.items()}
    return outcome


def _evaluate(sims, gaia, configs, capacity, pool_config, strategy, now, held_since, basis, basis_rate, expected,
              waiting_since, outcome: PoolResult) -> None:
    """One evaluation of every function: decide, allocate (pool) or first come first served (fcfs), act."""
    grace_s = pool_config.release_grace_s
    decisions = {}
    for name, strategy_state in gaia.items():
        sim = sims[name]
        if _holds_gpu(sim, grace_s):
            held_since.setdefault(name, now)
        else:
            held_since.pop(name, None)
        if sim.finished or strategy_state.pending:
            continue
        taken = strategy_state.snapshot(sim)
        decision, strategy_state.state = policy.decide(taken, configs[name], strategy_state.state, now)
        if taken.route == policy.CPU and taken.window(policy.CPU).count:
            basis[name] = pool.slow_share(taken.window(policy.CPU))
            basis_rate[name] = decision.numbers.get("request_rate_per_s")
        benefit = pool.gpu_benefit(taken, decision, basis.get(name), configs[name], basis_rate.get(name))
        expected[name] = pool.expected_benefit(expected.get(name, pool.ExpectedBenefit()), benefit, now,
                                               pool_config.horizon_s, first_s=configs[name].interval_s)
        decisions[name] = (decision, taken, benefit)

    def promotes(name: str) -> bool:
        return name in decisions and decisions[name][0].action == policy.SWITCH and decisions[name][0].target == policy.GPU

    granted: set[str] = set()
    preempted: list[pool.Preemption] = []
    if strategy == "pool":
        claims = []
        for name, strategy_state in gaia.items():
            sim = sims[name]
            holds = _holds_gpu(sim, grace_s)
            if strategy_state.pending:
                wants = sim.route == policy.CPU  # a switch in flight from the CPU is a promotion
            elif name in decisions:
                decision = decisions[name][0]
                wants = promotes(name) or decision.reason == pool.WAITING_FOR_GPU or (sim.route == policy.GPU and not (
                    decision.action == policy.SWITCH or (decision.action == policy.SCALE_DOWN
                                                         and decision.target == policy.GPU)))
            else:
                wants = False
            terminating = sim.route == policy.CPU and _terminating(sim, grace_s)
            claims.append(pool.Claim(name=name, wants=wants and not sim.finished, holds=holds, terminating=terminating,
                                     held_since=held_since.get(name), reserved=configs[name].mode == "gpu",
                                     benefit_per_s=expected[name].per_s if name in expected else 0.0,
                                     warmup_s=sim.workload.cold_start_s.get(policy.GPU, 0.0),
                                     handover_s=0.0 if sim.variant_up(policy.CPU)
                                     else sim.workload.cold_start_s.get(policy.CPU, 0.0)))
        allocation = pool.allocate(claims, capacity, pool_config, now)
        granted = set(allocation.granted) | set(allocation.kept)
        preempted = list(allocation.preempted)
    else:  # fcfs: in the order they first asked, while a GPU is free at this moment
        free = capacity - _held(sims, grace_s)
        for name in sorted((n for n in decisions if promotes(n)), key=lambda n: (waiting_since.get(n, now), n)):
            sim = sims[name]
            holds = sim.variant_up(policy.GPU) or sim.route == policy.GPU
            if not holds and _terminating(sim, grace_s):
                continue  # its own GPU's pod is still going: nobody's to take until it is gone
            if holds or free > 0:
                granted.add(name)
                free -= 0 if holds else 1
    displaced = set()
    for preemption in preempted:
        sim, strategy_state = sims[preemption.name], gaia[preemption.name]
        if strategy_state.pending or sim.finished:
            continue
        displaced.add(preemption.name)
        outcome.preempted += 1
        if sim.route == policy.CPU:
            sim.release(policy.GPU)
            continue
        decision = policy.Decision(policy.SWITCH, preemption.reason, target=policy.CPU, release=policy.GPU)
        strategy_state.actuate(sim, decision, decisions[preemption.name][1])
    for name, (decision, taken, _) in decisions.items():
        if name in displaced:
            continue
        sim, strategy_state = sims[name], gaia[name]
        if promotes(name):
            if name in granted:
                waiting_since.pop(name, None)
                strategy_state.actuate(sim, decision, taken)
            else:
                waiting_since.setdefault(name, now)
                strategy_state.state = policy.promotion_denied(strategy_state.state, configs[name], now)
                outcome.denied += 1
        elif name in granted and decision.reason == pool.WAITING_FOR_GPU:
            strategy_state.state = policy.capacity_available(strategy_state.state)  # it asks at the next one
        elif decision.action == policy.SCALE_DOWN:
            sim.release(decision.target)
        elif decision.action == policy.SWITCH:
            strategy_state.actuate(sim, decision, taken)


def format_pool_table(runs: Mapping[str, dict]) -> str:
    """One row per strategy: attainment, GPU-seconds, cost, switches, how often over capacity."""
    header = ("strategy", "SLO attainment %", "GPU-s", "cost", "switches", "denied", "preempted", "over capacity")
    rows = [header] + [(name, f"{r['slo_attainment_pct']:.2f}", f"{r['gpu_seconds']:.0f}", f"{r['cost']:.4f}",
                        str(r["switches"]), str(r["denied"]), str(r["preempted"]), str(r["capacity_exceeded"]))
                       for name, r in runs.items()]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows)
