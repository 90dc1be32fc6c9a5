"""Production arrival traces as inputs to `gaia replay --pool`: Alibaba GenTD26 and the Azure LLM trace 2023.

These traces are other people's published data (../shared/traces/public/SOURCES.md): the code reads them
from a folder given as an argument and never copies them. Each turns into open-loop `Workload`s on one
clock (time 0 = the start of the replayed window), so the functions of one trace compete for the pool as
they competed in production.

* **GenTD26** (`lora_request_trace.csv`): one Gaia function per ``checkpoint_model_version_id`` (a base
  model). A request arrives at ``gmt_create`` (second resolution) and is served on the GPU in
  ``exec_time_seconds``; on the CPU in that times the CPU/GPU speed ratio of the closest thesis workload
  class (`CPU_GPU_RATIOS`, `DIFFUSION_CLASS`). A ``FAILED`` row fails on either variant (a 5xx after its
  service time there: the simulator's failure model for a ``-1`` row with a latency); ``PENDING`` and
  ``PROCESSING`` rows had not finished when the trace was taken and are left out (counted). Each function's
  cold start, on both variants, is one draw from `basemodel_update_latency_anon.csv` (real base-model loads
  onto a GPU container), seeded by the model id so every run draws the same. 23 days x 87 models at one
  evaluation a second is far too slow to simulate, so a window (default: the busiest hour) and the K busiest
  models in it (default 16) are replayed; `Selection.describe` says what was left out.
* **Azure LLM 2023** (`AzureLLMInferenceTrace_code.csv`, `..._conv.csv`): the code and the conversation
  service as two functions; service time on each variant a function of the request's tokens
  (`llm_service_ms`, calibrated on the thesis TinyLlama traces), so no ratio is needed.
"""

from __future__ import annotations

import csv
import math
import random
import statistics
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from gaia_faas.gateway_plugin.traces import Request, TraceError, Workload, read_trace

# --- CPU/GPU speed ratios from the thesis' measured traces (../shared/traces) -------------------------------


@dataclass(frozen=True)
class CpuGpuRatio:
    """CPU service time / GPU service time of one workload class: the ratio of the medians of a thesis
    workload's warm requests on each variant (`measure_cpu_gpu_ratio` recomputes it from the traces)."""

    workload_class: str
    ratio: float
    source: str  # the thesis workload and the two medians, for the output and the docs
    cpu_file: str
    cpu_rows: tuple[int, int | None]  # [first, end) of the rows served on the CPU, the cold first one excluded
    gpu_file: str
    gpu_rows: tuple[int, int | None]

    def describe(self) -> str:
        return f"{self.ratio:g} (the thesis' {self.workload_class} class: {self.source})"


CPU_GPU_RATIOS = {
    ratio.workload_class: ratio for ratio in (
        # The `auto` LLM runs served their first requests on the CPU and the rest on the GPU (traces.WORKLOADS).
        CpuGpuRatio("llm", 7.79, "llm-complex, TinyLlama with a long generation: CPU median 16,288 ms, GPU 2,090 ms",
                    "llm-complex-auto.csv", (1, 8), "llm-complex-auto.csv", (8, None)),
        CpuGpuRatio("llm-short", 4.45, "llm-simple, TinyLlama with a short answer: CPU median 614 ms, GPU 138 ms",
                    "llm-simple-auto.csv", (1, 92), "llm-simple-auto.csv", (92, None)),
        CpuGpuRatio("image-classification", 1.24, "ResNet-18: CPU median 189 ms, GPU 152 ms",
                    "image-classification-auto.csv", (1, None), "image-classification-gpu.csv", (1, None)),
        CpuGpuRatio("sentiment-analysis", 1.89, "sentiment analysis: CPU median 219 ms, GPU 116 ms",
                    "sentiment-analysis-breaks-cpu.csv", (1, None), "sentiment-analysis-breaks-gpu.csv", (1, None)),
    )
}
# Stable Diffusion has no thesis trace. The closest measured class is LLM generation with a long output: a
# large model, GPU-bound, many sequential forward passes per request (diffusion's denoising steps). Published
# CPU/GPU gaps for diffusion are larger still, so this ratio is kind to the CPU.
DIFFUSION_CLASS = "llm"
DIFFUSION_REASON = ("diffusion has no thesis trace; the closest class is LLM generation: a large model, GPU-bound, "
                    "many sequential forward passes per request")


