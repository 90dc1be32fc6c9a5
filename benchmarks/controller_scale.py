"""The leader's evaluation of many functions: stats read from Redis (pipelined), policy, GPU pool allocation.

For 10, 100, 1,000 and 5,000 functions (static routes, a real redis-server, the real `Controller.tick`):
90 % of the functions meet their SLO on the CPU, 10 % miss it and want the GPU; the pool has one GPU per
50 functions, so most of those wait (`gpu-pool-full`). Every function gets 5 calls per second on its route.
Each evaluation first writes one more second of stats (untimed, as the recorders would), then times one
`tick` with every function due (wall time, and the CPU time of the controller's thread, the steadier
figure on a shared machine), and counts the Redis commands it ran (INFO's total_commands_processed,
which counts the HGETALLs inside the controller's read script one by one). The default 10 steady
evaluations cover one period of the controller's estimates storage (each function's running estimates
are stored once per 10 s, a tenth of the functions per evaluation). The process collects garbage as a
plugin worker does (`server.tune_gc`).
The first evaluation after the leader starts reads each function's whole window; the steady ones read
the one new second (the seconds read are kept), so commands grow linearly with the functions.
The leader evaluates in the event loop of a worker that proxies requests too: a watch task on a 1 ms timer
measures the longest stretch each evaluation held the loop (``loop stall``), what a proxied request on that
worker waits for the leader at most.

    .venv/bin/python benchmarks/controller_scale.py [--sizes 10,100,1000,5000] [--ticks 10]

Bar (issue 10): steady evaluation of 1,000 functions <= 100 ms on this machine; Redis commands per
function the same at every size. The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import redis

from gaia_faas.processes import RedisServer, free_port

CALLS_PER_S = 5
WINDOW_S = 10


def serve_upstream(port: int, ready: threading.Event) -> None:
    """Every variant answers its health check at once (switches the controller starts complete)."""
    from aiohttp import web

    async def answer(request):
        return web.Response(text="ok")

    async def main():
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", answer)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        ready.set()
        await asyncio.Event().wait()

    asyncio.run(main())


def routes_file(directory: Path, n: int, upstream: str) -> Path:
    functions = {}
    for i in range(n):
        name = f"fn{i:05d}"
        functions[name] = {"variants": {"cpu": f"{upstream}/{name}-cpu", "gpu": f"{upstream}/{name}-gpu"},
                           "annotations": {"com.gaia.mode": "cpu_preferred", "com.gaia.slo-ms": "200"}}
    path = directory / f"routes-{n}.json"
    path.write_text(json.dumps({"gpu_capacity": max(1, n // 50), "functions": functions}))
    return path


def violating(i: int) -> bool:
    return i % 10 == 0


async def write_second(recorder, routes, n: int, second: int) -> None:
    """One second of calls of every function on its current route, as the recorders would flush them."""
    recorder._clock = lambda: second + 0.5
    for i in range(n):
        name = f"fn{i:05d}"
        variant = routes.current(name).variant
        latency = 20.0 if variant == "gpu" else (400.0 if violating(i) else 50.0)
        for _ in range(CALLS_PER_S):
            recorder.record(name, variant, latency, 200)
    await recorder.flush()


class LoopStall:
    """The longest stretch the event loop did not run a 1 ms timer: what a request proxied by the leader's
    worker waits for the evaluation at most (the controller shares the loop, `loop_share.LoopShare`)."""

    def __init__(self):
        self.longest_s = 0.0
        self._task = asyncio.create_task(self._watch())

    async def _watch(self) -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(0.001)
            self.longest_s = max(self.longest_s, time.perf_counter() - before - 0.001)

    def take(self) -> float:
        """The longest stall since the last take, in ms."""
        longest, self.longest_s = self.longest_s, 0.0
        return longest * 1000

    async def stop(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


def commands(client: redis.Redis) -> int:
    return int(client.info("stats")["total_commands_processed"])


async def measure(n: int, ticks: int, server: RedisServer, upstream: str, directory: Path) -> dict:
    import aiohttp

    from gaia_faas.gateway_plugin.app import GatewayConfig, GatewayState, redis_client
    from gaia_faas.gateway_plugin.controller import Controller, ControllerOptions
    from gaia_faas.gateway_plugin.metrics import Metrics
    from gaia_faas.gateway_plugin.proxy import Rotation
    from gaia_faas.gateway_plugin.registry import Registry, load_static_routes
    from gaia_faas.gateway_plugin.routes import RouteTable
    from gaia_faas.gateway_plugin.stats import StatsReader, StatsRecorder

    counter = redis.Redis.from_url(server.url)
    counter.flushall()
    path = routes_file(directory, n, upstream)
    config = GatewayConfig(redis_url=server.url, routes_file=str(path), gpu_capacity_from_cluster=False)
    registry = Registry(load_static_routes(path))
    state = GatewayState(config=config, metrics=Metrics(), registry=registry, rotation=Rotation(1.0))
    state.redis = redis_client(config)
    state.client = aiohttp.ClientSession()
    state.stats = StatsReader(state.redis)
    state.routes = RouteTable(state.redis, registry.start_variant)
    recorder = StatsRecorder(state.redis, max_buffer=10_000_000)
    controller = Controller(state, ControllerOptions())
    assert await controller.lease.try_acquire()
    now = float(int(time.time()))
    for second in range(int(now) - WINDOW_S - 1, int(now)):
        await write_second(recorder, state.routes, n, second)
    rows = []
    stall = LoopStall()
    for k in range(ticks + 1):
        await controller.lease.try_acquire()
        before = commands(counter)
        await asyncio.sleep(0.002)  # the stall watch is waiting on its timer
        stall.take()
        started, started_cpu = time.perf_counter(), time.thread_time()
        await controller.tick(now + 0.5)
        elapsed_ms = (time.perf_counter() - started) * 1000
        cpu_ms = (time.thread_time() - started_cpu) * 1000
        await asyncio.sleep(0)  # the watch sees a stall that lasted to the tick's end
        stalled_ms = stall.take()
        sent = commands(counter) - before - 1  # less INFO itself
        allocation = controller.last_allocation
        rows.append({"ms": elapsed_ms, "cpu_ms": cpu_ms, "stall_ms": stalled_ms, "commands": sent, "phases": dict(controller.last_tick_ms),
                     "granted": len(allocation.granted),
                     "held": len(allocation.kept) + len(allocation.granted), "waiting": len(allocation.denied)})
        busy = [e.busy for e in controller._functions.values() if e.busy is not None and not e.busy.done()]
        await asyncio.gather(*busy, return_exceptions=True)  # the switches it started finish (untimed)
        now += 1.0
        await write_second(recorder, state.routes, n, int(now) - 1)
    await stall.stop()
    await state.client.close()
    await state.redis.aclose()
    counter.close()
    steady = rows[1:]
    return {"functions": n, "capacity": max(1, n // 50), "first_ms": round(rows[0]["ms"], 1),
            "first_commands": rows[0]["commands"],
            "steady_ms_median": round(statistics.median(r["ms"] for r in steady), 1),
            "steady_ms_max": round(max(r["ms"] for r in steady), 1), "steady_ms_min": round(min(r["ms"] for r in steady), 1),
            "steady_cpu_ms_median": round(statistics.median(r["cpu_ms"] for r in steady), 1),
            "loop_stall_ms_median": round(statistics.median(r["stall_ms"] for r in steady), 1),
            "loop_stall_ms_max": round(max(r["stall_ms"] for r in rows), 1),
            "steady_commands": round(statistics.median(r["commands"] for r in steady)),
            "commands_per_function": round(statistics.median(r["commands"] for r in steady) / n, 2),
            "held": steady[-1]["held"], "waiting": steady[-1]["waiting"],
            "steady_phases_ms": {phase: round(statistics.median(r["phases"][phase] for r in steady), 1)
                                 for phase in steady[0]["phases"]}}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10,100,1000,5000", help="function counts (default %(default)s)")
    parser.add_argument("--ticks", type=int, default=10, help="steady evaluations per size (default %(default)s)")
    args = parser.parse_args(argv)
    try:
        sizes = [int(s) for s in args.sizes.split(",")]
    except ValueError:
        print(f"controller_scale: --sizes must be whole numbers separated by commas, got {args.sizes!r}", file=sys.stderr)
        return 2
    from gaia_faas.gateway_plugin.server import tune_gc

    tune_gc()  # the garbage collection every plugin worker starts with (server.py)
    port = free_port()
    ready = threading.Event()
    threading.Thread(target=serve_upstream, args=(port, ready), daemon=True).start()
    ready.wait(10)
    server = RedisServer().start()
    results = []
    try:
        with tempfile.TemporaryDirectory(prefix="gaia-scale-") as tmp:
            for n in sizes:
                results.append(asyncio.run(measure(n, args.ticks, server, f"http://127.0.0.1:{port}", Path(tmp))))
    finally:
        server.close()
    header = ("functions", "capacity", "held", "waiting", "first ms", "first cmds", "steady ms (median)",
              "steady ms (max)", "steady CPU ms", "loop stall ms (median; max)", "steady cmds", "cmds/function")
    print("  ".join(header))
    for r in results:
        print("  ".join(str(v).rjust(len(h)) for v, h in zip(
            (r["functions"], r["capacity"], r["held"], r["waiting"], r["first_ms"], r["first_commands"],
             r["steady_ms_median"], r["steady_ms_max"], r["steady_cpu_ms_median"],
             f"{r['loop_stall_ms_median']}; {r['loop_stall_ms_max']}", r["steady_commands"],
             r["commands_per_function"]), header)))
    print()
    phases = list(results[0]["steady_phases_ms"]) if results else []
    print("steady evaluation, median ms per phase:")
    print("  ".join(["functions"] + phases))
    for r in results:
        print("  ".join([str(r["functions"]).rjust(9)] + [str(r["steady_phases_ms"][p]).rjust(len(p)) for p in phases]))
    at_1000 = next((r for r in results if r["functions"] == 1000), None)
    # Linear: the commands each further function adds are the same between every two sizes.
    slopes = [(b["steady_commands"] - a["steady_commands"]) / (b["functions"] - a["functions"])
              for a, b in zip(results, results[1:])]
    figures = {"results": results, "bar_ms": 100,
               "steady_ms_at_1000": None if at_1000 is None else at_1000["steady_ms_median"],
               "meets_bar": None if at_1000 is None else at_1000["steady_ms_median"] <= 100,
               "commands_per_added_function": [round(x, 3) for x in slopes],
               "commands_linear": bool(slopes) and max(slopes) - min(slopes) <= 0.1 * max(slopes)}
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
