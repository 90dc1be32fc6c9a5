"""The routing policy: decides per function whether traffic should move between the CPU and GPU variant.

Pure: ``decide(snapshot, config, state, now)`` returns ``(Decision, new state)`` and reads nothing else (no
I/O, no clock, no globals), so the live controller and ``gaia replay`` run the same code and the unit tests
drive it with synthetic snapshots. The caller acts on the decision and reports the outcome of a switch back
through ``switched`` or ``switch_failed`` (also pure).

A switch is always "scale the target up, wait until it answers, then move the route" (see actuator.py);
the policy only says which variant and why, with the numbers behind the choice.

Behaviour, per function (knobs in controller_config.py, documented in docs/controller.md):

* ``cpu``/``gpu`` modes, a single variant, no SLO, or a manual pin: hold.
* ``cpu_preferred`` on CPU: promote when the CPU violates the SLO for a sustained stretch: every evaluation
  for at least ``sustain_s`` saw the SLO percentile above the objective (an empty window keeps the
  stretch), and at least ``min_samples`` requests slower than the objective completed during it (one slow
  request is not a trend). Not while the GPU is known not to help (after a failed attempt: exponential
  back-off, unless the CPU's median stayed ``retry_growth`` times above the level at which the GPU was
  tried for a whole window).
* After every switch, verify: once the new variant served ``verify_samples`` requests (and ``verify_s``
  passed), and at every evaluation of its probation (``scale_down_after_s``), the GPU's median must be
  ``gpu_margin`` below the CPU's median over the violation stretch; a CPU we demoted to must not violate
  the SLO. Otherwise switch back, releasing the failed variant at once.
* After the probation the variant not in use is released (scaled down).
* ``gpu_preferred`` on GPU: demote when the CPU's known latency met the SLO with ``cpu_headroom`` at a
  request rate at least the current one (and never at a rate where it violated); with no knowledge of the
  CPU, try it when the rate falls to ``explore_rate_per_s``. Promote back on violation as above.
* Either preferred mode on GPU: demote after ``idle_demote_s`` without a request (the GPU is not needed).
* At most ``max_switches_per_hour`` switches in any hour; a promotion needs room for its possible
  return trip, so a failed attempt can always be undone. At least ``cooldown_s`` between switches that
  are not verification outcomes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from gaia_faas.gateway_plugin.controller_config import ControllerConfig

CPU = "cpu"
GPU = "gpu"
HOUR_S = 3600.0

HOLD = "hold"
SWITCH = "switch"
SCALE_DOWN = "scale_down"


@dataclass(frozen=True)
class VariantWindow:
    """Recent requests of one variant over the controller's window (``config.window_s``)."""

    count: int = 0
    slow: int = 0  # requests slower than the SLO's milliseconds
    latency_ms: float | None = None  # latency at the SLO percentile; None without requests
    median_ms: float | None = None  # the level switches are judged by (stable with few samples)
    rate_per_s: float = 0.0

    @classmethod
    def of(cls, latencies_ms: list[float], window_s: float, config: ControllerConfig) -> "VariantWindow":
        """Exact window of individual latencies (replay, tests); nearest-rank quantiles as in stats.py."""
        if not latencies_ms:
            return cls()
        ordered = sorted(latencies_ms)

        def at(percentile: float) -> float:
            return ordered[max(1, math.ceil(percentile / 100.0 * len(ordered))) - 1]

        slow = 0 if config.slo_ms is None else sum(1 for value in ordered if value > config.slo_ms)
        return cls(count=len(ordered), slow=slow, latency_ms=at(config.slo_percentile), median_ms=at(50.0),
                   rate_per_s=len(ordered) / window_s)


