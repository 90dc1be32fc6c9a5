"""A GPU holding the route is re-judged all the time: demoted when the CPU is known to meet the SLO at the
current load, when the GPU stops being better, when the function is idle for its own rate, and explored when
what we know of the CPU is stale. Any rate works: verification and release go by requests."""

from __future__ import annotations

from gaia_faas.gateway_plugin.policy import CPU, GPU, SCALE_DOWN, SWITCH
from tests.policy_driver import Driver, config, is_switch, promote, steady


def drifting(low_per_s: int, high_per_s: int, high_from: int, high_to: int):
    """Load steps up and back down; the CPU queues (misses the SLO) only under the high load."""

    def per_second(t: int, route: str):
        high = high_from <= t < high_to
        n = high_per_s if high else low_per_s
        if route == CPU:
            return [3000.0 if high else 300.0] * n, 0
        return [80.0] * n, 0

    return per_second


def test_drift_up_then_down_promotes_then_demotes_keeping_the_gpu_until_the_cpu_proved_itself():
    cfg = config(scale_down_after_s=5.0)
    driver = Driver(cfg)
    load = drifting(low_per_s=1, high_per_s=10, high_from=120, high_to=300)
    up = driver.run(0, 300, load, stop=is_switch)
    assert up is not None and up.reason == "cpu-violates-slo" and driver.decisions[-1][0] < 130
    down = driver.run(int(driver.decisions[-1][0]), 600, load, stop=lambda d: is_switch(d) and d.target == CPU)
    assert down is not None and down.reason == "cpu-meets-slo-at-this-rate"
    assert down.release is None  # the GPU stays up until the CPU has passed its probation
    assert 300 <= driver.decisions[-1][0] <= 320  # within seconds of the load falling (window: 10 s)
    assert down.numbers["request_rate_per_s"] < 2.0
    released = driver.run(int(driver.decisions[-1][0]), 700, load, stop=lambda d: d.action == SCALE_DOWN)
    assert released is not None and released.target == GPU and released.reason == "cpu-verified"
    assert len(driver.switches()) == 2


def test_a_gpu_degrading_below_the_cpu_is_demoted():
    cfg = config(scale_down_after_s=2.0)
    driver = Driver(cfg)
    t = promote(driver, cpu_ms=1500.0)
    driver.run(t + 1, t + 60, steady(1500.0, 200.0))
    assert driver.route == GPU
    decision = driver.run(t + 60, t + 200, steady(1500.0, 2500.0), stop=is_switch)
    assert decision is not None and (decision.target, decision.reason) == (CPU, "gpu-not-better")
    assert driver.decisions[-1][0] <= t + 60 + 6
    assert driver.state.gpu.retry_after is not None  # backs off before trying it again


def test_a_gpu_no_better_than_an_equally_violating_cpu_is_left_for_the_cheaper_cpu():
    cfg = config(scale_down_after_s=2.0)
    driver = Driver(cfg)
    t = promote(driver, cpu_ms=1500.0)
    driver.run(t + 1, t + 30, steady(1500.0, 200.0))
    # Both now miss the SLO on every request: the GPU avoids no violation.
    decision = driver.run(t + 30, t + 100, steady(1500.0, 1400.0), stop=is_switch)
    assert decision is not None and decision.reason == "gpu-not-better"


def sparse(every_s: int, cpu_ms: float = 2000.0, gpu_ms: float = 100.0, until: int | None = None):
    def per_second(t: int, route: str):
        if t % every_s or (until is not None and t >= until):
            return (), 0
        return [cpu_ms if route == CPU else gpu_ms], 0

    return per_second


def test_idle_is_judged_by_the_functions_own_rate():
    cfg = config(idle_demote_s=30.0, idle_gaps=5.0, scale_down_after_s=0.0, min_samples=3, knowledge_ttl_s=86400.0)
    every_50 = Driver(cfg)
    every_50.run(0, 3000, sparse(50))
    # Called every 50 s: promoted (three slow requests), never demoted as idle between its calls.
    assert every_50.reasons()[:1] == ["cpu-violates-slo"] and "gpu-idle" not in every_50.reasons()
    assert every_50.route == GPU
    # It stops: idle after five of its gaps (250 s), not after 50.
    every_50.run(3000, 3400, sparse(50, until=3000))
    idle = [(t, d) for t, d in every_50.switches() if d.reason == "gpu-idle"]
    assert len(idle) == 1 and 2950 + 225 <= idle[0][0] <= 2950 + 265  # 5 x its gap, as estimated (~48 s)
    assert idle[0][1].release == GPU

    busy = Driver(cfg)
    t = promote(busy)
    busy.run(t + 1, t + 60, steady(2000.0, 100.0))
    busy.run(t + 60, t + 120, sparse(1, until=t + 60))
    idle = [(s, d) for s, d in busy.switches() if d.reason == "gpu-idle"]
    assert len(idle) == 1 and idle[0][0] - (t + 60) <= 32  # a request every second: idle after 30 s


