"""The GPU pool allocator (pool.allocate): properties over random snapshots of many functions, and examples."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gaia_faas.gateway_plugin.pool import (CAPACITY_REDUCED, GPU_POOL_FULL, PREEMPTED, Allocation, Claim,
                                           ExpectedBenefit, PoolConfig, allocate, expected_benefit,
                                           violations_avoided_per_s)

CONFIG = PoolConfig(preempt_ratio=2.0, min_dwell_s=60.0, horizon_s=300.0)
NOW = 10_000.0


@st.composite
def claims(draw, max_functions: int = 12):
    names = draw(st.lists(st.from_regex(r"[a-z][a-z0-9]{0,6}", fullmatch=True), unique=True, max_size=max_functions))
    out = []
    for name in names:
        holds = draw(st.booleans())
        out.append(Claim(
            name=name, wants=draw(st.booleans()), holds=holds,
            held_since=NOW - draw(st.floats(0, 600)) if holds else None,
            reserved=draw(st.booleans()) and draw(st.booleans()),
            terminating=holds and draw(st.booleans()) and draw(st.booleans()),
            benefit_per_s=draw(st.floats(0, 50, allow_nan=False)), warmup_s=draw(st.floats(0, 120))))
    return out


capacities = st.integers(0, 8)


@settings(max_examples=300, deadline=None)
@given(claims(), capacities)
def test_holders_plus_grants_never_exceed_the_capacity(snapshot, capacity):
    allocation = allocate(snapshot, capacity, CONFIG, NOW)
    holders = sum(1 for c in snapshot if c.holds)
    assert len(allocation.granted) <= max(0, capacity - holders)
    if holders <= capacity:
        # Grants never exceed the free slots; every waiting function is granted or told why not.
        assert holders + len(allocation.granted) <= capacity
    else:
        # Over capacity (it shrank): enough holders give theirs up to come back under it.
        giving_up = len(allocation.releasing) + len(allocation.preempted)
        assert holders - giving_up <= capacity
    # A terminating GPU is nobody's: its function, if it wants one, waits like a newcomer.
    wanting = {c.name for c in snapshot if c.wants and (not c.holds or c.terminating)}
    assert set(allocation.granted) | set(allocation.waiting) == wanting
    assert not set(allocation.granted) & set(allocation.waiting)
    terminating = {c.name for c in snapshot if c.terminating}
    assert not terminating & (set(allocation.kept) | {p.name for p in allocation.preempted})


@settings(max_examples=300, deadline=None)
@given(claims(), capacities)
def test_preemption_only_after_the_dwell_time_and_never_of_reserved_holders(snapshot, capacity):
    allocation = allocate(snapshot, capacity, CONFIG, NOW)
    by_name = {c.name: c for c in snapshot}
    for preemption in allocation.preempted:
        holder = by_name[preemption.name]
        assert holder.holds and holder.wants
        if preemption.reason == PREEMPTED:
            assert NOW - holder.held_since >= CONFIG.min_dwell_s
            assert not holder.reserved
            by = by_name[preemption.by]
            assert by.reserved or by.score(CONFIG) >= CONFIG.preempt_ratio * holder.benefit_per_s
        else:
            assert preemption.reason == CAPACITY_REDUCED


def run_pool(snapshot: list[Claim], capacity: int, steps: int, step_s: float) -> list[tuple[float, Allocation]]:
    """Evaluate the pool every ``step_s``, doing what it says: grants scale up, preempted holders and
    releases are done by the next evaluation (the GPU is freed then, never in the same one)."""
    state = {c.name: c for c in snapshot}
    history = []
    now = NOW
    for _ in range(steps):
        allocation = allocate(state.values(), capacity, CONFIG, now)
        history.append((now, allocation))
        for name in allocation.granted:
            state[name] = Claim(**{**state[name].__dict__, "holds": True, "held_since": now})
        for name in [p.name for p in allocation.preempted] + list(allocation.releasing):
            # A preempted function goes back to the CPU and asks again (it still has its benefit).
            state[name] = Claim(**{**state[name].__dict__, "holds": False, "held_since": None,
                                   "wants": state[name].wants})
        now += step_s
    return history


@settings(max_examples=200, deadline=None)
@given(claims(max_functions=8), st.integers(1, 4), st.floats(1, 30))
def test_no_holding_is_preempted_before_its_dwell_over_a_run(snapshot, capacity, step_s):
    granted_at: dict[str, float] = {c.name: c.held_since for c in snapshot if c.holds}
    for now, allocation in run_pool(snapshot, capacity, steps=12, step_s=step_s):
        for preemption in allocation.preempted:
            if preemption.reason == PREEMPTED:
                assert now - granted_at[preemption.name] >= CONFIG.min_dwell_s
        for name in allocation.granted:
            granted_at[name] = now
        holders = {name for name, since in granted_at.items() if since is not None}
        assert len(holders) <= max(capacity, sum(1 for c in snapshot if c.holds))
        for preemption in allocation.preempted:
            granted_at[preemption.name] = None
        for name in allocation.releasing:
            granted_at[name] = None


@settings(max_examples=300, deadline=None)
@given(claims(max_functions=10), st.integers(1, 6), st.floats(0.5, 60))
def test_the_one_function_that_misses_its_slo_with_the_highest_benefit_gets_the_gpu(others, capacity, benefit):
    # Everyone else meets the SLO (no benefit); the pool is not filled by reserved functions alone.
    others = [Claim(**{**c.__dict__, "benefit_per_s": 0.0, "reserved": False}) for c in others if c.name != "needy"]
    needy = Claim("needy", wants=True, benefit_per_s=benefit, warmup_s=10.0)
    history = run_pool(others + [needy], capacity, steps=3, step_s=CONFIG.min_dwell_s)
    granted = [now for now, allocation in history if "needy" in allocation.granted]
    assert granted, [a for _, a in history]
    # At once when a GPU is free; else once the weakest holder's dwell is over it preempts it, and gets the
    # freed GPU at the next evaluation.
    assert granted[0] <= NOW + 2 * CONFIG.min_dwell_s
    if sum(c.holds for c in others) < capacity:
        assert granted[0] == NOW  # a free GPU: at the first evaluation


def test_free_slots_go_to_the_highest_benefit_first_and_the_rest_are_told_who_holds_the_pool():
    snapshot = [Claim("low", wants=True, benefit_per_s=1.0), Claim("high", wants=True, benefit_per_s=9.0),
                Claim("mid", wants=True, benefit_per_s=4.0),
                Claim("holder", wants=True, holds=True, held_since=NOW - 10, benefit_per_s=3.0)]
    allocation = allocate(snapshot, 2, CONFIG, NOW)
    assert allocation.granted == ("high",) and allocation.kept == ("holder",)
    assert [d.name for d in allocation.denied] == ["mid", "low"]
    denial = allocation.denied[0]
    assert denial.reason == GPU_POOL_FULL and denial.numbers["capacity"] == 2
    assert [h["function"] for h in denial.numbers["holders"]] == ["holder", "high"]
    assert denial.numbers["holders"][0] == {"function": "holder", "benefit_per_s": 3.0, "held_s": 10.0,
                                            "reserved": False, "wants": True}
    assert denial.numbers["holders"][1]["granted_now"] is True  # who takes the free GPU, and why
    assert not allocation.preempted  # the holder is within its dwell time


def test_preemption_needs_the_ratio_and_the_freed_gpu_is_granted_only_after_the_release():
    holder = Claim("holder", wants=True, holds=True, held_since=NOW - 120, benefit_per_s=3.0)
    slightly_better = Claim("better", wants=True, benefit_per_s=5.0)
    assert not allocate([holder, slightly_better], 1, CONFIG, NOW).preempted
    much_better = Claim("better", wants=True, benefit_per_s=7.0)
    allocation = allocate([holder, much_better], 1, CONFIG, NOW)
    assert [(p.name, p.reason, p.by) for p in allocation.preempted] == [("holder", PREEMPTED, "better")]
    assert allocation.granted == () and allocation.denied[0].numbers["preempting"] == "holder"
    # Once the holder released it, the GPU is free: granted.
    released = Claim("holder", wants=True, benefit_per_s=0.0)
    assert allocate([released, much_better], 1, CONFIG, NOW + 1).granted == ("better",)


def test_a_preemption_counts_the_holders_hand_over_and_the_release_grace():
    """The preempted GPU frees only once the holder's CPU serves again and its pod is gone: both stretches
    hold the GPU for nobody, so the newcomer's score against that holder pays them, like its warm-up."""
    holder = Claim("holder", wants=True, holds=True, held_since=NOW - 120, benefit_per_s=3.0, handover_s=30.0)
    newcomer = Claim("better", wants=True, benefit_per_s=7.0)  # needs 2 x 3 = 6 per GPU-second
    # 30 s of hand-over: 7 x (1 - 30/300) = 6.3, enough; with a 30 s grace as well, 7 x (1 - 60/300) = 5.6 is not.
    assert allocate([holder, newcomer], 1, PoolConfig(release_grace_s=0.0), NOW).preempted
    assert not allocate([holder, newcomer], 1, PoolConfig(release_grace_s=30.0), NOW).preempted


