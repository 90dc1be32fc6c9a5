"""The controller loop in one process: the real plugin app (aiohttp test server), a real Redis, real
upstreams on loopback. Covers what the two-process live test does not: warm-up failure, pins, the
decisions API's input checks, and the stats -> policy window conversion."""

from __future__ import annotations

import asyncio
import json
import math
import time

import aiohttp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
import redis.asyncio as aioredis
from aiohttp import web
from aiohttp.test_utils import TestServer

from gaia_faas.gateway_plugin import policy
from gaia_faas.gateway_plugin.app import STATE, GatewayConfig, create_app
from gaia_faas.gateway_plugin.controller import (ESTIMATES_PERSIST_S, ControllerOptions, api_routes, controller_task,
                                                 estimates_phase_s, state_from_json, state_to_json, worth_storing)
from gaia_faas.gateway_plugin.controller_config import ControllerConfig
from gaia_faas.gateway_plugin.snapshot import (BucketSeries, _summary_of, build_snapshot, readable_end_s,
                                               variant_window)
from gaia_faas.gateway_plugin.stats import BucketAggregate, LatencyHistogram, bin_value
from gaia_faas.processes import free_port


def run(coro):
    return asyncio.run(coro)


def test_variant_window_from_recorded_stats():
    config = ControllerConfig(slo_ms=200.0)
    latencies = [50.0] * 90 + [400.0] * 10
    window = variant_window(BucketAggregate(histogram=LatencyHistogram.of(latencies)), 10.0, config)
    exact = policy.VariantWindow.of(latencies, 10.0, config)
    assert window.count == exact.count == 100 and window.slow == exact.slow == 10
    assert window.latency_ms == pytest.approx(exact.latency_ms, rel=0.02)
    assert window.median_ms == pytest.approx(exact.median_ms, rel=0.02)
    assert window.rate_per_s == exact.rate_per_s == 10.0
    assert variant_window(BucketAggregate(), 1.0, config) == policy.VariantWindow(span_s=1.0)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.integers(-400, 600), st.integers(1, 50), min_size=1, max_size=30),
       st.one_of(st.floats(0.01, 1e6), st.integers(-400, 600).map(bin_value)), st.sampled_from([50.0, 95.0, 99.0]))
def test_window_of_bins_counts_the_requests_over_the_slo_and_its_quantiles(bins, slo_ms, percentile):
    """`_summary` finds the slow bins by index (from the first bin over the SLO): the same requests as
    comparing each bin's value with the SLO, an SLO that is exactly a bin's value included."""
    config = ControllerConfig(slo_ms=slo_ms, slo_percentile=percentile)
    count = sum(bins.values())
    window = variant_window(BucketAggregate(histogram=LatencyHistogram(dict(bins), count)), 10.0, config)
    assert window.slow == sum(n for index, n in bins.items() if bin_value(index) > slo_ms)
    histogram = LatencyHistogram(dict(bins), count)
    assert window.latency_ms == histogram.quantile(percentile / 100.0)
    assert window.median_ms == histogram.quantile(0.5)


def test_snapshot_reads_only_readable_seconds_and_counts_fresh_requests_once():
    config = ControllerConfig(slo_ms=200.0, window_s=10.0)
    cpu = BucketSeries()
    for second in range(100, 110):
        cpu.record(second, 300.0, 200)
    cpu.record(110, 900.0, 500)  # the second still filling: not readable at now=110.2
    state = policy.PolicyState()
    now = 110.2
    end_s = readable_end_s(now)
    assert end_s == 109  # 110.2 - 0.3 lag: second 109 may still miss a replica's flush
    taken = build_snapshot(route="cpu", variants=frozenset({"cpu", "gpu"}), pinned=False, series={"cpu": cpu},
                           state=state, config=config, now=now, end_s=end_s, fresh_from_s=None)
    assert taken.window("cpu").count == 9 and taken.window("cpu").slow == 9
    assert taken.window("gpu").count == 0
    again = build_snapshot(route="cpu", variants=frozenset({"cpu", "gpu"}), pinned=False, series={"cpu": cpu},
                           state=state, config=config, now=now + 1, end_s=end_s + 1, fresh_from_s=end_s)
    assert again.fresh_window("cpu").count == 1 and again.window("cpu").count == 9


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["cpu", "gpu"]),
                       st.dictionaries(st.integers(80, 115), st.lists(st.floats(1.0, 900.0), min_size=1, max_size=3),
                                       max_size=12), max_size=2),
       st.one_of(st.none(), st.integers(70, 112)), st.one_of(st.none(), st.floats(60.0, 110.0)),
       st.one_of(st.none(), st.floats(90.0, 112.0)))
