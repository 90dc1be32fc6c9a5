"""Workloads for ``gaia replay``: the measured thesis traces and synthetic patterns.

A workload is a sequence of requests, each with the latency it would see on the CPU variant and on the GPU
variant when that variant is warm, plus how requests arrive:

* closed loop (the sequential thesis scripts): one client sends the next request ``think_s`` after the previous one
  completed, so a faster variant also makes the run shorter;
* open loop (the async matrix script, synthetic patterns): request ``i`` is sent at ``send_s``, whatever
  the latencies.

How the latency on the variant a trace did *not* run on is derived (see docs/controller.md):

* matrix multiplication: the cpu and gpu traces measured every size; a size's latency on a variant is
  interpolated linearly by size over that variant's successful requests (this also fills the CPU run's six
  failed requests, and serves the random-size trace);
* image classification, sentiment analysis: the cpu and gpu runs sent the same sequence; paired by index;
* LLM traces (``auto`` runs): the part before the thesis's switch ran on CPU, the rest on GPU; request
  ``i`` gets its own measured latency on the variant it ran on and, on the other variant, the
  measurement at index ``i`` modulo the length of that other part (a deterministic resampling);
* idle wait: the handler sleeps 2 s; the thesis ran this very trace partly on GPU with the same latencies,
  so both variants get the measured latency.

Cold starts: the first request of a run includes its variant's cold start. That request's warm latency is
taken as the median of the next five, and the difference is the variant's cold start (scale-up to first
answer), which the replay charges whenever a variant is asked to serve while it is not ready. A trace with
no run on a variant uses the other variant's cold start.

Paired traces (``load_pair``: ``NAME-cpu.csv`` + ``NAME-gpu.csv``, the benchmarks' scenarios and anything
``benchmarks/gpu_check.py`` measured) are replayed open loop: request ``seq`` is sent at the CPU row's
completion time minus its latency (the GPU row's where the CPU one failed), and is served in
``latency_ms`` of the row of the variant that serves it. A ``-1`` row, or a row with an ``error`` column
(``5xx``, ``refused``, ``timeout``), is a request that fails on that variant. An optional ``NAME.json``
beside the pair gives a description, ``com.gaia.*`` annotations, cold starts, the failure mode of ``-1``
rows and whether the run starts warm.
"""

from __future__ import annotations

import bisect
import csv
import json
import math
import os
import random
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

TRACES_ENV = "GAIA_TRACES"
# Where the thesis workloads' traces come from, for the one line that says they are missing.
THESIS_SOURCE = ("the Gaia thesis' measured traces (public repository github.com/polaris-slo-cloud/gaia, "
                 "reformatted as in ../shared/traces/SOURCES.md)")
FAILURES = ("5xx", "refused", "timeout")
DEFAULT_FAILURE = "5xx"
# What a sidecar NAME.json may hold (gpu_check.py also writes "timestamps": "completion").
SIDECAR_KEYS = {"description", "annotations", "cold_start_s", "failure", "warm_start", "timestamps"}


class TraceError(ValueError):
    """A trace file is missing or not in the uniform format."""


@dataclass(frozen=True)
class Request:
    cpu_ms: float | None
    gpu_ms: float | None
    think_s: float = 0.0  # closed loop: pause between the previous completion and this send
    send_s: float = 0.0  # open loop: send time from the start
    param: str = ""  # e.g. the matrix size
    # How the request fails on each variant (one of FAILURES), None: it succeeds. A failing request's
    # cpu_ms/gpu_ms is how long the failure took where the trace shows it, else None.
    cpu_error: str | None = None
    gpu_error: str | None = None

    def on(self, variant: str) -> tuple[float | None, str | None]:
        """(service ms, failure) on a variant; a request without a latency there fails (as a 5xx unless
        its failure says otherwise)."""
        ms, error = (self.cpu_ms, self.cpu_error) if variant == "cpu" else (self.gpu_ms, self.gpu_error)
        return ms, error or (DEFAULT_FAILURE if ms is None else None)


