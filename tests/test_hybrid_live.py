"""Hybrid dispatch live: real `gaia gateway` processes (static routes, two workers), a real Redis, and two loopback
upstreams whose latency is a function of the request's size — the CPU steep, the GPU flat with a higher floor."""

from __future__ import annotations

import asyncio
import hashlib
import http.client
import json
import math
import random
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import redis.asyncio as aioredis
from aiohttp import web

from gaia_faas.gateway_plugin.routes import RouteTable
from gaia_faas.processes import free_port

from tests.test_gateway_proxy import Gateway, call

LATENCY_MS = {"cpu": lambda n: 1.0 + n / 20.0, "gpu": lambda n: 40.0}
TRUE_CROSSOVER = 780.0  # 1 + n / 20 = 40: with equal prices the cheaper call is the faster one


class SizedUpstreams:
    """Two HTTP servers (the variants) on one event loop thread: POST / with a JSON body {"n": ...} answers after
    LATENCY_MS[variant](n), with the body's length and digest."""

    def __init__(self):
        self.ports = {variant: free_port() for variant in LATENCY_MS}
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def handler(self, variant):
        async def answer(request):
            body = await request.read()
            n = json.loads(body)["n"]
            await asyncio.sleep(LATENCY_MS[variant](n) / 1000.0)
            return web.json_response({"variant": variant, "bytes": len(body), "sha256": hashlib.sha256(body).hexdigest()})
        return answer

    def _serve(self):
        asyncio.set_event_loop(self._loop)
        for variant, port in self.ports.items():
            app = web.Application(client_max_size=16 * 1024 * 1024)
            app.router.add_post("/", self.handler(variant))
            runner = web.AppRunner(app, access_log=None)
            self._loop.run_until_complete(runner.setup())
            self._loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port).start())
        self._ready.set()
        self._loop.run_forever()

    def __enter__(self):
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc):
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


def send(url, n, padding=0):
    body = json.dumps({"n": n, "pad": "x" * padding}).encode()
    status, headers, answer = call(url, "POST", body, {"Content-Type": "application/json"})
    assert status == 200, answer
    served = json.loads(answer)
    assert served["variant"] == headers["X-Gaia-Variant"]
    assert served["bytes"] == len(body) and served["sha256"] == hashlib.sha256(body).hexdigest()
    return served["variant"]


def switch(redis_url, variant):
    async def write():
        client = aioredis.Redis.from_url(redis_url)
        try:
            await RouteTable(client, lambda _: "cpu").switch("mm", variant, "test: the function moved", by="test")
        finally:
            await client.aclose()
    asyncio.run(write())


def test_small_requests_go_to_the_cpu_big_ones_to_the_gpu_and_the_crossover_is_learned(tmp_path, redis_url):
    rng = random.Random(11)
    sizes = [math.exp(rng.uniform(math.log(100), math.log(3000))) for _ in range(360)]
    with SizedUpstreams() as upstreams:
        routes = tmp_path / "routes.yml"
        routes.write_text("functions:\n  mm:\n    variants: {"
                          + ", ".join(f"{v}: 'http://127.0.0.1:{p}'" for v, p in upstreams.ports.items()) + "}\n"
                          "    annotations: {com.gaia.size-from: 'json:n', com.gaia.price-cpu: '1', com.gaia.price-gpu: '1'}\n")
        gateway = Gateway(["--routes", str(routes), "--redis-url", redis_url, "--workers", "2", "--controller"])
        try:
            url = gateway.url + "/function/mm"
            # Warm-up: the route on the CPU, then on the GPU (as after a promotion, the CPU still up), twice, so
            # that a spell of load on this shared machine falls on both; a tenth of the calls explore the other.
            with ThreadPoolExecutor(4) as pool:
                for phase, variant in enumerate(("cpu", "gpu", "cpu", "gpu")):
                    if phase:
                        switch(redis_url, variant)
                    list(pool.map(lambda n: send(url, n), sizes[phase * 90:(phase + 1) * 90]))
            deadline = time.monotonic() + 6
            while True:
                hybrid = json.loads(call(gateway.url + "/gaia/v1/functions/mm")[2])["hybrid"]
                if hybrid["mode"] == "hybrid" or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            small = [send(url, n) for n in (120, 200, 300, 450) * 8]
            big = [send(url, n, padding=150_000 if i == 0 else 0) for i, n in enumerate((1300, 1800, 2400, 2900) * 8)]
            listed = json.loads(call(gateway.url + "/gaia/v1/functions")[2])["functions"][0]["hybrid"]
            deadline = time.monotonic() + 6  # the leader records it at its next evaluation of mm
            while True:
                decisions = json.loads(call(gateway.url + "/gaia/v1/decisions?function=mm")[2])["decisions"]
                if any(d["action"] == "hybrid_on" for d in decisions) or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
        finally:
            gateway.stop()
    assert hybrid["mode"] == "hybrid" and hybrid["size_from"] == "json:n" and hybrid["both_warm"]
    crossover = hybrid["crossover_size"]
    assert abs(crossover - TRUE_CROSSOVER) <= 0.2 * TRUE_CROSSOVER, json.dumps(hybrid["variants"])
    assert listed["crossover_size"] is not None and abs(listed["crossover_size"] - TRUE_CROSSOVER) <= 0.2 * TRUE_CROSSOVER
    # The controller holds the CPU (the standby, the route being on the GPU) for hybrid dispatch, and says so.
    held = [d for d in decisions if d["action"] == "hybrid_on"]
    assert held and held[0]["from"] == "gpu" and held[0]["to"] == "cpu" and held[0]["numbers"]["crossover_size"] > 0
    # Exploration (3 %) may send a few the other way.
    assert small.count("cpu") >= 28 and big.count("gpu") >= 28, (small, big)


