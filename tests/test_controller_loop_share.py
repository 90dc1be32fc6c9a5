"""The leader evaluates every function in the event loop of a plugin worker that proxies requests too
(`loop_share.LoopShare`): one evaluation of many functions gives the loop back between functions, so a
call the worker proxies meanwhile is answered within the evaluation, not after it. The real plugin app on
loopback with a real Redis, the real `Controller.tick` on its state, upstreams on loopback, one event loop."""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

from gaia_faas.gateway_plugin import loop_share
from gaia_faas.gateway_plugin.app import STATE, GatewayConfig, create_app
from gaia_faas.gateway_plugin.controller import FIRST_READ_PIECE, Controller, ControllerOptions
from gaia_faas.processes import free_port

from tests.loopback_app import LoopbackApp

FUNCTIONS = 120


class Answers(LoopbackApp):
    """Every variant (and health check) answers at once."""

    def routes(self, app: web.Application) -> None:
        async def answer(request):
            return web.Response(text="ok")

        app.router.add_route("*", "/{tail:.*}", answer)


async def evaluate_once(tmp_path, redis_url, upstream: str, slice_s: float) -> tuple[set[int], int | None]:
    """The real plugin app (its lifecycle: Redis, the recorder, the route table) and, on its state, a leader's
    controller with ``slice_s``; one steady tick of FUNCTIONS functions while a call is proxied by the same
    worker. Returns how many functions the tick had decided, each time the loop ran something else meanwhile,
    and the call's status if it was answered before the tick ended (None: not)."""
    functions = {f"fn{i:03d}": {"variants": {"cpu": f"{upstream}/fn{i:03d}-cpu", "gpu": f"{upstream}/fn{i:03d}-gpu"},
                                "annotations": {"com.gaia.mode": "cpu_preferred", "com.gaia.slo-ms": "200"}}
                 for i in range(FUNCTIONS)}
    path = tmp_path / f"routes-{slice_s}.json"
    path.write_text(json.dumps({"gpu_capacity": 2, "functions": functions}))
    server = TestServer(create_app(GatewayConfig(redis_url=redis_url, routes_file=str(path),
                                                 gpu_capacity_from_cluster=False)), port=free_port())
    await server.start_server()
    state = server.app[STATE]
    controller = Controller(state, ControllerOptions(loop_slice_s=slice_s))
    call = None
    try:
        assert await controller.lease.try_acquire()
        now = float(int(time.time()))
        clock = state.recorder._clock
        for second in range(int(now) - 5, int(now)):  # five seconds of calls, as the recorders flushed them
            state.recorder._clock = lambda second=second: second + 0.5
            for name in functions:
                state.recorder.record(name, "cpu", 50.0, 200)
        await state.recorder.flush()
        state.recorder._clock = clock
        await controller.tick(now - 1.5)  # the first evaluation reads the window; the one watched is steady
        seen: set[int] = set()
        ticking = True

        async def watch() -> None:  # each time the loop runs it: how many functions the tick decided so far
            while ticking:
                seen.add(sum(1 for e in controller._functions.values() if e.state.last_eval_at == now + 0.5))
                await asyncio.sleep(0)

        async def proxied() -> int:
            async with aiohttp.ClientSession() as client:
                async with client.post(str(server.make_url("/function/fn000")), data=b"x") as response:
                    await response.read()
                    return response.status

        watcher = asyncio.create_task(watch())
        await asyncio.sleep(0)
        call = asyncio.create_task(proxied())
        await controller.tick(now + 0.5)
        ticking = False
        answered = call.result() if call.done() else None
        await watcher
        return seen, answered
    finally:
        if call is not None and not call.done():
            call.cancel()
        await controller.lease.release()
        await server.close()


def test_an_evaluation_gives_the_loop_back_between_functions(tmp_path, redis_url):
    async def scenario():
        async with Answers() as upstream:
            shared = await evaluate_once(tmp_path, redis_url, upstream.url, 0.0)
            held = await evaluate_once(tmp_path, redis_url, upstream.url, 3600.0)
            return shared, held

    (shared, answered), (held, _) = asyncio.run(scenario())
    # Slice 0: the loop ran between every two functions' decisions, and a call proxied by this worker was
    # answered before the evaluation ended.
    assert shared == set(range(FUNCTIONS + 1))
    assert answered == 200
    # An hour's slice: only at the evaluation's own Redis round trips, none amid the decisions: before them,
    # at the end, and where the next piece of reads is still in flight when the decisions reach it (the
    # reads go in pieces of 64, 128, ... functions: here after the first 64, when Redis has not answered yet).
    assert {0, FUNCTIONS} <= held <= {0, FIRST_READ_PIECE, FUNCTIONS}


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


def test_tasks_sharing_one_loop_share_share_its_slice():
    """The evaluation and its reads in flight pause on one `LoopShare`: a turn of the loop that runs all of
    them holds it for about one slice, not one slice per task (a fake clock: 1 ms per step, 2 ms slices)."""
    from collections import Counter

    clock = [0.0]
    share = loop_share.LoopShare(0.002, clock=lambda: clock[0])
    turn, steps_per_turn = [0], Counter()

    async def turns():  # one step per turn of the loop
        while True:
            turn[0] += 1
            await asyncio.sleep(0)

    async def work():
        for _ in range(40):
            clock[0] += 0.001
            steps_per_turn[turn[0]] += 1
            await share.pause()

    async def main():
        counter = asyncio.create_task(turns())
        await asyncio.gather(work(), work(), work())
        counter.cancel()

    asyncio.run(main())
    assert sum(steps_per_turn.values()) == 120
    # A slice (two steps), then the one step each other task takes before it pauses again (with a slice
    # per task: 6-7 steps).
    assert max(steps_per_turn.values()) <= 4
