"""The data path end to end: real `gaia gateway` processes (gunicorn + aiohttp workers), a real Redis, and
real upstream HTTP servers on loopback standing in for the OpenFaaS gateway and for Knative services."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import psutil
import pytest
import redis
import redis.asyncio as aioredis
from aiohttp import web

from gaia_faas.gateway_plugin.routes import RouteTable
from gaia_faas.processes import RedisServer, free_port, wait_for_http

TOKEN = "test-token-123"
MB = 1024 * 1024


class FakeOpenFaaS:
    """An OpenFaaS gateway stand-in: /system/functions behind basic auth, /function/<svc>/... echoing what it
    got (with X-Duration-Seconds like the watchdog), and switches to make a variant fail as a platform."""

    def __init__(self):
        self.seen: list[tuple[str, str]] = []  # (method, raw path) of the calls that reached it
        self.platform_down: dict[str, int] = {}  # service -> status of a provider-style failure
        self.raw_answer: bytes | None = None  # when set, GET /system/functions answers these bytes instead
        self.extra_functions: list = []  # added to the listing
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    functions = [
        {"name": "matmul-cpu", "namespace": "openfaas-fn", "labels": {"com.gaia.function": "matmul", "com.gaia.variant": "cpu"},
         "annotations": {"com.gaia.mode": "cpu_preferred", "com.gaia.slo-ms": "500", "other": "x"}},
        {"name": "matmul-gpu", "namespace": "openfaas-fn", "labels": {"com.gaia.function": "matmul", "com.gaia.variant": "gpu"},
         "annotations": {"com.gaia.mode": "cpu_preferred", "com.gaia.slo-ms": "500"}},
        {"name": "hello", "namespace": "openfaas-fn", "labels": {}, "annotations": {}},
    ]

    async def system_functions(self, request):
        expected = "Basic " + base64.b64encode(b"admin:s3cret").decode()
        if request.headers.get("Authorization") != expected:
            return web.Response(status=401, headers={"WWW-Authenticate": 'Basic realm="Restricted"'})
        if self.raw_answer is not None:
            return web.Response(body=self.raw_answer, content_type="application/json")
        return web.json_response(self.functions + self.extra_functions)

    async def invoke(self, request):
        service = request.match_info["service"]
        rest = request.match_info.get("rest", "")
        if service in self.platform_down:
            await request.read()
            return web.Response(status=self.platform_down[service], text=f"No endpoints available for: {service}.",
                                headers={"X-OpenFaaS-Internal": "proxy"})
        headers = {"X-Duration-Seconds": "0.001000"}
        if rest == "fail":
            return web.Response(status=500, text="handler exploded", headers=headers)
        if rest == "upload":
            digest, size = hashlib.sha256(), 0
            async for chunk in request.content.iter_chunked(MB):
                digest.update(chunk)
                size += len(chunk)
            return web.json_response({"size": size, "sha256": digest.hexdigest(),
                                      "chunked": "Transfer-Encoding" in request.headers,
                                      "content_length": request.headers.get("Content-Length")}, headers=headers)
        if rest == "download":
            size = int(request.query["bytes"])
            response = web.StreamResponse(headers={**headers, "Content-Type": "application/octet-stream",
                                                   "Content-Length": str(size)})
            await response.prepare(request)
            block = b"x" * MB
            for offset in range(0, size, MB):
                await response.write(block[: min(MB, size - offset)])
            await response.write_eof()
            return response
        if rest == "broken":  # promises 1000 bytes, sends 10, hangs up
            response = web.StreamResponse(headers={**headers, "Content-Length": "1000"})
            await response.prepare(request)
            await response.write(b"x" * 10)
            request.transport.close()
            return response
        if rest == "sleep":
            await asyncio.sleep(int(request.query["ms"]) / 1000)
        body = await request.read()
        return web.json_response({
            "service": service, "path": request.raw_path, "method": request.method, "body": body.decode(errors="replace"),
            "headers": [[k, v] for k, v in request.headers.items()],
        }, headers={**headers, "Connection": "keep-alive, X-Upstream-Hop", "X-Upstream-Hop": "secret", "Set-Cookie": "a=b"})

    @web.middleware
    async def record(self, request, handler):
        if request.path != "/system/functions":  # the plugin's periodic discovery is not traffic
            self.seen.append((request.method, request.raw_path))
        return await handler(request)

    def _serve(self):
        asyncio.set_event_loop(self._loop)
        app = web.Application(middlewares=[self.record], client_max_size=200 * MB)
        app.router.add_get("/system/functions", self.system_functions)
        app.router.add_route("*", "/function/{service}", self.invoke)
        app.router.add_route("*", "/function/{service}/{rest:.*}", self.invoke)
        app.router.add_post("/async-function/{service}", self.async_invoke)
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/system/info", self.system_info)
        self._runner = web.AppRunner(app, access_log=None)
        self._loop.run_until_complete(self._runner.setup())
        self._loop.run_until_complete(web.TCPSite(self._runner, "127.0.0.1", self.port).start())
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(self._runner.cleanup())
        self._loop.close()

    async def async_invoke(self, request):
        await request.read()
        return web.Response(status=202, headers={"X-Call-Id": "queued-1"})

    async def healthz(self, request):
        return web.Response(text="OK")

    async def system_info(self, request):
        return web.Response(text="info " + request.headers.get("Authorization", "none"))

    def start(self):
        self._thread.start()
        self._ready.wait(10)
        return self

    def stop(self):
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


class Gateway:
    """One `gaia gateway` process (gunicorn arbiter + workers)."""

    def __init__(self, args, env=None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gaia_faas.cli", "gateway", "--bind", f"127.0.0.1:{self.port}", *args],
            env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        try:
            wait_for_http(self.url + "/gaia/v1/health", timeout=30, proc=self.proc)
        except Exception:
            self.stop()
            raise

    def workers(self) -> list[psutil.Process]:
        return psutil.Process(self.proc.pid).children()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stderr.close()


def call(url, method="GET", body=None, headers=None, timeout=30):
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


def raw_request(port, target: bytes, extra_headers: bytes = b"") -> tuple[int, bytes]:
    """Send a request line exactly as given (no client-side normalisation)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + extra_headers + b"\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    status = int(data.split(b" ", 2)[1])
    return status, data


