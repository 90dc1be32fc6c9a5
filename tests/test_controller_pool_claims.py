"""What the leader tells the GPU pool about each function (`Controller._claim`): the benefit expected over the
horizon, a newcomer's GPU warm-up and a holder's hand-over, from the policy state, without Redis or a platform."""

from __future__ import annotations

from types import SimpleNamespace

from gaia_faas.gateway_plugin import policy, pool
from gaia_faas.gateway_plugin.controller import Controller, _Function
from gaia_faas.gateway_plugin.holdings import Holding
from gaia_faas.gateway_plugin.policy import CPU, GPU
from gaia_faas.gateway_plugin.registry import FunctionSpec, VariantTarget
from gaia_faas.gateway_plugin.routes import RouteState


def controller(routes: dict[str, str]) -> Controller:
    leader = object.__new__(Controller)
    leader.gateway = SimpleNamespace(routes=SimpleNamespace(
        current=lambda name: RouteState(function=name, variant=routes[name])))
    leader._functions = {}
    return leader


def spec(name: str) -> FunctionSpec:
    return FunctionSpec(name, {v: VariantTarget(v, f"http://upstream/{name}-{v}") for v in (CPU, GPU)},
                        {"com.gaia.mode": "cpu_preferred", "com.gaia.slo-ms": "1000"})


def waiting_outcome(name: str):
    return (spec(name), None, policy.Decision(policy.HOLD, pool.WAITING_FOR_GPU), None)


def test_a_newcomer_pays_its_observed_gpu_start_and_a_holder_its_cpu_start():
    """Only a holding had a warm-up before, so a newcomer's claim said 0 s: its model load was not counted
    against it; nor was the holder's way back to its released CPU."""
    leader = controller({"new": CPU, "holder": GPU})
    state = policy.PolicyState(gpu=policy.VariantMemory(start_s=30.0))
    leader._functions["new"] = _Function(state=state, expected=pool.ExpectedBenefit(0.2, 1.0, 100.0))
    claim = leader._claim(spec("new"), waiting_outcome("new"), None)
    assert claim.wants and not claim.holds and claim.warmup_s == 30.0 and claim.benefit_per_s == 0.2
    holding_state = policy.PolicyState(cpu=policy.VariantMemory(start_s=25.0), standby_released=True)
    leader._functions["holder"] = _Function(state=holding_state, expected=pool.ExpectedBenefit(0.05, 1.0, 100.0))
    held = leader._claim(spec("holder"), None, Holding(since=10.0, warmup_s=12.0))
    assert held.holds and held.warmup_s == 12.0 and held.handover_s == 25.0 and held.benefit_per_s == 0.05
    # Its CPU still up (on probation): nothing to wait for.
    leader._functions["holder"].state = policy.PolicyState(cpu=policy.VariantMemory(start_s=25.0))
    assert leader._claim(spec("holder"), None, Holding(since=10.0)).handover_s == 0.0
