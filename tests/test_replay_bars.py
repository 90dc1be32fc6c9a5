"""The Bars of issues 5 and 9, asserted on replays of the thesis traces and synthetic noise (virtual time: fast)."""

from __future__ import annotations

import os

import pytest

from gaia_faas.gateway_plugin import policy, replay, simulator, traces
from gaia_faas.gateway_plugin.controller_config import ControllerConfig

TRACES = traces.default_traces_dir()
# A checkout without ../shared/traces skips these; CI (CI=true) always has them, so there they must run.
needs_traces = pytest.mark.skipif(
    not TRACES.is_dir() and not os.environ.get("CI"), reason=f"thesis traces not found at {TRACES}"
)


def run(name: str, strategy: str, workload: traces.Workload | None = None) -> replay.Result:
    workload = workload or traces.load_workload(name)
    return replay.replay(workload, strategy, replay.workload_config(workload, {}))


def all_strategies(name: str) -> dict[str, replay.Result]:
    workload = traces.load_workload(name)
    return {s: run(name, s, workload) for s in replay.STRATEGIES}


@needs_traces
def test_matmul_switches_within_10s_and_misses_little_more_than_static_gpu():
    """Issue 9: the objective is the SLO's violations, then cost. Past the sizes where the GPU too misses the
    SLO on every request, the policy leaves it (same violations, cheaper per second); the thesis run is one
    sequential client, so the GPU would also have shortened the run (not modelled by the policy)."""
    results = all_strategies("matmul-increment")
    ours, gpu = results["gaia"].summary(), results["static-gpu"].summary()
    assert ours["first_switch_delay_s"] is not None and ours["first_switch_delay_s"] <= 10.0
    assert ours["slo_violation_pct"] <= gpu["slo_violation_pct"] + 6.0  # the promotion's few slow requests
    assert 1 <= ours["switches"] <= 2
    # The prototype evaluates every 30 s: it cannot be as quick.
    assert results["prototype"].summary()["first_switch_delay_s"] > ours["first_switch_delay_s"]


@needs_traces
def test_idle_wait_gpu_attempts_are_short_rare_and_cheap():
    results = all_strategies("idle-wait")
    ours = results["gaia"]
    attempts = ours.attempts(policy.GPU)
    assert attempts and max(attempts) <= 15.0
    assert ours.cost <= 1.10 * results["static-cpu"].cost
    assert ours.route_at_end() == policy.CPU
    prototype = results["prototype"]
    assert max(prototype.attempts(policy.GPU)) > 100.0  # the prototype's 2-minute stretches, for contrast


@needs_traces
def test_idle_wait_for_an_hour_tries_the_gpu_at_most_three_times():
    ours = run("idle-wait-1h", "gaia")
    end = max(s.done_s for s in ours.served)
    assert end >= 3600.0
    starts = [start for variant, start, _ in ours.provisioned if variant == policy.GPU]
    for start in starts:
        assert sum(1 for s in starts if start <= s < start + 3600.0) <= 3
    assert 1 <= len(starts) and max(ours.attempts(policy.GPU)) <= 15.0


@needs_traces
def test_image_classification_never_promotes():
    for strategy in ("gaia", "prototype"):
        assert run("image-classification", strategy).switches == []


@needs_traces
@pytest.mark.parametrize("name", ["llm-simple", "llm-simple-long"])
def test_llm_promotes_and_stays_promoted(name):
    ours = run(name, "gaia")
    assert [(frm, to) for _, frm, to, _ in ours.switches] == [(policy.CPU, policy.GPU)]
    switched_at = ours.switches[0][0]
    after = [s for s in ours.served if s.send_s >= switched_at]
    assert after and all(s.variant == policy.GPU for s in after)


@needs_traces
def test_llm_complex_misses_the_slo_on_both_and_tries_the_gpu_rarely():
    """CPU ~16 s, GPU ~2 s against a 1 s SLO: the GPU avoids no violation, so it is tried and left, at most
    three times an hour (issue 9: violations, then cost; before, it stayed on the GPU)."""
    ours = run("llm-complex", "gaia")
    promotions = [t for t, frm, to, _ in ours.switches if to == policy.GPU]
    assert promotions and all(reason in ("cpu-violates-slo", "gpu-does-not-help") for *_, reason in ours.switches)
    for t in promotions:
        assert sum(1 for u in promotions if t <= u < t + 3600.0) <= 3
    assert ours.summary()["slo_violation_pct"] <= run("llm-complex", "static-cpu").summary()["slo_violation_pct"]


@pytest.mark.parametrize("seed", [11, 12, 13])
@pytest.mark.parametrize("gpu_factor", [0.75, 0.85, 0.95])
def test_noisy_traces_stay_within_the_switch_bound(seed, gpu_factor):
    workload = traces.synthetic_noise(gpu_factor, f"noise-{gpu_factor}-{seed}", seed=seed)
    config = ControllerConfig.from_annotations(workload.annotations)
    result = replay.replay(workload, "gaia", config)
    times = [t for t, *_ in result.switches]
    for t in times:
        assert sum(1 for u in times if t <= u < t + 3600.0) <= config.max_switches_per_hour


def test_clients_never_pay_the_gpu_cold_start():
    workload = traces.synthetic_step()  # the GPU takes 8 s to start
    # Slots enough that nothing queues: every latency is then the service time alone.
    roomy = simulator.platform(simulator.PRO, concurrency={"cpu": 1000, "gpu": 1000})
    result = replay.replay(workload, "gaia", replay.workload_config(workload, {}), roomy)
    assert result.switches
    for served, request in zip(sorted(result.served, key=lambda s: s.send_s), workload.requests):
        expected = request.cpu_ms if served.variant == policy.CPU else request.gpu_ms
        assert served.latency_ms == pytest.approx(expected)


def test_cost_counts_provisioned_time_times_price():
    workload = traces.synthetic_ramp()
    config = replay.workload_config(workload, {})
    static = replay.replay(workload, "static-cpu", config)
    end = max(s.done_s for s in static.served)
    assert static.provisioned == [(policy.CPU, 0.0, end)]
    assert static.cost == pytest.approx(end * config.price_cpu)
    ours = replay.replay(workload, "gaia", config)
    assert ours.cost == pytest.approx(ours.seconds_on(policy.CPU) * config.price_cpu
                                      + ours.seconds_on(policy.GPU) * config.price_gpu)
    # The GPU is paid from the scale-up request, before the switch it made possible.
    gpu_start = min(start for variant, start, _ in ours.provisioned if variant == policy.GPU)
    assert gpu_start < ours.switches[0][0]


def test_first_switch_delay_counts_from_the_first_request_of_the_sustained_violation():
    result = simulator.Result("w", "s", 1000.0, 95.0, simulator.PRO, prices={})
    latencies = [100, 1500, 100, 1500, 1500, 1500, 1500]
    result.served = [simulator.Served(float(i), float(i) + l / 1000, policy.CPU, float(l)) for i, l in enumerate(latencies)]
    result.switches = [(9.5, policy.CPU, policy.GPU, "x")]
    assert result.first_switch_delay_s() == 6.5  # the run of three starts with the request sent at 3 s
    result.switches = []
    assert result.first_switch_delay_s() is None