@pytest.fixture(scope="module")
def openfaas():
    server = FakeOpenFaaS().start()
    yield server
    server.stop()


@pytest.fixture
def upstream():
    """A FakeOpenFaaS of the test's own (these tests start their own plugin processes)."""
    server = FakeOpenFaaS().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def module_redis():
    server = RedisServer().start()
    yield server
    server.close()


@pytest.fixture(scope="module")
def gateways(openfaas, module_redis, tmp_path_factory):
    """Two plugin processes (two workers each) in OpenFaaS mode sharing one Redis."""
    token_file = tmp_path_factory.mktemp("secrets") / "api-token"
    token_file.write_text(TOKEN + "\n")  # as `echo TOKEN > file` and most editors leave it
    env = {"OPENFAAS_PASSWORD": "s3cret"}
    args = ["--upstream", openfaas.url, "--redis-url", module_redis.url, "--workers", "2", "--retry-after", "1",
            "--discovery-interval", "1", "--api-token-file", str(token_file), "--body-timeout", "1",
            "--body-min-rate", "2000", "--redis-timeout", "0.5", "--api-read-rate", "4000"]
    started = []
    try:
        for _ in range(2):
            started.append(Gateway(args, env))
        yield started
    finally:
        for gateway in started:
            gateway.stop()


@pytest.fixture
def gw(gateways, module_redis, openfaas):
    """The first plugin process, with routes reset to their start variants."""
    client = redis.Redis.from_url(module_redis.url)
    for key in client.scan_iter("gaia:route:*"):
        client.delete(key)
    client.publish("gaia:routes:changed", json.dumps({"function": "matmul", "variant": "cpu", "pinned": "0",
                                                      "reason": "test reset", "changed_at": "0", "by": "test"}))
    client.close()
    openfaas.platform_down.clear()
    openfaas.raw_answer = None
    openfaas.extra_functions = []
    time.sleep(0.05)
    return gateways[0]


def test_managed_function_goes_to_start_variant_with_path_query_and_body(gw):
    status, headers, body = call(gw.url + "/function/matmul/a/b?x=1&y=%20z", "POST", b"payload")
    seen = json.loads(body)
    assert status == 200 and headers["X-Gaia-Variant"] == "cpu"
    assert seen["service"] == "matmul-cpu" and seen["path"] == "/function/matmul-cpu/a/b?x=1&y=%20z"
    assert seen["method"] == "POST" and seen["body"] == "payload"
    status, _, body = call(gw.url + "/function/matmul")
    assert status == 200 and json.loads(body)["path"] == "/function/matmul-cpu"
    status, headers, body = call(gw.url + "/function/matmul/x", "HEAD")
    assert status == 200 and body == b"" and headers["X-Gaia-Variant"] == "cpu" and int(headers["Content-Length"]) > 0


def test_unmanaged_and_system_paths_pass_through_unchanged(gw, openfaas):
    status, headers, body = call(gw.url + "/function/hello/x?q=1", "PUT", b"hi")
    seen = json.loads(body)
    assert status == 200 and seen["path"] == "/function/hello/x?q=1" and "X-Gaia-Variant" not in headers
    assert call(gw.url + "/healthz")[2] == b"OK"
    status, _, body = call(gw.url + "/system/info", headers={"Authorization": "Basic abc"})
    assert body == b"info Basic abc"
    status, _, _ = call(gw.url + "/system/functions")
    assert status == 401  # the upstream's answer, credentials are never added by the plugin


def test_discovery_refresh_picks_up_new_and_removed_functions(gw, openfaas):
    added = {"name": "resnet-gpu", "labels": {"com.gaia.function": "resnet", "com.gaia.variant": "gpu"},
             "annotations": {"com.gaia.mode": "gpu"}}
    openfaas.functions = FakeOpenFaaS.functions + [added]
    try:
        time.sleep(1.5)  # --discovery-interval 1
        names = {f["name"] for f in json.loads(call(gw.url + "/gaia/v1/functions")[2])["functions"]}
        status, headers, body = call(gw.url + "/function/resnet/x")
    finally:
        openfaas.functions = FakeOpenFaaS.functions
    assert names == {"matmul", "resnet"}
    assert status == 200 and headers["X-Gaia-Variant"] == "gpu" and json.loads(body)["service"] == "resnet-gpu"
    time.sleep(1.5)
    names = {f["name"] for f in json.loads(call(gw.url + "/gaia/v1/functions")[2])["functions"]}
    assert names == {"matmul"}


def test_header_handling(gw):
    # http.client, not urllib: urllib replaces the Connection header with its own "close".
    connection = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=10)
    connection.request("GET", "/function/matmul/h", headers={
        "Authorization": "Bearer client-secret", "Connection": "keep-alive, X-Drop-Me", "X-Drop-Me": "1",
        "Proxy-Authorization": "Basic zzz", "X-Custom": "kept", "X-Forwarded-For": "10.0.0.9"})
    response = connection.getresponse()
    headers, body = response.headers, response.read()
    connection.close()
    sent = {k.lower(): v for k, v in json.loads(body)["headers"]}
    assert sent["authorization"] == "Bearer client-secret" and sent["x-custom"] == "kept"
    assert "x-drop-me" not in sent and "proxy-authorization" not in sent
    assert sent["x-forwarded-for"] == "10.0.0.9, 127.0.0.1"
    assert sent["x-forwarded-host"] == f"127.0.0.1:{gw.port}" and sent["x-forwarded-proto"] == "http"
    assert sent["x-call-id"] and headers["X-Call-Id"] == sent["x-call-id"]  # created here, echoed to the client
    status, headers, body = call(gw.url + "/function/matmul/h", headers={"X-Call-Id": "client-id-7"})
    sent = [v for k, v in json.loads(body)["headers"] if k.lower() == "x-call-id"]
    assert sent == ["client-id-7"] and "X-Call-Id" not in headers
    # Response: hop-by-hop headers and the ones named in Connection are gone; the rest passes.
    assert "X-Upstream-Hop" not in headers and headers["Set-Cookie"] == "a=b"
    assert headers["X-Duration-Seconds"] == "0.001000"