def test_snapshot_windows_and_fresh_requests_are_their_seconds_merged(recorded, fresh_from_s, observed_since,
                                                                     last_switch_at):
    """`build_snapshot` looks each variant's seconds up once and sums only what the policy reads; what it
    gives is what merging the seconds of the window [horizon start, end) and of the fresh ones
    [fresh_from_s, end) gives, whether fresh_from_s lies inside the window or before it (the window moved
    past seconds the last evaluation did not see: a switch)."""
    config = ControllerConfig(slo_ms=200.0, window_s=10.0)
    series = {}
    for variant, seconds in recorded.items():
        series[variant] = BucketSeries()
        for second, latencies in seconds.items():
            for latency in latencies:
                series[variant].record(second, latency, 500 if latency > 800 else 200)
    state = policy.PolicyState(observed_since=observed_since, last_switch_at=last_switch_at)
    now, end_s = 110.5, 110
    taken = build_snapshot(route="cpu", variants=frozenset({"cpu", "gpu"}), pinned=False, series=series,
                           state=state, config=config, now=now, end_s=end_s, fresh_from_s=fresh_from_s)
    start_s = min(int(math.floor(policy.window_start(state, config, now))), end_s - 1)
    fresh_from = start_s if fresh_from_s is None else min(fresh_from_s, end_s)
    present = [second for variant in series.values() for second in variant.seconds_in(start_s, end_s)]
    first = min(present, default=None)
    observed_from = (max(start_s, min(int(math.floor(observed_since)), end_s - 1)) if observed_since is not None
                     else first if first is not None else end_s)
    for variant in ("cpu", "gpu"):
        own = series.get(variant, BucketSeries())
        expected = variant_window(own.window(start_s, end_s), end_s - observed_from, config)
        assert taken.window(variant) == expected
        fresh = own.window(fresh_from, end_s)
        assert taken.fresh_window(variant).count == fresh.histogram.count
        assert taken.fresh_window(variant).errors == min(fresh.errors, fresh.histogram.count)
        assert taken.fresh_window(variant).slow == variant_window(fresh, end_s - fresh_from, config).slow
    assert taken.active_span_s == (None if first is None else float(end_s - first))


def test_series_read_in_order_and_dropped_behind_the_window():
    def bucket(latency):
        one = BucketAggregate()
        one.record(latency, 200)
        return one

    series = BucketSeries()
    series.extend({12: bucket(30.0), 10: bucket(10.0), 11: bucket(20.0)})
    series.extend({13: bucket(40.0)})
    assert series.seconds() == [10, 11, 12, 13]
    series.extend({5: bucket(1.0)})  # out of order (a horizon that reaches back): still sorted
    assert series.seconds() == [5, 10, 11, 12, 13]
    series.drop_before(11)
    assert series.seconds() == [11, 12, 13] and sorted(series.buckets) == [11, 12, 13]
    assert series.window(0, 100).histogram.count == 3 and series.seconds_in(0, 100)[0] == 11
    series.drop_before(100)
    assert series.seconds() == [] and series.buckets == {}


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["extend", "drop", "record", "window"]), st.integers(0, 30),
                          st.integers(1, 12), st.lists(st.floats(1.0, 900.0), min_size=1, max_size=4)),
                max_size=40))
def test_series_windows_added_up_as_they_move_equal_the_seconds_merged(operations):
    """The running total the controller's series keep (`BucketSeries.total`, kept by extend and
    drop_before, dropped by record) summarises a window as merging its seconds afresh does."""
    config = ControllerConfig(slo_ms=200.0)
    series = BucketSeries()
    next_second = 0
    for kind, at, length, latencies in operations:
        if kind == "extend":  # seconds after the last, or reaching back (out of order)
            first = next_second if at % 3 else at - 10
            fetched = {}
            for second in range(first, first + length):
                if second not in series.buckets:
                    fetched[second] = bucket = BucketAggregate()
                    for latency in latencies:
                        bucket.record(latency, 500 if latency > 800 else 200)
            series.extend(fetched)
            next_second = max(next_second, first + length)
        elif kind == "drop":
            series.drop_before(at)
        elif kind == "record":
            series.record(at, latencies[0], 200)
            next_second = max(next_second, at + 1)
        for start, end in ((-100, 100), (at, at + length)):
            summary = _summary_of(series, series.seconds_in(start, end), 10.0, config)
            assert summary == variant_window(series.window(start, end), 10.0, config)


