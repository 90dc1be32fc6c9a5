"""Cost-aware: meet the SLO, then minimise cost given what the platform lets us release; the pool allocator's
interface; warm-ups whose timeout follows the variant's observed start and back off after failures."""

from __future__ import annotations

import dataclasses

import pytest

from gaia_faas.gateway_plugin import policy
from gaia_faas.gateway_plugin.controller_config import ConfigError, ControllerConfig
from gaia_faas.gateway_plugin.policy import CPU, GPU, HOLD, SCALE_DOWN, SWITCH, PolicyState
from tests.policy_driver import Driver, config, is_switch, promote, steady


def test_on_ce_nothing_is_ever_released():
    cfg = config(platform="ce", scale_down_after_s=2.0, idle_demote_s=30.0)
    driver = Driver(cfg)
    t = promote(driver)
    driver.run(t + 1, t + 100, steady(2000.0, 100.0))
    assert driver.route == GPU and not driver.state.verifying
    broken = steady(2000.0, 100.0, gpu_errors=2)
    driver.run(t + 100, t + 110, broken)
    assert "gpu-failing" in driver.reasons()
    assert all(d.action != SCALE_DOWN and d.release is None for _, d in driver.decisions)


def test_on_ce_the_gpu_costs_nothing_more_but_a_silent_gpu_is_still_left():
    cfg = config(platform="ce", scale_down_after_s=0.0, idle_demote_s=30.0)
    driver = Driver(cfg)
    t = promote(driver)
    driver.run(t + 1, t + 20, steady(2000.0, 100.0))
    assert driver.decisions[-1][1].numbers["gpu_cost_per_s"] == 0.0
    # Silent: idle, or hanging until the clients' timeout. Left (nothing released), not before 30 s.
    driver.run(t + 20, t + 600, lambda s, route: ((), 0))
    assert driver.reasons() == ["cpu-violates-slo", "gpu-idle"]
    assert driver.switches()[-1][0] >= t + 20 + 30 and driver.switches()[-1][1].release is None


def test_gpu_cost_per_second_follows_the_platform():
    state = PolicyState(gpu=policy.VariantMemory(start_s=10.0))
    pro = policy.gpu_cost_per_s(config(platform="pro"), state)
    knative = policy.gpu_cost_per_s(config(platform="knative"), state)
    cfg = config()
    assert policy.gpu_cost_per_s(config(platform="ce"), state) == 0.0
    assert pro == pytest.approx(cfg.price_gpu - cfg.price_cpu + 10.0 * cfg.price_gpu / cfg.payback_s)
    assert knative == pytest.approx(pro + cfg.release_delay_s * (cfg.price_cpu + cfg.price_gpu) / cfg.payback_s)


def test_no_promotion_when_the_violations_avoided_are_not_worth_the_gpu_seconds():
    # One violation avoided every 100 s, worth 0.001 each: 1e-5 per second, less than the GPU costs.
    cfg = config(violation_cost=0.001)
    driver = Driver(cfg)
    slow_and_sparse = lambda t, route: ([2000.0], 0) if t % 100 == 0 else ((), 0)  # noqa: E731
    assert driver.run(0, 3000, slow_and_sparse, stop=is_switch) is None
    last = driver.decisions[-1][1]
    assert last.reason == "gpu-not-worth-its-cost"
    assert last.numbers["benefit_per_s"] < last.numbers["gpu_cost_per_s"]
    # Worth more: promoted.
    worth = Driver(config(violation_cost=1.0))
    assert worth.run(0, 3000, slow_and_sparse, stop=is_switch) is not None


def test_a_gpu_kept_for_too_little_benefit_is_demoted_for_its_cost():
    cfg = config(scale_down_after_s=0.0, knowledge_ttl_s=86400.0, violation_cost=0.01)
    driver = Driver(cfg)
    t = promote(driver, per_s=2)  # worth it at 2 req/s
    driver.run(t + 1, t + 20, steady(2000.0, 100.0))
    decision = driver.run(t + 20, t + 4000, lambda s, route: ([2000.0 if route == CPU else 100.0], 0)
                          if s % 200 == 0 else ((), 0), stop=is_switch)
    assert decision is not None and decision.reason in ("gpu-not-worth-its-cost", "gpu-idle")
    assert decision.release == GPU