def measure_cpu_gpu_ratio(workload_class: str, thesis_dir: Path) -> float:
    """The ratio of `CPU_GPU_RATIOS[workload_class]` computed from the thesis traces in ``thesis_dir``."""
    spec = CPU_GPU_RATIOS[workload_class]

    def median(file: str, rows: tuple[int, int | None]) -> float:
        latencies = [r.latency_ms for r in read_trace(Path(thesis_dir) / file)[slice(*rows)]]
        return statistics.median(ms for ms in latencies if ms is not None)

    return median(spec.cpu_file, spec.cpu_rows) / median(spec.gpu_file, spec.gpu_rows)


# --- Azure LLM inference trace 2023 ---------------------------------------------------------------------------

LLM_MODEL = {  # ms = base + per_context x context tokens + per_generated x generated tokens
    "cpu": (150.0, 2.0, 60.0),
    "gpu": (80.0, 0.05, 7.5),
}
# The simulator's synthetic defaults (a model load on each variant); the trace has no start times.
LLM_COLD_START_S = {"cpu": 3.0, "gpu": 8.0}
# function -> (file, SLO p95 ms): code completion answers within 2 s, a chat turn within 6 s.
AZURE_LLM = {"azure-code": ("AzureLLMInferenceTrace_code.csv", 2000),
             "azure-conv": ("AzureLLMInferenceTrace_conv.csv", 6000)}
AZURE_COLUMNS = ("TIMESTAMP", "ContextTokens", "GeneratedTokens")


def llm_service_ms(variant: str, context: int, generated: int) -> float:
    """A TinyLlama-class request's service time on a variant, by its tokens, calibrated on the thesis traces
    llm-simple (CPU median 614 ms, GPU 138 ms; taken as 30 context / 7 generated tokens) and llm-complex
    (16,288 / 2,090 ms; 300 / 260 tokens). The thesis records no token counts; the split between prefill and
    decode is an assumption of the usual order for a 1.1 B model (CPU ~500 prefill and ~16 decode tokens/s,
    GPU ~20,000 and ~130)."""
    base, per_context, per_generated = LLM_MODEL[variant]
    return base + per_context * context + per_generated * generated


def _azure_time(path: Path, line: int, text: str) -> float:
    # The trace writes seven decimals, more than fromisoformat takes before Python 3.11.
    try:
        return datetime.fromisoformat(text[:26]).timestamp()
    except ValueError:
        raise TraceError(f"{path}:{line}: TIMESTAMP {text!r} is not a date and time") from None


def _azure_rows(path: Path):
    """(line, row) of an Azure LLM trace, its columns checked."""
    if not path.is_file():
        raise TraceError(f"Azure LLM trace file not found: {path}")
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in AZURE_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise TraceError(f"{path}: not an Azure LLM inference trace (missing columns: {', '.join(missing)})")
        yield from enumerate(reader, start=2)


def azure_workload(path: Path, name: str, slo_ms: int, minutes: float, origin: float | None = None) -> Workload:
    """Open-loop arrivals of an Azure LLM trace from ``origin`` (unix s; default: its first request) for
    ``minutes``, each request sized (``param``) by its context tokens: the size the plugin sees on arrival
    (GeneratedTokens is not known then)."""
    path = Path(path)
    requests = []
    for line, row in _azure_rows(path):
        at = _azure_time(path, line, row["TIMESTAMP"])
        origin = at if origin is None else origin
        if at - origin > minutes * 60:
            break
        try:
            context, generated = int(row["ContextTokens"]), int(row["GeneratedTokens"])
        except ValueError:
            raise TraceError(f"{path}:{line}: token counts must be whole numbers") from None
        requests.append(Request(cpu_ms=llm_service_ms("cpu", context, generated),
                                gpu_ms=llm_service_ms("gpu", context, generated),
                                send_s=max(0.0, at - origin), param=str(context)))
    if not requests:
        raise TraceError(f"{path}: no requests in the first {minutes:g} minutes")
    return Workload(name, f"{path.name}, {minutes:g} min, size = context tokens", tuple(requests),
                    closed_loop=False, annotations={"com.gaia.mode": "cpu_preferred", "com.gaia.slo-ms": str(slo_ms)},
                    cold_start_s=dict(LLM_COLD_START_S))