def test_a_terminating_gpu_is_given_to_nobody_until_its_pod_is_gone():
    """Released, its pod still terminating: it fills its slot, and neither a newcomer nor its own function
    (say, preempted a moment ago and asking again) gets it; once gone, it goes by rank."""
    preempted = Claim("preempted", wants=True, holds=True, held_since=NOW - 200, benefit_per_s=3.0, terminating=True)
    preemptor = Claim("preemptor", wants=True, benefit_per_s=9.0)
    allocation = allocate([preempted, preemptor], 1, CONFIG, NOW)
    assert allocation.granted == () and allocation.kept == () and allocation.preempted == ()
    assert allocation.releasing == ("preempted",)
    denials = {d.name: d for d in allocation.denied}
    assert set(denials) == {"preempted", "preemptor"} and denials["preempted"].numbers["terminating"] is True
    gone = Claim("preempted", wants=True, benefit_per_s=3.0)
    assert allocate([gone, preemptor], 1, CONFIG, NOW + 30).granted == ("preemptor",)


def test_a_function_waiting_for_a_gpu_on_its_way_to_free_preempts_no_second_holder():
    """Once its preemption is under way (the holder handing over, then its pod terminating), the preemptor
    waits for that GPU: preempting another holder at its next evaluation would idle a second GPU for it."""
    weak = Claim("weak", wants=True, holds=True, held_since=NOW - 200, benefit_per_s=1.0)
    other = Claim("other", wants=True, holds=True, held_since=NOW - 200, benefit_per_s=1.5)
    preemptor = Claim("preemptor", wants=True, benefit_per_s=9.0)
    assert [p.name for p in allocate([weak, other, preemptor], 2, CONFIG, NOW).preempted] == ["weak"]
    for handing_over in (replace(weak, wants=False), replace(weak, wants=False, terminating=True)):
        allocation = allocate([handing_over, other, preemptor], 2, CONFIG, NOW + 5)
        assert allocation.preempted == () and allocation.granted == ()
        (denial,) = allocation.denied
        assert denial.name == "preemptor" and denial.numbers["waits_for_release"] is True
    # A second waiter, ranked below the first, may still preempt for itself.
    second = Claim("second", wants=True, benefit_per_s=8.0)
    allocation = allocate([replace(weak, wants=False, terminating=True), other, preemptor, second], 2, CONFIG, NOW + 5)
    assert [(p.name, p.by) for p in allocation.preempted] == [("other", "second")]