@dataclass(frozen=True)
class Snapshot:
    """What the policy sees of a function at one evaluation.

    ``windows``: per variant, the requests completed since ``window_start(...)``; ``fresh``: per variant,
    the requests completed since the previous evaluation (so slow requests are counted once).
    """

    route: str  # the variant traffic goes to now
    variants: frozenset[str]  # the variants the function has
    windows: Mapping[str, VariantWindow] = field(default_factory=dict)
    fresh: Mapping[str, VariantWindow] = field(default_factory=dict)
    pinned: bool = False

    def window(self, variant: str) -> VariantWindow:
        return self.windows.get(variant, VariantWindow())

    def fresh_window(self, variant: str) -> VariantWindow:
        return self.fresh.get(variant, VariantWindow())


@dataclass(frozen=True)
class PolicyState:
    """What the policy remembers between evaluations of one function."""

    violation_since: float | None = None  # first evaluation of the current violation stretch
    violation_slow: int = 0  # slow requests seen during that stretch
    switch_times: tuple[float, ...] = ()  # route switches within the last hour
    last_switch_at: float | None = None
    verifying: bool = False  # the last switch is not verified yet
    verified_at: float | None = None  # when the current variant first passed verification (probation start)
    previous_level_ms: float | None = None  # the replaced variant's median when we switched away from it
    standby_released: bool = False  # the variant not in use was scaled down
    # What we learnt about the GPU: the CPU level at which it failed to help, and when to try again.
    gpu_failed_at_level_ms: float | None = None
    gpu_failures: int = 0
    retry_after: float | None = None
    grown_since: float | None = None  # since when the CPU stays retry_growth times above that level
    # What we learnt about the CPU (gpu_preferred demotion): highest rate it met the SLO with headroom at,
    # lowest rate it violated at.
    cpu_ok_rate: float | None = None
    cpu_ok_level_ms: float | None = None
    cpu_bad_rate: float | None = None
    last_request_at: float | None = None
    warmup_retry_after: float | None = None  # the last switch failed to warm its target up


@dataclass(frozen=True)
class Decision:
    action: str  # HOLD, SWITCH or SCALE_DOWN
    reason: str  # a short slug, e.g. "cpu-violates-slo"
    target: str | None = None  # SWITCH: the variant to move to; SCALE_DOWN: the variant to release
    release: str | None = None  # SWITCH: the variant to scale down right after the switch
    numbers: Mapping[str, float | int | None] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"action": self.action, "reason": self.reason, "target": self.target, "release": self.release,
                "numbers": dict(self.numbers)}


def window_start(state: PolicyState, config: ControllerConfig, now: float) -> float:
    """Where the windows of a snapshot begin: ``window_s`` back, but never before the last switch nor
    before the current violation stretch began. So a variant is judged on what it did since it serves,
    and the level a promotion is measured against is the violation's own (a cold start or the fast
    requests before the stretch do not blur it)."""
    start = now - config.window_s
    for bound in (state.last_switch_at, state.violation_since):
        if bound is not None:
            start = max(start, bound)
    return start


def start_variant(config: ControllerConfig, variants: frozenset[str] | set[str]) -> str:
    """The variant a function starts on: the one its mode leans to, if it has it."""
    leaning = GPU if config.mode in ("gpu", "gpu_preferred") else CPU
    return leaning if leaning in variants else sorted(variants)[0]


def other(variant: str) -> str:
    return GPU if variant == CPU else CPU


def violates(window: VariantWindow, config: ControllerConfig) -> bool:
    return (config.slo_ms is not None and window.latency_ms is not None and window.latency_ms > config.slo_ms)


def _numbers(snapshot: Snapshot, config: ControllerConfig, **extra) -> dict:
    numbers: dict = {"slo_ms": config.slo_ms, "slo_percentile": config.slo_percentile}
    for variant in sorted(snapshot.variants):
        window = snapshot.window(variant)
        numbers[f"{variant}_p_ms"] = None if window.latency_ms is None else round(window.latency_ms, 1)
        numbers[f"{variant}_count"] = window.count
        numbers[f"{variant}_slow"] = window.slow
        numbers[f"{variant}_rate"] = round(window.rate_per_s, 3)
    numbers.update(extra)
    return numbers


def _prune(switch_times: tuple[float, ...], now: float) -> tuple[float, ...]:
    return tuple(t for t in switch_times if now - t < HOUR_S)


