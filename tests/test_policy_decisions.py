"""The routing policy's core rules, driven with synthetic per-second buckets through the real snapshot builder:
what never migrates, promotion on a sustained violation, verification by requests, back-off, the bounds."""

from __future__ import annotations

import dataclasses

import pytest

from gaia_faas.gateway_plugin import policy
from gaia_faas.gateway_plugin.controller_config import ControllerConfig
from gaia_faas.gateway_plugin.policy import CPU, GPU, HOLD, SCALE_DOWN, SWITCH, PolicyState, Snapshot, VariantWindow
from tests.policy_driver import BOTH, Driver, config, is_switch, promote, steady

# --- what never migrates ----------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["cpu", "gpu"])
def test_fixed_modes_never_migrate(mode):
    driver = Driver(config(mode=mode))
    assert driver.run(0, 60, steady(5000.0, 100.0, per_s=5), stop=is_switch) is None
    assert driver.decisions[-1][1].reason == f"mode-{mode}-never-migrates"


def test_single_variant_and_missing_slo_hold():
    cfg = config()
    cpu_only = Snapshot(route=CPU, variants=frozenset({CPU}), windows={CPU: VariantWindow.of([5000.0] * 9, 10.0, cfg)},
                        fresh={CPU: VariantWindow.of([5000.0] * 9, 1.0, cfg)})
    decision, _ = policy.decide(cpu_only, cfg, PolicyState(), 10.0)
    assert (decision.action, decision.reason) == (HOLD, "single-variant")
    driver = Driver(ControllerConfig())
    assert driver.run(0, 30, steady(5000.0, 100.0), stop=is_switch) is None
    assert driver.decisions[-1][1].reason == "no-slo"


def test_pin_overrides_the_policy_until_unpinned():
    driver = Driver(config())
    driver.pinned = True
    assert driver.run(0, 10, steady(3000.0, 100.0), stop=is_switch) is None
    assert driver.decisions[-1][1].reason == "pinned"
    assert driver.state.cpu.evidence == 0.0  # a pinned stretch does not count towards a promotion
    driver.pinned = False
    assert promote(driver, start=10) >= 12  # unpinned: the violation must be sustained afresh


def test_starts_on_the_variant_its_mode_leans_to():
    assert policy.start_variant(config(mode="cpu_preferred"), BOTH) == CPU
    assert policy.start_variant(config(mode="gpu_preferred"), BOTH) == GPU
    assert policy.start_variant(config(mode="gpu_preferred"), frozenset({CPU})) == CPU


# --- promotion ---------------------------------------------------------------------------------------

def test_one_slow_request_is_not_a_trend():
    driver = Driver(config())
    driver.step(0, [5000.0])
    for t in range(1, 60):
        assert driver.step(t, [100.0] * 2).action == HOLD
    assert driver.decisions[-1][1].reason == "cpu-meets-slo"
    assert driver.state.cpu.evidence == 0.0


def test_promotion_needs_the_minimum_time():
    driver = Driver(config(sustain_s=5.0, min_samples=3))
    driver.step(0, [3000.0] * 10)  # ten slow requests at once: evidence enough, time not
    for t in (1, 2, 3, 4):
        assert driver.step(t, [3000.0]).action == HOLD
    assert driver.decisions[-1][1].reason == "cpu-violates-slo-not-sustained"
    decision = driver.step(5, [3000.0])
    assert (decision.action, decision.target, decision.reason) == (SWITCH, GPU, "cpu-violates-slo")
    assert decision.numbers["cpu_bad_share_now"] == 1.0 and decision.numbers["slow_requests"] >= 3
    assert decision.warmup_timeout_s == 60.0


def test_promotion_needs_the_minimum_number_of_slow_requests():
    driver = Driver(config(sustain_s=2.0, min_samples=4))
    driver.step(0, [3000.0])
    for t in range(1, 30):  # a long stretch, but no further slow request completes
        assert driver.step(t).action == HOLD
    for t in (30, 31):
        assert driver.step(t, [3000.0]).action == HOLD
    assert driver.step(32, [3000.0]).action == SWITCH  # the 4th slow request


def test_a_slow_function_is_promoted_on_its_few_requests():
    """A request every 16 s: evaluations without a request are no evidence either way."""
    driver = Driver(config(sustain_s=2.0, min_samples=3))
    decision = driver.run(0, 100, lambda t, route: ([16000.0], 0) if t % 16 == 0 else ((), 0), stop=is_switch)
    assert decision is not None and decision.reason == "cpu-violates-slo"
    assert driver.decisions[-1][0] == 32 + 1.5  # the third slow request


def test_a_violation_that_ends_starts_over():
    driver = Driver(config(sustain_s=2.0, min_samples=3))
    driver.step(0, [3000.0, 3000.0])
    driver.step(1, [100.0] * 40)  # meets the SLO again
    assert driver.state.cpu.evidence == 0.0 and driver.state.cpu.stretch_since is None
    assert driver.step(2, [3000.0]).action == HOLD


