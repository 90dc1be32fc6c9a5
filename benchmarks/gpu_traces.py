"""Measured requests as replay traces, and the figures drawn from them (pure: no I/O beyond writing a CSV).

Used by benchmarks/gpu_check.py. A trace is the uniform format of ../shared/traces
(`workload,mode,seq,timestamp,param,latency_ms`; timestamp = naive UTC completion time, `-1` = failed),
so `gaia replay --pairs DIR` reads a folder of NAME-cpu.csv / NAME-gpu.csv written here.

Row seq 0 of every trace is the cold request: it was sent the moment the runtime was launched and its latency
runs from the launch to its answer (process start, imports, `init`, model to device, first request). The
replay derives a variant's cold start from it; every figure below uses the warm rows (seq >= 1) only.
"""

from __future__ import annotations

import csv
import statistics
from dataclasses import dataclass
from pathlib import Path

TRACE_COLUMNS = ("workload", "mode", "seq", "timestamp", "param", "latency_ms")
FAILED_MS = -1.0


@dataclass(frozen=True)
class Row:
    workload: str
    mode: str  # the variant that served it: cpu or gpu
    seq: int
    timestamp: str  # naive UTC ISO time the answer arrived
    param: str  # matrix size for matmul; empty otherwise
    latency_ms: float  # client-side wall time of the request; -1: it failed


def write_trace(path: Path, rows: list[Row]) -> Path:
    with Path(path).open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(TRACE_COLUMNS)
        for row in rows:
            writer.writerow([row.workload, row.mode, row.seq, row.timestamp, row.param, f"{row.latency_ms:.3f}"])
    return Path(path)


def common_prefix(cpu: list[Row], gpu: list[Row]) -> tuple[list[Row], list[Row]]:
    """Both traces cut to the requests both variants served (a pair is read by seq, so lengths must match)."""
    n = min(len(cpu), len(gpu))
    return cpu[:n], gpu[:n]


def warm_medians(rows: list[Row]) -> dict[str, float]:
    """Median latency per param over the warm, successful rows."""
    by_param: dict[str, list[float]] = {}
    for row in rows:
        if row.seq >= 1 and row.latency_ms >= 0:
            by_param.setdefault(row.param, []).append(row.latency_ms)
    return {param: statistics.median(values) for param, values in by_param.items()}


def speedups(cpu_ms: dict[str, float], gpu_ms: dict[str, float]) -> dict[str, float]:
    """CPU latency over GPU latency per param both measured (> 1: the GPU is faster)."""
    return {p: cpu_ms[p] / gpu_ms[p] for p in cpu_ms if p in gpu_ms and gpu_ms[p] > 0}


def crossover(speedup_by_size: dict[str, float]) -> dict:
    """The smallest measured size from which the GPU is faster at it and at every larger measured size.

    ``between`` is the last size where the CPU was at least as fast and that first GPU size (None where the GPU
    won everywhere or nowhere), so a reader sees how coarse the grid was.
    """
    sizes = sorted(speedup_by_size, key=float)
    first_gpu = None
    for i, size in enumerate(sizes):
        if all(speedup_by_size[s] > 1.0 for s in sizes[i:]):
            first_gpu = size
            break
    if first_gpu is None:
        return {"size": None, "between": None, "gpu_faster_at_none": True}
    index = sizes.index(first_gpu)
    between = [int(sizes[index - 1]), int(first_gpu)] if index > 0 else None
    return {"size": int(first_gpu), "between": between, "gpu_faster_at_none": False}


def format_table(lines: list[tuple[str, str, float | None, float | None]]) -> str:
    """(workload, param, cpu p50 ms, gpu p50 ms) rows as a fixed-width table with the speed-up."""
    header = f"{'workload':<24} {'param':>7} {'cpu p50 ms':>11} {'gpu p50 ms':>11} {'cpu/gpu':>8}"
    out = [header, "-" * len(header)]
    for workload, param, cpu, gpu in lines:
        speed = f"{cpu / gpu:.2f}x" if cpu is not None and gpu else "-"
        out.append(f"{workload:<24} {param or '':>7} {_ms(cpu):>11} {_ms(gpu):>11} {speed:>8}")
    return "\n".join(out)


def _ms(value: float | None) -> str:
    if value is None:
        return "skipped"
    return f"{value:.1f}" if value < 1000 else f"{value:.0f}"
