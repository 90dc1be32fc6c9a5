"""The OpenFaaS Pro autoscaler in the replay's simulator: the capacity and rps rules at the scaler's period,
the bounds, scale-down (at once, or held by com.openfaas.scale.down.window), billing of added replicas, and
Pro's defaults leaving low loads as they were (virtual time: milliseconds each)."""

from __future__ import annotations

import pytest

from gaia_faas.gateway_plugin import policy, replay, simulator, traces
from gaia_faas.gateway_plugin.controller_config import ConfigError

CPU, GPU = policy.CPU, policy.GPU
CAPACITY_4 = {simulator.SCALE_TYPE: "capacity", simulator.SCALE_TARGET: "4", simulator.SCALE_PROPORTION: "1.0"}


def workload(sends, service_ms) -> traces.Workload:
    requests = tuple(traces.Request(cpu_ms=ms, gpu_ms=ms, send_s=s) for s, ms in zip(sends, service_ms))
    return traces.Workload("w", "test", requests, closed_loop=False, annotations={"com.gaia.slo-ms": "1000"},
                           cold_start_s={CPU: 2.0, GPU: 2.0}, warm_start=True)


def run_on_cpu(load, labels, concurrency=4):
    model = simulator.with_scale_labels(simulator.platform(simulator.PRO, concurrency={CPU: concurrency}), labels)
    sim = simulator.Simulation(load, "test", CPU, model, frozenset({CPU}), {CPU: 1.0, GPU: 10.0}, 1000.0)
    return sim.run(None, 1.0, 1.0)


def ten_long_calls_then_one(last_at=120.0):
    """Ten 30 s calls at t=1 on one 4-slot replica (4 served, 6 queued: 10 in flight), one short call later."""
    return workload([1.0] * 10 + [last_at], [30_000.0] * 10 + [100.0])


def test_capacity_mode_scales_out_at_the_scalers_turn_and_back_once_the_window_forgets_the_peak():
    result = run_on_cpu(ten_long_calls_then_one(), CAPACITY_4)
    # 15 s: the 45 s max of in flight is 10 -> ceil(10 / 4) = 3 replicas; they answer after the 2 s cold start
    # and take the 6 queued calls. 75 s: the window (30, 75] holds 6 at most -> 2; 90 s: nothing -> 1.
    assert sorted(result.added) == [(CPU, 15.0, 75.0), (CPU, 15.0, 90.0)]
    latencies = sorted(round(s.latency_ms) for s in result.served)
    assert latencies == [100] + [30_000] * 4 + [46_000] * 6  # 16 s waited (to 17 s), then 30 s of service
    # Base replica for the whole run, each added one from its scale-up (cold start included) to its removal.
    assert result.seconds_on(CPU) == pytest.approx(120.1 + 60.0 + 75.0)


def test_the_maximum_bounds_the_scale_out():
    result = run_on_cpu(ten_long_calls_then_one(), {**CAPACITY_4, simulator.SCALE_MAX: "2"})
    assert result.added == [(CPU, 15.0, 90.0)]  # 3 wanted, 2 allowed; at 75 s 2 wanted: nothing changes


def test_a_down_window_scales_down_only_to_its_highest_recommendation():
    result = run_on_cpu(ten_long_calls_then_one(last_at=200.0), {**CAPACITY_4, simulator.SCALE_DOWN_WINDOW: "1m"})
    # Recommendations 3 (15..60 s), 2 (75 s), 1 (90 s on): 3 is in the window until 120 s, 2 until 135 s.
    assert sorted(result.added) == [(CPU, 15.0, 135.0), (CPU, 15.0, 150.0)]


def test_rps_mode_counts_the_answers_of_the_last_30_s():
    # 10 calls/s of 100 ms for 60 s (8 slots: no queue), one more at 100 s; target 2 x 0.9 per replica.
    sends = [i / 10 + 0.05 for i in range(600)] + [100.0]
    result = run_on_cpu(workload(sends, [100.0] * 601), {simulator.SCALE_TARGET: "2"}, concurrency=8)
    # 15 s: 149 answers / 30 s -> ceil 5 -> ceil(5 / 1.8) = 3; 30 s: 299 -> 10 -> 6; 75 s: 151 -> 6 -> 4 (two
    # of the newest go); 90 s: none -> 1.
    assert sorted(result.added) == [(CPU, 15.0, 90.0)] * 2 + [(CPU, 30.0, 75.0)] * 2 + [(CPU, 30.0, 90.0)]
    assert result.summary()["p95_ms"] == pytest.approx(100.0)


def test_pros_defaults_leave_a_load_below_45_answers_per_second_per_replica_as_it_was():
    sends = [i / 12 for i in range(12 * 120)]  # 12 req/s of 500 ms on 8 slots: it queues, far below 45 rps
    load = workload(sends, [500.0] * len(sends))
    default = run_on_cpu(load, {}, concurrency=8)
    fixed = run_on_cpu(load, {simulator.SCALE_MAX: "1"}, concurrency=8)  # min = max: no horizontal scaling
    assert default.added == [] and default.summary() == fixed.summary()


def test_scale_labels_per_variant_and_their_errors():
    settings = simulator.pro_autoscaling({simulator.SCALE_TYPE: "capacity", simulator.SCALE_TARGET: "cpu=8,gpu=4",
                                          simulator.SCALE_DOWN_WINDOW: "2m30s"}, replicas=2)
    assert (settings[CPU].target, settings[GPU].target) == (8.0, 4.0)
    assert settings[GPU] == simulator.ProAutoscaling("capacity", 4.0, 0.9, 2, 20, 150.0)
    assert simulator.pro_autoscaling({}, replicas=25)[CPU].max_replicas == 25  # --replicas above the default max
    for labels, message in (({simulator.SCALE_TYPE: "cpu"}, "not modelled"),
                            ({simulator.SCALE_TARGET: "gpu=x"}, "expects a number"),
                            ({simulator.SCALE_MIN: "3", simulator.SCALE_MAX: "2"}, "at most"),
                            ({simulator.SCALE_DOWN_WINDOW: "10m"}, "between 0s and 5m"),
                            ({simulator.SCALE_TARGET: "tpu=4"}, "cpu=VALUE,gpu=VALUE")):
        with pytest.raises(ValueError, match=message):
            simulator.pro_autoscaling(labels)
    # ce and knative, as modelled, read none of these labels
    assert simulator.with_scale_labels(simulator.platform(simulator.CE), CAPACITY_4).autoscaling == {}


def test_replay_takes_the_labels_from_the_workload_and_set_overrides(tmp_path):
    load = ten_long_calls_then_one()
    labelled = traces.Workload(load.name, load.description, load.requests, False,
                               {**load.annotations, **CAPACITY_4}, load.cold_start_s, True)
    results = replay.replay_workload(labelled, simulator.platform(simulator.PRO, concurrency={CPU: 4}),
                                     strategies=("static-cpu",))
    assert sorted(results["static-cpu"].added) == [(CPU, 15.0, 75.0), (CPU, 15.0, 90.0)]
    overridden = replay.replay_workload(labelled, simulator.platform(simulator.PRO, concurrency={CPU: 4}),
                                        strategies=("static-cpu",), overrides={simulator.SCALE_MAX: "1"})
    assert overridden["static-cpu"].added == []
    with pytest.raises(ConfigError, match="unknown setting"):
        replay.replay_workload(labelled, "pro", strategies=("static-cpu",), overrides={"com.openfaas.scale.zoom": "1"})
