"""benchmarks/gpu_pool.py's verdict at one pool size, judged on hand-made figures (pure)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parent.parent / "benchmarks" / "gpu_pool.py"
_spec = importlib.util.spec_from_file_location("gpu_pool_benchmark", _PATH)
gpu_pool = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = gpu_pool
_spec.loader.exec_module(gpu_pool)

PREMIUM = 0.000133 - 0.000038


def runs(pool, fcfs, prototype, cpu=(60.0, 1.0, 0.0), busiest=(65.0, 1.5, 4000.0)):
    """{strategy: figures} from (attainment %, cost, GPU-seconds) per strategy."""
    named = {"pool": pool, "fcfs": fcfs, "prototype-fcfs": prototype, "static-cpu": cpu, "static-gpu-busiest": busiest}
    return {name: {"slo_attainment_pct": a, "cost": c, "gpu_seconds": g, "capacity_exceeded": 0}
            for name, (a, c, g) in named.items()}


def test_a_prototype_that_costs_what_static_cpu_costs_leaves_the_pool_no_gpu_second():
    # GenTD26's shape: the prototype never promotes; the pool and fcfs pay the GPU's premium for their GPU time.
    verdict = gpu_pool.verdict_of(runs(pool=(16.4, 1.0 + PREMIUM * 3489 + 0.02, 3489.0),
                                       fcfs=(20.8, 1.0 + PREMIUM * 3513 + 0.01, 3513.0),
                                       prototype=(0.7, 1.0, 0.0)), PREMIUM)
    assert verdict["gpu_seconds_at_prototype_cost"] == 0.0
    assert verdict["attainment_above_prototype"] and not verdict["cost_at_most_prototype"]
    assert not verdict["attainment_above_fcfs"] and not verdict["cost_at_most_fcfs"]


def test_the_gpu_seconds_at_the_prototypes_cost_are_its_spend_over_static_cpu_at_the_premium():
    verdict = gpu_pool.verdict_of(runs(pool=(75.0, 2.0, 9000.0), fcfs=(70.0, 2.1, 9500.0),
                                       prototype=(72.0, 1.0 + PREMIUM * 7000, 7000.0)), PREMIUM)
    assert verdict["gpu_seconds_at_prototype_cost"] == pytest.approx(7000.0, abs=0.1)
    assert verdict["attainment_above_fcfs"] and verdict["cost_at_most_fcfs"] and not verdict["cost_at_most_prototype"]