@dataclass(frozen=True)
class Workload:
    name: str
    description: str
    requests: tuple[Request, ...]
    closed_loop: bool
    annotations: dict[str, str] = field(default_factory=dict)  # com.gaia.* for this workload
    cold_start_s: dict[str, float] = field(default_factory=dict)
    # The start variant is already warm at time 0 (synthetic patterns: the function ran before the
    # pattern began). Trace runs start cold, as the thesis runs did.
    warm_start: bool = False


@dataclass(frozen=True)
class TraceRow:
    seq: int
    completed_at: float  # unix seconds (send time for the async matmul run)
    param: str
    latency_ms: float | None  # None: the request failed (-1 in the file)
    error: str | None = None  # the optional `error` column: how the request failed (one of FAILURES)


def default_traces_dir() -> Path:
    """$GAIA_TRACES, else ../shared/traces beside the repository checkout."""
    explicit = os.environ.get(TRACES_ENV)
    if explicit:
        return Path(explicit)
    return Path(__file__).resolve().parents[1].parent / "shared" / "traces"


def read_trace(path: Path) -> list[TraceRow]:
    """Rows of one trace CSV in the uniform format (workload,mode,seq,timestamp,param,latency_ms)."""
    if not path.is_file():
        raise TraceError(f"trace file not found: {path} (set {TRACES_ENV} or pass --traces DIR)")
    rows: list[TraceRow] = []
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        missing = {"seq", "timestamp", "param", "latency_ms"} - set(reader.fieldnames or [])
        if missing:
            raise TraceError(f"{path}: not a trace in the uniform format (missing columns: {', '.join(sorted(missing))})")
        for line, row in enumerate(reader, start=2):
            error = (row.get("error") or "").strip() or None
            if error is not None and error not in FAILURES:
                raise TraceError(f"{path}:{line}: error {error!r} is not one of {', '.join(FAILURES)} (or empty)")
            try:
                latency = float(row["latency_ms"])
                if not math.isfinite(latency):
                    raise ValueError(f"latency_ms {row['latency_ms']!r} is not a finite number")
                rows.append(TraceRow(seq=int(row["seq"]), completed_at=datetime.fromisoformat(row["timestamp"]).timestamp(),
                                     param=row["param"] or "", latency_ms=None if latency < 0 else latency, error=error))
            except (TypeError, ValueError) as exc:
                raise TraceError(f"{path}:{line}: bad row ({exc})") from None
    if not rows:
        raise TraceError(f"{path}: no requests")
    return rows


def think_times(rows: list[TraceRow]) -> list[float]:
    """Pause before each request of a sequential run: its send time (completion - latency) minus the
    previous completion. A failed request has no latency: it counts as sent right after the previous one."""
    pauses = [0.0]
    for previous, row in zip(rows, rows[1:]):
        if row.latency_ms is None:
            pauses.append(0.0)
            continue
        sent = row.completed_at - row.latency_ms / 1000.0
        pauses.append(max(0.0, sent - previous.completed_at))
    return pauses


def cold_start(latencies_ms: list[float]) -> tuple[float, float]:
    """(warm latency of the first request, cold start in seconds) of a run's leading requests."""
    warm = statistics.median(latencies_ms[1:6])
    return warm, max(0.0, (latencies_ms[0] - warm) / 1000.0)


def _interpolator(rows: list[TraceRow]) -> Callable[[float], float]:
    """Latency as a function of matrix size, linear between the successful measurements."""
    points = sorted((float(r.param), r.latency_ms) for r in rows if r.latency_ms is not None)
    sizes = [p[0] for p in points]

    def latency_at(size: float) -> float:
        i = bisect.bisect_left(sizes, size)
        if i < len(sizes) and sizes[i] == size:
            return points[i][1]
        if i == 0:
            return points[0][1]
        if i == len(sizes):
            return points[-1][1]
        (s0, l0), (s1, l1) = points[i - 1], points[i]
        return l0 + (l1 - l0) * (size - s0) / (s1 - s0)

    return latency_at