def test_async_invocation_goes_to_variant(gw, openfaas):
    status, headers, _ = call(gw.url + "/async-function/matmul", "POST", b"job")
    assert status == 202 and headers["X-Gaia-Variant"] == "cpu"
    assert ("POST", "/async-function/matmul-cpu") in openfaas.seen


def test_route_change_seen_by_two_processes_within_100ms(gateways, gw, module_redis):
    async def switch():
        client = aioredis.Redis.from_url(module_redis.url)
        await RouteTable(client, lambda f: "cpu").switch("matmul", "gpu", "test switch")
        await client.aclose()

    asyncio.run(switch())
    time.sleep(0.1)
    # Several calls per process so that both workers of each process are asked.
    variants = {call(g.url + "/function/matmul")[1]["X-Gaia-Variant"] for g in gateways for _ in range(8)}
    assert variants == {"gpu"}


def test_pin_api_requires_token_and_blocks_controller(gateways, gw, module_redis):
    pin_url = gw.url + "/gaia/v1/functions/matmul/pin"
    body = json.dumps({"variant": "gpu", "reason": "operator test"}).encode()
    assert call(pin_url, "PUT", body)[0] == 401
    assert call(pin_url, "PUT", body, {"Authorization": "Bearer wrong"})[0] == 401
    status, _, answer = call(pin_url, "PUT", b"{bad", {"Authorization": f"Bearer {TOKEN}"})
    assert status == 400 and b"JSON" in answer
    assert call(pin_url, "PUT", b'{"variant": "tpu"}', {"Authorization": f"Bearer {TOKEN}"})[0] == 400
    status, _, answer = call(pin_url, "PUT", body, {"Authorization": f"Bearer {TOKEN}"})
    assert status == 200 and json.loads(answer)["pinned"] is True

    async def controller_switch():
        client = aioredis.Redis.from_url(module_redis.url)
        try:
            await RouteTable(client, lambda f: "cpu").switch("matmul", "cpu", "controller")
        finally:
            await client.aclose()

    from gaia_faas.gateway_plugin.routes import RoutePinned

    with pytest.raises(RoutePinned):
        asyncio.run(controller_switch())
    time.sleep(0.1)
    status, _, answer = call(gateways[1].url + "/gaia/v1/functions/matmul")
    doc = json.loads(answer)
    assert doc["route"]["variant"] == "gpu" and doc["route"]["pinned"] is True
    assert doc["annotations"] == {"com.gaia.mode": "cpu_preferred", "com.gaia.slo-ms": "500"}
    status, _, answer = call(pin_url, "DELETE", headers={"Authorization": f"Bearer {TOKEN}"})
    assert status == 200 and json.loads(answer)["pinned"] is False
    assert call(gw.url + "/gaia/v1/functions/nope", headers={})[0] == 404
    assert call(gw.url + "/gaia/v1/functions/matmul?window=0")[0] == 400


def test_stats_recorded_in_redis_and_reported(gw):
    for _ in range(20):
        assert call(gw.url + "/function/matmul/sleep?ms=30")[0] == 200
    assert call(gw.url + "/function/matmul/fail")[0] == 500
    time.sleep(1.6)  # flush (250 ms) and let the current second close
    doc = json.loads(call(gw.url + "/gaia/v1/functions/matmul?window=30")[2])
    cpu = doc["stats"]["cpu"]
    assert cpu["status_counts"].get("500") == 1 and cpu["errors"] >= 1 and cpu["platform_faults"] == 0
    assert cpu["status_counts"]["200"] >= 20
    assert 30 <= cpu["p50_ms"] <= 60  # includes the 30 ms sleep; within 5% of it plus loopback overhead
    metrics = call(gw.url + "/metrics")[2].decode()
    assert 'gaia_requests_total{code="500",function="matmul",variant="cpu"}' in metrics


def test_handler_error_is_not_failed_over_but_platform_fault_is(gw, openfaas):
    status, headers, body = call(gw.url + "/function/matmul/fail")
    assert status == 500 and headers["X-Gaia-Variant"] == "cpu" and body == b"handler exploded"

    openfaas.platform_down["matmul-cpu"] = 503
    # GET has no body: retried on gpu at once.
    status, headers, _ = call(gw.url + "/function/matmul/x")
    assert status == 200 and headers["X-Gaia-Variant"] == "gpu" and headers["X-Gaia-Failover-From"] == "cpu"
    # A POST with a body that reached the platform is not replayed: the client gets the platform's answer...
    outcomes = [call(gw.url + "/function/matmul/x", "POST", b"body") for _ in range(6)]
    statuses = [(s, h["X-Gaia-Variant"]) for s, h, _ in outcomes]
    # ...at most once per worker; afterwards cpu is out of rotation and calls go to gpu.
    assert statuses[-1] == (200, "gpu")
    assert all(s in ((503, "cpu"), (200, "gpu")) for s in statuses)

    # For the whole outage no client call is sent to cpu as a probe: the plugin probes with its own request.
    reached_cpu = len([p for m, p in openfaas.seen if p.startswith("/function/matmul-cpu/x")])
    outage = [call(gw.url + "/function/matmul/x", "POST", b"body") for _ in range(12) if not time.sleep(0.2)]
    assert all(s == 200 and h["X-Gaia-Variant"] == "gpu" for s, h, _ in outage)
    assert len([p for m, p in openfaas.seen if p.startswith("/function/matmul-cpu/x")]) == reached_cpu
    probes = [p for m, p in openfaas.seen if p == "/function/matmul-cpu/_/health" and m == "GET"]
    assert len(probes) >= 2  # 2.4 s with --retry-after 1: at least one failed probe per worker
    health = json.loads(call(gw.url + "/gaia/v1/health")[2])
    assert health["status"] in ("ok", "degraded")

    openfaas.platform_down.clear()
    time.sleep(1.5)  # past --retry-after: the next probe answers 200 and cpu is back
    variants = [call(gw.url + "/function/matmul/x")[1]["X-Gaia-Variant"] for _ in range(6)]
    assert variants == ["cpu"] * 6


