"""A pure driver for the policy tests: requests recorded into per-second buckets, snapshots built by the real
`snapshot.build_snapshot` (as the controller and the replay do), switches carried out at once unless told
otherwise. No clock, no I/O: a test is a list of seconds."""

from __future__ import annotations

from gaia_faas.gateway_plugin import policy, snapshot
from gaia_faas.gateway_plugin.controller_config import ControllerConfig
from gaia_faas.gateway_plugin.policy import CPU, GPU, SWITCH, PolicyState

BOTH = frozenset({CPU, GPU})


def config(**overrides) -> ControllerConfig:
    values = {"slo_ms": 1000.0}
    values.update(overrides)
    return ControllerConfig(**values)


class Driver:
    """Second ``t``'s requests are recorded in bucket ``t`` and judged at ``t + 1.5`` (readable by then)."""

    def __init__(self, cfg: ControllerConfig, route: str = CPU, warmup_s: float = 0.0):
        self.cfg = cfg
        self.state = PolicyState()
        self.route = route
        self.warmup_s = warmup_s  # how long every switch's warm-up takes (reported to the policy)
        self.series = {CPU: snapshot.BucketSeries(), GPU: snapshot.BucketSeries()}
        self.fresh_from_s: int | None = None
        self.decisions: list[tuple[float, policy.Decision]] = []
        self.pinned = False
        self.deny_promotions = False  # act as a pool allocator without GPU capacity

    def record(self, second: int, variant: str, latencies=(), errors: int = 0, error_ms: float = 5.0) -> None:
        for latency in latencies:
            self.series[variant].record(second, latency, 200)
        for _ in range(errors):
            self.series[variant].record(second, error_ms, 500)

    def step(self, t: int, latencies=None, errors: int = 0, variant: str | None = None,
             **kwargs) -> policy.Decision:
        """Requests of second ``t`` (served by the route unless ``variant``), then one evaluation."""
        if latencies or errors:
            self.record(t, variant or self.route, latencies or (), errors, **kwargs)
        return self.evaluate(t + 1.5)

    def evaluate(self, now: float) -> policy.Decision:
        end_s = snapshot.readable_end_s(now)
        taken = snapshot.build_snapshot(route=self.route, variants=BOTH, pinned=self.pinned, series=self.series,
                                        state=self.state, config=self.cfg, now=now, end_s=end_s,
                                        fresh_from_s=self.fresh_from_s)
        self.fresh_from_s = end_s
        decision, self.state = policy.decide(taken, self.cfg, self.state, now)
        self.decisions.append((now, decision))
        if decision.action == SWITCH:
            if self.deny_promotions and decision.target == GPU:
                self.state = policy.promotion_denied(self.state, self.cfg, now)
            else:
                self.state = policy.switched(self.state, decision, taken, now, warmup_s=self.warmup_s)
                self.route = decision.target
                self.fresh_from_s = None
        return decision

    def run(self, start: int, end: int, per_second, stop=None) -> policy.Decision | None:
        """Seconds start..end-1; ``per_second(t, route)`` gives (latencies, errors) for second t. Stops at the
        first decision for which ``stop(decision)`` holds, and returns it."""
        for t in range(start, end):
            latencies, errors = per_second(t, self.route)
            decision = self.step(t, latencies, errors)
            if stop is not None and stop(decision):
                return decision
        return None

    def switches(self) -> list[tuple[float, policy.Decision]]:
        return [(t, d) for t, d in self.decisions if d.action == SWITCH]

    def reasons(self) -> list[str]:
        return [d.reason for _, d in self.switches()]


def is_switch(decision: policy.Decision) -> bool:
    return decision.action == SWITCH


def steady(cpu_ms: float, gpu_ms: float, per_s: int = 2, every_s: int = 1, gpu_errors: int = 0, cpu_errors: int = 0):
    """A load of ``per_s`` requests every ``every_s`` seconds with fixed latencies per variant."""

    def per_second(t: int, route: str):
        if t % every_s:
            return (), 0
        if route == CPU:
            return [cpu_ms] * (per_s - min(per_s, cpu_errors)), min(per_s, cpu_errors)
        return [gpu_ms] * (per_s - min(per_s, gpu_errors)), min(per_s, gpu_errors)

    return per_second


def promote(driver: Driver, start: int = 0, cpu_ms: float = 2000.0, per_s: int = 2, limit: int = 60) -> int:
    """Drive a CPU violation until the policy promotes; return the second it did."""
    decision = driver.run(start, start + limit, steady(cpu_ms, 100.0, per_s), stop=is_switch)
    assert decision is not None and decision.target == GPU, driver.decisions[-1][1]
    return int(driver.decisions[-1][0] - 1.5)