def _room_for(state: PolicyState, config: ControllerConfig, switches: int, now: float) -> bool:
    return len(_prune(state.switch_times, now)) + switches <= config.max_switches_per_hour


def _cooled_down(state: PolicyState, config: ControllerConfig, now: float) -> bool:
    return state.last_switch_at is None or now - state.last_switch_at >= config.cooldown_s


def decide(snapshot: Snapshot, config: ControllerConfig, state: PolicyState, now: float) -> tuple[Decision, PolicyState]:
    """One evaluation of one function: what to do now, and what to remember."""
    route = snapshot.route
    current = snapshot.window(route)
    if current.count:
        state = replace(state, last_request_at=now)
    if state.last_request_at is None:
        state = replace(state, last_request_at=now)  # idle time counts from the first evaluation
    state = replace(state, switch_times=_prune(state.switch_times, now))

    if config.mode in ("cpu", "gpu"):
        return Decision(HOLD, f"mode-{config.mode}-never-migrates"), state
    if snapshot.variants != {CPU, GPU}:
        return Decision(HOLD, "single-variant"), state
    if snapshot.pinned:
        return Decision(HOLD, "pinned", numbers=_numbers(snapshot, config)), replace(
            state, violation_since=None, violation_slow=0)
    if config.slo_ms is None:
        return Decision(HOLD, "no-slo"), state

    state = _learn_cpu(snapshot, config, state)
    if state.verifying:
        return _verify(snapshot, config, state, now)
    if route == CPU:
        return _on_cpu(snapshot, config, state, now)
    return _on_gpu(snapshot, config, state, now)


def _learn_cpu(snapshot: Snapshot, config: ControllerConfig, state: PolicyState) -> PolicyState:
    """Remember at which request rates the CPU met the SLO with headroom (for gpu_preferred demotion)."""
    cpu = snapshot.window(CPU)
    if snapshot.route != CPU or cpu.count < config.min_samples or cpu.latency_ms is None:
        return state
    if cpu.latency_ms <= config.slo_ms * (1 - config.cpu_headroom):
        if state.cpu_ok_rate is None or cpu.rate_per_s >= state.cpu_ok_rate:
            return replace(state, cpu_ok_rate=cpu.rate_per_s, cpu_ok_level_ms=cpu.latency_ms)
    return state


def _sustained(window: VariantWindow, fresh: VariantWindow, config: ControllerConfig, state: PolicyState,
               now: float) -> tuple[bool, PolicyState]:
    """Track the violation stretch; True once it lasted sustain_s and saw min_samples slow requests.

    The stretch starts with the slow requests already in the window and adds each evaluation's fresh
    ones. An empty window is no evidence either way and leaves the stretch as it is.
    """
    if window.count == 0:
        return False, state
    if not violates(window, config):
        return False, replace(state, violation_since=None, violation_slow=0)
    if state.violation_since is None:
        state = replace(state, violation_since=now, violation_slow=window.slow)
    else:
        state = replace(state, violation_slow=state.violation_slow + fresh.slow)
    sustained = now - state.violation_since >= config.sustain_s and state.violation_slow >= config.min_samples
    return sustained, state


def _switch(snapshot: Snapshot, config: ControllerConfig, state: PolicyState, target: str, reason: str,
            release: str | None = None, **numbers) -> tuple[Decision, PolicyState]:
    decision = Decision(SWITCH, reason, target=target, release=release,
                        numbers=_numbers(snapshot, config, **numbers))
    return decision, state