def test_upstream_breaking_off_its_answer_gives_clear_502(gw):
    status, headers, body = call(gw.url + "/function/matmul/broken")
    assert status == 502 and headers["X-Gaia-Error"] == "variant-broke-off"
    assert b"variant cpu of matmul (matmul-cpu) broke off its answer" in body
    assert call(gw.url + "/function/matmul/x")[0] == 200  # the worker carries on


@pytest.mark.parametrize("target", [
    b"/function/..%2f..%2fsystem%2ffunctions", b"/function/%2e%2e/system/functions", b"/function/../system/functions",
    b"/function/matmul/../../system/functions", b"/function/matmul/%2E%2E/%2e%2E/system/functions",
    b"/function/matmul/.%2e/x", b"/function/ma%00tmul", b"/function/matmul%2fx", b"/function/a/b%5c..",
    b"/function/" + b"a" * 200, b"/function/", b"/function/bad name", b"/function/x..y",
    b"http://evil.example/function/matmul",
])
def test_hostile_targets_get_400_and_reach_no_upstream(gw, openfaas, target):
    before = len(openfaas.seen)
    status, data = raw_request(gw.port, target)
    assert status == 400, data
    assert b"gaia:" in data or b"Bad Request" in data
    assert len(openfaas.seen) == before


def test_oversized_header_gets_4xx(gw, openfaas):
    before = len(openfaas.seen)
    status, _ = raw_request(gw.port, b"/function/matmul", b"X-Big: " + b"a" * 20000 + b"\r\n")
    assert 400 <= status < 500
    assert len(openfaas.seen) == before


def test_large_bodies_stream_with_flat_memory(upstream):
    """100 MB up and 100 MB down through a one-worker plugin; the worker's RSS stays flat."""
    with RedisServer() as redis_server:
        gateway = Gateway(["--upstream", upstream.url, "--redis-url", redis_server.url, "--workers", "1"],
                          {"OPENFAAS_PASSWORD": "s3cret"})
        try:
            worker = gateway.workers()[0]
            call(gateway.url + "/function/matmul/x")  # warm up: client session, pools
            baseline = worker.memory_info().rss
            peak = [baseline]
            stop = threading.Event()

            def sample():
                while not stop.is_set():
                    peak[0] = max(peak[0], worker.memory_info().rss)
                    time.sleep(0.02)

            sampler = threading.Thread(target=sample)
            sampler.start()
            size = 100 * MB
            block = os.urandom(MB)
            expected = hashlib.sha256(block * 100).hexdigest()

            connection = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=60)
            connection.putrequest("POST", "/function/matmul/upload")
            connection.putheader("Content-Length", str(size))
            connection.endheaders()
            for _ in range(100):
                connection.send(block)
            response = connection.getresponse()
            upload = json.loads(response.read())
            connection.close()

            connection = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=60)
            connection.request("GET", f"/function/matmul/download?bytes={size}")
            response = connection.getresponse()
            received = 0
            while chunk := response.read(MB):
                received += len(chunk)
            connection.close()
            stop.set()
            sampler.join()
        finally:
            gateway.stop()
    assert upload["size"] == size and upload["sha256"] == expected
    assert upload["content_length"] == str(size) and not upload["chunked"]
    assert response.status == 200 and received == size
    growth = peak[0] - baseline
    assert growth < 30 * MB, f"worker RSS grew by {growth / MB:.1f} MB while streaming 2 x 100 MB"


def test_redis_stopped_mid_traffic_no_failed_requests_drops_counted_and_recovery(openfaas):
    redis_server = RedisServer().start()
    gateway = Gateway(["--upstream", openfaas.url, "--redis-url", redis_server.url, "--workers", "1"],
                      {"OPENFAAS_PASSWORD": "s3cret"})
    failures = []
    count = [0]
    stop = threading.Event()

    def traffic():
        while not stop.is_set():
            status = call(gateway.url + "/function/matmul/x")[0]
            count[0] += 1
            if status != 200:
                failures.append(status)

    worker = threading.Thread(target=traffic)
    try:
        worker.start()
        time.sleep(0.5)
        redis_server.stop()
        time.sleep(1.5)
        during_outage = count[0]
        redis_server.start()
        time.sleep(2.0)  # route sync retries at least every second
        stop.set()
        worker.join()
        metrics = call(gateway.url + "/metrics")[2].decode()
        health = json.loads(call(gateway.url + "/gaia/v1/health")[2])

        async def recent_count():
            client = aioredis.Redis.from_url(redis_server.url)
            from gaia_faas.gateway_plugin.stats import StatsReader

            window = await StatsReader(client).recent("matmul", "cpu", 2)
            await client.aclose()
            return window.count

        recorded_after_recovery = asyncio.run(recent_count())

        async def switch_to_gpu():
            client = aioredis.Redis.from_url(redis_server.url)
            await RouteTable(client, lambda f: "cpu").switch("matmul", "gpu", "after the outage")
            await client.aclose()

        asyncio.run(switch_to_gpu())
        time.sleep(0.1)
        variant_after_recovery = call(gateway.url + "/function/matmul/x")[1]["X-Gaia-Variant"]
    finally:
        stop.set()
        gateway.stop()
        redis_server.close()
    assert variant_after_recovery == "gpu"  # the route sync subscribed again
    assert failures == [] and during_outage > 20
    dropped = [line for line in metrics.splitlines() if line.startswith('gaia_records_dropped_total{reason="redis_error"}')]
    assert dropped and float(dropped[0].split()[-1]) > 0
    assert health["redis"] == "connected" and health["records_dropped"]["redis_error"] > 0
    assert recorded_after_recovery > 0