# --- verification, back-off, retry ------------------------------------------------------------------

def test_a_gpu_that_helps_is_verified_then_the_cpu_is_released():
    cfg = config(verify_s=2.0, verify_samples=2, scale_down_after_s=5.0)
    driver = Driver(cfg)
    t = promote(driver)
    assert driver.state.bar_share == pytest.approx(0.8)  # the CPU's share (all slow) x (1 - gpu_margin)
    assert driver.step(t + 1).reason == "verifying-gpu"  # nothing served yet
    first = driver.step(t + 2, [400.0, 400.0])
    assert (first.action, first.reason) == (HOLD, "gpu-on-probation")
    decisions = [driver.step(t + 2 + i, [400.0] * 3) for i in range(1, 6)]
    assert [d.action for d in decisions[:-1]] == [HOLD] * 4
    assert (decisions[-1].action, decisions[-1].target, decisions[-1].reason) == (SCALE_DOWN, CPU, "gpu-verified")
    assert not driver.state.verifying and driver.state.standby_released
    for i in range(200):  # the GPU keeps serving while the CPU is known to miss the SLO
        assert driver.step(t + 10 + i, [400.0] * 3).action == HOLD


def test_a_gpu_that_does_not_help_is_left_at_once_and_released():
    cfg = config(gpu_margin=0.2)
    driver = Driver(cfg)
    t = promote(driver)
    decision = driver.step(t + 2, [2000.0, 2000.0])  # as slow as the CPU: no violation avoided
    assert (decision.action, decision.target, decision.release, decision.reason) == (SWITCH, CPU, GPU, "gpu-does-not-help")
    assert decision.numbers["backoff_s"] == cfg.backoff_s
    assert driver.state.gpu.failed_at_level_ms == pytest.approx(2000.0, rel=0.02)
    assert driver.state.gpu.retry_after == t + 2 + 1.5 + cfg.backoff_s


def test_a_gpu_that_gets_worse_during_probation_is_left():
    driver = Driver(config(scale_down_after_s=10.0))
    t = promote(driver)
    assert driver.step(t + 2, [500.0, 500.0]).reason == "gpu-on-probation"
    decision = driver.run(t + 3, t + 9, steady(2000.0, 1900.0, per_s=2), stop=is_switch)
    assert decision is not None and decision.reason == "gpu-does-not-help"


def _fail_once(driver: Driver, start: int) -> int:
    t = promote(driver, start=start)
    assert driver.step(t + 2, [2000.0, 2000.0]).reason == "gpu-does-not-help"
    return t + 2


def test_a_gpu_known_not_to_help_is_not_tried_while_that_knowledge_is_fresh():
    cfg = config(backoff_s=600.0, knowledge_ttl_s=3600.0, scale_down_after_s=0.0)
    driver = Driver(cfg)
    failed_at = _fail_once(driver, 0)
    assert driver.run(failed_at + 1, failed_at + 3500, steady(2000.0, 2000.0), stop=is_switch) is None
    assert driver.decisions[-1][1].reason == "gpu-not-worth-its-cost"  # the back-off is over, the knowledge not
    assert driver.decisions[-1][1].numbers["gpu_bad_share"] == 1.0
    decision = driver.run(failed_at + 3500, failed_at + 3700, steady(2000.0, 2000.0), stop=is_switch)
    assert decision is not None and decision.reason == "cpu-violates-slo"  # stale: tried again


def test_gpu_known_not_to_help_waits_for_an_exponential_back_off():
    cfg = config(backoff_s=600.0, backoff_max_s=7200.0, scale_down_after_s=0.0, knowledge_ttl_s=300.0)
    driver = Driver(cfg)
    failed_at = _fail_once(driver, 0)
    decision = driver.run(failed_at + 1, failed_at + 1000, steady(2000.0, 2000.0), stop=is_switch)
    assert driver.decisions[-2][1].reason == "gpu-known-not-to-help"
    assert decision is not None and decision.reason == "cpu-violates-slo"
    assert driver.decisions[-1][0] >= failed_at + 1.5 + 600.0
    t = int(driver.decisions[-1][0] - 1.5)
    assert driver.step(t + 2, [2000.0, 2000.0]).reason == "gpu-does-not-help"
    assert driver.state.gpu.failures == 2
    assert driver.state.gpu.retry_after == pytest.approx(t + 3.5 + 1200.0)


def test_retry_sooner_when_the_cpu_grew_well_beyond_the_tried_level():
    cfg = config(retry_growth=1.5, scale_down_after_s=0.0)
    driver = Driver(cfg)
    failed_at = _fail_once(driver, 0)
    decision = driver.run(failed_at + 1, failed_at + 60, steady(3500.0, 100.0), stop=is_switch)
    assert decision is not None and decision.reason == "cpu-violates-slo"
    assert driver.decisions[-1][0] < failed_at + cfg.backoff_s


