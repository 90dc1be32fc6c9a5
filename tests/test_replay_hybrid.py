"""Hybrid dispatch in the replay simulator: requests carry their size (``param``), the live dispatch and model
code route them, and the controller's standby rule holds the CPU up next to the GPU."""

from __future__ import annotations

import math
import random
from collections import Counter

from gaia_faas.gateway_plugin import replay, simulator
from gaia_faas.gateway_plugin.traces import Request, Workload


def sized_workload(rate_per_s=12.0, duration_s=300.0, seed=5) -> Workload:
    """Open-loop Poisson arrivals, sizes log-uniform 100..3000; the CPU steep (10 + n/2 ms), the GPU flat at
    400 ms: one GPU replica (4 slots) serves 10 calls/s, below the offered 12."""
    rng = random.Random(seed)
    t, requests = 0.0, []
    while t < duration_s:
        t += rng.expovariate(rate_per_s)
        n = math.exp(rng.uniform(math.log(100), math.log(3000)))
        requests.append(Request(cpu_ms=10 + n / 2, gpu_ms=400.0, send_s=t, param=f"{n:.0f}"))
    return Workload("sized", "sized synthetic", tuple(requests), closed_loop=False,
                    annotations={"com.gaia.slo-ms": "900", "com.gaia.mode": "cpu_preferred"},
                    cold_start_s={"cpu": 1.0, "gpu": 5.0}, warm_start=True)


def test_hybrid_dispatch_splits_by_size_and_beats_whole_function_routing():
    workload = sized_workload()
    results = replay.replay_workload(workload, "pro", strategies=("static-cpu", "static-gpu", "gaia", "hybrid"))
    summary = {name: r.summary() for name, r in results.items()}
    hybrid = results["hybrid"]
    sizes = replay.request_sizes(workload)
    by_send = {round(s.send_s, 9): s for s in hybrid.served}
    late = [(sizes[i], by_send[round(r.send_s, 9)].variant) for i, r in enumerate(workload.requests) if r.send_s > 120]
    small = Counter(v for n, v in late if n < 500)
    big = Counter(v for n, v in late if n > 1500)
    assert small["cpu"] >= 0.9 * sum(small.values()) and big["gpu"] >= 0.9 * sum(big.values()), (small, big)
    worst_other = min(summary[s]["slo_violation_pct"] for s in ("static-cpu", "static-gpu", "gaia"))
    assert summary["hybrid"]["slo_violation_pct"] < worst_other / 2, summary
    assert hybrid.seconds_on("cpu") > 250 and hybrid.seconds_on("gpu") > 200  # both held up


def test_without_sizes_hybrid_is_the_gaia_strategy():
    workload = sized_workload(duration_s=60.0)
    unsized = Workload(workload.name, workload.description,
                       tuple(Request(r.cpu_ms, r.gpu_ms, send_s=r.send_s) for r in workload.requests), False,
                       workload.annotations, workload.cold_start_s, True)
    results = replay.replay_workload(unsized, "pro", strategies=("gaia", "hybrid"))
    assert results["gaia"].summary() == results["hybrid"].summary()


def test_with_pros_autoscaler_hybrid_meets_the_slo_on_fewer_gpu_seconds_than_static_gpu():
    # Capacity-mode autoscaling on both variants (target = each variant's slots), for every strategy: static
    # GPU scales out to the 4.8 calls in flight; hybrid sends the small sizes to the CPU and keeps one GPU.
    labels = {simulator.SCALE_TYPE: "capacity", simulator.SCALE_TARGET: "cpu=8,gpu=4"}
    results = replay.replay_workload(sized_workload(), "pro", strategies=("static-gpu", "hybrid"), overrides=labels)
    gpu, hybrid = results["static-gpu"], results["hybrid"]
    assert any(v == "gpu" for v, _, _ in gpu.added)  # static GPU needed more than one replica
    assert hybrid.summary()["slo_violation_pct"] <= 100.0 - hybrid.slo_percentile
    assert hybrid.seconds_on("gpu") < 0.5 * gpu.seconds_on("gpu")
    assert hybrid.cost < gpu.cost