def test_policy_state_survives_redis_round_trip():
    state = policy.PolicyState(
        switch_times=(10.0, 20.0), verifying=True, served=4,
        gpu=policy.VariantMemory(failures=2, evidence=1.5, bands=(policy.Band(-2, 12.0, 3.0, 99.5),)))
    assert state_from_json(state_to_json(state)) == state
    assert state_from_json(None) == policy.PolicyState()
    assert state_from_json("{not json") == policy.PolicyState()
    assert state_from_json('{"served": 1, "from_a_newer_version": 3, "cpu": {"failures": 2, "newer": 1}}') == \
        policy.PolicyState(served=1, cpu=policy.VariantMemory(failures=2))


def test_decisions_are_stored_at_once_running_estimates_once_per_period():
    stored = policy.PolicyState(last_eval_at=100.0, rate_n=5.0, rate_t=1.0, served=5,
                                cpu=policy.VariantMemory(evidence=0.5, bands=(policy.Band(2, 5.0, 0.0, 100.0),)))
    estimates = policy.replace(stored, last_eval_at=101.0, rate_n=10.0, rate_t=2.0, served=10, last_request_at=101.0,
                               cpu=policy.replace(stored.cpu, evidence=0.0, bands=(policy.Band(2, 10.0, 0.0, 101.0),)))
    assert not worth_storing(estimates, stored)  # the same period (100 // 10 == 101 // 10)
    assert not worth_storing(policy.replace(estimates, last_eval_at=109.9), stored)
    assert worth_storing(policy.replace(estimates, last_eval_at=110.0), stored)  # a new period: what changed is stored
    assert not worth_storing(stored, stored)
    # Anything decided is stored at once, within the period too.
    for decided in (policy.replace(estimates, pending_target="gpu"), policy.replace(estimates, switch_times=(101.0,)),
                    policy.replace(estimates, verifying=True),
                    policy.replace(estimates, gpu=policy.replace(stored.gpu, retry_after=700.0)),
                    policy.replace(estimates, cpu=policy.replace(estimates.cpu, start_s=3.0))):
        assert worth_storing(decided, stored)
    assert worth_storing(estimates, None)
    # The period is shifted per function: with a phase of 5 s, 104.9 and 105.0 fall in different periods.
    late = policy.replace(stored, last_eval_at=104.9)
    assert worth_storing(policy.replace(estimates, last_eval_at=105.0), late, phase_s=5.0)
    assert not worth_storing(policy.replace(estimates, last_eval_at=105.0), late, phase_s=0.0)
    phases = [estimates_phase_s(f"fn{i:05d}") for i in range(1000)]
    assert all(0.0 <= phase < ESTIMATES_PERSIST_S for phase in phases)
    per_second = [sum(1 for phase in phases if int(phase) == second) for second in range(int(ESTIMATES_PERSIST_S))]
    assert min(per_second) > 60 and max(per_second) < 140  # spread: about a tenth of the functions each second