def _on_cpu(snapshot: Snapshot, config: ControllerConfig, state: PolicyState, now: float) -> tuple[Decision, PolicyState]:
    cpu = snapshot.window(CPU)
    sustained, state = _sustained(cpu, snapshot.fresh_window(CPU), config, state, now)
    if not sustained:
        reason = "cpu-violates-slo-not-sustained" if state.violation_since is not None else "cpu-meets-slo"
        return Decision(HOLD, reason, numbers=_numbers(snapshot, config)), state
    if cpu.rate_per_s and (state.cpu_bad_rate is None or cpu.rate_per_s < state.cpu_bad_rate):
        state = replace(state, cpu_bad_rate=cpu.rate_per_s)
    since = {"violation_s": round(now - state.violation_since, 3), "slow_requests": state.violation_slow}
    if state.retry_after is not None and now < state.retry_after:
        # Retry early only if the CPU's level stays well above the one the GPU failed at for a whole
        # window (a single noisy window is no reason to pay for another attempt).
        above = (state.gpu_failed_at_level_ms is not None
                 and cpu.median_ms >= state.gpu_failed_at_level_ms * config.retry_growth)
        grown_since = (state.grown_since if state.grown_since is not None else now) if above else None
        state = replace(state, grown_since=grown_since)
        grown = grown_since is not None and now - grown_since >= max(config.sustain_s, config.window_s)
        if not grown:
            return Decision(HOLD, "gpu-known-not-to-help", numbers=_numbers(
                snapshot, config, retry_in_s=round(state.retry_after - now, 1),
                gpu_failed_at_level_ms=state.gpu_failed_at_level_ms, **since)), state
    if state.warmup_retry_after is not None and now < state.warmup_retry_after:
        return Decision(HOLD, "waiting-to-retry-warmup", numbers=_numbers(snapshot, config, **since)), state
    if not _cooled_down(state, config, now):
        return Decision(HOLD, "cooldown", numbers=_numbers(snapshot, config, **since)), state
    if not _room_for(state, config, 2, now):
        return Decision(HOLD, "switch-budget-exhausted", numbers=_numbers(
            snapshot, config, switches_last_hour=len(state.switch_times), **since)), state
    return _switch(snapshot, config, state, GPU, "cpu-violates-slo", **since)


def _on_gpu(snapshot: Snapshot, config: ControllerConfig, state: PolicyState, now: float) -> tuple[Decision, PolicyState]:
    gpu = snapshot.window(GPU)
    state = replace(state, violation_since=None, violation_slow=0)
    idle_s = now - state.last_request_at
    if not _room_for(state, config, 1, now) or not _cooled_down(state, config, now):
        return _hold_gpu(snapshot, config, state)
    if idle_s >= config.idle_demote_s:
        return _switch(snapshot, config, state, CPU, "gpu-idle", release=GPU, idle_s=round(idle_s, 1))
    if config.mode == "gpu_preferred" and gpu.count:
        fits_known = (state.cpu_ok_rate is not None and gpu.rate_per_s <= state.cpu_ok_rate
                      and (state.cpu_bad_rate is None or gpu.rate_per_s < state.cpu_bad_rate * (1 - config.cpu_headroom)))
        if fits_known:
            return _switch(snapshot, config, state, CPU, "cpu-meets-slo-at-this-rate",
                           cpu_ok_rate=round(state.cpu_ok_rate, 3), cpu_ok_level_ms=round(state.cpu_ok_level_ms, 1))
        if state.cpu_ok_rate is None and state.cpu_bad_rate is None and gpu.rate_per_s <= config.explore_rate_per_s:
            return _switch(snapshot, config, state, CPU, "low-rate-try-cpu",
                           explore_rate_per_s=config.explore_rate_per_s)
    return _hold_gpu(snapshot, config, state)


def _hold_gpu(snapshot: Snapshot, config: ControllerConfig, state: PolicyState) -> tuple[Decision, PolicyState]:
    return Decision(HOLD, "gpu-keeps-serving", numbers=_numbers(snapshot, config)), state