def test_a_noisy_window_above_the_tried_level_is_no_reason_to_retry():
    cfg = config(retry_growth=1.5, window_s=10.0, scale_down_after_s=0.0)
    driver = Driver(cfg)
    failed_at = _fail_once(driver, 0)
    # Every other 10 s window jumps up: the window's median never stays 1.5x above for long.
    def noisy(t: int, route: str):
        return [4000.0 if (t // 5) % 2 else 2000.0] * 2, 0

    assert driver.run(failed_at + 1, failed_at + 300, noisy, stop=is_switch) is None
    assert driver.decisions[-1][1].reason == "gpu-known-not-to-help"


# --- bounds --------------------------------------------------------------------------------------

def test_switches_never_exceed_the_hourly_budget_and_a_promotion_can_always_come_back():
    """Alternate GPU-helps / GPU-does-not-help and errors on either side as badly as possible."""
    cfg = config(max_switches_per_hour=4, backoff_s=0.0, error_backoff_s=0.0, explore_backoff_s=0.0, cooldown_s=0.0,
                 sustain_s=0.0, min_samples=1, verify_s=0.0, verify_samples=1, scale_down_after_s=0.0,
                 knowledge_ttl_s=1.0)
    driver = Driver(cfg)

    def adversary(t: int, route: str):
        phase = (t // 7) % 4
        if route == CPU:
            return ([2000.0], 0) if phase != 3 else ((), 3)
        return ([1900.0], 0) if phase in (0, 1) else ((), 3) if phase == 2 else ([100.0], 0)

    driver.run(0, 7200, adversary)
    times = [t for t, _ in driver.switches()]
    assert len(times) >= 6  # it did try
    for t in times:
        assert sum(1 for u in times if t <= u < t + 3600) <= 4
    assert any(d.reason == "switch-budget-exhausted" for _, d in driver.decisions)


def test_a_failed_demotion_is_promoted_back_even_with_the_budget_nearly_spent():
    cfg = config(mode="gpu_preferred", max_switches_per_hour=3, cooldown_s=0.0, scale_down_after_s=0.0)
    driver = Driver(cfg, route=GPU)
    driver.state = PolicyState(switch_times=(0.0,))  # one switch already this hour: room for 2 more
    decision = driver.step(0, [100.0])  # unknown CPU, low rate: a demotion needs room for 3, not there
    assert decision.action == HOLD
    driver.state = PolicyState()
    driver.run(0, 30, steady(1500.0, 100.0, per_s=1, every_s=20), stop=is_switch)  # tries the CPU
    assert driver.route == CPU
    driver.state = dataclasses.replace(driver.state, switch_times=(1.0, 2.0))
    decision = driver.run(30, 120, steady(1500.0, 100.0, per_s=1, every_s=20), stop=is_switch)
    assert decision is not None and (decision.target, decision.reason) == (GPU, "cpu-misses-slo-after-demotion")
    assert len(driver.state.switch_times) == 3  # exactly at the budget, never over


def test_cooldown_between_switches():
    cfg = config(cooldown_s=60.0, mode="gpu_preferred", scale_down_after_s=0.0)
    driver = Driver(cfg, route=GPU)
    decision = driver.run(0, 40, steady(200.0, 100.0, per_s=1, every_s=15), stop=is_switch)
    assert decision is not None and decision.reason == "low-rate-try-cpu"
    t = int(driver.decisions[-1][0] - 1.5)
    driver.run(t + 1, t + 5, steady(200.0, 100.0, per_s=2))  # the CPU copes: verified
    assert driver.route == CPU and not driver.state.verifying
    decision = driver.run(t + 5, t + 58, steady(3000.0, 100.0, per_s=5), stop=is_switch)
    assert decision is None and driver.decisions[-1][1].reason == "cooldown"
    decision = driver.run(t + 58, t + 70, steady(3000.0, 100.0, per_s=5), stop=is_switch)
    assert decision is not None and driver.decisions[-1][0] >= driver.state.switch_times[0] + 60.0


def test_decide_is_pure():
    cfg = config()
    state = PolicyState(cpu=policy.VariantMemory(evidence=2.0, stretch_n=2, stretch_bad=2, stretch_since=0.0))
    window = VariantWindow.of([3000.0], 1.0, cfg)
    snapshot = Snapshot(route=CPU, variants=BOTH, windows={CPU: window}, fresh={CPU: window})
    first = policy.decide(snapshot, cfg, state, 5.0)
    again = policy.decide(snapshot, cfg, state, 5.0)
    assert first == again
    assert state == PolicyState(cpu=policy.VariantMemory(evidence=2.0, stretch_n=2, stretch_bad=2, stretch_since=0.0))


def test_windows_never_reach_back_before_a_switch():
    cfg = config(window_s=10.0)
    assert policy.window_start(PolicyState(), cfg, 100.0) == 90.0
    assert policy.window_start(PolicyState(last_switch_at=95.0), cfg, 100.0) == 95.0
