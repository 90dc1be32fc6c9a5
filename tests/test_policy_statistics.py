"""Statistics with confidence: the policy decides on the SLO's own terms (the share of requests over the
objective, failures included) with enough samples, not on a thin percentile or on medians."""

from __future__ import annotations

import pytest

from gaia_faas.gateway_plugin import policy
from gaia_faas.gateway_plugin.policy import CPU, GPU
from tests.policy_driver import Driver, config, is_switch


def one_slow_in(every: int, per_s: int = 2, slow_ms: float = 1500.0, fast_ms: float = 600.0):
    """A CPU whose share of slow requests is exactly 1/every, spread evenly; the GPU is always fast."""

    def per_second(t: int, route: str):
        if route == GPU:
            return [100.0] * per_s, 0
        latencies = [slow_ms if (t * per_s + i) % every == 0 else fast_ms for i in range(per_s)]
        return latencies, 0

    return per_second


def test_a_cpu_hovering_just_within_its_allowance_is_never_promoted():
    driver = Driver(config())
    # 4% of the requests are slow: a p95 of 20 samples would often be "slow", the SLO is met.
    assert driver.run(0, 3600, one_slow_in(25), stop=is_switch) is None


def test_a_cpu_a_little_over_its_allowance_is_promoted_once_enough_requests_show_it():
    driver = Driver(config())
    decision = driver.run(0, 3600, one_slow_in(8), stop=is_switch)  # 12.5% slow: the p95 is missed
    assert decision is not None and decision.reason == "cpu-violates-slo"
    promoted_at = driver.decisions[-1][0]
    assert promoted_at >= 50  # not on a thin sample: at least 100 requests (five times what a p95 needs)
    assert decision.numbers["cpu_bad_share_now"] == pytest.approx(0.125, abs=0.03)


def test_a_gpu_that_fixes_a_bimodal_tail_is_kept_although_its_median_is_no_better():
    cfg = config(scale_down_after_s=5.0)
    driver = Driver(cfg)

    def bimodal(t: int, route: str):
        if route == CPU:  # a fifth of the requests are large and miss the SLO on the CPU
            return [3000.0 if i == 0 else 300.0 for i in range(5)], 0
        return [2 * 300.0 if i == 0 else 300.0 for i in range(5)], 0

    driver.run(0, 300, bimodal)
    assert driver.reasons() == ["cpu-violates-slo"] and driver.route == GPU
    assert any(d.reason == "gpu-verified" for _, d in driver.decisions)


def test_errors_count_as_violations_of_the_slo():
    cfg = config(error_rate=0.5, error_min=100)  # not failing, but every failure is a violation
    driver = Driver(cfg)
    decision = driver.run(0, 60, lambda t, route: ([100.0], 1), stop=is_switch)
    assert decision is not None and decision.reason == "cpu-violates-slo"


def test_wilson_bounds():
    low, high = policy.wilson(0, 20)
    assert low == 0.0 and 0.1 < high < 0.15
    low, high = policy.wilson(3, 3)
    assert low > 0.4 and high == 1.0
    assert policy.wilson(0, 0) == (0.0, 1.0)
    assert policy.enough_samples(config(slo_percentile=95.0)) == 20
    assert policy.enough_samples(config(slo_percentile=99.0)) == 100
