"""The leader evaluates every function in the event loop of a plugin worker that proxies requests too
(`loop_share.LoopShare`): one evaluation of many functions gives the loop back between functions, so a
request the worker serves meanwhile is answered within the evaluation, not after it. A real Redis, the real
`Controller.tick`, a real HTTP server and client on loopback in the same loop."""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
from aiohttp import web

from gaia_faas.gateway_plugin import loop_share
from gaia_faas.gateway_plugin.app import GatewayConfig, GatewayState, redis_client
from gaia_faas.gateway_plugin.controller import Controller, ControllerOptions
from gaia_faas.gateway_plugin.metrics import Metrics
from gaia_faas.gateway_plugin.proxy import Rotation
from gaia_faas.gateway_plugin.registry import Registry, load_static_routes
from gaia_faas.gateway_plugin.routes import RouteTable
from gaia_faas.gateway_plugin.stats import StatsReader, StatsRecorder

from tests.loopback_app import LoopbackApp

FUNCTIONS = 120


class Answers(LoopbackApp):
    """Every variant (and health check) answers at once; ``/ping`` is the request served during a tick."""

    def routes(self, app: web.Application) -> None:
        async def answer(request):
            return web.Response(text="ok")

        app.router.add_route("*", "/{tail:.*}", answer)


async def evaluate_once(tmp_path, redis_url, upstream: str, slice_s: float, during) -> tuple[set[int], object]:
    """One steady tick of FUNCTIONS functions with ``slice_s``, ``during()`` started beside it. Returns how
    many functions the tick had decided, each time the loop ran something else meanwhile, and what
    ``during`` returned by the tick's end (None: not done)."""
    functions = {f"fn{i:03d}": {"variants": {"cpu": f"{upstream}/fn{i:03d}-cpu", "gpu": f"{upstream}/fn{i:03d}-gpu"},
                                "annotations": {"com.gaia.mode": "cpu_preferred", "com.gaia.slo-ms": "200"}}
                 for i in range(FUNCTIONS)}
    path = tmp_path / f"routes-{slice_s}.json"
    path.write_text(json.dumps({"gpu_capacity": 2, "functions": functions}))
    config = GatewayConfig(redis_url=redis_url, routes_file=str(path), gpu_capacity_from_cluster=False)
    registry = Registry(load_static_routes(path))
    state = GatewayState(config=config, metrics=Metrics(), registry=registry, rotation=Rotation(1.0))
    state.redis = redis_client(config)
    state.client = aiohttp.ClientSession()
    state.stats = StatsReader(state.redis)
    state.routes = RouteTable(state.redis, registry.start_variant)
    recorder = StatsRecorder(state.redis)
    controller = Controller(state, ControllerOptions(loop_slice_s=slice_s))
    beside = None
    try:
        await state.redis.flushall()  # the first scenario's stats, routes and lease
        now = float(int(time.time()))
        for second in range(int(now) - 5, int(now)):
            recorder._clock = lambda: second + 0.5
            for name in functions:
                recorder.record(name, "cpu", 50.0, 200)
            await recorder.flush()
        assert await controller.lease.try_acquire()
        await controller.tick(now - 1.5)  # the first evaluation reads the window; the one watched is steady
        seen: set[int] = set()
        ticking = True

        async def watch() -> None:  # each time the loop runs it: how many functions the tick decided so far
            while ticking:
                seen.add(sum(1 for e in controller._functions.values() if e.state.last_eval_at == now + 0.5))
                await asyncio.sleep(0)

        watcher = asyncio.create_task(watch())
        await asyncio.sleep(0)
        beside = asyncio.create_task(during())
        await controller.tick(now + 0.5)
        ticking = False
        answered = beside.result() if beside.done() else None
        await watcher
        return seen, answered
    finally:
        if beside is not None and not beside.done():
            beside.cancel()
        await controller.lease.release()
        await state.client.close()
        await state.redis.aclose()


def test_an_evaluation_gives_the_loop_back_between_functions(tmp_path, redis_url):
    async def scenario():
        async with Answers() as upstream, aiohttp.ClientSession() as client:
            async def ping() -> int:
                async with client.get(upstream.url + "/ping") as response:
                    return response.status

            shared = await evaluate_once(tmp_path, redis_url, upstream.url, 0.0, ping)
            held = await evaluate_once(tmp_path, redis_url, upstream.url, 3600.0, ping)
            return shared, held

    (shared, answered), (held, _) = asyncio.run(scenario())
    # Slice 0: the loop ran between every two functions' decisions, and a request served by this worker was
    # answered before the evaluation ended.
    assert shared == set(range(FUNCTIONS + 1))
    assert answered == 200
    # An hour's slice: only at the evaluation's own Redis round trips, none amid the decisions.
    assert held == {0, FUNCTIONS}


def test_a_share_gives_the_loop_back_only_once_its_slice_has_passed():
    async def scenario():
        share = loop_share.LoopShare(slice_s=0.05)
        others = 0

        async def other() -> None:
            nonlocal others
            others += 1

        task = asyncio.create_task(other())
        await share.pause()  # less than a slice since the share began: the loop did not run
        before = others
        time.sleep(0.06)  # work that held the loop for more than a slice
        await share.pause()
        await task
        return before, others

    assert asyncio.run(scenario()) == (0, 1)
