"""The latency-by-size model: buckets, fit, the dispatch rule and its crossover, and its Redis round trip."""

from __future__ import annotations

import asyncio
import random

import pytest
import redis.asyncio as aioredis

from gaia_faas.gateway_plugin import size_model
from gaia_faas.gateway_plugin.hybrid import (
    FORGET, HYBRID, KEEP, LEARNING, NOTHING, RELEASE_HELD, WARM_UP, WHOLE, Sizing, plan_mode, standby_action)
from gaia_faas.gateway_plugin.size_model import CPU, GPU, bucket_of, fit, hybrid_worth
from gaia_faas.gateway_plugin.stats import LatencyHistogram, StatsReader, StatsRecorder

EQUAL = {CPU: 1.0, GPU: 1.0}


def histograms(latency, sizes, jitter=0.05, seed=1):
    """{variant: {bucket: histogram}} of calls whose latency is latency[variant](size) +- jitter."""
    rng = random.Random(seed)
    out = {}
    for variant, f in latency.items():
        buckets = out.setdefault(variant, {})
        for size in sizes:
            buckets.setdefault(bucket_of(size), LatencyHistogram()).add(f(size) * (1 + rng.uniform(-jitter, jitter)))
    return out


_RNG = random.Random(7)
SIZES = [_RNG.uniform(50, 4000) for _ in range(3000)]
STEEP_CPU = {CPU: lambda s: 10 + s / 10, GPU: lambda s: 60.0}  # curves cross at 500


def test_buckets_are_quarter_octaves():
    assert bucket_of(0) == bucket_of(0.5) == bucket_of(1) == 0
    assert bucket_of(2) == 4 and bucket_of(1024) == 40 and bucket_of(1200) == 40 and bucket_of(1219) == 41


def test_crossover_without_slo_is_where_cost_per_call_crosses():
    model = fit(histograms(STEEP_CPU, SIZES), slo_ms=None, slo_percentile=95, prices=EQUAL)
    assert model.complete
    assert model.crossover_size() == pytest.approx(500, rel=0.08)
    assert model.choose(size_model.position(100)) == CPU and model.choose(size_model.position(3000)) == GPU
    # A GPU 3x as dear moves the crossover to where the CPU takes 3x as long (10 + s/10 = 180: s = 1700).
    dear = fit(histograms(STEEP_CPU, SIZES), slo_ms=None, slo_percentile=95, prices={CPU: 1.0, GPU: 3.0})
    assert dear.crossover_size() == pytest.approx(1700, rel=0.08)


def test_with_an_slo_the_cpu_serves_every_size_it_meets_the_slo_for():
    latency = {CPU: lambda s: s / 10, GPU: lambda s: 50.0}
    model = fit(histograms(latency, SIZES, jitter=0.0), slo_ms=150, slo_percentile=95, prices={CPU: 1.0, GPU: 3.5})
    # A bucket's p95 is that of its larger sizes: the crossover errs low (to the GPU) by up to half a bucket.
    assert 1500 * 0.88 <= model.crossover_size() <= 1500 * 1.02
    # Neither meets an SLO of 20 ms above 200: the faster one (the GPU above 500).
    tight = fit(histograms(latency, SIZES, jitter=0.0), slo_ms=20, slo_percentile=95, prices={CPU: 1.0, GPU: 3.5})
    assert tight.choose(size_model.position(300)) == CPU and tight.choose(size_model.position(800)) == GPU


def test_work_in_flight_on_a_variant_sends_calls_to_the_other():
    model = fit(histograms(STEEP_CPU, SIZES), slo_ms=300, slo_percentile=95, prices={CPU: 1.0, GPU: 3.5})
    small = size_model.position(200)
    assert model.choose(small) == CPU
    assert model.choose(small, wait_cpu_ms=400.0) == GPU  # 30 ms + 400 ms queued misses 300 ms; the GPU meets it
    assert model.choose(small, wait_cpu_ms=400.0, wait_gpu_ms=400.0) == CPU  # neither meets it: the faster


