"""Errors are violations: a failing variant loses the route at once, is probed after a back-off (a real switch
judged on its first requests) and gets the route back once healthy."""

from __future__ import annotations

from gaia_faas.gateway_plugin.policy import CPU, GPU, SWITCH
from tests.policy_driver import Driver, config, is_switch, promote, steady


def test_a_gpu_answering_fast_500s_loses_the_route_in_one_evaluation():
    cfg = config(verify_samples=5, error_min=3, error_rate=0.2, scale_down_after_s=5.0)
    driver = Driver(cfg)
    t = promote(driver, per_s=4)
    # Fast 500s would pass a latency check; three of them are enough, no window of latencies needed.
    decision = driver.step(t + 1, [], errors=4, error_ms=3.0)
    assert (decision.action, decision.target, decision.release, decision.reason) == (SWITCH, CPU, GPU, "gpu-failing")
    assert decision.numbers["error_share"] == 1.0 and decision.numbers["retry_in_s"] == cfg.error_backoff_s
    assert driver.state.gpu.failures == 1


def test_a_verified_gpu_that_starts_failing_is_left_at_once():
    cfg = config(scale_down_after_s=2.0)
    driver = Driver(cfg)
    t = promote(driver)
    driver.run(t + 1, t + 30, steady(2000.0, 100.0, per_s=4))
    assert driver.route == GPU and not driver.state.verifying
    decision = driver.run(t + 30, t + 40, steady(2000.0, 100.0, per_s=4, gpu_errors=2), stop=is_switch)
    assert decision is not None and decision.reason == "gpu-failing"
    # Half the requests fail from second t + 30: the share over the last 20 requests crosses 20% by the third.
    assert driver.decisions[-1][0] <= t + 32 + 1.5


def test_a_few_errors_below_the_threshold_keep_the_route():
    cfg = config(error_rate=0.2, error_min=3)
    driver = Driver(cfg)
    t = promote(driver)
    # One request in 20 fails: 5%, below the 20% threshold.
    decision = driver.run(t + 1, t + 200, lambda s, route: ([100.0] * 19, 1) if s % 10 == 0 else ([100.0] * 2, 0),
                          stop=is_switch)
    assert decision is None and driver.route == GPU


def test_the_failing_gpu_is_probed_after_a_doubling_back_off_and_returns_when_healthy():
    cfg = config(error_backoff_s=60.0, scale_down_after_s=2.0)
    driver = Driver(cfg)
    t = promote(driver)
    broken = steady(2000.0, 100.0, per_s=2, gpu_errors=2)
    assert driver.run(t + 1, t + 5, broken, stop=is_switch).reason == "gpu-failing"
    left_at = driver.decisions[-1][0]
    # The CPU still misses its SLO: the GPU is tried again after the back-off, found failing, left again.
    probe = driver.run(t + 5, t + 200, broken, stop=lambda d: is_switch(d) and d.target == GPU)
    assert probe is not None and probe.reason == "cpu-violates-slo"
    assert driver.decisions[-1][0] >= left_at + 60.0
    assert driver.decisions[-2][1].reason in ("gpu-known-not-to-help", "cpu-violates-slo-not-sustained")
    again = driver.run(int(driver.decisions[-1][0]), t + 300, broken, stop=is_switch)
    assert again.reason == "gpu-failing" and driver.state.gpu.failures == 2
    second_left_at = driver.decisions[-1][0]
    assert driver.state.gpu.retry_after == second_left_at + 120.0
    # Healthy again: the next probe keeps the route, and a verified GPU forgets its failures.
    healthy = steady(2000.0, 100.0, per_s=2)
    driver.run(int(second_left_at), int(second_left_at) + 200, healthy)
    assert driver.route == GPU and not driver.state.verifying and driver.state.gpu.failures == 0


def test_a_gpu_broken_from_the_start_backs_off_like_a_slow_one():
    cfg = config(error_backoff_s=600.0, backoff_s=600.0)
    driver = Driver(cfg)
    broken = steady(2000.0, 100.0, per_s=2, gpu_errors=2)
    driver.run(0, 3600, broken)
    promotions = [t for t, d in driver.switches() if d.target == GPU]
    assert 2 <= len(promotions) <= 4  # 600, 1200, 2400 s apart
    gaps = [b - a for a, b in zip(promotions, promotions[1:])]
    assert all(later > earlier for earlier, later in zip(gaps, gaps[1:]))
    assert driver.reasons().count("gpu-failing") == len(promotions)


def test_a_failing_cpu_hands_the_route_to_the_gpu():
    driver = Driver(config())
    decision = driver.run(0, 10, steady(100.0, 100.0, per_s=4, cpu_errors=3), stop=is_switch)
    assert decision is not None and (decision.target, decision.reason, decision.release) == (GPU, "cpu-failing", CPU)
    assert driver.decisions[-1][0] == 1.5
