"""gaia-python runtime vs the official python3-http runtime shape (Flask served by waitress), same run.

Both serve the same trivial handler on loopback; each is loaded at concurrency 1 and 32 with keep-alive.
The load generator is wrk when installed (`apt-get install -y wrk`); otherwise an aiohttp client, which
on a small machine competes with the servers for CPU and understates both (the output says which ran).

    .venv/bin/python benchmarks/runtime.py [--seconds 4] [--rounds 3]

The last line is one JSON object: {"c1": {"ours_rps", "ref_rps", "ours_p99_ms", "ref_p99_ms", ...}, "c32": {...}}.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gaia_faas.processes import free_port, wait_for_http  # noqa: E402
from gaia_faas.runtime_process import RuntimeProcess, assemble_build_context  # noqa: E402

TRIVIAL_HANDLER = 'def handle(event, context):\n    return {"statusCode": 200, "body": "Hello from OpenFaaS!"}\n'

# The python3-http runtime's shape: Event/Context objects, a catch-all Flask route, dict responses
# formatted into (body, status, headers), served by waitress with its defaults (4 threads).
REFERENCE_RUNTIME = '''
import os, sys
from flask import Flask, request, jsonify
from waitress import serve
sys.path.insert(0, sys.argv[2])
from function import handler

app = Flask(__name__)

class Event:
    def __init__(self):
        self.body = request.get_data()
        self.headers = request.headers
        self.method = request.method
        self.query = request.args
        self.path = request.path

class Context:
    def __init__(self):
        self.hostname = os.getenv("HOSTNAME", "localhost")

def format_response(res):
    if res is None:
        return ("", 200)
    if not isinstance(res, dict):
        return res
    body = res.get("body", "")
    if isinstance(body, dict):
        body = jsonify(body)
    else:
        body = str(body)
    return (body, res.get("statusCode", 200), res.get("headers") or {})

@app.route("/", defaults={"path": ""}, methods=["GET", "PUT", "POST", "PATCH", "DELETE"])
@app.route("/<path:path>", methods=["GET", "PUT", "POST", "PATCH", "DELETE"])
def call_handler(path):
    return format_response(handler.handle(Event(), Context()))

serve(app, host="127.0.0.1", port=int(sys.argv[1]))
'''


def _wrk_time_ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def load_wrk(url: str, concurrency: int, seconds: float) -> dict:
    out = subprocess.run(
        ["wrk", "-t1", f"-c{concurrency}", f"-d{seconds:g}s", "--latency", url],
        capture_output=True, text=True, check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = _wrk_time_ms(re.search(r"^\s+50%\s+(\S+)", out, re.MULTILINE).group(1))
    p99 = _wrk_time_ms(re.search(r"^\s+99%\s+(\S+)", out, re.MULTILINE).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        raise RuntimeError(f"{url} answered {errors.group(1)} errors under load")
    return {"rps": rps, "p50_ms": p50, "p99_ms": p99}


def load_aiohttp(url: str, concurrency: int, seconds: float) -> dict:
    import aiohttp

    async def main():
        latencies = []
        deadline = time.perf_counter() + seconds

        async def client(session):
            while time.perf_counter() < deadline:
                start = time.perf_counter()
                async with session.get(url) as response:
                    await response.read()
                    if response.status != 200:
                        raise RuntimeError(f"{url} answered {response.status} under load")
                latencies.append((time.perf_counter() - start) * 1000)

        connector = aiohttp.TCPConnector(limit=concurrency)
        async with aiohttp.ClientSession(connector=connector) as session:
            began = time.perf_counter()
            await asyncio.gather(*(client(session) for _ in range(concurrency)))
            elapsed = time.perf_counter() - began
        latencies.sort()
        return {
            "rps": len(latencies) / elapsed,
            "p50_ms": latencies[len(latencies) // 2],
            "p99_ms": latencies[int(len(latencies) * 0.99)],
        }

    return asyncio.run(main())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="length of one measurement")
    parser.add_argument("--rounds", type=int, default=3, help="measurements per server and concurrency (median kept)")
    parser.add_argument("--workers", type=int, help="gunicorn workers for ours (default: the runtime's, 2 on CPU)")
    parser.add_argument("--threads", type=int, help="threads per worker for ours (default: the runtime's, 4)")
    args = parser.parse_args()
    if shutil.which("wrk"):
        load, generator = load_wrk, "wrk (keep-alive, 1 thread)"
    else:
        load, generator = load_aiohttp, "aiohttp client (wrk not installed: `apt-get install -y wrk` for truer figures)"

    with tempfile.TemporaryDirectory(prefix="gaia-bench-") as tmp:
        handler = Path(tmp) / "handler"
        handler.mkdir()
        (handler / "handler.py").write_text(TRIVIAL_HANDLER)
        context = assemble_build_context(handler, Path(tmp) / "context")
        ref_port = free_port()
        reference = subprocess.Popen(
            [sys.executable, "-c", REFERENCE_RUNTIME, str(ref_port), str(context)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        ours = RuntimeProcess(context, workers=args.workers, threads=args.threads)
        try:
            ours.start(timeout=60)
            wait_for_http(f"http://127.0.0.1:{ref_port}/", timeout=30, proc=reference)
            servers = {"ours": ours.url + "/", "ref": f"http://127.0.0.1:{ref_port}/"}
            for url in servers.values():
                load(url, 8, 1.0)  # warm-up: imports, first connections
            runs = {(name, c): [] for name in servers for c in (1, 32)}
            for _ in range(args.rounds):
                for concurrency in (1, 32):
                    for name, url in servers.items():  # interleaved, so drift hits both alike
                        runs[name, concurrency].append(load(url, concurrency, args.seconds))
        finally:
            ours.close()
            reference.terminate()
            reference.wait(timeout=10)

    def median(name, concurrency, key):
        return round(statistics.median(run[key] for run in runs[name, concurrency]), 3)

    print(f"load generator: {generator}; {args.rounds} x {args.seconds:g}s per cell, median shown")
    print(f"ours: gaia-python index.py under gunicorn, {args.workers or 2} workers, {args.threads or 4} handler slots each")
    print("ref:  python3-http shape, Flask under waitress (4 threads)")
    print(f"{'':>4} {'ours req/s':>11} {'ref req/s':>10} {'ours p50':>9} {'ref p50':>8} {'ours p99':>9} {'ref p99':>8}")
    summary = {}
    for concurrency in (1, 32):
        cell = {
            "ours_rps": median("ours", concurrency, "rps"),
            "ref_rps": median("ref", concurrency, "rps"),
            "ours_p50_ms": median("ours", concurrency, "p50_ms"),
            "ref_p50_ms": median("ref", concurrency, "p50_ms"),
            "ours_p99_ms": median("ours", concurrency, "p99_ms"),
            "ref_p99_ms": median("ref", concurrency, "p99_ms"),
        }
        summary[f"c{concurrency}"] = cell
        print(
            f"c{concurrency:<3} {cell['ours_rps']:>11.0f} {cell['ref_rps']:>10.0f} {cell['ours_p50_ms']:>8.2f}ms"
            f" {cell['ref_p50_ms']:>6.2f}ms {cell['ours_p99_ms']:>8.2f}ms {cell['ref_p99_ms']:>6.2f}ms"
        )
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