def _verify(snapshot: Snapshot, config: ControllerConfig, state: PolicyState, now: float) -> tuple[Decision, PolicyState]:
    """Judge the variant we switched to, at every evaluation until it has served well for
    ``scale_down_after_s``; then release the other one."""
    route = snapshot.route
    window = snapshot.window(route)
    elapsed = now - state.last_switch_at
    numbers = {"since_switch_s": round(elapsed, 3), "previous_level_ms": state.previous_level_ms}
    if window.count < config.verify_samples or elapsed < config.verify_s:
        return Decision(HOLD, f"verifying-{route}", numbers=_numbers(snapshot, config, **numbers)), state
    if route == GPU:
        # Levels are medians, the CPU's over its violation stretch, the GPU's since it serves: with a
        # handful of samples the SLO percentile is just the slowest request, and comparing the slowest
        # of 15 CPU requests with the slowest of 3 GPU ones would favour the GPU.
        bar = None if state.previous_level_ms is None else state.previous_level_ms * (1 - config.gpu_margin)
        numbers.update(gpu_median_ms=round(window.median_ms, 1), bar_ms=None if bar is None else round(bar, 1))
        if bar is not None and window.median_ms > bar:
            failures = state.gpu_failures + 1
            backoff_s = min(config.backoff_max_s, config.backoff_s * 2 ** (failures - 1))
            failed = replace(state, verifying=False, gpu_failures=failures, retry_after=now + backoff_s,
                             gpu_failed_at_level_ms=state.previous_level_ms, grown_since=None)
            return _switch(snapshot, config, failed, CPU, "gpu-does-not-help", release=GPU,
                           backoff_s=backoff_s, **numbers)
    elif state.retry_after is None and violates(window, config) and window.slow >= config.verify_samples:
        # Back on a CPU that was expected to cope (not the return from a failed GPU attempt), it does not.
        bad_rate = window.rate_per_s if state.cpu_bad_rate is None else min(state.cpu_bad_rate, window.rate_per_s)
        ok_rate = state.cpu_ok_rate if state.cpu_ok_rate is not None and state.cpu_ok_rate < bad_rate else None
        state = replace(state, verifying=False, cpu_bad_rate=bad_rate, cpu_ok_rate=ok_rate)
        if not _room_for(state, config, 1, now):
            return Decision(HOLD, "switch-budget-exhausted", numbers=_numbers(snapshot, config, **numbers)), state
        return _switch(snapshot, config, state, GPU, "cpu-misses-slo-after-demotion", release=CPU, **numbers)
    verified_at = state.verified_at if state.verified_at is not None else now
    state = replace(state, verified_at=verified_at)
    if now - verified_at < config.scale_down_after_s:
        return Decision(HOLD, f"{route}-on-probation", numbers=_numbers(snapshot, config, **numbers)), state
    done = replace(state, verifying=False, standby_released=True)
    if route == CPU and state.gpu_failed_at_level_ms is not None:
        # Back from a failed attempt: the CPU's level now, over a fuller window than the stretch that
        # triggered the attempt, is the better reference for "grew well beyond".
        done = replace(done, gpu_failed_at_level_ms=max(state.gpu_failed_at_level_ms, window.median_ms))
    if route == GPU:
        done = replace(done, gpu_failures=0, retry_after=None, gpu_failed_at_level_ms=None, grown_since=None)
    if state.standby_released:
        return Decision(HOLD, f"{route}-verified", numbers=_numbers(snapshot, config, **numbers)), done
    return Decision(SCALE_DOWN, f"{route}-verified", target=other(route),
                    numbers=_numbers(snapshot, config, **numbers)), done


def switched(state: PolicyState, decision: Decision, previous: Snapshot, now: float) -> PolicyState:
    """The route moved to ``decision.target`` at ``now`` (``previous`` was the snapshot that led to it)."""
    replaced = previous.window(previous.route)
    return replace(
        state, violation_since=None, violation_slow=0, switch_times=_prune(state.switch_times, now) + (now,), last_switch_at=now,
        verifying=True, verified_at=None, previous_level_ms=replaced.median_ms,
        standby_released=decision.release is not None, warmup_retry_after=None)


def switch_failed(state: PolicyState, config: ControllerConfig, now: float) -> PolicyState:
    """The target did not answer within the warm-up time: keep the route, retry later."""
    return replace(state, warmup_retry_after=now + config.warmup_retry_s, violation_since=None, violation_slow=0)