def test_a_variant_winning_every_size_is_not_worth_hybrid_mode():
    flat = {CPU: lambda s: 20.0, GPU: lambda s: 60.0}
    observed = {bucket_of(s): 1 for s in SIZES}
    assert not hybrid_worth(fit(histograms(flat, SIZES), slo_ms=None, slo_percentile=95, prices=EQUAL), observed)
    assert hybrid_worth(fit(histograms(STEEP_CPU, SIZES), slo_ms=None, slo_percentile=95, prices=EQUAL), observed)
    assert fit(histograms(flat, SIZES), slo_ms=None, slo_percentile=95, prices=EQUAL).crossover_size() is None


def test_plan_modes():
    sizes = [100, 1000, 3000]
    observed = {bucket_of(s): 10 for s in sizes}
    both = fit(histograms(STEEP_CPU, sizes * 5), slo_ms=None, slo_percentile=95, prices=EQUAL)
    only_gpu = fit(histograms({GPU: STEEP_CPU[GPU]}, sizes * 5), slo_ms=None, slo_percentile=95, prices=EQUAL)
    assert plan_mode(both, warm=False, worth=hybrid_worth(both, observed)) == WHOLE
    assert plan_mode(only_gpu, warm=True, worth=hybrid_worth(only_gpu, observed)) == LEARNING
    assert plan_mode(both, warm=True, worth=hybrid_worth(both, observed)) == HYBRID
    assert plan_mode(both, warm=True, worth=False) == WHOLE


def test_hybrid_mode_starts_at_five_percent_and_lasts_down_to_two_and_a_half():
    from gaia_faas.gateway_plugin.controller_config import ControllerConfig
    from gaia_faas.gateway_plugin.hybrid import make_plan
    from gaia_faas.gateway_plugin.size_feature import SizeSource

    config = ControllerConfig(price_cpu=1.0, price_gpu=1.0)
    # 4 % of the calls are big enough for the GPU (the curves cross at 500).
    sizes = [100.0] * 96 * 5 + [3000.0] * 4 * 5
    recorded = histograms(STEEP_CPU, sizes)
    fresh = make_plan(SizeSource("body-bytes"), config, recorded, True, 0.0)
    assert not fresh.worth and fresh.worth_keeping and fresh.mode == WHOLE
    was_on = make_plan(SizeSource("body-bytes"), config, histograms(STEEP_CPU, SIZES), True, 0.0)
    assert was_on.mode == HYBRID
    assert make_plan(SizeSource("body-bytes"), config, recorded, True, 1.0, previous=was_on).mode == HYBRID