def test_static_mode_refused_variant_gives_clear_502_or_fails_over(tmp_path, redis_url, upstream):
    # The fake answers /function/<svc>/...; here it serves as plain HTTP services for the variants.
    dead = free_port()
    routes = tmp_path / "routes.yml"
    routes.write_text(
        "functions:\n"
        "  lonely:\n"
        f"    variants: {{gpu: 'http://127.0.0.1:{dead}'}}\n"
        "  pair:\n"
        f"    variants: {{cpu: 'http://127.0.0.1:{dead}', gpu: '{upstream.url}/function/pair-gpu'}}\n"
        "    annotations: {com.gaia.mode: cpu}\n"
        "  slowpoke:\n"
        f"    variants: {{cpu: '{upstream.url}/function/slow-cpu', gpu: '{upstream.url}/function/slow-gpu'}}\n")
    gateway = Gateway(["--routes", str(routes), "--redis-url", redis_url, "--workers", "1", "--read-timeout", "0.5"])
    try:
        # A function slower than --read-timeout gets a 504; that is the function's slowness, no failover.
        slow = call(gateway.url + "/function/slowpoke/sleep?ms=1500")
        after_slow = call(gateway.url + "/function/slowpoke/x")
        status, headers, body = call(gateway.url + "/function/lonely/x")
        # A POST with a body fails over too: the connection was refused before any byte was sent.
        pair = call(gateway.url + "/function/pair/echo", "POST", b"important")
        async_status, _, async_body = call(gateway.url + "/async-function/pair", "POST", b"x")
        passthrough = call(gateway.url + "/system/info")
    finally:
        gateway.stop()
    assert status == 502 and headers["X-Gaia-Variant"] == "gpu" and headers["X-Gaia-Error"] == "variant-unreachable"
    assert b"variant gpu of lonely" in body and b"refused the connection" in body
    assert pair[0] == 200 and pair[1]["X-Gaia-Variant"] == "gpu" and pair[1]["X-Gaia-Failover-From"] == "cpu"
    assert json.loads(pair[2])["body"] == "important" and json.loads(pair[2])["path"] == "/function/pair-gpu/echo"
    assert slow[0] == 504 and slow[1]["X-Gaia-Error"] == "variant-timeout" and b"no answer within 0.5 s" in slow[2]
    assert after_slow[0] == 200 and after_slow[1]["X-Gaia-Variant"] == "cpu" and "X-Gaia-Failover-From" not in after_slow[1]
    assert async_status == 501 and b"asynchronous" in async_body
    assert passthrough[0] == 404 and b"no upstream" in passthrough[2]


def test_bad_configuration_is_a_clear_error(tmp_path):
    broken = tmp_path / "routes.yml"
    broken.write_text("functions:\n  Bad_Name:\n    variants: {cpu: 'http://x'}\n")
    for args, message in (([], "give --upstream"), (["--routes", str(broken)], "not a DNS label"),
                          (["--routes", str(tmp_path / "missing.yml")], "cannot read routes file"),
                          (["--upstream", "gateway:8080"], "must be a URL"),
                          (["--upstream", "http://admin:s3cret@gateway:8080"], "--openfaas-password-file"),
                          (["--upstream", "http://gateway:8080", "--body-timeout", "0"], "--body-timeout must be positive"),
                          (["--upstream", "http://gateway:8080", "--openfaas-password-file", str(tmp_path / "nope")],
                           "cannot read the OpenFaaS password file")):
        result = subprocess.run([sys.executable, "-m", "gaia_faas.cli", "gateway", *args], capture_output=True,
                                text=True, timeout=30, env={k: v for k, v in os.environ.items() if not k.startswith("GAIA_")})
        assert result.returncode == 2, result.stderr
        assert message in result.stderr and "Traceback" not in result.stderr


# -- hardening: hostile clients, a misbehaving gateway, Redis faults (issue 12) -------------------------------


def _raw(port, data: bytes, timeout=10.0, pause_s=0.0, chunks=1) -> bytes:
    """Send ``data`` in ``chunks`` parts, ``pause_s`` apart, stopping when the server answers; return what it
    sent until it closed the connection (or ``timeout``)."""
    import select

    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        step = -(-len(data) // chunks)
        try:
            for offset in range(0, len(data), step):
                sock.sendall(data[offset:offset + step])
                if select.select([sock], [], [], pause_s)[0]:
                    break
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
                head, _, body = answer.partition(b"\r\n\r\n")
                length = re.search(rb"Content-Length: (\d+)", head)
                if length and len(body) >= int(length.group(1)):
                    break  # one whole answer
        except (ConnectionResetError, socket.timeout):
            pass
    return answer


def _metric(gateway, name: str) -> float:
    text = call(gateway.url + "/metrics")[2].decode()
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(name))


def test_header_block_over_the_cap_gets_431_whole_or_trickled_and_memory_stays_flat(gw, openfaas):
    before = len(openfaas.seen)
    lines = b"".join(b"X-H%d: %s\r\n" % (i, b"a" * 1000) for i in range(40))  # 40 KB > 32 KiB, each line fine
    answer = _raw(gw.port, b"GET /function/matmul/x HTTP/1.1\r\nHost: x\r\n" + lines + b"\r\n")
    assert answer[9:12] == b"431", answer[:200]
    # Trickled in without ever ending: refused as soon as the block passes the cap, not held open.
    started = time.monotonic()
    answer = _raw(gw.port, b"POST /function/matmul/x HTTP/1.1\r\nHost: x\r\n" + lines, pause_s=0.05, chunks=8)
    assert answer[9:12] == b"431" and time.monotonic() - started < 3
    # Too many headers (each tiny) is refused too; a request just under the caps passes.
    many = b"".join(b"X-H%d: 1\r\n" % i for i in range(150))
    assert _raw(gw.port, b"GET /function/matmul/x HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n")[9:12] in (b"400", b"431")
    fine = b"".join(b"X-H%d: %s\r\n" % (i, b"a" * 1000) for i in range(25))
    status, _, _ = call(gw.url + "/function/matmul/x", headers={f"X-H{i}": "a" * 1000 for i in range(25)})
    assert status == 200 and len(fine) < 32 * 1024
    assert len(openfaas.seen) == before + 1  # only the request under the caps reached the upstream

    # The attack of the issue, scaled down: 200 connections, 120 headers of 8 KB, then a trickled body.
    workers = gw.workers()
    baseline = sum(w.memory_info().rss for w in workers)
    flood = b"POST /function/matmul/upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n" + \
        b"".join(b"X-F%d: %s\r\n" % (i, b"b" * 8000) for i in range(120)) + b"\r\nx"
    socks = []
    for _ in range(200):
        sock = socket.create_connection(("127.0.0.1", gw.port), timeout=5)
        try:
            sock.sendall(flood)
        except (BrokenPipeError, ConnectionResetError):
            pass
        socks.append(sock)
    time.sleep(0.5)
    peak = sum(w.memory_info().rss for w in workers)
    refused = 0
    for sock in socks:
        try:
            refused += sock.recv(100)[9:12] == b"431"
        except OSError:
            refused += 1  # reset after the 431 went out
        sock.close()
    assert refused == 200
    assert peak - baseline < 60 * MB, f"workers grew by {(peak - baseline) / MB:.0f} MB under the header flood"
    assert len(openfaas.seen) == before + 1


