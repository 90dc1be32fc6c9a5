"""The controller live: two plugin processes, a real Redis, upstream variants on loopback whose latency the
test sets. The controller promotes, verifies (keeping a GPU that helps, leaving one that does not),
demotes an idle function; killing the leader hands control over; no client request fails meanwhile."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import psutil
import pytest
import redis
from aiohttp import web

from gaia_faas.gateway_plugin.leader import LEADER_KEY
from gaia_faas.processes import RedisServer, free_port, wait_for_http

TTL_S = 1.5


class Upstreams:
    """One aiohttp server; base URL ``/NAME`` serves variant NAME with the latency in ``latency[NAME]``."""

    def __init__(self, latency: dict[str, float]):
        self.latency = latency
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.warmups: dict[str, list[float]] = {}  # variant -> times its health path was called
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    async def handle(self, request: web.Request) -> web.Response:
        name, tail = request.match_info["name"], request.match_info.get("tail", "")
        if tail == "_/health":
            self.warmups.setdefault(name, []).append(time.time())
            return web.Response(text="ok")
        await asyncio.sleep(self.latency[name])
        return web.Response(text=f"served by {name}")

    def _serve(self):
        async def main():
            app = web.Application()
            app.router.add_route("*", "/{name}", self.handle)
            app.router.add_route("*", "/{name}/{tail:.*}", self.handle)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", self.port).start()
            self._ready.set()
            await asyncio.Event().wait()

        asyncio.run(main())

    def start(self) -> "Upstreams":
        self._thread.start()
        self._ready.wait(10)
        return self


class Plugin:
    """One `gaia gateway` process (one worker) on static routes; ``options``: more command-line flags."""

    def __init__(self, routes_file, redis_url, *options: str, leader_ttl_s: float = TTL_S,
                 discovery_interval_s: float = 60):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gaia_faas.cli", "gateway", "--bind", f"127.0.0.1:{self.port}", "--routes",
             str(routes_file), "--redis-url", redis_url, "--workers", "1", "--leader-ttl", str(leader_ttl_s),
             "--discovery-interval", str(discovery_interval_s), *options],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
            env={k: v for k, v in os.environ.items() if not k.startswith("GAIA_")})
        wait_for_http(self.url + "/gaia/v1/health", timeout=30, proc=self.proc)

    def get(self, path: str) -> dict:
        with urllib.request.urlopen(self.url + path, timeout=10) as response:
            return json.loads(response.read())

    def worker_pids(self) -> set[int]:
        return {child.pid for child in psutil.Process(self.proc.pid).children()}

    def kill(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()


class Clients:
    """Threads calling /function/NAME through one plugin in a loop, recording every outcome; each thread
    pauses ``pause_s`` between its calls (changeable while they run)."""

    def __init__(self, base_url: str, function: str, threads: int = 2, pause_s: float = 0.0):
        self.base_url, self.function, self.pause_s = base_url, function, pause_s
        self.results: list[tuple[float, int, str]] = []  # (time, status or -1, variant header or error)
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._loop, daemon=True) for _ in range(threads)]

    def _loop(self):
        while not self._stop.is_set():
            try:
                with urllib.request.urlopen(f"{self.base_url}/function/{self.function}", data=b"x", timeout=30) as r:
                    r.read()
                    self.results.append((time.time(), r.status, r.headers.get("X-Gaia-Variant", "")))
            except urllib.error.HTTPError as exc:
                self.results.append((time.time(), exc.code, exc.read().decode(errors="replace")[:200]))
            except OSError as exc:
                self.results.append((time.time(), -1, repr(exc)))
            if self.pause_s:
                self._stop.wait(self.pause_s)

    def start(self) -> "Clients":
        for thread in self._threads:
            thread.start()
        return self

    def stop(self):
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    def failures(self):
        return [r for r in self.results if r[1] != 200]


def decisions(plugin: Plugin, function: str) -> list[dict]:
    with urllib.request.urlopen(f"{plugin.url}/gaia/v1/decisions?function={function}&limit=50", timeout=10) as r:
        return list(reversed(json.loads(r.read())["decisions"]))  # oldest first


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def holder_pid(r: redis.Redis) -> int | None:
    value = r.get(LEADER_KEY)
    return int(value.decode().split(":")[1]) if value else None


@pytest.fixture
def setup(tmp_path):
    upstreams = Upstreams({"fast-cpu": 0.4, "fast-gpu": 0.05, "same-cpu": 0.3, "same-gpu": 0.3}).start()
    routes = tmp_path / "routes.yml"
    annotations = {"com.gaia.mode": "cpu_preferred", "com.gaia.slo-ms": "200", "com.gaia.idle-demote-seconds": "3"}
    routes.write_text(json.dumps({"functions": {
        name: {"variants": {"cpu": f"{upstreams.url}/{name}-cpu", "gpu": f"{upstreams.url}/{name}-gpu"},
               "annotations": annotations} for name in ("fast", "same")}}))
    server = RedisServer().start()
    plugins: list[Plugin] = []
    try:
        plugins.append(Plugin(routes, server.url))
        client = redis.Redis.from_url(server.url)
        wait_for(lambda: holder_pid(client) in plugins[0].worker_pids(), 10, "the first plugin to take the lease")
        plugins.append(Plugin(routes, server.url))
        yield upstreams, plugins, client
        client.close()
    finally:
        for plugin in plugins:
            plugin.stop()
        server.close()


def test_promote_verify_demote_and_leader_handover_without_failed_requests(setup):
    upstreams, (leader, follower), r = setup
    fast = Clients(follower.url, "fast").start()
    same = Clients(follower.url, "same").start()
    try:
        # fast: the CPU misses the 200 ms SLO, the GPU helps -> promoted, verified, the CPU released.
        wait_for(lambda: any(d["action"] == "scale_down" and d["reason"] == "gpu-verified"
                             for d in decisions(follower, "fast")), 40, "fast to be promoted and verified")
        history = decisions(follower, "fast")
        promotion = next(d for d in history if d["action"] == "switch")
        assert (promotion["from"], promotion["to"], promotion["reason"]) == ("cpu", "gpu", "cpu-violates-slo")
        assert promotion["numbers"]["cpu_p_ms"] > 200 and promotion["numbers"]["slow_requests"] >= 3
        assert holder_pid(r) in leader.worker_pids() and str(holder_pid(r)) in promotion["by"]
        # The GPU answered its warm-up before any client request reached it.
        first_gpu_answer = min(t for t, status, variant in fast.results if variant == "gpu")
        assert upstreams.warmups["fast-gpu"] and min(upstreams.warmups["fast-gpu"]) < first_gpu_answer
        # same: the GPU is no faster -> promoted, found not to help, demoted at once.
        wait_for(lambda: [d["reason"] for d in decisions(follower, "same") if d["action"] == "switch"][:2] ==
                 ["cpu-violates-slo", "gpu-does-not-help"], 30, "same to be promoted and demoted")
        status = subprocess.run([sys.executable, "-m", "gaia_faas.cli", "status", "--url", follower.url],
                                capture_output=True, text=True, timeout=30)
        assert status.returncode == 0, status.stderr
        assert "fast" in status.stdout and "gpu-does-not-help" in status.stdout

        # Kill the leader; the follower's controller takes over within two TTLs.
        old = holder_pid(r)
        killed_at = time.monotonic()
        leader.kill()
        wait_for(lambda: holder_pid(r) in follower.worker_pids(), 2 * TTL_S + 1.0, "the follower to take the lease")
        assert time.monotonic() - killed_at <= 2 * TTL_S + 0.5
        assert holder_pid(r) != old

        # The new leader acts: fast goes idle on the GPU and is demoted to the CPU.
        fast.stop()
        wait_for(lambda: any(d["action"] == "switch" and d["reason"] == "gpu-idle" for d in decisions(follower, "fast")),
                 30, "the idle function to be demoted by the new leader")
        demotion = [d for d in decisions(follower, "fast") if d["reason"] == "gpu-idle"][0]
        assert (demotion["from"], demotion["to"]) == ("gpu", "cpu")
        assert str(holder_pid(r)) in demotion["by"]
        after = Clients(follower.url, "fast", threads=1).start()
        wait_for(lambda: len(after.results) >= 3, 20, "calls after the demotion")
        after.stop()
        assert {variant for _, _, variant in after.results} == {"cpu"}
        assert not after.failures()
    finally:
        fast.stop()
        same.stop()
    assert not fast.failures(), fast.failures()[:5]
    assert not same.failures(), same.failures()[:5]
    assert {v for _, _, v in fast.results} == {"cpu", "gpu"}
    assert {v for _, _, v in same.results} == {"cpu", "gpu"}