def test_the_controller_holds_the_standby_while_hybrid_mode_is_worth_it_or_still_learning():
    from gaia_faas.gateway_plugin.hybrid import DRAIN, DRAIN_S, LEARNING_S, Plan, Standby, make_plan
    from gaia_faas.gateway_plugin.size_feature import SizeSource
    from gaia_faas.gateway_plugin.controller_config import ControllerConfig

    source, config = SizeSource("body-bytes"), ControllerConfig(price_cpu=1.0, price_gpu=1.0)
    split = make_plan(source, config, histograms(STEEP_CPU, SIZES), True, 0.0)
    one_sided = make_plan(source, config, histograms({CPU: lambda s: 20.0, GPU: lambda s: 60.0}, SIZES), True, 0.0)
    gpu_only = make_plan(source, config, histograms({GPU: STEEP_CPU[GPU]}, SIZES), True, 0.0)
    assert split.worth and not one_sided.worth and not gpu_only.model.complete
    assert standby_action(split, GPU, Standby(), False, 0.0) == (KEEP, Standby(CPU, None))
    assert standby_action(split, GPU, Standby(), True, 0.0) == (WARM_UP, Standby(None, None))
    assert standby_action(split, GPU, Standby(CPU), True, 0.0)[0] == KEEP
    # Not worth it any more: the held standby drains for DRAIN_S (the workers stop sending it calls), then goes.
    draining = Standby(None, None, draining=True, draining_since=0.0)
    assert standby_action(one_sided, GPU, Standby(CPU), True, 0.0) == (DRAIN, draining)
    assert standby_action(one_sided, GPU, draining, True, DRAIN_S - 0.1) == (DRAIN, draining)
    assert standby_action(one_sided, GPU, draining, True, DRAIN_S) == (RELEASE_HELD, Standby(None, None, released=True))
    assert standby_action(one_sided, GPU, Standby(), True, 0.0)[0] == NOTHING
    # A new leader finds a drain in Redis without knowing its start: it drains DRAIN_S from then.
    assert standby_action(one_sided, GPU, Standby(draining=True), True, 50.0) == (
        DRAIN, Standby(None, None, draining=True, draining_since=50.0))
    # Worth it again while it drains: it is still up, held again; back on the CPU, the drain's flag goes.
    assert standby_action(split, GPU, draining, True, 1.0) == (KEEP, Standby(CPU, None))
    assert standby_action(split, CPU, draining, True, 1.0) == (FORGET, Standby())
    # A standby it released itself is down, whatever the policy knows: worth it again, it is warmed up.
    state = standby_action(one_sided, GPU, draining, False, DRAIN_S)[1]
    assert standby_action(split, GPU, state, False, 3.0) == (WARM_UP, Standby(None, None, released=True))
    assert standby_action(split, GPU, Standby(CPU, None, released=True), False, 4.0) == (KEEP, Standby(CPU, None))
    # A missing curve is learned for LEARNING_S from the move to the GPU, once per stay there.
    action, state = standby_action(gpu_only, GPU, Standby(), False, 100.0)
    assert (action, state) == (KEEP, Standby(CPU, 100.0 + LEARNING_S))
    assert standby_action(gpu_only, GPU, state, False, 100.0 + LEARNING_S - 1)[0] == KEEP
    end = 100.0 + LEARNING_S
    assert standby_action(gpu_only, GPU, state, False, end) == (DRAIN, Standby(None, end, draining=True, draining_since=end))
    assert standby_action(gpu_only, GPU, Standby(None, end), True, 1e6)[0] == NOTHING
    # The function no longer declares its size (no plan): a held standby drains and goes, nothing else happens.
    assert standby_action(None, GPU, Standby(CPU), True, 0.0) == (DRAIN, draining)
    assert standby_action(None, GPU, draining, True, DRAIN_S)[0] == RELEASE_HELD
    assert standby_action(None, GPU, Standby(), True, 0.0)[0] == NOTHING
    # No sized calls at all (no curve): nothing to learn, nothing held.
    unsized = make_plan(source, config, {CPU: {}, GPU: {}}, True, 0.0)
    assert standby_action(unsized, GPU, Standby(), False, 0.0) == (NOTHING, Standby())
    # Back on the CPU: the held CPU is the route now (only the flag goes); a held GPU is released.
    assert standby_action(split, CPU, Standby(CPU, 5.0), False, 0.0) == (FORGET, Standby())
    assert standby_action(split, CPU, Standby(GPU), False, 0.0) == (RELEASE_HELD, Standby())


def test_sparse_buckets_are_pooled_with_their_neighbours():
    model = fit({CPU: {4: LatencyHistogram.of([5, 5]), 8: LatencyHistogram.of([7]), 12: LatencyHistogram.of([9, 9, 9]),
                       20: LatencyHistogram.of([30])}}, slo_ms=None, slo_percentile=95, prices=EQUAL)
    curve = model.curves[CPU]
    assert curve.centres == pytest.approx(((4.5 * 2 + 8.5) / 3, (12.5 * 3 + 20.5) / 4)) and curve.samples == 7
    assert curve.mean_ms == pytest.approx((17 / 3, 57 / 4), rel=0.03) and not model.complete
    assert fit({GPU: {4: LatencyHistogram.of([5, 5])}}, slo_ms=None, slo_percentile=95, prices=EQUAL).curves == {}


def test_recorded_sizes_round_trip_through_redis_and_two_recorders_merge(redis_url):
    async def scenario():
        client = aioredis.Redis.from_url(redis_url)
        try:
            now = 1_700_000_000.0
            recorders = [StatsRecorder(client, clock=lambda: now) for _ in range(2)]
            for i, size in enumerate(SIZES[:600]):
                for variant, f in STEEP_CPU.items():
                    recorders[i % 2].record_size("mm", variant, bucket_of(size), f(size))
            assert [await r.flush() for r in recorders] == [0, 0]  # no plain records; the sized ones went out
            read = await StatsReader(client).sized("mm", (CPU, GPU), now + 30, window_s=600)
            stale = await StatsReader(client).sized("mm", (CPU, GPU), now + 3600, window_s=600)
            return read, stale
        finally:
            await client.aclose()

    read, stale = asyncio.run(scenario())
    assert sum(h.count for h in read[CPU].values()) == 600 and sum(h.count for h in read[GPU].values()) == 600
    assert stale == {CPU: {}, GPU: {}}
    model = fit(read, slo_ms=None, slo_percentile=95, prices=EQUAL)
    assert model.crossover_size() == pytest.approx(500, rel=0.1)