def test_warm_up_is_the_switch_cost_of_a_newcomer():
    quick = Claim("quick", wants=True, benefit_per_s=4.0, warmup_s=3.0)
    slow_start = Claim("slow", wants=True, benefit_per_s=4.5, warmup_s=150.0)
    assert quick.score(CONFIG) > slow_start.score(CONFIG)
    assert allocate([quick, slow_start], 1, CONFIG, NOW).granted == ("quick",)
    holding = Claim("slow", wants=True, holds=True, held_since=NOW, benefit_per_s=4.5, warmup_s=150.0)
    assert holding.score(CONFIG) == 4.5  # a holder paid its warm-up already


def test_reserved_functions_are_served_first_and_never_preempted():
    gpu_mode = Claim("gpu-mode", wants=True, reserved=True, benefit_per_s=0.0)
    busy = Claim("busy", wants=True, benefit_per_s=100.0)
    allocation = allocate([gpu_mode, busy], 1, CONFIG, NOW)
    assert allocation.granted == ("gpu-mode",) and allocation.waiting == ("busy",)
    holding = Claim("gpu-mode", wants=True, holds=True, reserved=True, held_since=NOW - 1e6)
    assert not allocate([holding, busy], 1, CONFIG, NOW).preempted
    # A reserved newcomer displaces a preferred-mode holder past its dwell, whatever the benefits.
    preferred = Claim("preferred", wants=True, holds=True, held_since=NOW - 61, benefit_per_s=50.0)
    allocation = allocate([preferred, gpu_mode], 1, CONFIG, NOW)
    assert [p.name for p in allocation.preempted] == ["preferred"]