def test_stalled_or_trickled_body_gets_408_and_the_upstream_call_is_abandoned(gw, openfaas):
    # --body-timeout 1 --body-min-rate 2000 (module gateways)
    head = b"POST /function/matmul/upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n"
    for pause_s, chunks in ((2.5, 1), (0.25, 12)):  # one pause of 2.5 s; a steady trickle of ~40 bytes/s
        started = time.monotonic()
        answer = _raw(gw.port, head + b"y" * (10 * chunks), pause_s=pause_s, chunks=chunks + 1)
        took = time.monotonic() - started
        assert answer[9:12] == b"408", answer[:200]
        assert b"request body stalled" in answer and took < 4, took
    assert _metric(gw, 'gaia_rejected_requests_total{reason="body_stalled"}') >= 2
    # A body that keeps coming passes.
    status, _, body = call(gw.url + "/function/matmul/upload", "POST", b"z" * 300_000)
    assert status == 200 and json.loads(body)["size"] == 300_000


def test_client_hanging_up_mid_upload_leaves_the_variant_in_rotation(gw, openfaas):
    faults = _metric(gw, "gaia_platform_faults_total")
    for _ in range(3):
        with socket.create_connection(("127.0.0.1", gw.port), timeout=5) as sock:
            sock.sendall(b"POST /function/matmul/upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" + b"y" * 5000)
            time.sleep(0.2)  # the call is under way upstream
    deadline = time.monotonic() + 5
    while _metric(gw, 'gaia_rejected_requests_total{reason="body_broken"}') < 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _metric(gw, 'gaia_rejected_requests_total{reason="body_broken"}') >= 3
    assert _metric(gw, "gaia_platform_faults_total") == faults  # the client's doing, not the variant's
    status, headers, _ = call(gw.url + "/function/matmul/x")
    assert status == 200 and headers["X-Gaia-Variant"] == "cpu" and "X-Gaia-Failover-From" not in headers


def test_discovery_garbage_conflicts_and_readiness(upstream, redis_url, tmp_path):
    upstream.raw_answer = b'\xff\xfe[{"name": "x"}]'  # not UTF-8
    log_path = tmp_path / "gateway.log"
    args = ["--upstream", upstream.url, "--redis-url", redis_url, "--workers", "1", "--discovery-interval", "0.3"]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "gaia_faas.cli", "gateway", "--bind", f"127.0.0.1:{(port := free_port())}", *args],
                                env={**os.environ, "OPENFAAS_PASSWORD": "s3cret"}, stdout=log, stderr=log, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(url + "/gaia/v1/alive", timeout=30, proc=proc)
        status, _, body = call(url + "/gaia/v1/health")
        health = json.loads(body)
        assert status == 503 and health["status"] == "starting" and "UTF-8" in health["registry_error"]
        upstream.raw_answer = None
        wait_for_http(url + "/gaia/v1/health", timeout=5, proc=proc)  # the first good discovery: ready
        assert call(url + "/function/matmul/x")[1]["X-Gaia-Variant"] == "cpu"

        for garbage in (b'[{"name": "matmul-cpu", "labels": ["com.gaia.function"]}]', b'{"functions": []}', b"<html>",
                        b"[1, 2]", b"[" * 100_000):
            upstream.raw_answer = garbage
            time.sleep(0.5)
            status, _, body = call(url + "/gaia/v1/health")
            health = json.loads(body)
            assert status == 200 and health["status"] == "degraded" and health["registry_error"], garbage[:40]
            status, headers, _ = call(url + "/function/matmul/x")  # still routing with the last good registry
            assert status == 200 and headers["X-Gaia-Variant"] == "cpu"
        assert proc.poll() is None and _metric(type("G", (), {"url": url}), "gaia_discovery_failures_total") >= 5
        assert 'gaia_registry_ok 0.0' in call(url + "/metrics")[2].decode()

        # An impostor claims matmul/gpu: neither it nor matmul-gpu is routed, and health says so.
        upstream.raw_answer = None
        upstream.extra_functions = [{"name": "evil", "namespace": "openfaas-fn",
                                     "labels": {"com.gaia.function": "matmul", "com.gaia.variant": "gpu"},
                                     "annotations": {"com.gaia.slo-ms": "1"}}]
        time.sleep(0.6)
        health = json.loads(call(url + "/gaia/v1/health")[2])
        assert health["status"] == "degraded" and health["registry_conflicts"] == [
            "matmul/gpu is claimed by 2 services (evil, matmul-gpu): none of them is routed"]
        doc = json.loads(call(url + "/gaia/v1/functions/matmul")[2])
        assert list(doc["variants"]) == ["cpu"] and doc["annotations"]["com.gaia.slo-ms"] == "500"
        client = redis.Redis.from_url(redis_url)
        client.hset("gaia:route:matmul", mapping={"variant": "gpu", "pinned": "1"})
        client.close()
        time.sleep(0.5)
        variants = {call(url + "/function/matmul/x")[1]["X-Gaia-Variant"] for _ in range(5)}
        assert variants == {"cpu"} and not any(p.startswith("/function/evil") for _, p in upstream.seen)
        assert "gaia_registry_conflicts 1.0" in call(url + "/metrics")[2].decode()
    finally:
        proc.terminate()
        proc.wait(timeout=15)
    log_text = log_path.read_text()
    assert log_text.count("Traceback") <= 1  # at most the one unexpected error, logged once with its stack
    assert "function registry not refreshed" in log_text and "claimed by 2 services" in log_text