def test_one_request_per_ten_minutes_is_promoted_verified_and_released_by_requests():
    cfg = config(min_samples=3, verify_samples=2, scale_down_after_s=5.0)
    driver = Driver(cfg)
    driver.run(0, 6 * 3600, sparse(600))
    reasons = driver.reasons()
    assert reasons[0] == "cpu-violates-slo"
    promoted_at = driver.switches()[0][0]
    assert promoted_at == 1200 + 1.5  # on the third slow call
    releases = [(t, d) for t, d in driver.decisions if d.action == SCALE_DOWN]
    assert releases and releases[0][1].target == CPU and releases[0][1].reason == "gpu-verified"
    assert releases[0][0] <= promoted_at + 2 * 600 + cfg.scale_down_after_s + 2  # verified on its next two calls
    assert driver.route == GPU and "gpu-idle" not in reasons


def test_stale_cpu_knowledge_is_explored_and_a_failed_trial_backs_off():
    cfg = config(knowledge_ttl_s=600.0, explore_backoff_s=300.0, scale_down_after_s=2.0)
    driver = Driver(cfg)
    t = promote(driver)
    always_slow_cpu = steady(2000.0, 100.0)
    trial = driver.run(t + 1, t + 700, always_slow_cpu, stop=lambda d: is_switch(d) and d.target == CPU)
    assert trial is not None and trial.reason == "cpu-knowledge-stale-try-cpu"
    assert driver.decisions[-1][0] >= t + 600
    back = driver.run(int(driver.decisions[-1][0]), t + 720, always_slow_cpu, stop=is_switch)
    assert back is not None and (back.target, back.reason, back.release) == (GPU, "cpu-misses-slo-after-demotion", CPU)
    assert driver.state.cpu.failures == 1
    # The next trials wait for the back-off, doubling: 300 s, then 600 s.
    driver.run(int(driver.decisions[-1][0]), t + 6000, always_slow_cpu)
    trials = [s for s, d in driver.switches() if d.target == CPU]
    returns = [s for s, d in driver.switches() if d.reason == "cpu-misses-slo-after-demotion"]
    assert len(trials) >= 3
    assert trials[1] - returns[0] >= 300 and trials[2] - returns[1] >= 600


def test_gpu_preferred_tries_the_cpu_again_after_a_failed_trial():
    cfg = config(mode="gpu_preferred", cooldown_s=0.0, scale_down_after_s=0.0, explore_backoff_s=300.0,
                 knowledge_ttl_s=900.0)
    driver = Driver(cfg, route=GPU)
    low = sparse(20, cpu_ms=1500.0)
    driver.run(0, 3600, low)
    trials = [t for t, d in driver.switches() if d.target == CPU]
    assert len(trials) >= 2  # not once and never again
    assert driver.reasons()[0] == "low-rate-try-cpu"


def test_gpu_preferred_demotes_when_the_cpu_is_known_to_meet_the_slo_at_this_rate():
    cfg = config(mode="gpu_preferred", cooldown_s=0.0, scale_down_after_s=0.0)
    driver = Driver(cfg, route=CPU)  # start on the CPU to learn it: it meets the SLO at 2 req/s
    driver.run(0, 60, steady(500.0, 100.0, per_s=2))
    driver.route = GPU
    assert driver.run(60, 120, steady(500.0, 100.0, per_s=20), stop=is_switch) is None  # far more load
    down = driver.run(120, 200, steady(500.0, 100.0, per_s=2), stop=is_switch)
    assert down is not None and (down.target, down.reason) == (CPU, "cpu-meets-slo-at-this-rate")


def test_rates_count_only_the_time_observed():
    """One request one second after start is not 0.1 req/s: no low-rate trial of the CPU."""
    cfg = config(mode="gpu_preferred", explore_rate_per_s=0.1)
    driver = Driver(cfg, route=GPU)
    decision = driver.step(0, [100.0])
    assert decision.action != SWITCH and decision.numbers["request_rate_per_s"] >= 0.5