def test_a_shrunk_capacity_evicts_the_lowest_benefit_holders_reserved_last():
    snapshot = [Claim("a", wants=True, holds=True, held_since=NOW, benefit_per_s=1.0),
                Claim("b", wants=True, holds=True, held_since=NOW, benefit_per_s=5.0),
                Claim("r", wants=True, holds=True, held_since=NOW, reserved=True),
                Claim("going", wants=False, holds=True, held_since=NOW, benefit_per_s=9.0)]
    allocation = allocate(snapshot, 2, CONFIG, NOW)
    assert allocation.releasing == ("going",)
    assert [(p.name, p.reason) for p in allocation.preempted] == [("a", CAPACITY_REDUCED)]
    assert set(allocation.kept) == {"b", "r"}


def test_unlimited_pool_grants_everyone():
    snapshot = [Claim(f"f{i}", wants=True, benefit_per_s=float(i)) for i in range(5)]
    allocation = allocate(snapshot, None, CONFIG, NOW)
    assert len(allocation.granted) == 5 and not allocation.denied
    with pytest.raises(ValueError, match="capacity"):
        allocate(snapshot, -1, CONFIG, NOW)


def test_violations_avoided_and_config_checks():
    assert violations_avoided_per_s(10.0, 0.5, 0.1) == pytest.approx(4.0)
    assert violations_avoided_per_s(10.0, 0.1, 0.5) == 0.0
    assert violations_avoided_per_s(10.0, 0.5, 0.0, violation_cost=2.0) == pytest.approx(10.0)
    for bad in (PoolConfig(preempt_ratio=0.5), PoolConfig(min_dwell_s=-1), PoolConfig(horizon_s=0),
                PoolConfig(release_grace_s=-1)):
        with pytest.raises(ValueError, match="GPU pool"):
            bad.check()


def test_a_bursty_holder_is_worth_its_cycle_not_its_pause():
    """Ranked by the last second's benefit, a function with bursts and pauses is worth nothing at the end of a
    pause, and any newcomer preempts it; ranked by the benefit expected over the horizon (expected_benefit),
    it keeps its GPU against a steady newcomer worth much less than its cycle's average."""
    bursty = steady = ExpectedBenefit()
    now = NOW
    for _ in range(4):  # 60 s bursts avoiding 0.4 weighted violations a second, then 300 s with no request
        for second in range(360):
            bursty = expected_benefit(bursty, 0.4 if second < 60 else 0.0, now, CONFIG.horizon_s)
            steady = expected_benefit(steady, 0.02, now, CONFIG.horizon_s)
            now += 1.0
    cycle = 0.4 * 60 / 360
    assert 0.4 * cycle < bursty.per_s < cycle and steady.per_s == pytest.approx(0.02)
    holder = Claim("bursty", wants=True, holds=True, held_since=now - 600, benefit_per_s=bursty.per_s)
    newcomer = Claim("steady", wants=True, benefit_per_s=steady.per_s, warmup_s=10.0)
    assert not allocate([holder, newcomer], 1, CONFIG, now).preempted
    at_its_pause = Claim(**{**holder.__dict__, "benefit_per_s": 0.0})  # what the last second says
    assert allocate([at_its_pause, newcomer], 1, CONFIG, now).preempted