def test_every_decision_carries_the_gpus_expected_benefit():
    driver = Driver(config())
    decision = driver.run(0, 30, steady(2000.0, 100.0, per_s=4), stop=is_switch)
    for key in ("request_rate_per_s", "expected_violations_avoided_per_s", "gpu_cost_per_s", "benefit_per_s"):
        assert key in decision.numbers and key in driver.decisions[0][1].numbers
    assert decision.numbers["request_rate_per_s"] == pytest.approx(4.0, rel=0.1)
    assert decision.numbers["expected_violations_avoided_per_s"] == pytest.approx(4.0 * 0.95, rel=0.1)


def test_a_promotion_denied_for_capacity_uses_no_budget_and_is_asked_again_soon():
    cfg = config(capacity_retry_s=10.0)
    driver = Driver(cfg)
    driver.deny_promotions = True
    first = driver.run(0, 30, steady(2000.0, 100.0), stop=is_switch)
    assert first is not None and driver.route == CPU and driver.state.switch_times == ()
    asked_at = driver.decisions[-1][0]
    again = driver.run(int(asked_at), int(asked_at) + 30, steady(2000.0, 100.0), stop=is_switch)
    assert again is not None and driver.decisions[-1][0] == asked_at + 10.0
    assert driver.decisions[-2][1].reason == "waiting-for-gpu-capacity"
    assert policy.promotion_denied(PolicyState(), cfg, 5.0) == PolicyState(capacity_retry_after=15.0)


def test_a_promotion_waiting_for_capacity_says_what_the_gpu_is_worth():
    """The GPU pool ranks a function waiting for a GPU by its waiting decisions' benefit_per_s: they must carry
    the benefit at the share the CPU violates with, as the promotion did, not 0 where the CPU's knowledge at
    this rate is empty (here wiped, as a failing variant's is) while its evidence says it violates."""
    cfg = config(capacity_retry_s=10.0)
    driver = Driver(cfg)
    driver.deny_promotions = True
    asked = driver.run(0, 60, steady(2000.0, 100.0), stop=is_switch)
    assert asked is not None and asked.numbers["benefit_per_s"] > 0
    driver.state = driver.state.with_memory(CPU, dataclasses.replace(driver.state.cpu, bands=()))
    waiting = driver.evaluate(driver.decisions[-1][0] + 1.0)
    assert waiting.reason == "waiting-for-gpu-capacity"
    assert waiting.numbers["benefit_per_s"] >= 0.5 * asked.numbers["benefit_per_s"]  # 0 before: cpu_bad_share 0


def test_a_promotion_waiting_for_capacity_asks_again_at_once_when_the_pool_has_room():
    cfg = config(capacity_retry_s=10.0)
    driver = Driver(cfg)
    driver.deny_promotions = True
    driver.run(0, 60, steady(2000.0, 100.0), stop=is_switch)
    asked_at = driver.decisions[-1][0]
    assert driver.evaluate(asked_at + 1.0).reason == "waiting-for-gpu-capacity"
    driver.state = policy.capacity_available(driver.state)  # the pool granted it a GPU
    driver.deny_promotions = False
    assert is_switch(driver.evaluate(asked_at + 2.0)) and driver.route == GPU
    assert policy.capacity_available(PolicyState(capacity_retry_after=15.0)) == PolicyState()


def test_no_promotion_in_a_pause_whose_silence_would_fail_the_gpu():
    """A function with bursts kept waiting for a GPU through a burst is in a pause when a GPU frees: promoted
    then, the GPU serves nobody and its verification takes the silence for a GPU that hangs (gpu-not-answering,
    a back-off as for a failure, which cost `bursts` its GPU for the rest of a pool replay). It asks again with
    its next requests. A silence longer than its pauses is no pause (a stats gap after a leader change)."""
    driver = Driver(config(capacity_retry_s=10.0))
    driver.deny_promotions = True
    burst = steady(2000.0, 100.0, per_s=4)  # the CPU cannot serve it in time
    driver.run(0, 60, burst)
    driver.run(60, 160, lambda t, route: ((), 0))  # its first pause: now part of its rhythm
    driver.run(160, 220, burst)
    pause = [driver.evaluate(221.5 + s) for s in range(12, 150)]  # a GPU frees; nothing arrives
    assert not any(is_switch(d) for d in pause)
    assert pause[-1].reason == "cpu-violates-slo-in-a-pause" and pause[-1].numbers["benefit_per_s"] > 0
    driver.deny_promotions = False
    again = driver.run(380, 420, burst, stop=is_switch)
    assert again is not None and again.target == GPU