def _matmul(directory: Path, name: str, sizes_file: str, description: str) -> Workload:
    cpu_rows = read_trace(directory / "matmul-increment-cpu.csv")
    gpu_rows = read_trace(directory / "matmul-increment-gpu.csv")
    # Size 0 is each run's first request, so it carries the cold start: warm it from sizes 200..1000.
    cpu_at, gpu_at = _interpolator(cpu_rows[1:]), _interpolator(gpu_rows[1:])
    cpu_first = [r.latency_ms for r in cpu_rows[:6]]
    gpu_first = [r.latency_ms for r in gpu_rows[:6]]
    cpu_warm0, cpu_cold = cold_start(cpu_first)
    gpu_warm0, gpu_cold = cold_start(gpu_first)
    rows = read_trace(directory / sizes_file)
    pauses = think_times(rows)
    requests = []
    for row, pause in zip(rows, pauses):
        size = float(row.param)
        cpu_ms = cpu_warm0 if size == 0 else cpu_at(size)
        gpu_ms = gpu_warm0 if size == 0 else gpu_at(size)
        requests.append(Request(cpu_ms=cpu_ms, gpu_ms=gpu_ms, think_s=pause, param=row.param))
    return Workload(name, description, tuple(requests), closed_loop=True,
                    annotations={"com.gaia.mode": "cpu_preferred", "com.gaia.slo-ms": "1000"},
                    cold_start_s={"cpu": cpu_cold, "gpu": gpu_cold})


def _matmul_async(directory: Path) -> Workload:
    """The async script: one request every 2 s whatever the answers (up to 10 in flight): open loop at the
    trace's send times (this file's timestamps are send times)."""
    base = _matmul(directory, "matmul-increment-async", "matmul-increment-async-auto.csv", "")
    rows = read_trace(directory / "matmul-increment-async-auto.csv")
    start = rows[0].completed_at
    requests = tuple(Request(cpu_ms=r.cpu_ms, gpu_ms=r.gpu_ms, send_s=row.completed_at - start, param=r.param)
                     for r, row in zip(base.requests, rows))
    return Workload("matmul-increment-async", "matrix sizes 0..20,000 step 100, one request every 2 s, open loop "
                    "(SLO p95 <= 1,000 ms)", requests, closed_loop=False, annotations=base.annotations,
                    cold_start_s=base.cold_start_s)


def _paired(directory: Path, name: str, cpu_file: str, gpu_file: str, annotations: dict, description: str) -> Workload:
    cpu_rows, gpu_rows = read_trace(directory / cpu_file), read_trace(directory / gpu_file)
    if len(cpu_rows) != len(gpu_rows):
        raise TraceError(f"{cpu_file} and {gpu_file} differ in length ({len(cpu_rows)} vs {len(gpu_rows)})")
    cpu = [r.latency_ms for r in cpu_rows]
    gpu = [r.latency_ms for r in gpu_rows]
    cpu[0], cpu_cold = cold_start(cpu)
    gpu[0], gpu_cold = cold_start(gpu)
    pauses = think_times(cpu_rows)
    requests = tuple(Request(cpu_ms=c, gpu_ms=g, think_s=p) for c, g, p in zip(cpu, gpu, pauses))
    return Workload(name, description, requests, closed_loop=True, annotations=annotations,
                    cold_start_s={"cpu": cpu_cold, "gpu": gpu_cold})


def _split(directory: Path, name: str, file: str, gpu_from: int, annotations: dict, description: str) -> Workload:
    rows = read_trace(directory / file)
    latencies = [r.latency_ms for r in rows]
    warm0, cpu_cold = cold_start(latencies)
    latencies[0] = warm0
    cpu_part, gpu_part = latencies[:gpu_from], latencies[gpu_from:]
    pauses = think_times(rows)
    requests = []
    for i, (latency, pause) in enumerate(zip(latencies, pauses)):
        if i < gpu_from:
            cpu_ms, gpu_ms = latency, gpu_part[i % len(gpu_part)]
        else:
            cpu_ms, gpu_ms = cpu_part[i % len(cpu_part)], latency
        requests.append(Request(cpu_ms=cpu_ms, gpu_ms=gpu_ms, think_s=pause))
    return Workload(name, description, tuple(requests), closed_loop=True, annotations=annotations,
                    cold_start_s={"cpu": cpu_cold, "gpu": cpu_cold})