def test_wrong_gateway_password_is_not_ready_and_says_why(upstream, redis_url):
    gateway = Gateway.__new__(Gateway)
    gateway.port = free_port()
    gateway.url = f"http://127.0.0.1:{gateway.port}"
    gateway.proc = subprocess.Popen(
        [sys.executable, "-m", "gaia_faas.cli", "gateway", "--bind", f"127.0.0.1:{gateway.port}", "--upstream", upstream.url,
         "--redis-url", redis_url, "--workers", "1"], env={**os.environ, "OPENFAAS_PASSWORD": "wrong"},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        wait_for_http(gateway.url + "/gaia/v1/alive", timeout=30, proc=gateway.proc)
        status, _, body = call(gateway.url + "/gaia/v1/health")
        health = json.loads(body)
        assert status == 503 and health["ready"] is False and "401" in health["registry_error"]
        assert "--openfaas-password-file" in health["registry_error"]
    finally:
        gateway.stop()


def test_api_stats_cost_is_bounded_cached_and_paced(gw, module_redis):
    client = redis.Redis.from_url(module_redis.url)
    now = int(time.time())
    pipe = client.pipeline(transaction=False)
    # Recorded traffic, one second in three, in seconds no API call has read yet (a worker caches sealed
    # seconds, which the recorder never writes to again).
    for second in range(now - 3600, now - 300, 3):
        pipe.hset(f"gaia:stats:matmul:cpu:{second}", mapping={"n": 2, "sum": 20.0, "b:100": 2, "s:200": 2})
    pipe.execute()

    def hgetalls():
        return int(client.info("commandstats")["cmdstat_hgetall"]["calls"])

    before = hgetalls()
    started = time.monotonic()
    status, _, body = call(gw.url + "/gaia/v1/functions/matmul?window=3600")
    cold_s = time.monotonic() - started
    cold = hgetalls() - before
    doc = json.loads(body)
    expected = 2 * len(range(now - 3600, now - 300, 3))
    # (plus the calls earlier tests of this module made through the plugin)
    assert status == 200 and expected - 4 <= doc["stats"]["cpu"]["status_counts"]["200"] <= expected + 500
    # (the controller reads its own windows meanwhile: a few hundred HGETALLs at most)
    assert cold <= 2 * 3600 + 300 and cold_s > 1.5  # paced at 4,000 reads/s per worker (--api-read-rate), not one burst
    # Repeated calls read only the last seconds. Each of the two workers has its own cache, and which one
    # answers is the kernel's choice: at most one more call (the other worker's first) reads the hour.
    costs, statuses = [], []
    for _ in range(6):
        before = hgetalls()
        statuses.append(call(gw.url + "/gaia/v1/functions/matmul?window=3600")[0])
        costs.append(hgetalls() - before)
    # (the last few seconds of two variants, plus what the controller reads meanwhile; a fill reads 7,200)
    cheap = [cost for cost in costs if cost <= 64]
    assert set(statuses) <= {200, 429} and len(cheap) >= len(costs) - 1, costs
    assert call(gw.url + "/gaia/v1/functions/matmul?window=3601")[0] == 400
    client.close()


def test_proxy_latency_under_api_flood(gw, module_redis):
    client = redis.Redis.from_url(module_redis.url)
    now = int(time.time())
    pipe = client.pipeline(transaction=False)
    for second in range(now - 1800, now - 10):
        pipe.hset(f"gaia:stats:matmul:gpu:{second}", mapping={"n": 1, "sum": 5.0, "b:80": 1, "s:200": 1})
    pipe.execute()
    client.close()

    def proxy_p50(n=60):
        times = []
        for _ in range(n):
            started = time.perf_counter()
            call(gw.url + "/function/matmul/x")
            times.append(time.perf_counter() - started)
        return sorted(times)[n // 2]

    quiet = proxy_p50()
    stop = threading.Event()

    def flood():
        while not stop.is_set():
            call(gw.url + f"/gaia/v1/functions?window={1700 + int(time.time() * 7) % 100}")
            time.sleep(0.05)

    threads = [threading.Thread(target=flood) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(0.3)
        loaded = proxy_p50()
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert loaded < 3 * quiet + 0.005, f"proxy p50 {quiet * 1000:.1f} ms quiet, {loaded * 1000:.1f} ms under the API flood"


def test_routes_converge_across_replicas_after_redis_loses_its_data(gateways, gw, module_redis):
    pin_url = gw.url + "/gaia/v1/functions/matmul/pin"
    auth = {"Authorization": f"Bearer {TOKEN}"}  # the token file ends with a newline: it still matches
    assert call(pin_url, "PUT", b'{"variant": "gpu"}', auth)[0] == 200
    time.sleep(0.1)
    assert {call(g.url + "/function/matmul/x")[1]["X-Gaia-Variant"] for g in gateways for _ in range(4)} == {"gpu"}
    client = redis.Redis.from_url(module_redis.url)
    client.flushall()  # what a Redis restart without persistence leaves
    client.close()
    time.sleep(1.3)  # one --discovery-interval (1 s), which bounds the route reload
    assert {call(g.url + "/function/matmul/x")[1]["X-Gaia-Variant"] for g in gateways for _ in range(4)} == {"cpu"}


def test_paused_redis_costs_the_api_one_timeout_and_shows_in_health(gw, module_redis):
    # --redis-timeout 0.5 (module gateways)
    os.kill(module_redis._proc.pid, signal.SIGSTOP)
    try:
        time.sleep(0.1)
        started = time.monotonic()
        status, _, body = call(gw.url + "/gaia/v1/functions/matmul?window=10")
        took = time.monotonic() - started
        assert status == 200 and json.loads(body)["stats"] is None and took < 0.9, took
        proxied = [call(gw.url + "/function/matmul/x")[0] for _ in range(10)]
        time.sleep(1.6)
        health = [json.loads(call(gw.url + "/gaia/v1/health")[2]) for _ in range(4)]  # both workers
    finally:
        os.kill(module_redis._proc.pid, signal.SIGCONT)
    assert proxied == [200] * 10
    assert all(h["status"] == "degraded" and h["redis"].startswith("unreachable") for h in health)
    time.sleep(1.5)
    assert all(json.loads(call(gw.url + "/gaia/v1/health")[2])["redis"] == "connected" for _ in range(4))


def test_plugin_paths_methods_and_versions_are_never_proxied(gw, openfaas):
    before = len(openfaas.seen)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    status, _, body = call(gw.url + "/gaia/v1/functions/matmul/pin", "POST", b'{"variant": "gpu"}', auth)
    assert status == 405 and b"not allowed" in body
    assert call(gw.url + "/gaia/v1/nothing", headers=auth)[0] == 404
    assert call(gw.url + "/%67aia/v1/functions/matmul/pin", "PATCH", b"{}", auth)[0] in (404, 405)
    assert call(gw.url + "/metrics", "POST", b"x")[0] in (404, 405)
    assert call(gw.url + "/function/matmul/x", "TRACE", headers=auth)[0] == 405
    assert call(gw.url + "/system/info", "TRACE", headers=auth)[0] == 405
    for line in (b"GET /function/matmul/x HTTP/2.0\r\nHost: x\r\n\r\n", b"GET /function/matmul/x\r\n\r\n",
                 b"GET /function/matmul/x HTTP/0.9\r\n\r\n"):
        answer = _raw(gw.port, line)
        assert answer[9:12] in (b"400", b"505"), (line, answer[:100])
    assert len(openfaas.seen) == before
    # A bearer token that is not ASCII (nor even UTF-8) is a 401, not a 500.
    with socket.create_connection(("127.0.0.1", gw.port), timeout=10) as sock:
        sock.sendall(b"PUT /gaia/v1/functions/matmul/pin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                     b"Authorization: Bearer \xff\xfe\xc3\r\nContent-Length: 2\r\n\r\n{}")
        answer = sock.recv(1000)
    assert answer[9:12] == b"401", answer[:200]


def test_function_dot_namespace_is_routed_in_every_path_form(gw, openfaas):
    status, headers, body = call(gw.url + "/function/matmul.openfaas-fn")
    assert status == 200 and headers["X-Gaia-Variant"] == "cpu"
    assert json.loads(body)["path"] == "/function/matmul-cpu.openfaas-fn"
    status, headers, body = call(gw.url + "/function/matmul.openfaas-fn/a/b?q=1", "POST", b"x")
    assert headers["X-Gaia-Variant"] == "cpu" and json.loads(body)["path"] == "/function/matmul-cpu.openfaas-fn/a/b?q=1"
    assert json.loads(call(gw.url + "/function/matmul.openfaas-fn/")[2])["path"] == "/function/matmul-cpu.openfaas-fn/"
    status, headers, _ = call(gw.url + "/async-function/matmul.openfaas-fn", "POST", b"job")
    assert status == 202 and ("POST", "/async-function/matmul-cpu.openfaas-fn") in openfaas.seen
    # Another namespace, or a variant called by its own name, passes through unchanged.
    status, headers, body = call(gw.url + "/function/matmul.other-ns/x")
    assert "X-Gaia-Variant" not in headers and json.loads(body)["path"] == "/function/matmul.other-ns/x"
    status, headers, body = call(gw.url + "/function/matmul-gpu.openfaas-fn/x")
    assert "X-Gaia-Variant" not in headers and json.loads(body)["service"] == "matmul-gpu.openfaas-fn"
    doc = json.loads(call(gw.url + "/gaia/v1/functions/matmul")[2])
    assert doc["namespace"] == "openfaas-fn"


def test_static_plugin_logs_no_traceback_for_malformed_requests_and_writes_a_json_access_log(tmp_path, redis_url, upstream):
    routes = tmp_path / "routes.yml"
    routes.write_text(f"functions:\n  pair:\n    variants: {{gpu: '{upstream.url}/function/pair-gpu'}}\n")
    log_path = tmp_path / "gateway.log"
    port = free_port()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "gaia_faas.cli", "gateway", "--bind", f"127.0.0.1:{port}", "--routes",
                                 str(routes), "--redis-url", redis_url, "--workers", "1", "--access-log"],
                                env={k: v for k, v in os.environ.items() if not k.startswith("GAIA_")},
                                stdout=log, stderr=log, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(url + "/gaia/v1/health", timeout=30, proc=proc)
        for garbage in (b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
                        b"GET /x HTTP/1.1\r\nContent-Length: -1\r\n\r\n", b"GET /x HTTP/1.1\r\nTransfer-Encoding: zip\r\n\r\n"):
            _raw(port, garbage, timeout=3)
        assert call(url + "/function/pair/x?secret=1")[0] == 200
        status, _, body = call(url + "/gaia/v1/functions/pair/pin", "PUT", b'{"variant": "gpu"}')
        assert status == 403 and b"--api-token-file" in body
        time.sleep(0.2)
    finally:
        proc.terminate()
        proc.wait(timeout=15)
    text = log_path.read_text()
    assert "Traceback" not in text and "refused a malformed request" in text
    entries = [json.loads(line[line.index("{"):]) for line in text.splitlines() if '"method"' in line]
    call_entry = [e for e in entries if e["path"] == "/function/pair/x"]
    assert call_entry and call_entry[0]["status"] == 200 and call_entry[0]["variant"] == "gpu" and call_entry[0]["ms"] > 0
    assert "secret" not in text
