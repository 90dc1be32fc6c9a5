"""Gateway plugin overhead, side by side with direct calls to the same upstream, in one run.

Load generator: wrk (Debian package `wrk`, HTTP/1.1 keep-alive). Recording is on: the plugin runs against a
real redis-server and writes every call's latency. Scenarios (issue "Gateway plugin data path", Bars):
  (a) trivial upstream, 1 connection: added p50 and p99 latency;
  (b) trivial upstream, 32 connections: requests/s through the plugin;
  (c) upstream that takes 0.5 s, 1,000 connections: throughput ratio to direct, added p99, errors.

    .venv/bin/python benchmarks/proxy.py [--duration 10] [--workers 2]

The last line printed is one JSON object with the figures the issue asks for.
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


def recorded_calls(redis_url: str, function: str) -> int:
    client = redis.Redis.from_url(redis_url)
    total = 0
    for key in client.scan_iter(f"gaia:stats:{function}:*", count=1000):
        total += int(client.hget(key, "n") or 0)
    client.close()
    return total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run (default %(default)s)")
    parser.add_argument("--workers", type=int, default=2, help="plugin worker processes (default %(default)s)")
    args = parser.parse_args()
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
            via = gateway + "/function/bench"

            results = {}
            for scenario, path, connections, threads in (("c1", "/", 1, 1), ("c32", "/", 32, 2), ("c1000", "/slow", 1000, 2)):
                wrk(upstream + path, connections, 2, threads)  # warm-up of both paths
                wrk(via + path, connections, 2, threads)
                direct = wrk(upstream + path, connections, args.duration, threads)
                before = recorded_calls(redis_server.url, "bench")
                plugin = wrk(via + path, connections, args.duration, threads)
                time.sleep(1.0)  # let the recorder flush
                plugin["recorded"] = recorded_calls(redis_server.url, "bench") - before
                results[scenario] = {"direct": direct, "plugin": plugin}
                print(f"{scenario:>6} {'':6} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} {'recorded':>9}")
                for name, figures in (("direct", direct), ("plugin", plugin)):
                    print(f"{'':>6} {name:6} {figures['rps']:9.0f} {figures['p50_ms']:8.2f} {figures['p99_ms']:8.2f} "
                          f"{figures['errors']:7d} {figures.get('recorded', ''):>9}")
        finally:
            for process in reversed(processes):
                process.terminate()
                process.wait(timeout=20)
            workdir.cleanup()

    c1, c32, c1000 = results["c1"], results["c32"], results["c1000"]
    summary = {
        "c1_added_p50_ms": round(c1["plugin"]["p50_ms"] - c1["direct"]["p50_ms"], 3),
        "c1_added_p99_ms": round(c1["plugin"]["p99_ms"] - c1["direct"]["p99_ms"], 3),
        "c32_rps": round(c32["plugin"]["rps"]),
        "c1000_throughput_ratio": round(c1000["plugin"]["rps"] / c1000["direct"]["rps"], 3),
        "c1000_added_p99_ms": round(c1000["plugin"]["p99_ms"] - c1000["direct"]["p99_ms"], 1),
        "errors": sum(r["plugin"]["errors"] for r in results.values()),
    }
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
