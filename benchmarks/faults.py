"""The plugin under attack and under faults: real Redis, a stand-in OpenFaaS gateway, two plugin processes and
a steady client load, all on 127.0.0.1. Each fault of issue 12 is injected in turn, for a few seconds:

  header_flood     400 connections, 120 headers of 8 KB each, Content-Length 1 MB, then a body byte a second
  slow_bodies      200 POSTs that send one body byte a second
  discovery_garbage /system/functions answers non-UTF-8 bytes, then `labels` as a list, then an object
  duplicate_labels an impostor service claims the function's gpu variant (the route is pinned to gpu)
  api_flood        4 calls a second per plugin of GET /gaia/v1/functions?window=3600 over an hour of stats
  redis_kill       redis-server killed for 3 s, started again empty (the pin is lost)
  redis_pause      redis-server stopped (SIGSTOP) for 3 s
  redis_data_loss  FLUSHALL while a pin is set
  variant_down     the routed variant answers the provider's 503 for 5 s (POSTs with bodies)

For each: requests the load sent, how many failed, how many failed without ever reaching the upstream (the
stand-in records every X-Call-Id it receives), the largest worker RSS, the load's p99 during the fault, and
whether the routes converged (all replicas on the same, expected variant; within one discovery interval
after Redis lost its data). Bars (issue 12): RSS under the header flood <= 150 MB per worker; p99 under the
API flood <= 2x its p99 without it; 0 failed requests that were never sent upstream; routes converge within one
discovery interval after data loss; duplicate labels route to neither claimant and are reported.

    .venv/bin/python benchmarks/faults.py [--seconds 6]

Prints a table, then one JSON line with the figures. Takes about two minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import psutil
import redis

from gaia_faas.processes import RedisServer, free_port, wait_for_http

FUNCTION = "fn"
TOKEN = "faults-token"
DISCOVERY_S = 2.0


# -- the stand-in OpenFaaS gateway (a separate process) -----------------------------------------------------


def serve_gateway(port: int) -> None:
    from aiohttp import web

    state = {"answer": None, "extra": [], "down": set(), "seen": set(), "hits": {}, "inflight": 0, "abandoned": 0}
    functions = [{"name": f"{FUNCTION}-{v}", "namespace": "openfaas-fn", "annotations": {"com.gaia.mode": "cpu"},
                  "labels": {"com.gaia.function": FUNCTION, "com.gaia.variant": v}} for v in ("cpu", "gpu")]

    async def system_functions(request):
        if state["answer"] is not None:
            return web.Response(body=state["answer"], content_type="application/json")
        return web.json_response(functions + state["extra"])

    async def invoke(request):
        service = request.match_info["service"]
        rest = request.match_info.get("rest", "")
        if rest != "_/health":
            state["seen"].add(request.headers.get("X-Call-Id", ""))
            state["hits"][service] = state["hits"].get(service, 0) + 1
        state["inflight"] += 1
        try:
            await request.read()
        except ConnectionResetError:  # the plugin abandoned the call (a stalled client body)
            state["abandoned"] += 1
            raise web.HTTPBadRequest()
        finally:
            state["inflight"] -= 1
        if service in state["down"]:
            return web.Response(status=503, text=f"No endpoints available for: {service}.",
                                headers={"X-OpenFaaS-Internal": "proxy"})
        return web.Response(text="ok", headers={"X-Duration-Seconds": "0.000100"})

    async def control(request):
        body = await request.json()
        if "answer" in body:
            state["answer"] = body["answer"].encode("latin-1") if body["answer"] is not None else None
        if "extra" in body:
            state["extra"] = body["extra"]
        if "down" in body:
            state["down"] = set(body["down"])
        if body.get("reset"):
            state["seen"], state["hits"] = set(), {}
        return web.json_response({"seen": sorted(state["seen"]), "hits": state["hits"], "inflight": state["inflight"],
                                  "abandoned": state["abandoned"]})

    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_get("/system/functions", system_functions)
    app.router.add_route("*", "/function/{service}", invoke)
    app.router.add_route("*", "/function/{service}/{rest:.*}", invoke)
    app.router.add_post("/control", control)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None, backlog=4096)


# -- helpers ----------------------------------------------------------------------------------------------


def http(url: str, method="GET", body: bytes | None = None, headers=None, timeout=10.0) -> tuple[int, dict, bytes]:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


class Plugin:
    def __init__(self, upstream: str, redis_url: str, workdir: Path, index: int):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(workdir / f"plugin{index}.log", "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gaia_faas.cli", "gateway", "--upstream", upstream, "--redis-url", redis_url,
             "--bind", f"127.0.0.1:{self.port}", "--workers", "2", "--discovery-interval", str(DISCOVERY_S),
             "--retry-after", "1", "--redis-timeout", "0.5", "--body-timeout", "2", "--log-level", "warning"],
            env={**os.environ, "OPENFAAS_PASSWORD": "x", "GAIA_API_TOKEN": TOKEN}, stdout=self.log, stderr=self.log,
            start_new_session=True)
        wait_for_http(self.url + "/gaia/v1/health", timeout=60, proc=self.proc)

    def workers(self) -> list[psutil.Process]:
        return psutil.Process(self.proc.pid).children()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()


class Load:
    """Client threads calling /function/fn/x through both plugins, alternating, with their own call ids."""

    def __init__(self, plugins: list[Plugin], threads: int = 6):
        self.plugins = plugins
        self.results: list[tuple[float, float, int, str, str]] = []  # (time, latency s, status, variant, call id)
        self.post = False
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._loop, args=(i,), daemon=True) for i in range(threads)]

    def _loop(self, index: int) -> None:
        import http.client

        connections = {}
        turn = index
        while not self._stop.is_set():
            plugin = self.plugins[turn % len(self.plugins)]
            turn += 1
            call_id = uuid.uuid4().hex
            started = time.perf_counter()
            try:
                connection = connections.get(plugin.port) or http.client.HTTPConnection("127.0.0.1", plugin.port, timeout=10)
                connections[plugin.port] = connection
                if self.post:
                    connection.request("POST", f"/function/{FUNCTION}/x", body=b"payload", headers={"X-Call-Id": call_id})
                else:
                    connection.request("GET", f"/function/{FUNCTION}/x", headers={"X-Call-Id": call_id})
                response = connection.getresponse()
                response.read()
                status, variant = response.status, response.headers.get("X-Gaia-Variant", "")
                if response.headers.get("Connection", "").lower() == "close":
                    connection.close()
                    connections.pop(plugin.port, None)
            except (OSError, http.client.HTTPException):
                status, variant = -1, ""
                connections.pop(plugin.port, None)
            self.results.append((time.time(), time.perf_counter() - started, status, variant, call_id))
            time.sleep(0.002)

    def start(self) -> "Load":
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(15)

    def window(self, start: float, end: float):
        return [r for r in self.results if start <= r[0] < end]


def p99_ms(results) -> float | None:
    latencies = sorted(r[1] for r in results)
    return round(latencies[max(0, int(len(latencies) * 0.99) - 1)] * 1000.0, 2) if latencies else None


class RssSampler:
    def __init__(self, plugins):
        self.plugins, self.peak = plugins, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            for plugin in self.plugins:
                for worker in plugin.workers():
                    try:
                        self.peak = max(self.peak, worker.memory_info().rss)
                    except psutil.Error:
                        pass
            time.sleep(0.05)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def routes_seen(plugins, n: int = 6) -> set[str]:
    """The variants the plugins route fn to now (several calls each, so every worker is asked)."""
    return {http(p.url + f"/function/{FUNCTION}/x")[1].get("X-Gaia-Variant", "?") for p in plugins for _ in range(n)}


def wait_converged(plugins, expected: str, limit_s: float) -> float | None:
    """Seconds until every replica routes to ``expected``; None if not within ``limit_s``."""
    started = time.monotonic()
    while time.monotonic() - started < limit_s:
        if routes_seen(plugins, 4) == {expected}:
            return round(time.monotonic() - started, 2)
        time.sleep(0.1)
    return None


def pin(plugins, variant: str) -> None:
    status, _, body = http(plugins[0].url + f"/gaia/v1/functions/{FUNCTION}/pin", "PUT",
                           json.dumps({"variant": variant, "reason": "faults"}).encode(), {"Authorization": f"Bearer {TOKEN}"})
    assert status == 200, body
    time.sleep(0.2)


def unpin(plugins) -> None:
    http(plugins[0].url + f"/gaia/v1/functions/{FUNCTION}/pin", "DELETE", headers={"Authorization": f"Bearer {TOKEN}"})
    client_switch_back(plugins)


def client_switch_back(plugins) -> None:
    redis_url = plugins[0].redis_url
    client = redis.Redis.from_url(redis_url)
    client.delete(f"gaia:route:{FUNCTION}")
    client.close()
    time.sleep(DISCOVERY_S + 0.5)


# -- attacks ----------------------------------------------------------------------------------------------


def header_flood(plugins, seconds: float, stop: threading.Event) -> dict:
    block = b"".join(b"X-Flood-%d: %s\r\n" % (i, b"f" * 8000) for i in range(120))
    request = b"POST /function/fn/x HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n" + block + b"\r\n"
    socks = []
    for i in range(400):
        plugin = plugins[i % len(plugins)]
        try:
            sock = socket.create_connection(("127.0.0.1", plugin.port), timeout=2)
            sock.setblocking(False)
            try:
                sock.send(request)
            except OSError:
                pass
            socks.append(sock)
        except OSError:
            pass
    end = time.monotonic() + seconds
    refused = set()
    while time.monotonic() < end and not stop.is_set():
        for sock in socks:
            try:
                if sock.recv(64)[9:12] == b"431":
                    refused.add(sock)
            except BlockingIOError:
                pass
            except OSError:
                refused.add(sock)  # reset after the 431
            try:
                sock.send(b"x")
            except OSError:
                pass
        time.sleep(1.0)
    for sock in socks:
        sock.close()
    return {"flood_connections": len(socks), "refused_431": len(refused)}


def slow_bodies(plugins, seconds: float, stop: threading.Event) -> None:
    socks = []
    for i in range(200):
        plugin = plugins[i % len(plugins)]
        try:
            sock = socket.create_connection(("127.0.0.1", plugin.port), timeout=2)
            sock.sendall(b"POST /function/fn/x HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
            sock.setblocking(False)
            socks.append(sock)
        except OSError:
            pass
    end = time.monotonic() + seconds
    while time.monotonic() < end and not stop.is_set():
        for sock in socks:
            try:
                sock.send(b"y")
            except OSError:
                pass
        time.sleep(1.0)
    for sock in socks:
        sock.close()


def api_flood(plugins, seconds: float, stop: threading.Event) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end and not stop.is_set():
        for plugin in plugins:
            threading.Thread(target=http, args=(plugin.url + "/gaia/v1/functions?window=3600",), kwargs={"timeout": 30},
                             daemon=True).start()
        time.sleep(0.25)


def prefill_stats(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    now = int(time.time())
    pipe = client.pipeline(transaction=False)
    for variant in ("cpu", "gpu"):
        for second in range(now - 3600, now - 6):
            pipe.hset(f"gaia:stats:{FUNCTION}:{variant}:{second}", mapping={"n": 3, "sum": 30.0, "b:100": 3, "s:200": 3})
            pipe.expire(f"gaia:stats:{FUNCTION}:{variant}:{second}", 3700)
    pipe.execute()
    client.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=6.0, help="length of each fault (default %(default)s)")
    args = parser.parse_args()
    load_before = os.getloadavg()
    workdir = tempfile.TemporaryDirectory(prefix="gaia-faults-")
    processes, plugins = [], []
    rows = []
    with RedisServer() as redis_server:
        try:
            gateway_port = free_port()
            processes.append(subprocess.Popen([sys.executable, __file__, "--serve-gateway", str(gateway_port)]))
            gateway = f"http://127.0.0.1:{gateway_port}"
            wait_for_http(gateway + "/system/functions", proc=processes[-1])
            for index in range(2):
                plugin = Plugin(gateway, redis_server.url, Path(workdir.name), index)
                plugin.redis_url = redis_server.url
                plugins.append(plugin)

            def control(**body):
                return json.loads(http(gateway + "/control", "POST", json.dumps(body).encode())[2])

            load = Load(plugins).start()
            time.sleep(1.0)

            def run(name: str, inject, converged=None, post=False):
                """Run one fault while the load runs; ``inject(stop)`` blocks for the fault's length."""
                control(reset=True)
                load.post = post
                started = time.time()
                with RssSampler(plugins) as rss:
                    stop = threading.Event()
                    outcome = inject(stop)
                    stop.set()
                ended = time.time()
                time.sleep(0.5)  # calls in flight at the end
                window = load.window(started, ended)
                seen = set(control()["seen"])
                failed = [r for r in window if not 200 <= r[2] < 300]
                row = {"fault": name, "sent": len(window), "failed": len(failed),
                       "failed_not_sent": len([r for r in failed if r[4] not in seen]),
                       "max_worker_rss_mb": round(rss.peak / 2**20, 1), "p99_ms": p99_ms(window),
                       "converged": converged(outcome) if converged else None}
                if isinstance(outcome, dict):
                    row.update(outcome)
                rows.append(row)
                print(f"{row['fault']:>18} {row['sent']:>6} {row['failed']:>6} {row['failed_not_sent']:>10} "
                      f"{row['max_worker_rss_mb']:>8} {row['p99_ms'] or 0:>8} {str(row['converged']):>9}", flush=True)
                load.post = False
                return row

            print(f"{'fault':>18} {'sent':>6} {'failed':>6} {'not sent':>10} {'RSS MB':>8} {'p99 ms':>8} {'converged':>9}")
            run("baseline", lambda stop: time.sleep(args.seconds))
            run("header_flood", lambda stop: header_flood(plugins, args.seconds, stop))

            def stalled(stop):
                slow_bodies(plugins, args.seconds, stop)
                answer = control()
                return {"upstream_open_after": answer["inflight"], "upstream_abandoned": answer["abandoned"]}

            run("slow_bodies", stalled)

            def discovery_garbage(stop):
                for answer in ('\xff\xfe[{"name": 1}]', '[{"name": "fn-cpu", "labels": ["x"]}]', '{"functions": 1}'):
                    control(answer=answer)
                    time.sleep(args.seconds / 3)
                health = [json.loads(http(p.url + "/gaia/v1/health")[2]) for p in plugins]
                control(answer=None)
                return {"health_during": sorted({h["status"] for h in health})}

            run("discovery_garbage", discovery_garbage, converged=lambda o: routes_seen(plugins) == {"cpu"})

            def duplicate_labels(stop):
                pin(plugins, "gpu")
                control(extra=[{"name": "impostor", "namespace": "openfaas-fn", "annotations": {"com.gaia.slo-ms": "1"},
                                "labels": {"com.gaia.function": FUNCTION, "com.gaia.variant": "gpu"}}])
                time.sleep(args.seconds)
                health = [json.loads(http(p.url + "/gaia/v1/health")[2]) for p in plugins]
                hits = control()["hits"]
                control(extra=[])
                routed = routes_seen(plugins)
                return {"impostor_calls": hits.get("impostor", 0), "reported": all(h["registry_conflicts"] for h in health),
                        "routed": sorted(routed)}

            run("duplicate_labels", duplicate_labels,
                converged=lambda o: o["impostor_calls"] == 0 and o["reported"] and o["routed"] == ["cpu"])
            unpin(plugins)

            prefill_stats(redis_server.url)
            quiet = run("api_baseline", lambda stop: time.sleep(args.seconds))
            flood = run("api_flood", lambda stop: api_flood(plugins, args.seconds, stop))
            flood["p99_vs_without"] = round(flood["p99_ms"] / max(0.01, quiet["p99_ms"]), 2)

            def redis_kill(stop):
                pin(plugins, "gpu")
                redis_server.stop()
                time.sleep(3.0)
                redis_server.start()
                return {"converge_s": wait_converged(plugins, "cpu", 3 * DISCOVERY_S)}

            run("redis_kill", redis_kill, converged=lambda o: o["converge_s"] is not None and o["converge_s"] <= DISCOVERY_S)

            def redis_pause(stop):
                pid = next(p.pid for p in psutil.process_iter(["cmdline"])
                           if p.info["cmdline"] and str(redis_server.port) in " ".join(p.info["cmdline"])
                           and "redis-server" in p.info["cmdline"][0])
                os.kill(pid, signal.SIGSTOP)
                try:
                    time.sleep(1.0)
                    started = time.monotonic()
                    status, _, _ = http(plugins[0].url + "/gaia/v1/functions?window=60")
                    api_s = time.monotonic() - started
                    time.sleep(1.5)
                    health = json.loads(http(plugins[0].url + "/gaia/v1/health")[2])
                finally:
                    os.kill(pid, signal.SIGCONT)
                return {"api_s_while_paused": round(api_s, 2), "health_during": health["status"]}

            run("redis_pause", redis_pause)

            def redis_data_loss(stop):
                pin(plugins, "gpu")
                client = redis.Redis.from_url(redis_server.url)
                client.flushall()
                client.close()
                return {"converge_s": wait_converged(plugins, "cpu", 3 * DISCOVERY_S)}

            run("redis_data_loss", redis_data_loss,
                converged=lambda o: o["converge_s"] is not None and o["converge_s"] <= DISCOVERY_S)

            def variant_down(stop):
                control(down=["fn-cpu"], reset=True)
                time.sleep(args.seconds)
                hits = control()["hits"]
                control(down=[])
                time.sleep(1.5)
                return {"client_calls_to_down_variant": hits.get("fn-cpu", 0), "back": routes_seen(plugins) == {"cpu"}}

            run("variant_down", variant_down, converged=lambda o: o["back"], post=True)
            load.stop()
        finally:
            for plugin in plugins:
                plugin.stop()
            for process in processes:
                process.terminate()
                process.wait(timeout=15)
            workdir.cleanup()

    by_name = {row["fault"]: row for row in rows}
    summary = {
        "faults": rows,
        "bars": {
            "header_flood_rss_le_150mb": by_name["header_flood"]["max_worker_rss_mb"] <= 150,
            "api_flood_p99_le_2x": by_name["api_flood"]["p99_vs_without"] <= 2.0,
            "no_failed_request_that_was_never_sent": all(row["failed_not_sent"] == 0 for row in rows),
            "routes_converge_after_data_loss": bool(by_name["redis_kill"]["converged"] and by_name["redis_data_loss"]["converged"]),
            "duplicate_labels_neither_routed_and_reported": bool(by_name["duplicate_labels"]["converged"]),
        },
        "load_average_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        "cpus": os.cpu_count(),
    }
    print(f"load average before/after: {load_before[0]:.1f}/{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; "
          f"each fault {args.seconds:g} s; discovery interval {DISCOVERY_S:g} s; two plugins x two workers")
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--serve-gateway":
        serve_gateway(int(sys.argv[2]))
    else:
        sys.exit(main())