def test_a_gpu_switched_to_in_a_pause_is_not_judged_hung_before_the_pause_is_over():
    """Its requests are due once the pause is over: judged by the first 5 s, a GPU the pool freed in a pause
    was taken for one that hangs (gpu-not-answering, backed off as a failure)."""
    driver = Driver(config(capacity_retry_s=10.0))
    driver.deny_promotions = True
    burst = steady(2000.0, 100.0, per_s=4)
    driver.run(0, 60, burst)
    driver.run(60, 160, lambda t, route: ((), 0))
    driver.run(160, 220, burst)
    # The pool frees a GPU in the pause and the switch is carried out (asked for just before the pause).
    asked = policy.Decision(SWITCH, "cpu-violates-slo", target=GPU)
    driver.state = policy.switched(driver.state, asked, policy.Snapshot(route=CPU, variants=frozenset({CPU, GPU})),
                                   230.0)
    driver.route, driver.fresh_from_s = GPU, None
    quiet = [driver.evaluate(231.0 + s) for s in range(100)]  # the rest of the pause: nothing arrives
    assert "gpu-not-answering" not in [d.reason for d in quiet]
    driver.run(330, 360, burst)
    assert driver.route == GPU and driver.state.served > 0  # the next burst is served on the GPU


# --- warm-ups ----------------------------------------------------------------------------------------

def test_the_warmup_timeout_follows_the_observed_start_and_backs_off_after_failures():
    cfg = config(warmup_timeout_s=60.0, warmup_timeout_max_s=600.0, warmup_retry_s=30.0)
    state = PolicyState(pending_target=GPU)
    assert policy.warmup_timeout(state, cfg, GPU) == 60.0
    # A 75 s cold start: the first warm-up times out; the next waits twice as long, and later.
    failed = policy.switch_failed(state, cfg, 100.0, target=GPU, waited_s=60.0)
    assert policy.warmup_timeout(failed, cfg, GPU) == 120.0 and failed.warmup_retry_after == 130.0
    twice = policy.switch_failed(failed, cfg, 200.0, target=GPU, waited_s=120.0)
    assert policy.warmup_timeout(twice, cfg, GPU) == 240.0 and twice.warmup_retry_after == 260.0
    # Once it answered after 75 s, twice that is its timeout from then on.
    decision = policy.Decision(SWITCH, "cpu-violates-slo", target=GPU)
    snapshot = policy.Snapshot(route=CPU, variants=frozenset({CPU, GPU}))
    done = policy.switched(twice, decision, snapshot, 300.0, warmup_s=75.0)
    assert policy.warmup_timeout(done, cfg, GPU) == 150.0 and done.gpu.warmup_failures == 0
    slow = policy.switched(twice, decision, snapshot, 300.0, warmup_s=500.0)
    assert policy.warmup_timeout(slow, cfg, GPU) == 600.0  # bounded


def test_warmup_bounds_are_checked():
    with pytest.raises(ConfigError, match="com.gaia.warmup-timeout-max-seconds"):
        ControllerConfig.from_annotations({"com.gaia.warmup-timeout-seconds": "120",
                                           "com.gaia.warmup-timeout-max-seconds": "60"})
    with pytest.raises(ConfigError, match="com.gaia.platform"):
        ControllerConfig.from_annotations({"com.gaia.platform": "lambda"})
    assert ControllerConfig.from_annotations({"com.gaia.platform": "knative"}).platform == "knative"


def test_a_held_violation_after_a_failed_warmup_is_retried_with_the_longer_timeout():
    cfg = config(warmup_timeout_s=60.0, warmup_retry_s=30.0)
    driver = Driver(cfg)
    decision = driver.run(0, 30, steady(2000.0, 100.0), stop=is_switch)
    assert decision is not None
    asked_at = driver.decisions[-1][0]
    # The switch was carried out by the driver; undo it as if the warm-up had failed instead.
    driver.route = CPU
    driver.state = policy.switch_failed(dataclasses.replace(driver.state, verifying=False, switch_times=(),
                                                           last_switch_at=None),
                                        cfg, asked_at + 60.0, target=GPU, waited_s=60.0)
    waiting = driver.run(int(asked_at) + 60, int(asked_at) + 89, steady(2000.0, 100.0), stop=is_switch)
    assert waiting is None and driver.decisions[-1][1].reason == "waiting-to-retry-warmup"
    retry = driver.run(int(asked_at) + 89, int(asked_at) + 100, steady(2000.0, 100.0), stop=is_switch)
    assert retry is not None and retry.warmup_timeout_s == 120.0
    assert driver.decisions[-1][1].action == SWITCH and driver.decisions[-2][1].action == HOLD