def test_policy_replace_is_dataclasses_replace():
    import dataclasses

    state = policy.PolicyState(switch_times=(1.0,), cpu=policy.VariantMemory(bands=(policy.Band(1, 2.0, 0.5, 3.0),)))
    for changes in ({}, {"served": 3}, {"cpu": policy.VariantMemory(evidence=1.0), "rate_n": 2.0}):
        ours, theirs = policy.replace(state, **changes), dataclasses.replace(state, **changes)
        assert ours == theirs and hash(ours) == hash(theirs) and ours is not state
    assert state.served == 0  # the original is untouched
    with pytest.raises(TypeError, match="no field sreved"):
        policy.replace(state, sreved=3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        policy.replace(state, served=1).served = 2


def test_policy_records_are_the_frozen_dataclasses_they_declare():
    """`policy.record` gives the records a faster ``__init__``: the same signature as the frozen dataclass's,
    the same instances (defaults, a fresh default of a factory for each), frozen, equal and hashable."""
    import dataclasses
    import inspect
    from collections.abc import Hashable

    from gaia_faas.gateway_plugin import pool

    records = (policy.VariantWindow, policy.Snapshot, policy.Band, policy.VariantMemory, policy.PolicyState,
               policy.Decision, pool.Claim, pool.Denial, pool.Preemption, pool.Allocation, pool.ExpectedBenefit)
    for cls in records:
        stock = dataclasses.make_dataclass(cls.__name__, [(f.name, f.type, f) for f in dataclasses.fields(cls)],
                                           frozen=True)
        factories = {f.name for f in dataclasses.fields(cls) if f.default_factory is not dataclasses.MISSING}

        def parameters(of):  # name, kind and plain default of each (a factory's stands for "left out")
            return [(p.name, p.kind, None if p.name in factories else p.default)
                    for p in inspect.signature(of).parameters.values()]
        assert parameters(cls) == parameters(stock), cls
        required = {f.name: 7 for f in dataclasses.fields(cls)
                    if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING}
        ours, theirs = cls(**required), stock(**required)
        assert vars(ours) == vars(theirs), cls
        assert ours == cls(**required), cls
        if all(isinstance(value, Hashable) for value in vars(theirs).values()):  # a dict field: neither is
            assert hash(ours) == hash(cls(**required)), cls
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(ours, dataclasses.fields(cls)[0].name, 1)
        with pytest.raises(TypeError):
            cls(**required, no_such_field=1)
    assert policy.PolicyState().cpu is not policy.PolicyState().cpu  # each its own default
    assert policy.VariantWindow(3, 1, 250.0, 40.0, 0.3, 0, 10.0).bad == 1  # positional, as declared
    with pytest.raises(TypeError):
        policy.Band(1, 2.0)  # a field without a default left out


class Variants:
    """Upstream variants: /NAME with latency[NAME]; a missing entry refuses nothing but answers 503 on health."""

    def __init__(self, latency: dict[str, float], unhealthy: set[str] = frozenset()):
        self.latency, self.unhealthy = latency, set(unhealthy)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"

    async def handle(self, request: web.Request) -> web.Response:
        name, tail = request.match_info["name"], request.match_info.get("tail", "")
        if tail == "_/health":
            return web.Response(status=503 if name in self.unhealthy else 200)
        await asyncio.sleep(self.latency[name])
        return web.Response(text=name)

    async def __aenter__(self):
        app = web.Application()
        app.router.add_route("*", "/{name}", self.handle)
        app.router.add_route("*", "/{name}/{tail:.*}", self.handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()
        return self

    async def __aexit__(self, *exc):
        await self.runner.cleanup()


async def plugin(tmp_path, redis_url, variants: Variants, annotations: dict, controller: bool = True):
    routes = tmp_path / "routes.yml"
    routes.write_text(json.dumps({"functions": {"fn": {
        "variants": {"cpu": f"{variants.url}/fn-cpu", "gpu": f"{variants.url}/fn-gpu"},
        "annotations": {"com.gaia.slo-ms": "100", **annotations}}}}))
    config = GatewayConfig(redis_url=redis_url, routes_file=str(routes), api_token="t0ken")
    tasks = [controller_task(ControllerOptions(leader_ttl_s=1.0))] if controller else []
    server = TestServer(create_app(config, background_tasks=tasks, api_routes=api_routes), port=free_port())
    await server.start_server()
    return server


async def traffic(session, url, seconds: float) -> list[int]:
    statuses, deadline = [], time.monotonic() + seconds
    while time.monotonic() < deadline:
        async with session.post(url + "/function/fn", data=b"x") as response:
            await response.read()
            statuses.append(response.status)
    return statuses


def test_a_target_that_does_not_warm_up_keeps_the_route_and_is_logged(tmp_path, redis_url):
    async def scenario():
        async with Variants({"fn-cpu": 0.2, "fn-gpu": 0.01}, unhealthy={"fn-gpu"}) as variants:
            server = await plugin(tmp_path, redis_url, variants, {"com.gaia.warmup-timeout-seconds": "0.5",
                                                                  "com.gaia.warmup-retry-seconds": "60"})
            try:
                async with aiohttp.ClientSession() as session:
                    base = str(server.make_url(""))
                    statuses = await asyncio.gather(*(traffic(session, base, 6.0) for _ in range(3)))
                    assert {s for batch in statuses for s in batch} == {200}
                    async with session.get(base + "/gaia/v1/decisions?function=fn") as response:
                        body = await response.json()
                r = aioredis.Redis.from_url(redis_url)
                stored = state_from_json(await r.get("gaia:controller:state:fn"))
                await r.aclose()
            finally:
                await server.close()
        failed = [d for d in body["decisions"] if d["action"] == "warmup_failed"]
        assert len(failed) == 1 and (failed[0]["from"], failed[0]["to"]) == ("cpu", "gpu")
        assert "did not answer within 0.5 s (status 503)" in failed[0]["reason"]
        assert not [d for d in body["decisions"] if d["action"] == "switch"]
        assert server.app[STATE].routes.current("fn").variant == "cpu"
        assert stored.warmup_retry_after is not None and stored.switch_times == ()

    run(scenario())


def test_a_pinned_function_is_left_alone_until_unpinned(tmp_path, redis_url):
    async def scenario():
        async with Variants({"fn-cpu": 0.2, "fn-gpu": 0.01}) as variants:
            server = await plugin(tmp_path, redis_url, variants, {})
            try:
                async with aiohttp.ClientSession(headers={"Authorization": "Bearer t0ken"}) as session:
                    base = str(server.make_url(""))
                    async with session.put(base + "/gaia/v1/functions/fn/pin", json={"variant": "cpu"}) as response:
                        assert response.status == 200
                    await asyncio.gather(*(traffic(session, base, 5.0) for _ in range(3)))
                    assert server.app[STATE].routes.current("fn").variant == "cpu"
                    async with session.delete(base + "/gaia/v1/functions/fn/pin") as response:
                        assert response.status == 200
                    await asyncio.gather(*(traffic(session, base, 5.0) for _ in range(3)))
                    assert server.app[STATE].routes.current("fn").variant == "gpu"
            finally:
                await server.close()

    run(scenario())


def test_without_the_controller_nothing_switches_but_decisions_are_served(tmp_path, redis_url):
    async def scenario():
        async with Variants({"fn-cpu": 0.2, "fn-gpu": 0.01}) as variants:
            server = await plugin(tmp_path, redis_url, variants, {}, controller=False)
            try:
                async with aiohttp.ClientSession() as session:
                    base = str(server.make_url(""))
                    await asyncio.gather(*(traffic(session, base, 4.0) for _ in range(3)))
                    assert server.app[STATE].routes.current("fn").variant == "cpu"
                    async with session.get(base + "/gaia/v1/decisions") as response:
                        assert response.status == 200
                        assert await response.json() == {"leader": None, "decisions": []}
                    for query in ("limit=0", "limit=abc", "limit=5000", "function=..%2F", "function=" + "a" * 64):
                        async with session.get(base + "/gaia/v1/decisions?" + query) as response:
                            assert response.status == 400, query
                            assert "error" in await response.json()
            finally:
                await server.close()

    run(scenario())


def test_the_controller_survives_redis_going_away(tmp_path, redis_server, redis_url):
    async def scenario():
        async with Variants({"fn-cpu": 0.2, "fn-gpu": 0.01}) as variants:
            server = await plugin(tmp_path, redis_url, variants, {"com.gaia.mode": "cpu_preferred"})
            try:
                async with aiohttp.ClientSession() as session:
                    base = str(server.make_url(""))
                    redis_server.stop()
                    try:
                        statuses = await asyncio.gather(*(traffic(session, base, 3.0) for _ in range(3)))
                    finally:
                        redis_server.start()
                    assert {s for batch in statuses for s in batch} == {200}  # routing from cache meanwhile
                    assert server.app[STATE].routes.current("fn").variant == "cpu"
                    await asyncio.gather(*(traffic(session, base, 6.0) for _ in range(3)))
                    assert server.app[STATE].routes.current("fn").variant == "gpu"
            finally:
                await server.close()

    run(scenario())


def test_plugin_workers_collect_garbage_less_often():
    """`tune_gc`, which every `gaia gateway` worker runs at its start: young collections every 50,000
    objects, the start-up objects frozen (in a process of its own: it changes the interpreter's settings)."""
    import subprocess
    import sys

    probe = ("import gc; from gaia_faas.gateway_plugin.server import GC_YOUNG_THRESHOLD, tune_gc; "
             "before = gc.get_threshold(); tune_gc(); "
             "print(before[0], gc.get_threshold()[0], GC_YOUNG_THRESHOLD, gc.get_freeze_count() > 1000)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    default, tuned, wanted, frozen = out.stdout.split()
    assert int(default) == 700 and int(tuned) == int(wanted) == 50_000 and frozen == "True"


def test_an_evaluation_reads_its_functions_once_in_pieces_that_double():
    from gaia_faas.gateway_plugin.controller import FIRST_READ_PIECE, _read_pieces

    for functions in (0, 1, FIRST_READ_PIECE, FIRST_READ_PIECE + 1, 1000, 5000):
        pieces = _read_pieces(functions)
        assert [i for piece in pieces for i in piece] == list(range(functions))  # each once, in order
        assert all(len(b) == 2 * len(a) for a, b in zip(pieces, pieces[1:-1]))
        assert not pieces or len(pieces[0]) == min(functions, FIRST_READ_PIECE)
    assert len(_read_pieces(1000)) == 5 and len(_read_pieces(5000)) == 7