def load_azure_llm(directory: Path, hours: float = 1.0) -> tuple[list[Workload], str]:
    """The code and conversation services of the Azure LLM trace as two functions on one clock (the two
    files cover the same hour; time 0 = the earlier first request), the first ``hours``: (workloads, what
    was replayed, in words)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise TraceError(f"Azure LLM trace folder not found: {directory} (the Azure LLM inference trace 2023, "
                         "github.com/Azure/AzurePublicDataset)")
    if not hours > 0:
        raise TraceError(f"the window must be longer than 0 hours, got {hours:g}")
    firsts = []
    for file, _ in AZURE_LLM.values():
        path = directory / file
        for line, row in _azure_rows(path):
            firsts.append(_azure_time(path, line, row["TIMESTAMP"]))
            break
    origin = min(firsts)
    workloads = [azure_workload(directory / file, name, slo, hours * 60, origin)
                 for name, (file, slo) in AZURE_LLM.items()]
    counts = ", ".join(f"{w.name} {len(w.requests):,}" for w in workloads)
    return workloads, (f"Azure LLM 2023 ({directory}): {hours:g} h from "
                       f"{datetime.fromtimestamp(origin).strftime('%Y-%m-%d %H:%M:%S')}, requests {counts}; "
                       "service time per variant from the tokens (llm_service_ms, calibrated on the thesis "
                       "TinyLlama traces; no CPU/GPU ratio needed), cold start cpu 3 s / gpu 8 s")


# --- Alibaba GenTD26 ------------------------------------------------------------------------------------------

GENTD26_REQUESTS = "lora_request_trace.csv"
GENTD26_LOADS = "basemodel_update_latency_anon.csv"
GENTD26_COLUMNS = ("gmt_create", "predict_status", "exec_time_seconds", "checkpoint_model_version_id")
SUCCEEDED, FAILED = "SUCCEED", "FAILED"
UNFINISHED = ("PENDING", "PROCESSING")
# An image request's SLO: p95 within 90 s, the trace's GPU p90 (53 s) plus a median model load (23 s) and some
# queueing; a warm or freshly loaded GPU meets it, the CPU (7.8x) only for the quickest requests.
GENTD26_SLO_MS = 90_000
DEFAULT_HOURS = 1.0
DEFAULT_TOP = 16
# The platform of a GenTD26 function unless the user sets these: the gateway's timeout raised for image requests
# (GPU p99 106 s plus a p99 model load of 52 s, and room to queue), and one request at a time per replica on
# each variant: the trace's exec times are of one request alone on its GPU, the thesis ratios of sequential ones.
GENTD26_TIMEOUT_S = 300.0
GENTD26_CONCURRENCY = {"cpu": 1, "gpu": 1}


@dataclass(frozen=True)
class GentdRow:
    at: datetime
    model: str
    exec_s: float
    failed: bool


@dataclass(frozen=True)
class Selection:
    """What part of GenTD26 was replayed, for the output."""

    directory: Path
    start: datetime
    hours: float
    busiest: bool  # the window was chosen as the busiest one
    total_requests: int
    window_requests: int
    models_in_window: int
    kept: tuple[str, ...]  # model ids, busiest first
    kept_requests: int
    failed: int  # FAILED rows among the kept requests
    unfinished: int  # PENDING/PROCESSING rows in the window, left out
    no_model: int  # rows in the window without a model id, left out
    ratio: CpuGpuRatio
    loads: int
    load_median_s: float
    cold_starts_s: tuple[float, float]  # lowest and highest draw of the kept functions

    def describe(self) -> list[str]:
        dropped = self.models_in_window - len(self.kept)
        how = f"the busiest {self.hours:g}-hour window" if self.busiest else "as asked"
        return [
            f"GenTD26 ({self.directory}): window {self.start:%Y-%m-%d %H:%M:%S} + {self.hours:g} h ({how}: "
            f"{self.window_requests:,} of {self.total_requests:,} requests); the {len(self.kept)} busiest of "
            f"{self.models_in_window} models in it as functions ({self.kept_requests:,} requests, {self.failed} of "
            f"them FAILED: a 5xx after their service time); left out: {dropped} models "
            f"({self.window_requests - self.kept_requests - self.unfinished - self.no_model:,} requests), "
            f"{self.unfinished} unfinished (PENDING/PROCESSING) and {self.no_model} rows without a model id",
            f"GenTD26 service time: GPU = exec_time_seconds; CPU = GPU x {self.ratio.describe()}"
            + (f"; {DIFFUSION_REASON}" if self.ratio.workload_class == DIFFUSION_CLASS else ""),
            f"GenTD26 cold start: one draw per model (seeded by its id) from {GENTD26_LOADS} ({self.loads:,} base-model "
            f"loads, median {self.load_median_s:.1f} s), on both variants: {self.cold_starts_s[0]:.1f}-"
            f"{self.cold_starts_s[1]:.1f} s here; every variant cold at the window's start; SLO p95 <= "
            f"{GENTD26_SLO_MS / 1000:g} s",
        ]


def _gentd_file(directory: Path, name: str, columns: tuple[str, ...]):
    path = directory / name
    if not path.is_file():
        raise TraceError(f"{path} not found: {directory} is not the GenTD26 trace folder (Alibaba "
                         "cluster-trace-v2026-GenAI, github.com/alibaba/clusterdata)")
    handle = path.open(newline="")
    reader = csv.DictReader(handle)
    missing = [c for c in columns if c not in (reader.fieldnames or [])]
    if missing:
        handle.close()
        raise TraceError(f"{path}: not the GenTD26 {name} (missing columns: {', '.join(missing)})")
    return path, handle, reader


def read_gentd26_requests(directory: Path) -> tuple[list[GentdRow], int, list[datetime]]:
    """(finished requests, in arrival order; how many rows; arrival times of the unfinished and model-less
    rows, which the window counts and leaves out)."""
    path, handle, reader = _gentd_file(Path(directory), GENTD26_REQUESTS, GENTD26_COLUMNS)
    rows, left_out, total = [], [], 0
    with handle:
        for line, row in enumerate(reader, start=2):
            total += 1
            try:
                at = datetime.fromisoformat(row["gmt_create"])
                status = row["predict_status"]
                if status in UNFINISHED or not row["checkpoint_model_version_id"]:
                    left_out.append((at, status in UNFINISHED))
                    continue
                if status not in (SUCCEEDED, FAILED):
                    raise ValueError(f"predict_status {status!r} is not one of {SUCCEEDED}, {FAILED}, "
                                     f"{', '.join(UNFINISHED)}")
                exec_s = float(row["exec_time_seconds"])
                if not math.isfinite(exec_s) or exec_s < 0:
                    raise ValueError(f"exec_time_seconds {row['exec_time_seconds']!r} is not a time")
            except (TypeError, ValueError) as exc:
                raise TraceError(f"{path}:{line}: bad row ({exc})") from None
            rows.append(GentdRow(at, row["checkpoint_model_version_id"], exec_s, status == FAILED))
    if not rows:
        raise TraceError(f"{path}: no finished requests")
    rows.sort(key=lambda r: r.at)
    return rows, total, left_out


def read_gentd26_loads(directory: Path) -> list[float]:
    """The base-model load times in seconds."""
    path, handle, reader = _gentd_file(Path(directory), GENTD26_LOADS, ("value",))
    loads = []
    with handle:
        for line, row in enumerate(reader, start=2):
            try:
                value = float(row["value"])
            except (TypeError, ValueError):
                value = math.nan
            if not math.isfinite(value) or value < 0:
                raise TraceError(f"{path}:{line}: bad row (value {row['value']!r} is not a load time in ms)")
            loads.append(value / 1000.0)
    if not loads:
        raise TraceError(f"{path}: no load times")
    return loads


def busiest_window(times: list[datetime], hours: float) -> datetime:
    """The whole hour at which the ``hours`` long window with the most arrivals starts (the earliest of equals)."""
    first = times[0].replace(minute=0, second=0, microsecond=0)
    length = timedelta(hours=hours)
    best, best_count, start = first, -1, first
    lo = hi = 0
    while start <= times[-1]:
        while lo < len(times) and times[lo] < start:
            lo += 1
        hi = max(hi, lo)
        while hi < len(times) and times[hi] < start + length:
            hi += 1
        if hi - lo > best_count:
            best, best_count = start, hi - lo
        start += timedelta(hours=1)
    return best


def function_name(model: str) -> str:
    """A Gaia function name for a base model (lower case, as OpenFaaS names are)."""
    return f"gentd26-{model.lower()}"


def load_gentd26(directory: Path, start: datetime | None = None, hours: float = DEFAULT_HOURS,
                 top: int | None = DEFAULT_TOP, ratio: CpuGpuRatio | None = None) -> tuple[list[Workload], Selection]:
    """GenTD26's models in a window as functions: [start, start + hours) (default start: the busiest window),
    the ``top`` busiest models in it (None: all), CPU service times at ``ratio`` (default: the diffusion class's)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise TraceError(f"GenTD26 trace folder not found: {directory} (Alibaba cluster-trace-v2026-GenAI, "
                         "github.com/alibaba/clusterdata)")
    if not (math.isfinite(hours) and hours > 0):
        raise TraceError(f"the window must be longer than 0 hours, got {hours:g}")
    if top is not None and top < 1:
        raise TraceError(f"the busiest models to replay must be at least 1, got {top}")
    ratio = ratio or CPU_GPU_RATIOS[DIFFUSION_CLASS]
    rows, total, left_out = read_gentd26_requests(directory)
    loads = read_gentd26_loads(directory)
    busiest = start is None
    if start is None:
        start = busiest_window([r.at for r in rows], hours)
    end = start + timedelta(hours=hours)
    window = [r for r in rows if start <= r.at < end]
    if not window:
        raise TraceError(f"no GenTD26 requests between {start} and {end} (the trace runs from "
                         f"{rows[0].at} to {rows[-1].at})")
    outside = [unfinished for at, unfinished in left_out if start <= at < end]
    by_model = Counter(r.model for r in window)
    ranked = sorted(by_model, key=lambda m: (-by_model[m], m))
    kept = ranked[:top] if top is not None else ranked
    workloads, draws = [], []
    for model in kept:
        # Seeded by the model id: the same model gets the same load time in every run and every window.
        cold_s = random.Random(f"gentd26:{model}").choice(loads)
        draws.append(cold_s)
        requests = []
        for r in (r for r in window if r.model == model):
            gpu_ms = r.exec_s * 1000.0
            error = "5xx" if r.failed else None
            requests.append(Request(cpu_ms=gpu_ms * ratio.ratio, gpu_ms=gpu_ms, send_s=(r.at - start).total_seconds(),
                                    cpu_error=error, gpu_error=error))
        workloads.append(Workload(
            function_name(model), f"GenTD26 base model {model}: {len(requests)} requests in the window",
            tuple(requests), closed_loop=False,
            annotations={"com.gaia.mode": "cpu_preferred", "com.gaia.slo-ms": str(GENTD26_SLO_MS)},
            cold_start_s={"cpu": cold_s, "gpu": cold_s}))
    kept_set = set(kept)
    selection = Selection(
        directory=directory, start=start, hours=hours, busiest=busiest, total_requests=total,
        window_requests=len(window) + len(outside), models_in_window=len(by_model), kept=tuple(kept),
        kept_requests=sum(by_model[m] for m in kept),
        failed=sum(1 for r in window if r.failed and r.model in kept_set),
        unfinished=sum(outside), no_model=len(outside) - sum(outside), ratio=ratio, loads=len(loads),
        load_median_s=statistics.median(loads), cold_starts_s=(min(draws), max(draws)))
    return workloads, selection