def _idle_wait(directory: Path, name: str, repeat_to_s: float | None, description: str) -> Workload:
    rows = read_trace(directory / "idle-wait-auto.csv")
    latencies = [r.latency_ms for r in rows]
    latencies[0], cold = cold_start(latencies)
    pauses = think_times(rows)
    requests = [Request(cpu_ms=l, gpu_ms=l, think_s=p) for l, p in zip(latencies, pauses)]
    if repeat_to_s is not None:  # cycle the warm part of the trace until the run lasts repeat_to_s
        total = sum(r.cpu_ms / 1000.0 + r.think_s for r in requests)
        i = 1
        while total < repeat_to_s:
            requests.append(requests[i])
            total += requests[i].cpu_ms / 1000.0 + requests[i].think_s
            i = i + 1 if i + 1 < len(rows) else 1
    return Workload(name, description, tuple(requests), closed_loop=True,
                    annotations={"com.gaia.mode": "cpu_preferred", "com.gaia.slo-ms": "1000"},
                    cold_start_s={"cpu": cold, "gpu": cold})


# --- synthetic patterns (open loop, seeded, so every run is the same) ---------------------------------

# Scale-up to first answer of a variant in the synthetic patterns (a GPU pod also loads its model).
SYNTHETIC_COLD_START_S = {"cpu": 3.0, "gpu": 8.0}


def _open_loop(name: str, description: str, duration_s: float, rate_at: Callable[[float], float],
               latency_at: Callable[[float, random.Random], tuple[float, float]], seed: int,
               slo_ms: float = 1000.0) -> Workload:
    """Poisson arrivals at rate_at(t) (thinning) with (cpu_ms, gpu_ms) = latency_at(t, rng)."""
    rng = random.Random(seed)
    peak = max(rate_at(t) for t in range(int(duration_s) + 1))
    requests, t = [], 0.0
    while True:
        t += rng.expovariate(peak)
        if t >= duration_s:
            break
        if rng.random() * peak <= rate_at(t):
            cpu_ms, gpu_ms = latency_at(t, rng)
            requests.append(Request(cpu_ms=cpu_ms, gpu_ms=gpu_ms, send_s=t))
    return Workload(name, description, tuple(requests), closed_loop=False,
                    annotations={"com.gaia.mode": "cpu_preferred", "com.gaia.slo-ms": f"{slo_ms:g}"},
                    cold_start_s=dict(SYNTHETIC_COLD_START_S), warm_start=True)


def _lognormal(rng: random.Random, median_ms: float, sigma: float) -> float:
    return median_ms * math.exp(rng.gauss(0.0, sigma))


def synthetic_step() -> Workload:
    return _open_loop(
        "step", "2 req/s; CPU 300 ms for 2 min, then 1,800 ms (GPU 120 then 400 ms) for 8 min",
        600, lambda t: 2.0,
        lambda t, rng: ((_lognormal(rng, 300, 0.1), _lognormal(rng, 120, 0.1)) if t < 120
                        else (_lognormal(rng, 1800, 0.1), _lognormal(rng, 400, 0.1))), seed=1)


def synthetic_ramp() -> Workload:
    return _open_loop(
        "ramp", "1 req/s for 10 min; CPU latency ramps from 200 to 3,000 ms, the GPU stays at a quarter",
        600, lambda t: 1.0,
        lambda t, rng: (lambda cpu: (cpu, cpu / 4))(_lognormal(rng, 200 + 2800 * t / 600, 0.1)), seed=2)


