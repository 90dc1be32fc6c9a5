"""benchmarks/size_routing.py's split ceiling: the fixed splits it tries, and what they cost in the replay
simulator on a workload where splitting pays and on one where it cannot."""

from __future__ import annotations

import importlib.util
import math
import random
import sys
from pathlib import Path

from gaia_faas.gateway_plugin import replay, simulator
from gaia_faas.gateway_plugin.traces import Request, Workload

_PATH = Path(__file__).resolve().parent.parent / "benchmarks" / "size_routing.py"
_spec = importlib.util.spec_from_file_location("size_routing_benchmark", _PATH)
size_routing = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = size_routing
_spec.loader.exec_module(size_routing)

PRICES = {"cpu": 0.000038, "gpu": 0.000133}


def workload(requests, slo_ms=1000) -> Workload:
    return Workload("w", "hand-made", tuple(requests), closed_loop=False,
                    annotations={"com.gaia.slo-ms": str(slo_ms), "com.gaia.mode": "cpu_preferred"},
                    cold_start_s={"cpu": 1.0, "gpu": 5.0}, warm_start=True)


def test_true_times_splits_send_the_cpu_what_it_meets_the_slo_for_within_the_ratio():
    requests = [Request(cpu_ms=100, gpu_ms=50, send_s=0, param="10"),
                Request(cpu_ms=900, gpu_ms=100, send_s=1, param="20"),
                Request(cpu_ms=3000, gpu_ms=1000, send_s=2, param="30"),
                Request(cpu_ms=500, gpu_ms=400, send_s=3)]
    splits = size_routing.ceiling_splits(workload(requests), slo_ms=1000)
    assert splits["true-times"]["r<=2"] == [True, False, False, True]
    assert splits["true-times"]["r<=10"] == [True, True, False, True]
    assert splits["true-times"]["r<=inf"] == [True, True, False, True]
    # Thresholds at the sizes' steps; a request without a size never goes to the CPU.
    assert splits["size"] == {"size<=10": [True, False, False, False], "size<=20": [True, True, False, False],
                              "size<=30": [True, True, True, False]}


def sized(rate_per_s, cpu_ms, gpu_ms, duration_s=300.0, seed=3) -> Workload:
    rng = random.Random(seed)
    t, requests = 0.0, []
    while t < duration_s:
        t += rng.expovariate(rate_per_s)
        n = math.exp(rng.uniform(math.log(100), math.log(3000)))
        requests.append(Request(cpu_ms=cpu_ms(n), gpu_ms=gpu_ms(n), send_s=t, param=f"{n:.0f}"))
    return workload(requests, slo_ms=900)


def ceiling(w: Workload) -> tuple[dict, dict]:
    labels = {simulator.SCALE_TYPE: "capacity", simulator.SCALE_TARGET: "cpu=8,gpu=4"}
    platform = replay.scaled_platform(simulator.platform(simulator.PRO), w, labels)
    static_gpu = replay.replay_workload(w, simulator.PRO, strategies=("static-gpu",), overrides=labels)["static-gpu"]
    return size_routing.split_ceiling(w, platform, PRICES, static_gpu.summary()), static_gpu.summary()


def test_the_ceiling_finds_the_split_where_small_calls_are_most_of_the_gpus_work():
    # The CPU steep (10 + n/2 ms), the GPU flat at 400 ms: the small sizes cost the GPU as much as the big ones.
    found, static_gpu = ceiling(sized(12.0, lambda n: 10 + n / 2, lambda n: 400.0))
    for family in ("true-times", "size"):
        best = found[family]
        assert best["saving"] > 0.3, found
        assert 0.2 < best["cpu_share"] < 0.9, found
        assert best["slo_violation_pct"] <= max(5.0, static_gpu["slo_violation_pct"] + size_routing.CEILING_SLACK_PCT)
    assert found["size"]["cost"] >= found["true-times"]["cost"] * 0.95  # the size knows no more than the times


def test_the_ceiling_is_no_saving_where_the_cpu_misses_the_slo_for_every_size():
    found, static_gpu = ceiling(sized(4.0, lambda n: 1000 + n, lambda n: 100.0))
    best = found["true-times"]
    assert best["cpu_share"] == 0.0 and best["saving"] == 0.0 and best["cost"] == static_gpu["cost"], found
    assert found["size"] is None or found["size"]["saving"] < 0, found  # every size split breaks the SLO or costs more