def test_dispatch_explores_the_other_variant_at_its_rate():
    draws = iter([0.5, 0.01, 0.5, 0.5] * 1000)
    sizing = Sizing(None, None, None, None, static_mode=True, body_idle_s=1.0, explore=0.03, rng=lambda: next(draws))
    model = fit(histograms(STEEP_CPU, SIZES), slo_ms=None, slo_percentile=95, prices=EQUAL)
    from gaia_faas.gateway_plugin.hybrid import Plan
    from gaia_faas.gateway_plugin.size_feature import SizeSource
    sizing.plans["mm"] = Plan(SizeSource("body-bytes"), model, HYBRID, True, 0.0)
    picks = [sizing.dispatch("mm", GPU, 400).variant for _ in range(4)]  # CPU 50 ms, GPU 60: worth exploring
    assert picks == [CPU, GPU, CPU, CPU]
    assert sizing.dispatch("mm", CPU, None).variant == CPU  # no size: the route


def test_a_held_standby_is_not_released_by_the_policy():
    from gaia_faas.gateway_plugin import policy
    from gaia_faas.gateway_plugin.hybrid import keep_standby

    scale_down = policy.Decision(policy.SCALE_DOWN, "gpu-verified", target=CPU)
    kept = keep_standby(scale_down, CPU)
    assert kept.action == policy.HOLD and kept.target is None and "kept for hybrid dispatch" in kept.reason
    promote = policy.Decision(policy.SWITCH, "cpu-violates-slo", target=GPU, release=CPU)
    assert keep_standby(promote, CPU).release is None and keep_standby(promote, CPU).target == GPU
    demote = policy.Decision(policy.SWITCH, "gpu-idle", target=CPU, release=GPU)
    assert keep_standby(demote, CPU) == demote


def test_the_wait_counts_only_calls_beyond_the_free_slots():
    from gaia_faas.gateway_plugin.hybrid import expected_wait_ms

    assert expected_wait_ms(0, 0.0, 8) == 0.0 and expected_wait_ms(7, 700.0, 8) == 0.0
    assert expected_wait_ms(8, 800.0, 8) == pytest.approx(100 / 8)  # all slots busy: the first to finish frees one
    assert expected_wait_ms(12, 1200.0, 4) == pytest.approx(9 * 100 / 4)


def test_calls_in_flight_at_this_worker_steer_new_calls_and_are_released():
    from gaia_faas.gateway_plugin.hybrid import Plan
    from gaia_faas.gateway_plugin.size_feature import SizeSource

    class Answer:
        status, headers = 200, {"X-Gaia-Variant": CPU}

    recorder = StatsRecorder(None)
    sizing = Sizing(None, recorder, None, None, static_mode=True, body_idle_s=1.0, explore=0.0)
    model = fit(histograms(STEEP_CPU, SIZES), slo_ms=200, slo_percentile=95, prices={CPU: 1.0, GPU: 3.5})
    sizing.plans["mm"] = Plan(SizeSource("body-bytes"), model, HYBRID, True, 0.0, True)
    calls = [sizing.dispatch("mm", GPU, 1000) for _ in range(40)]  # 110 ms on the CPU, 60 on the GPU
    picked = [c.variant for c in calls]
    assert picked[:8] == [CPU] * 8 and GPU in picked  # the CPU's 8 slots fill, then waits push calls to the GPU
    for c in calls:
        sizing.end(c, Answer())
    assert sizing.dispatch("mm", GPU, 1000).variant == CPU  # all released: the CPU is free again
    assert len(recorder._sized) == 40