def synthetic_bursts() -> Workload:
    def busy(t: float) -> bool:
        return int(t // 60) % 3 == 2  # one busy minute in three

    return _open_loop(
        "bursts", "0.5 req/s, every third minute 8 req/s during which the CPU queues (1,500 ms vs GPU 200 ms)",
        1800, lambda t: 8.0 if busy(t) else 0.5,
        lambda t, rng: ((_lognormal(rng, 1500, 0.2), _lognormal(rng, 200, 0.1)) if busy(t)
                        else (_lognormal(rng, 300, 0.1), _lognormal(rng, 150, 0.1))), seed=3)


def synthetic_noise(gpu_factor: float, name: str, seed: int) -> Workload:
    return _open_loop(
        name, f"1 hour at 1 req/s; CPU latency log-normal around the 1,000 ms SLO (sigma 0.3), "
              f"GPU {gpu_factor:g}x the CPU's median",
        3600, lambda t: 1.0,
        lambda t, rng: (_lognormal(rng, 1000, 0.3), _lognormal(rng, 1000 * gpu_factor, 0.3)), seed=seed)


# name -> (needs the trace folder, builder(directory) -> Workload)
WORKLOADS: dict[str, tuple[bool, Callable[[Path], Workload]]] = {
    "matmul-increment": (True, lambda d: _matmul(
        d, "matmul-increment", "matmul-increment-cpu.csv",
        "matrix sizes 0..20,000 step 200, sequential, no wait (cpu/gpu traces, SLO p95 <= 1,000 ms)")),
    "matmul-increment-wait2s": (True, lambda d: _matmul(
        d, "matmul-increment-wait2s", "matmul-increment-wait2s-auto.csv",
        "matrix sizes 0..20,000 step 200, 2 s between requests (SLO p95 <= 1,000 ms)")),
    "matmul-random": (True, lambda d: _matmul(
        d, "matmul-random", "matmul-random-auto.csv",
        "500 random matrix sizes, 2 s between requests (SLO p95 <= 1,000 ms)")),
    "matmul-increment-async": (True, _matmul_async),
    "idle-wait": (True, lambda d: _idle_wait(
        d, "idle-wait", None, "2 s sleep, sequential, 6 minutes; SLO p95 <= 1,000 ms can never be met")),
    "idle-wait-1h": (True, lambda d: _idle_wait(
        d, "idle-wait-1h", 3600.0, "the idle-wait trace cycled for one hour (attempts per hour)")),
    "image-classification": (True, lambda d: _paired(
        d, "image-classification", "image-classification-auto.csv", "image-classification-gpu.csv",
        {"com.gaia.mode": "cpu_preferred", "com.gaia.slo-ms": "500"},
        "ResNet-18, 500 sequential requests; SLO p95 <= 500 ms is met on CPU")),
    "sentiment-breaks": (True, lambda d: _paired(
        d, "sentiment-breaks", "sentiment-analysis-breaks-cpu.csv", "sentiment-analysis-breaks-gpu.csv",
        {"com.gaia.mode": "gpu_preferred", "com.gaia.slo-ms": "500"},
        "sentiment analysis, 200/50/200 requests with 90 s breaks; gpu_preferred, SLO p95 <= 500 ms")),
    "llm-simple": (True, lambda d: _split(
        d, "llm-simple", "llm-simple-auto.csv", 92, {"com.gaia.mode": "cpu_preferred", "com.gaia.slo-ms": "500"},
        "TinyLlama, short prompt, 500 sequential requests; SLO p95 <= 500 ms (CPU ~600 ms)")),
    "llm-simple-long": (True, lambda d: _split(
        d, "llm-simple-long", "llm-simple-long-auto.csv", 92,
        {"com.gaia.mode": "cpu_preferred", "com.gaia.slo-ms": "500"},
        "TinyLlama, short prompt, 776 sequential requests; SLO p95 <= 500 ms")),
    "llm-complex": (True, lambda d: _split(
        d, "llm-complex", "llm-complex-auto.csv", 8, {"com.gaia.mode": "cpu_preferred", "com.gaia.slo-ms": "1000"},
        "TinyLlama, complex prompt (CPU ~16 s, GPU ~2 s), 333 sequential requests; SLO p95 <= 1,000 ms")),
    "step": (False, lambda d: synthetic_step()),
    "ramp": (False, lambda d: synthetic_ramp()),
    "bursts": (False, lambda d: synthetic_bursts()),
    "noise": (False, lambda d: synthetic_noise(0.9, "noise", seed=4)),
    "noise-gpu-helps": (False, lambda d: synthetic_noise(0.4, "noise-gpu-helps", seed=5)),
}


def load_workload(name: str, directory: Path | None = None) -> Workload:
    if name not in WORKLOADS:
        raise TraceError(f"unknown workload {name!r}; known: {', '.join(WORKLOADS)}")
    needs_traces, build = WORKLOADS[name]
    directory = directory or default_traces_dir()
    if needs_traces and not directory.is_dir():
        raise TraceError(f"{name} needs the thesis traces, not found at {directory}: they are {THESIS_SOURCE}; "
                         f"pass --traces DIR or set {TRACES_ENV}")
    return build(directory)


# --- paired traces (gaia replay --pair / --pairs) ------------------------------------------------------

def pair_name(cpu_path: Path) -> str:
    """The workload name of a pair: the CPU file's stem without ``-cpu``."""
    stem = Path(cpu_path).stem
    return stem[: -len("-cpu")] if stem.endswith("-cpu") else stem


def find_pairs(directory: Path) -> list[tuple[str, Path, Path]]:
    """Every ``NAME-cpu.csv`` / ``NAME-gpu.csv`` pair in a folder, by name; a lone half is an error."""
    directory = Path(directory)
    if not directory.is_dir():
        raise TraceError(f"pair folder not found: {directory}")
    halves = {variant: {p.name[: -len(f"-{variant}.csv")]: p for p in directory.glob(f"*-{variant}.csv")}
              for variant in ("cpu", "gpu")}
    for variant, other in (("cpu", "gpu"), ("gpu", "cpu")):
        lone = sorted(set(halves[variant]) - set(halves[other]))
        if lone:
            raise TraceError(f"{halves[variant][lone[0]]} has no {lone[0]}-{other}.csv beside it"
                             + (f" (nor {len(lone) - 1} more {variant} traces)" if len(lone) > 1 else ""))
    if not halves["cpu"]:
        raise TraceError(f"no NAME-cpu.csv / NAME-gpu.csv pairs in {directory}")
    return [(name, halves["cpu"][name], halves["gpu"][name]) for name in sorted(halves["cpu"])]


def read_sidecar(path: Path) -> dict:
    """A pair's NAME.json, checked strictly (empty when there is none)."""
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise TraceError(f"{path}: not readable JSON ({exc})") from None
    if not isinstance(data, dict):
        raise TraceError(f"{path}: expected a JSON object")
    unknown = sorted(set(data) - SIDECAR_KEYS)
    if unknown:
        raise TraceError(f"{path}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(SIDECAR_KEYS))}")

    def bad(key: str, expected: str) -> TraceError:
        return TraceError(f"{path}: {key!r} must be {expected}, got {data[key]!r}")

    if "description" in data and not isinstance(data["description"], str):
        raise bad("description", "a string")
    annotations = data.get("annotations", {})
    if not isinstance(annotations, dict) or not all(isinstance(k, str) and isinstance(v, (str, int, float))
                                                    and not isinstance(v, bool) for k, v in annotations.items()):
        raise bad("annotations", 'an object of strings, e.g. {"com.gaia.slo-ms": "800"}')
    cold = data.get("cold_start_s", {})
    if (not isinstance(cold, dict) or not set(cold) <= {"cpu", "gpu"}
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v >= 0
                       for v in cold.values())):
        raise bad("cold_start_s", 'an object like {"cpu": 2.0, "gpu": 75.0} (seconds, at least 0)')
    if "failure" in data and data["failure"] not in FAILURES:
        raise bad("failure", f"one of {', '.join(FAILURES)}")
    if "warm_start" in data and not isinstance(data["warm_start"], bool):
        raise bad("warm_start", "true or false")
    if "timestamps" in data and data["timestamps"] not in ("completion", "send"):
        raise bad("timestamps", '"completion" or "send"')
    return {**data, "annotations": {k: str(v) for k, v in annotations.items()}, "cold_start_s": dict(cold)}