def test_bodies_without_a_size_chunked_bodies_and_stalled_bodies(tmp_path, redis_url):
    with SizedUpstreams() as upstreams:
        routes = tmp_path / "routes.yml"
        routes.write_text("functions:\n  mm:\n    variants: {"
                          + ", ".join(f"{v}: 'http://127.0.0.1:{p}'" for v, p in upstreams.ports.items()) + "}\n"
                          "    annotations: {com.gaia.size-from: 'json:n'}\n")
        gateway = Gateway(["--routes", str(routes), "--redis-url", redis_url, "--workers", "1", "--body-timeout", "1",
                           "--body-min-rate", "2000"])
        try:
            # {"n": ...} parses for the upstream, but the field comes after a value cut by the 64 KiB prefix.
            late = json.dumps({"pad": "x" * 100_000, "n": 5}).encode()
            status, headers, answer = call(gateway.url + "/function/mm", "POST", late)
            connection = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=10)
            body = json.dumps({"n": 2000, "pad": "y" * 300_000}).encode()
            connection.request("POST", "/function/mm", body=iter([body[:1000], body[1000:]]), encode_chunked=True,
                               headers={"Transfer-Encoding": "chunked"})
            chunked = connection.getresponse()
            chunked_answer = json.loads(chunked.read())
            connection.close()
            with socket.create_connection(("127.0.0.1", gateway.port), timeout=10) as sock:
                sock.sendall(b"POST /function/mm HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"n\": 1")
                started = time.monotonic()
                stalled = sock.recv(65536)
                stalled_after_s = time.monotonic() - started
            # A trickle (a byte every 0.2 s) is refused by the minimum rate while the size is still being read.
            with socket.create_connection(("127.0.0.1", gateway.port), timeout=10) as sock:
                sock.sendall(b"POST /function/mm HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n{")
                started = time.monotonic()
                sock.settimeout(0.2)
                trickled = b""
                while not trickled and time.monotonic() - started < 8:
                    try:
                        sock.sendall(b" ")
                        trickled = sock.recv(65536)
                    except socket.timeout:
                        continue
                    except OSError:  # the plugin closed the connection after its answer
                        break
                trickled_after_s = time.monotonic() - started
        finally:
            gateway.stop()
    assert status == 200 and headers["X-Gaia-Variant"] == "cpu"  # no size: the route
    assert json.loads(answer)["sha256"] == hashlib.sha256(late).hexdigest()
    assert chunked.status == 200 and chunked_answer["sha256"] == hashlib.sha256(body).hexdigest()
    assert stalled.startswith(b"HTTP/1.1 408") and stalled_after_s < 5
    assert trickled.startswith(b"HTTP/1.1 408") and trickled_after_s < 5, trickled