def test_the_wait_counts_the_slots_of_every_ready_replica():
    from gaia_faas.gateway_plugin.hybrid import Plan
    from gaia_faas.gateway_plugin.size_feature import SizeSource

    model = fit(histograms(STEEP_CPU, SIZES), slo_ms=200, slo_percentile=95, prices={CPU: 1.0, GPU: 3.5})

    def picks(replica_slots):
        sizing = Sizing(None, StatsRecorder(None), None, None, static_mode=True, body_idle_s=1.0, explore=0.0)
        sizing.plans["mm"] = Plan(SizeSource("body-bytes"), model, HYBRID, True, 0.0, True)
        sizing.replica_slots.update(replica_slots)
        return [sizing.dispatch("mm", GPU, 1000).variant for _ in range(40)]

    one = picks({})  # one CPU replica's 8 slots: the ninth call waits there, so some go to the GPU
    three = picks({("mm", CPU): 24})  # three CPU replicas: 24 calls before any wait
    assert one[:8] == [CPU] * 8 and GPU in one[8:24]
    assert three[:24] == [CPU] * 24  # where one replica's wait had already sent calls to the GPU


def test_the_standby_pays_when_the_calls_it_takes_save_more_gpu_than_it_costs():
    # GPU 60 ms flat on 4 slots, CPU 10 + s/10 ms on 8; the rule (no SLO, CPU 1, GPU 3.5) sends sizes below
    # about 2,000 to the CPU: each saves about 3.5 x 60/4 - (10 + s/10)/8 ms-price of replica time.
    model = fit(histograms(STEEP_CPU, SIZES), slo_ms=None, slo_percentile=95, prices={CPU: 1.0, GPU: 3.5})
    observed = {}
    for size in SIZES:  # 3,000 calls
        observed[bucket_of(size)] = observed.get(bucket_of(size), 0) + 1
    slots = {CPU: 8, GPU: 4}
    saved_per_s = sum(n * (3.5 * model.curves[GPU].at(b + 0.5)[1] / 4 - model.curves[CPU].at(b + 0.5)[1] / 8)
                      for b, n in observed.items() if model.choose(b + 0.5) == CPU) / 1000.0 / 600.0
    assert 0.1 < saved_per_s < 0.2  # 3,000 calls in 10 minutes
    assert size_model.standby_pays(model, observed, 600.0, slots, standby_price_per_s=0.9 * saved_per_s)
    assert not size_model.standby_pays(model, observed, 600.0, slots, standby_price_per_s=1.1 * saved_per_s)
    assert size_model.standby_pays(model, observed, 600.0, slots, standby_price_per_s=0.0)  # on CE: free
    # With an SLO the GPU misses for sizes the CPU meets, the split pays whatever the standby costs.
    slow_gpu = fit(histograms({CPU: STEEP_CPU[CPU], GPU: lambda s: 300.0}, SIZES), slo_ms=250, slo_percentile=95,
                   prices={CPU: 1.0, GPU: 3.5})
    assert size_model.standby_pays(slow_gpu, observed, 600.0, slots, standby_price_per_s=1e6)


def test_exploring_stays_where_it_costs_little():
    model = fit(histograms(STEEP_CPU, SIZES), slo_ms=None, slo_percentile=95, prices=EQUAL)
    near, far = size_model.position(700), size_model.position(3500)  # CPU 80 vs 60 ms; 360 vs 60 ms
    assert model.worth_exploring(near, CPU) and not model.worth_exploring(far, CPU)
    assert model.worth_exploring(far, GPU)
    with_slo = fit(histograms(STEEP_CPU, SIZES), slo_ms=400, slo_percentile=95, prices=EQUAL)
    assert with_slo.worth_exploring(far, CPU)  # meets the SLO anyway


def test_sizes_far_beyond_what_a_variant_served_go_to_the_one_that_served_them():
    small_cpu = {CPU: {b: h for b, h in histograms(STEEP_CPU, SIZES)[CPU].items() if b <= bucket_of(600)},
                 GPU: histograms(STEEP_CPU, SIZES)[GPU]}
    model = fit(small_cpu, slo_ms=None, slo_percentile=95, prices={CPU: 1.0, GPU: 10.0})  # the CPU much cheaper
    assert model.choose(size_model.position(1100)) == CPU  # within an octave of 600: the cheaper
    assert model.choose(size_model.position(1300)) == GPU  # beyond: only the GPU was seen there