def test_the_expected_benefit_is_the_mean_of_what_was_observed_and_fades_over_the_horizon():
    first = expected_benefit(ExpectedBenefit(), 0.3, NOW, 300.0)
    assert first.per_s == pytest.approx(0.3)  # one evaluation: its figure, not a fraction of it
    assert expected_benefit(first, 0.1, NOW + 1.0, 300.0).per_s == pytest.approx(0.2, rel=0.01)
    quiet = first
    for second in range(1, 601):
        quiet = expected_benefit(quiet, 0.0 if second > 5 else 0.3, NOW + second, 300.0)
    assert quiet.per_s < 0.3 * 0.05  # quiet for two horizons: its claim is nearly gone
    assert expected_benefit(quiet, 9.0, NOW + 600, 300.0) == quiet  # no time passed: nothing changes


def test_a_holder_whose_cpu_the_policy_knows_nothing_of_at_its_rate_keeps_the_benefit_its_cpu_showed():
    """GenTD26 at 2 GPUs: a model promoted on a few slow CPU requests (its CPU answers one per 90+ s) holds its
    GPU at the rate it was promoted at, but the policy's figure on the GPU takes the CPU's share at that rate's
    band from what it knows there, nothing, so 0: averaged over the horizon, the holder's benefit fell to a
    fifth of a waiting function's and that one preempted it (and then served no request on its GPU). The CPU
    was last seen violating the SLO at this load (the basis), so the GPU's benefit is that; not at a lower band
    (less load: the CPU may meet the SLO), nor where the policy knows the CPU's share (its figure stands)."""
    from gaia_faas.gateway_plugin import policy
    from gaia_faas.gateway_plugin.controller_config import ControllerConfig
    from gaia_faas.gateway_plugin.pool import gpu_benefit

    config = ControllerConfig(slo_ms=90_000.0)
    rate = 0.016  # requests a second, at promotion and on the GPU
    on_gpu = policy.Snapshot(route=policy.GPU, variants=frozenset(policy.VARIANTS))
    unknown = policy.economics(policy.PolicyState(), config, rate, NOW)
    assert unknown["benefit_per_s"] == 0.0 and unknown["cpu_bad_share_known"] is False
    holding = policy.Decision(policy.HOLD, "gpu-keeps-serving", numbers=unknown)
    expected = rate * (1.0 - config.allowed_share) * config.violation_cost
    assert gpu_benefit(on_gpu, holding, 1.0, config, basis_rate_per_s=rate) == pytest.approx(expected, rel=1e-3)
    assert gpu_benefit(on_gpu, holding, 1.0, config, basis_rate_per_s=4 * rate) == 0.0  # seen under more load
    assert gpu_benefit(on_gpu, holding, 1.0, config, None) == 0.0  # a new leader's basis, without its rate: the policy's
    known_band = policy.Band(band=policy.band_of(rate), n=40.0, bad=4.0, seen_at=NOW)
    known_state = policy.PolicyState(cpu=policy.VariantMemory(bands=(known_band,)))
    known = policy.Decision(policy.HOLD, "gpu-keeps-serving",
                            numbers=policy.economics(known_state, config, rate, NOW))
    assert known.numbers["cpu_bad_share_known"] is True
    assert gpu_benefit(on_gpu, known, 1.0, config, basis_rate_per_s=rate) == known.numbers["benefit_per_s"]
    # Against a waiting function worth a little more than half of it, the holder keeps its GPU; worth 0, it is
    # preempted.
    waiting = Claim("waiting", wants=True, benefit_per_s=0.6 * expected, warmup_s=20.0)
    holder = Claim("holder", wants=True, holds=True, held_since=NOW - 600,
                   benefit_per_s=gpu_benefit(on_gpu, holding, 1.0, config, basis_rate_per_s=rate))
    assert not allocate([holder, waiting], 1, CONFIG, NOW).preempted
    assert allocate([replace(holder, benefit_per_s=0.0), waiting], 1, CONFIG, NOW).preempted
