"""Policy v2 live: one plugin process, a real Redis, upstream variants on loopback whose latency and status the
test sets. A GPU that starts answering 500s loses the route within seconds and gets it back once healthy, with
no client error after the failover; a function whose CPU queues under load is promoted and demoted again when
the load falls; a function called every few seconds with a 1 s window (in test time, "once a minute") is
promoted, verified by its requests and its CPU released. Knobs are shortened, the logic is the product's."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from aiohttp import web

from gaia_faas.processes import RedisServer
from tests.test_controller_live import Clients, Plugin, Upstreams, decisions, wait_for

FAST_KNOBS = {
    "com.gaia.mode": "cpu_preferred", "com.gaia.slo-ms": "200", "com.gaia.interval-seconds": "0.25",
    "com.gaia.window-seconds": "2", "com.gaia.sustain-seconds": "0", "com.gaia.min-samples": "3",
    "com.gaia.verify-seconds": "0", "com.gaia.verify-samples": "2", "com.gaia.scale-down-after-seconds": "1",
    "com.gaia.cooldown-seconds": "0", "com.gaia.error-backoff-seconds": "3",
}
SPARSE_EVERY_S = 2.5


class ControlledUpstreams(Upstreams):
    """Upstreams whose status the test sets per variant, and whose ``serial`` variants serve one request at
    a time (a CPU that queues under load)."""

    def __init__(self, latency: dict[str, float], serial: set[str]):
        super().__init__(latency)
        self.status: dict[str, int] = {}
        self.serial = serial
        self._locks: dict[str, asyncio.Lock] = {}

    async def handle(self, request: web.Request) -> web.Response:
        name, tail = request.match_info["name"], request.match_info.get("tail", "")
        if tail == "_/health":
            return web.Response(text="ok")  # the warm-up GET: the process answers, whatever its handler does
        status = self.status.get(name, 200)
        if status >= 500:
            return web.Response(status=status, text="handler failed")
        if name in self.serial:
            lock = self._locks.setdefault(name, asyncio.Lock())
            async with lock:
                await asyncio.sleep(self.latency[name])
        else:
            await asyncio.sleep(self.latency[name])
        return web.Response(text=f"served by {name}")


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    upstreams = ControlledUpstreams({"flaky-cpu": 0.4, "flaky-gpu": 0.02, "drift-cpu": 0.06, "drift-gpu": 0.01,
                                     "sparse-cpu": 0.4, "sparse-gpu": 0.02}, serial={"drift-cpu"}).start()
    annotations = {
        "flaky": FAST_KNOBS,
        "drift": FAST_KNOBS,
        # A 1 s window never holds two of its requests: verification must go by requests, not by window.
        "sparse": {**FAST_KNOBS, "com.gaia.window-seconds": "1", "com.gaia.idle-demote-seconds": "2"},
    }
    routes = tmp_path_factory.mktemp("routes") / "routes.yml"
    routes.write_text(json.dumps({"functions": {
        name: {"variants": {"cpu": f"{upstreams.url}/{name}-cpu", "gpu": f"{upstreams.url}/{name}-gpu"},
               "annotations": knobs} for name, knobs in annotations.items()}}))
    server = RedisServer().start()
    plugin = Plugin(routes, server.url)
    # The sparse function's slow "minute" runs while the other tests do (see test_sparse_...).
    sparse = Clients(plugin.url, "sparse", threads=1, pause_s=SPARSE_EVERY_S).start()
    try:
        yield upstreams, plugin, sparse
    finally:
        sparse.stop()
        plugin.stop()
        server.close()


def first(history: list[dict], **match) -> dict | None:
    return next((d for d in history if all(d.get(k) == v for k, v in match.items())), None)


def test_a_gpu_answering_500s_loses_the_route_within_seconds_and_returns_when_healthy(live):
    upstreams, plugin, _ = live
    clients = Clients(plugin.url, "flaky", threads=2).start()
    try:
        wait_for(lambda: first(decisions(plugin, "flaky"), action="scale_down", reason="gpu-verified"), 20,
                 "flaky to be promoted and verified")
        broken_at = time.time()
        upstreams.status["flaky-gpu"] = 500
        failover = wait_for(lambda: first(decisions(plugin, "flaky"), action="switch", reason="gpu-failing"), 10,
                            "the failing GPU to lose the route")
        assert failover["time"] - broken_at < 3.0 and failover["to"] == "cpu"
        upstreams.status["flaky-gpu"] = 200  # healthy again: after the error back-off the GPU is probed
        back = wait_for(lambda: [d for d in decisions(plugin, "flaky") if d["action"] == "switch"
                                 and d["to"] == "gpu" and d["time"] > failover["time"]], 15, "the GPU to be probed")
        assert back[0]["reason"] == "cpu-violates-slo" and back[0]["time"] - failover["time"] >= 3.0
        wait_for(lambda: any(variant == "gpu" for t, _, variant in clients.results if t > back[0]["time"] + 1), 10,
                 "calls served by the GPU again")
    finally:
        clients.stop()
    failed = [r for r in clients.results if r[1] != 200]
    assert failed, "the outage should have been seen by some calls before the failover"
    assert all(t < failover["time"] + 0.5 for t, _, _ in failed), [r for r in failed if r[0] >= failover["time"]][:3]
    # A healthy GPU back: its failures forgotten once verified.
    wait_for(lambda: [d for d in decisions(plugin, "flaky") if d["reason"] == "gpu-verified"
                      and d["time"] > back[0]["time"]] or [d for d in decisions(plugin, "flaky")
                                                           if d["reason"] == "gpu-on-probation"], 10,
             "the GPU to pass its verification again")


def test_a_cpu_that_queues_under_load_is_promoted_then_demoted_when_the_load_falls(live):
    upstreams, plugin, _ = live
    low = Clients(plugin.url, "drift", threads=1, pause_s=0.2).start()  # ~4 req/s: the CPU meets its SLO
    high: Clients | None = None
    try:
        time.sleep(8.0)  # ~30 requests at this rate: more than the 20 a p95 needs to be "known to meet"
        assert not [d for d in decisions(plugin, "drift") if d["action"] == "switch"]
        high = Clients(plugin.url, "drift", threads=6).start()  # the CPU serves one at a time: it queues
        up = wait_for(lambda: first(decisions(plugin, "drift"), action="switch", to="gpu"), 15, "the promotion")
        assert up["reason"] == "cpu-violates-slo"
        time.sleep(2.0)
        high.stop()
        fell_at = time.time()
        down = wait_for(lambda: first(decisions(plugin, "drift"), action="switch", to="cpu"), 15, "the demotion")
        assert down["reason"] == "cpu-meets-slo-at-this-rate" and down["time"] - fell_at < 8.0
        assert down["numbers"]["request_rate_per_s"] < 10
        released = wait_for(lambda: [d for d in decisions(plugin, "drift") if d["action"] == "scale_down"
                                     and d["time"] > down["time"]], 10, "the GPU to be released")
        assert released[0]["reason"] == "cpu-verified" and released[0]["from"] == "gpu"
    finally:
        low.stop()
        if high is not None:
            high.stop()
    assert not low.failures() and not (high.failures() if high else [])


def test_a_function_called_every_few_seconds_is_verified_by_its_requests_and_its_cpu_released(live):
    _, plugin, sparse = live
    history = wait_for(lambda: (lambda h: h if first(h, action="scale_down", reason="gpu-verified") else None)(
        decisions(plugin, "sparse")), 40, "sparse to be promoted, verified by requests and its CPU released")
    promotion = first(history, action="switch", to="gpu")
    release = first(history, action="scale_down", reason="gpu-verified")
    assert promotion["reason"] == "cpu-violates-slo"
    # Verified on its next calls (two of them), though a 1 s window never held two requests.
    assert 1.5 * SPARSE_EVERY_S <= release["time"] - promotion["time"] <= 3.5 * SPARSE_EVERY_S + 2
    time.sleep(2 * SPARSE_EVERY_S)
    assert not first(decisions(plugin, "sparse"), reason="gpu-idle")  # called every 2.5 s: not idle after 2
    assert not sparse.failures()
