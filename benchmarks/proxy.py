"""Gateway plugin overhead, side by side with direct calls and with nginx in front of the same upstream, in one run.

Load generator: wrk (Debian package `wrk`, HTTP/1.1 keep-alive). Recording is on: the plugin runs against a
real redis-server and writes every call's latency. When `nginx` is installed (Debian package `nginx`), it
runs as a reference reverse proxy to the same upstream, with as many worker processes as the plugin and
keep-alive upstream connections. Scenarios:
  (a) trivial upstream, 1 connection: added p50 and p99 latency;
  (b) trivial upstream, 32 connections: requests/s through each hop, and CPU time per proxied call;
  (c) upstream that takes 0.5 s, 1,000 connections: throughput ratio to direct, added p99, errors.
CPU per call is the user + system time of the hop's worker processes (from /proc, i.e. their rusage)
during the run, divided by the calls wrk completed.

    .venv/bin/python benchmarks/proxy.py [--duration 10] [--workers 2] [--no-nginx]

Bars (issue 12, same run, quiet machine): c32 throughput >= 25 % of nginx's, added p50 at c1 <= 0.3 ms,
recording on, 0 errors. The last line printed is one JSON object with the figures.

Hybrid dispatch (issue 11): the per-call work the plugin adds for a function that declares
`com.gaia.size-from`, in hybrid mode, measured in-process on the plugin's own objects (`hybrid_decision`):
reading the size (a header; a JSON field from a 1 KB body's prefix), choosing the variant with the work in
flight and exploration, and recording the sized sample at the end. Bar: <= 20 us per call.
`--hybrid-only` runs just that (seconds, no wrk).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis

from gaia_faas.processes import RedisServer, free_port, wait_for_http


def serve_upstream(port: int) -> None:
    """The upstream: `/` answers at once, `/slow` after 0.5 s (aiohttp, one process)."""
    from aiohttp import web

    async def fast(request):
        return web.Response(text="ok")

    async def slow(request):
        await asyncio.sleep(0.5)
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/", fast)
    app.router.add_get("/slow", slow)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None, backlog=4096)


def _ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(us|ms|s)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk(url: str, connections: int, duration: int, threads: int = 1, timeout_s: int = 10) -> dict:
    out = subprocess.run(["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", f"--timeout={timeout_s}s",
                          "--latency", url], capture_output=True, text=True, check=True).stdout
    latency = dict(re.findall(r"^\s+(50|75|90|99)%\s+(\S+)\s*$", out, re.M))  # "1.19s " is space-padded
    errors = 0
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if socket_errors:
        errors += sum(int(n) for n in socket_errors.groups())
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non_2xx:
        errors += int(non_2xx.group(1))
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
            "requests": int(re.search(r"(\d+) requests in", out).group(1)),
            "p50_ms": _ms(latency["50"]), "p99_ms": _ms(latency["99"]), "errors": errors}


NGINX_CONF = """
worker_processes {workers};
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    upstream functions {{ server 127.0.0.1:{upstream_port}; keepalive 256; }}
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        keepalive_requests 1000000;
        location / {{
            proxy_pass http://functions;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}
}}
"""


def start_nginx(binary: str, workdir: Path, upstream_port: int, workers: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    conf = workdir / "nginx.conf"
    text = NGINX_CONF.format(workers=workers, dir=workdir, upstream_port=upstream_port, port=port)
    if os.geteuid() == 0:  # workers would drop to "nobody", who cannot enter the private temp folder
        text = "user root;\n" + text
    conf.write_text(text)
    process = subprocess.Popen([binary, "-p", str(workdir), "-c", str(conf), "-e", str(workdir / "error.log")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return process, f"http://127.0.0.1:{port}"


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds of the processes (their rusage, as /proc shows it)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return total


def worker_pids(parent: int, count: int, timeout_s: float = 20.0) -> list[int]:
    """The ``count`` worker processes of a gunicorn arbiter or an nginx master. Waits for all of them: the
    first worker answers health checks while the arbiter still forks the others, whose CPU would go uncounted."""
    deadline = time.monotonic() + timeout_s
    while True:
        children = [int(pid) for pid in Path(f"/proc/{parent}/task/{parent}/children").read_text().split()]
        if len(children) >= count or time.monotonic() > deadline:
            return children
        time.sleep(0.05)


def recorded_calls(redis_url: str, function: str) -> int:
    client = redis.Redis.from_url(redis_url)
    total = 0
    for key in client.scan_iter(f"gaia:stats:{function}:*", count=1000):
        total += int(client.hget(key, "n") or 0)
    client.close()
    return total


def hybrid_decision(calls: int = 200_000) -> dict:
    """Microseconds per call of hybrid dispatch's work on the call path (see the module docstring)."""
    import math
    import random

    from multidict import CIMultiDict

    from gaia_faas.gateway_plugin.hybrid import HYBRID, Plan, Sizing
    from gaia_faas.gateway_plugin.size_feature import SizeSource, size_from_json_prefix
    from gaia_faas.gateway_plugin.size_model import CPU, GPU, bucket_of, fit
    from gaia_faas.gateway_plugin.stats import LatencyHistogram, StatsRecorder

    rng = random.Random(3)
    sizes = [math.exp(rng.uniform(math.log(100), math.log(8000))) for _ in range(4096)]
    histograms = {CPU: {}, GPU: {}}
    for size in sizes:  # a matmul-like pair: the CPU steep, the GPU flat with a higher floor (22 buckets)
        histograms[CPU].setdefault(bucket_of(size), LatencyHistogram()).add(5 + size / 20)
        histograms[GPU].setdefault(bucket_of(size), LatencyHistogram()).add(120.0)
    model = fit(histograms, slo_ms=300, slo_percentile=95, prices={CPU: 0.000038, GPU: 0.000133})
    recorder = StatsRecorder(None, max_buffer=calls + 1)
    sizing = Sizing(None, recorder, None, None, static_mode=True, body_idle_s=10.0)
    sizing.sources["bench"] = SizeSource("header", "X-Size")
    sizing.plans["bench"] = Plan(SizeSource("header", "X-Size"), model, HYBRID, True, 0.0)

    class Request:  # what Sizing.begin reads of an aiohttp request
        body_exists = False
        query_string = ""

        def __init__(self, size):
            self.headers = CIMultiDict({"Host": "x", "User-Agent": "wrk", "X-Size": f"{size:.0f}"})

    class Response:
        status = 200

        def __init__(self, variant):
            self.headers = CIMultiDict({"X-Gaia-Variant": variant, "Content-Type": "text/plain"})

    class Spec:
        name = "bench"

    requests = [Request(size) for size in sizes]
    answers = {v: Response(v) for v in (CPU, GPU)}
    spec = Spec()

    async def loop() -> tuple[float, int]:
        on_gpu = 0
        started = time.perf_counter()
        for i in range(calls):
            call = await sizing.begin(spec, requests[i & 4095], "gpu")
            on_gpu += call.variant == GPU
            sizing.end(call, answers[call.variant])
        return time.perf_counter() - started, on_gpu

    header_s, on_gpu = asyncio.run(loop())
    body = json.dumps({"model": "m", "options": {"temperature": 0.2}, "tokens": 517, "prompt": "x" * 900}).encode()
    started = time.perf_counter()
    for _ in range(calls // 4):
        size_from_json_prefix("tokens", body, complete=True)
    json_us = (time.perf_counter() - started) / (calls // 4) * 1e6
    return {"hybrid_decision_us": round(header_s / calls * 1e6, 2), "hybrid_json_size_us": round(json_us, 2),
            "hybrid_crossover_size": round(model.crossover_size(), 1), "hybrid_calls": calls,
            "hybrid_share_on_gpu": round(on_gpu / calls, 3)}


def print_hybrid(figures: dict) -> None:
    print(f"hybrid dispatch, per call (in-process, {figures['hybrid_calls']} calls): size from a header + choice + "
          f"record {figures['hybrid_decision_us']:.2f} us; size from a 1 KB JSON body {figures['hybrid_json_size_us']:.2f} us "
          f"(bar <= 20 us); learned crossover {figures['hybrid_crossover_size']:g}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run (default %(default)s)")
    parser.add_argument("--workers", type=int, default=2, help="plugin (and nginx) worker processes (default %(default)s)")
    parser.add_argument("--no-nginx", action="store_true", help="leave out the nginx reference row")
    parser.add_argument("--hybrid-only", action="store_true", help="only the in-process hybrid dispatch measurement")
    args = parser.parse_args()
    if args.hybrid_only:
        load_before = os.getloadavg()[0]
        figures = hybrid_decision()
        print_hybrid(figures)
        figures["bars_met"] = figures["hybrid_decision_us"] + figures["hybrid_json_size_us"] <= 20.0
        print(f"load average before/after: {load_before:.1f}/{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        print(json.dumps(figures))
        return 0
    nginx = None if args.no_nginx else (shutil.which("nginx") or next((b for b in ("/usr/sbin/nginx",) if os.path.exists(b)), None))
    if not shutil.which("wrk"):
        print("benchmarks/proxy.py needs wrk: apt-get install -y wrk", file=sys.stderr)
        return 2
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 65536)), hard))

    load_before = os.getloadavg()[0]
    processes = []
    workdir = tempfile.TemporaryDirectory(prefix="gaia-bench-")
    with RedisServer() as redis_server:
        try:
            upstream_port, gateway_port = free_port(), free_port()
            processes.append(subprocess.Popen([sys.executable, __file__, "--serve-upstream", str(upstream_port)]))
            upstream = f"http://127.0.0.1:{upstream_port}"
            wait_for_http(upstream + "/", proc=processes[-1])
            routes = Path(workdir.name) / "routes.yml"
            routes.write_text(f"functions:\n  bench:\n    variants: {{cpu: '{upstream}'}}\n")
            processes.append(subprocess.Popen(
                [sys.executable, "-m", "gaia_faas.cli", "gateway", "--routes", str(routes), "--redis-url", redis_server.url,
                 "--bind", f"127.0.0.1:{gateway_port}", "--workers", str(args.workers), "--log-level", "warning"]))
            gateway = f"http://127.0.0.1:{gateway_port}"
            wait_for_http(gateway + "/gaia/v1/health", proc=processes[-1])
            hops = {"direct": (upstream, []), "plugin": (gateway + "/function/bench", worker_pids(processes[-1].pid, args.workers))}
            if nginx:
                nginx_dir = Path(workdir.name) / "nginx"
                nginx_dir.mkdir()
                nginx_process, nginx_url = start_nginx(nginx, nginx_dir, upstream_port, args.workers)
                processes.append(nginx_process)
                wait_for_http(nginx_url + "/", proc=nginx_process)
                hops["nginx"] = (nginx_url, worker_pids(nginx_process.pid, args.workers))

            results = {}
            for scenario, path, connections, threads in (("c1", "/", 1, 1), ("c32", "/", 32, 2), ("c1000", "/slow", 1000, 2)):
                for base, _ in hops.values():
                    wrk(base + path, connections, 2, threads)  # warm-up of every path
                results[scenario] = {}
                for name, (base, pids) in hops.items():
                    before = recorded_calls(redis_server.url, "bench") if name == "plugin" else 0
                    cpu_before = cpu_seconds(pids)
                    figures = wrk(base + path, connections, args.duration, threads)
                    figures["cpu_us_per_call"] = (cpu_seconds(pids) - cpu_before) / max(1, figures["requests"]) * 1e6 if pids else None
                    if name == "plugin":
                        time.sleep(1.0)  # let the recorder flush
                        figures["recorded"] = recorded_calls(redis_server.url, "bench") - before
                    results[scenario][name] = figures
                print(f"{scenario:>6} {'':6} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} {'CPU us/call':>12} {'recorded':>9}")
                for name, figures in results[scenario].items():
                    cpu = f"{figures['cpu_us_per_call']:.0f}" if figures["cpu_us_per_call"] is not None else ""
                    print(f"{'':>6} {name:6} {figures['rps']:9.0f} {figures['p50_ms']:8.2f} {figures['p99_ms']:8.2f} "
                          f"{figures['errors']:7d} {cpu:>12} {figures.get('recorded', ''):>9}", flush=True)
        finally:
            for process in reversed(processes):
                if process.poll() is None:
                    process.terminate()
                process.wait(timeout=20)
            workdir.cleanup()

    hybrid = hybrid_decision()
    print_hybrid(hybrid)
    c1, c32, c1000 = results["c1"], results["c32"], results["c1000"]
    summary = {
        **hybrid,
        "c1_added_p50_ms": round(c1["plugin"]["p50_ms"] - c1["direct"]["p50_ms"], 3),
        "c1_added_p99_ms": round(c1["plugin"]["p99_ms"] - c1["direct"]["p99_ms"], 3),
        "c32_rps": round(c32["plugin"]["rps"]),
        "c32_direct_rps": round(c32["direct"]["rps"]),
        "c32_cpu_us_per_call": round(c32["plugin"]["cpu_us_per_call"], 1),
        "c1000_throughput_ratio": round(c1000["plugin"]["rps"] / c1000["direct"]["rps"], 3),
        "c1000_added_p99_ms": round(c1000["plugin"]["p99_ms"] - c1000["direct"]["p99_ms"], 1),
        "errors": sum(r["plugin"]["errors"] for r in results.values()),
        "recorded_all": all(r["plugin"]["recorded"] >= r["plugin"]["requests"] for r in results.values()),
    }
    if nginx:
        summary.update({
            "nginx_c1_added_p50_ms": round(c1["nginx"]["p50_ms"] - c1["direct"]["p50_ms"], 3),
            "nginx_c32_rps": round(c32["nginx"]["rps"]),
            "nginx_c32_cpu_us_per_call": round(c32["nginx"]["cpu_us_per_call"], 1),
            "c32_rps_vs_nginx": round(c32["plugin"]["rps"] / c32["nginx"]["rps"], 3),
            "cpu_per_call_vs_nginx": round(c32["plugin"]["cpu_us_per_call"] / max(0.1, c32["nginx"]["cpu_us_per_call"]), 2),
            "nginx_errors": sum(r["nginx"]["errors"] for r in results.values()),
        })
    summary["bars_met"] = (summary["c1_added_p50_ms"] <= 0.3 and summary["errors"] == 0
                           and summary["hybrid_decision_us"] + summary["hybrid_json_size_us"] <= 20.0
                           and (not nginx or summary["c32_rps_vs_nginx"] >= 0.25))
    print(f"load generator: wrk; plugin workers: {args.workers}; recording on (redis-server); "
          f"{args.duration} s per run; load average before/after: {load_before:.1f}/{os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} CPUs (other work on the machine skews every figure)")
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--serve-upstream":
        serve_upstream(int(sys.argv[2]))
    else:
        sys.exit(main())