def test_refresh_builds_plans_from_redis_and_reads_a_finished_minute_once(redis_url, tmp_path):
    from gaia_faas.gateway_plugin.registry import Registry, load_static_routes

    routes = tmp_path / "routes.yml"
    routes.write_text("functions:\n  mm:\n    variants: {cpu: 'http://127.0.0.1:1', gpu: 'http://127.0.0.1:2'}\n"
                      "    annotations: {com.gaia.size-from: 'query:n', com.gaia.price-cpu: '1', com.gaia.price-gpu: '1'}\n"
                      "  plain:\n    variants: {cpu: 'http://127.0.0.1:1', gpu: 'http://127.0.0.1:2'}\n")
    registry = Registry(load_static_routes(routes))
    now = 1_700_000_000.0

    async def scenario():
        client = aioredis.Redis.from_url(redis_url)
        try:
            old = StatsRecorder(client, clock=lambda: now - 300)  # five minutes ago: a finished minute
            for size in SIZES[:400]:
                for variant, f in STEEP_CPU.items():
                    old.record_size("mm", variant, bucket_of(size), f(size))
            await old.flush()
            sizing = Sizing(registry, None, StatsReader(client), client, static_mode=True, body_idle_s=1.0)
            await sizing.refresh(now)
            first = sizing.plans["mm"]
            # In OpenFaaS mode the standby's cost is weighed: the CPU's share of 400 calls in about 5 minutes,
            # each saving about 10 ms of replica time at price 1, does not pay for a CPU replica at 1 a second.
            openfaas = Sizing(registry, None, StatsReader(client), client, static_mode=False, body_idle_s=1.0)
            await openfaas.refresh(now)
            # A late write into that finished minute is not read again; the current minute is.
            late = StatsRecorder(client, clock=lambda: now - 300)
            late.record_size("mm", CPU, bucket_of(1000), 5.0)
            await late.flush()
            current = StatsRecorder(client, clock=lambda: now)
            current.record_size("mm", GPU, bucket_of(1000), 60.0)
            await current.flush()
            await sizing.refresh(now + 1)
            return sizing, first, sizing.plans["mm"], openfaas.plans["mm"]
        finally:
            await client.aclose()

    sizing, first, second, weighed = asyncio.run(scenario())
    assert first.standby_pays and weighed.worth and not weighed.standby_pays
    assert set(sizing.sources) == {"mm"} and set(sizing.plans) == {"mm"}  # plain declares no size
    assert first.mode == HYBRID and first.warm and first.model.crossover_size() == pytest.approx(500, rel=0.1)
    assert second.model.curves[CPU].samples == first.model.curves[CPU].samples
    assert second.model.curves[GPU].samples == first.model.curves[GPU].samples + 1
    assert sizing.describe("mm")["size_from"] == "query:n" and sizing.describe("plain") is None


def test_refresh_counts_the_slots_of_the_replicas_the_provider_reported(redis_url, tmp_path):
    from gaia_faas.gateway_plugin.registry import Registry, Replicas, load_static_routes

    routes = tmp_path / "routes.yml"
    routes.write_text("functions:\n  mm:\n    variants: {cpu: 'http://127.0.0.1:1', gpu: 'http://127.0.0.1:2'}\n"
                      "    annotations: {com.gaia.size-from: 'query:n'}\n")
    functions = load_static_routes(routes)
    registry = Registry(functions)

    async def refreshed(replicas):
        if replicas is not None:
            registry.replace(functions, replicas=replicas, asked_at=1_700_000_000.0)
        client = aioredis.Redis.from_url(redis_url)
        try:
            sizing = Sizing(registry, None, StatsReader(client), client, static_mode=False, body_idle_s=1.0)
            await sizing.refresh(1_700_000_000.0)
            return dict(sizing.replica_slots)
        finally:
            await client.aclose()

    assert asyncio.run(refreshed(None)) == {}  # no provider (a routes file): one replica's slots by default
    # Three CPU replicas ready: 3 x 8 slots; the GPU at zero: one replica's, which its first call brings up.
    assert asyncio.run(refreshed({"mm": {CPU: Replicas(3, 3), GPU: Replicas(1, 0)}})) == {("mm", CPU): 24, ("mm", GPU): 4}
    registry.replace({}, replicas={})
    assert asyncio.run(refreshed(None)) == {}  # a function gone takes its slots with it