def _indexed(rows: list[TraceRow], path: Path) -> dict[int, TraceRow]:
    by_seq: dict[int, TraceRow] = {}
    for row in rows:
        if row.seq in by_seq:
            raise TraceError(f"{path}: seq {row.seq} appears twice")
        by_seq[row.seq] = row
    return by_seq


def load_pair(cpu_path: Path, gpu_path: Path, failure: str | None = None,
              cold_start_s: dict[str, float] | None = None) -> Workload:
    """An open-loop workload from a CPU and a GPU trace of the same requests, paired by ``seq``.

    ``failure``: how ``-1`` rows without an ``error`` value fail (default: the sidecar's, else 5xx);
    ``cold_start_s``: per variant, overrides the sidecar's and the trace's.
    """
    cpu_path, gpu_path = Path(cpu_path), Path(gpu_path)
    if failure is not None and failure not in FAILURES:
        raise TraceError(f"failure mode {failure!r} is not one of {', '.join(FAILURES)}")
    cpu_rows, gpu_rows = _indexed(read_trace(cpu_path), cpu_path), _indexed(read_trace(gpu_path), gpu_path)
    for mine, theirs, path, other in ((cpu_rows, gpu_rows, cpu_path, gpu_path), (gpu_rows, cpu_rows, gpu_path, cpu_path)):
        alone = sorted(set(mine) - set(theirs))
        if alone:
            raise TraceError(f"{path} and {other} do not pair: seq {alone[0]} is only in {path.name}"
                             + (f" ({len(alone)} rows in all)" if len(alone) > 1 else ""))
    name = pair_name(cpu_path)
    side = read_sidecar(cpu_path.parent / f"{name}.json")
    failure = failure or side.get("failure") or DEFAULT_FAILURE
    send_times = side.get("timestamps", "completion") == "send"

    def own_send(row: TraceRow) -> float | None:
        if send_times:
            return row.completed_at
        return None if row.latency_ms is None else row.completed_at - row.latency_ms / 1000.0

    seqs = sorted(cpu_rows)
    cpu_sends = {seq: own_send(cpu_rows[seq]) for seq in seqs}
    gpu_sends = {seq: own_send(gpu_rows[seq]) for seq in seqs}
    # Where the CPU row failed, the GPU row's send time is carried onto the CPU file's clock through the nearest
    # request both answered (the same clock in generated pairs; two separate runs in the thesis traces), and
    # is never later than the CPU row's own timestamp: the failure was logged then.
    common = [seq for seq in seqs if cpu_sends[seq] is not None and gpu_sends[seq] is not None]

    def sent_at(seq: int) -> float:
        if cpu_sends[seq] is not None:
            return cpu_sends[seq]
        if gpu_sends[seq] is not None:
            if not common:
                return gpu_sends[seq]
            at = bisect.bisect_right(common, seq)
            anchor = common[at - 1] if at else common[0]
            return min(gpu_sends[seq] + cpu_sends[anchor] - gpu_sends[anchor], cpu_rows[seq].completed_at)
        return cpu_rows[seq].completed_at  # failed on both: its answer time is all the trace knows

    def outcome(row: TraceRow) -> tuple[float | None, str | None]:
        return row.latency_ms, row.error or (failure if row.latency_ms is None else None)

    sends = {seq: sent_at(seq) for seq in seqs}
    start = min(sends.values())
    cold = dict(SYNTHETIC_COLD_START_S)
    warm_start = bool(side.get("warm_start", False))
    service = {"cpu": [outcome(cpu_rows[s]) for s in seqs], "gpu": [outcome(gpu_rows[s]) for s in seqs]}
    for variant in ("cpu", "gpu"):
        if cold_start_s and variant in cold_start_s:
            cold[variant] = float(cold_start_s[variant])
        elif variant in side.get("cold_start_s", {}):
            cold[variant] = float(side["cold_start_s"][variant])
        elif not warm_start:
            # The trace shows a start: its first request's latency over the warm ones that follow.
            first, error = service[variant][0]
            warm = [ms for ms, err in service[variant][1:6] if err is None and ms is not None]
            if first is not None and error is None and warm:
                warm0, cold[variant] = cold_start([first, *warm])
                service[variant][0] = (warm0, None)
    requests = tuple(
        Request(cpu_ms=cpu_ms, gpu_ms=gpu_ms, send_s=sends[seq] - start, param=cpu_rows[seq].param,
                cpu_error=cpu_error, gpu_error=gpu_error)
        for seq, (cpu_ms, cpu_error), (gpu_ms, gpu_error) in zip(seqs, service["cpu"], service["gpu"]))
    requests = tuple(sorted(requests, key=lambda r: r.send_s))
    description = side.get("description") or f"{cpu_path.name} / {gpu_path.name}: {len(requests)} requests, open loop"
    return Workload(name, description, requests, closed_loop=False, annotations=side.get("annotations", {}),
                    cold_start_s=cold, warm_start=warm_start)
