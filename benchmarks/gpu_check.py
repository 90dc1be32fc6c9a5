"""Real-GPU check: the reference functions' GPU variants on CUDA, and CPU vs GPU latency measured side by side.

    python benchmarks/gpu_check.py OUT_DIR [--sizes 100,200,...,8192] [--repeats 3] [--workloads ...]

Every variant runs under the real gaia-python runtime (templates/gaia-python/index.py, gunicorn), assembled as
faas-cli's shrinkwrap would, and is called over loopback HTTP. On a machine with CUDA the script

1. starts each function's GPU variant (GAIA_VARIANT=gpu, no CPU fallback) and checks that GET /_/gaia reports
   device cuda and the GPU, that /_/ready answers 200 only once every worker holds GPU memory (the model is on
   the GPU), that a GPU variant with no visible GPU refuses to start, and that two workers on one GPU share it
   (docs/template.md: both run on the one GPU, each with its own model);
2. measures each function on its CPU variant and then its GPU variant, same requests in the same order;
3. writes OUT_DIR/NAME-cpu.csv and NAME-gpu.csv (replay's trace format, see benchmarks/gpu_traces.py; NAME
   carries the GPU, e.g. matmul-h200) and OUT_DIR/summary.json;
4. prints the checks, a table and, last, one JSON line.

Without CUDA it runs the same steps on the CPU variants only, checks that the GPU variant refuses to start,
says what it skipped, and exits 0 if every check it ran passed. It installs nothing: see docs/gpu-check.md for
the device machine's preparation (one command) and run.
"""

from __future__ import annotations

import argparse
import base64
import glob
import http.client
import importlib.metadata
import io
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from gaia_faas.runtime_process import RuntimeProcess, assemble_build_context  # noqa: E402
from gaia_faas.stack import StackError, expand_stack, load_stack  # noqa: E402
from gpu_traces import Row, common_prefix, crossover, format_table, speedups, warm_medians, write_trace  # noqa: E402

FUNCTIONS = REPO / "functions"
STACK = REPO / "stack.source.yml"
# Of a function's com.gaia.* set, what the replay's settings read (the rest explains the mode to people).
NOT_REPLAY_SETTINGS = {"com.gaia.rationale", "com.gaia.mode-source"}
DEFAULT_SIZES = "100,200,500,1000,2000,3000,4000,6000,8192"
WORKLOADS = ("matmul", "image-classification", "llm-tiny", "idle-wait", "llm-tinyllama")
TINYLLAMA_ID = "TinyLlama/TinyLlama-1.1B-Chat-v1.0"
PROMPT = "What is the capital of France?"
READY_POLL_S = 0.05
REFUSAL_MESSAGE = "no CUDA device is visible"
# Blocks started with less than this left of --budget-s are skipped (a start alone takes seconds).
MIN_BLOCK_S = 20.0


class Stopped(Exception):
    """SIGTERM (e.g. from `timeout`): stop measuring, close the runtimes, still write what was measured."""


def stop_on_sigterm(signum, frame):
    # The runtimes run in their own sessions (setsid): unless their finally blocks run they outlive the script.
    raise Stopped(f"stopped by signal {signum}")


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


@dataclass
class Report:
    checks: list[Check] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def check(self, name: str, ok: bool, detail: str) -> bool:
        self.checks.append(Check(name, bool(ok), detail))
        print(f"  [{'ok' if ok else 'FAIL'}] {name}: {detail}", flush=True)
        return bool(ok)

    def skip(self, what: str) -> None:
        self.skipped.append(what)
        print(f"  [skipped] {what}", flush=True)


# --- what this machine has ------------------------------------------------------------------------------

def torch_cuda() -> dict:
    """torch's version and CUDA build, and how many GPUs it sees, without creating a CUDA context here."""
    if shutil.which("nvidia-smi") is None and not glob.glob("/dev/nvidia[0-9]*"):
        # No driver here: importing torch (seconds of CPU) could not find a GPU either.
        try:
            return {"torch": importlib.metadata.version("torch"), "cuda": None, "gpus": 0}
        except importlib.metadata.PackageNotFoundError:
            return {"torch": None, "cuda": None, "gpus": 0}
    os.environ.setdefault("PYTORCH_NVML_BASED_CUDA_CHECK", "1")
    try:
        import torch
    except ImportError:
        return {"torch": None, "cuda": None, "gpus": 0}
    count = torch.cuda.device_count() if torch.version.cuda else 0
    return {"torch": torch.__version__, "cuda": torch.version.cuda, "gpus": count}


def nvidia_smi(*query: str) -> list[list[str]] | None:
    """nvidia-smi's CSV answer to a --query-* option, or None where nvidia-smi is missing or fails."""
    if shutil.which("nvidia-smi") is None:
        return None
    done = subprocess.run(["nvidia-smi", *query, "--format=csv,noheader,nounits"], capture_output=True, text=True)
    if done.returncode != 0:
        return None
    return [[cell.strip() for cell in line.split(",")] for line in done.stdout.splitlines() if line.strip()]


def mib(cell: str) -> int | None:
    """An nvidia-smi memory figure; None for '[N/A]' (some virtualised GPUs do not report per-process use)."""
    try:
        return int(float(cell))
    except ValueError:
        return None


def gpu_inventory() -> list[dict]:
    rows = nvidia_smi("--query-gpu=index,uuid,name,driver_version,memory.total") or []
    return [{"index": r[0], "uuid": r[1], "name": r[2], "driver": r[3], "memory_mib": mib(r[4])} for r in rows]


def gpu_memory_by_pid() -> dict[int, tuple[str, int | None]] | None:
    """pid -> (GPU uuid, MiB used) of every process with a CUDA context; None where nvidia-smi cannot tell."""
    rows = nvidia_smi("--query-compute-apps=pid,gpu_uuid,used_memory")
    if rows is None:
        return None
    return {int(r[0]): (r[1], mib(r[2])) for r in rows if r[0].isdigit()}


def gpu_used_mib() -> int | None:
    rows = nvidia_smi("--query-gpu=memory.used")
    used = [mib(r[0]) for r in rows or []]
    return sum(used) if used and None not in used else None


def child_pids(parent: int) -> list[int]:
    """The processes whose parent is ``parent`` (gunicorn's workers of a master), from /proc."""
    children = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path("/proc", entry, "stat").read_text()
        except OSError:
            continue
        # Field 4 is the parent pid; the command name (field 2) is in parentheses and may hold spaces.
        if int(stat.rpartition(")")[2].split()[1]) == parent:
            children.append(int(entry))
    return sorted(children)


def slug(gpu_name: str | None) -> str:
    """'NVIDIA H200' -> 'h200': the tag trace names carry, so traces from different GPUs never collide."""
    if not gpu_name:
        return "cpuonly"
    words = re.sub(r"(?i)\b(nvidia|geforce|tesla)\b", " ", gpu_name).lower()
    return re.sub(r"[^a-z0-9]+", "-", words).strip("-") or "gpu"


def utc_now() -> str:
    return datetime.now(timezone.utc).replace(tzinfo=None).isoformat()


# --- HTTP ---------------------------------------------------------------------------------------------

def request(url: str, body: bytes | None = None, timeout: float = 120.0) -> tuple[int, dict | str]:
    """(HTTP status, JSON answer or text); status 0 where no answer came (refused, reset, timed out)."""
    req = urllib.request.Request(url, data=body, method="POST" if body is not None else "GET",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    except (OSError, http.client.HTTPException) as exc:
        return 0, f"{type(exc).__name__}: {exc}"
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors="replace")


class ReadinessWatcher(threading.Thread):
    """Polls /_/ready from the launch on; at the first 200 it notes which workers hold GPU memory."""

    def __init__(self, url: str, runtime: RuntimeProcess, on_gpu: bool):
        super().__init__(daemon=True)
        self.url, self.runtime, self.on_gpu = url + "/_/ready", runtime, on_gpu
        self.answers: dict[str, int] = {}
        self.first_ok_s: float | None = None
        self.workers_at_ready: list[int] = []
        self.gpu_at_ready: dict[int, tuple[str, int]] | None = None
        self.stop = threading.Event()
        self.launched = time.monotonic()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                with urllib.request.urlopen(self.url, timeout=1) as response:
                    answer = str(response.status)
            except urllib.error.HTTPError as exc:
                answer = str(exc.code)
            except (OSError, http.client.HTTPException):
                answer = "no answer"  # not bound yet, or the workers are still loading
            self.answers[answer] = self.answers.get(answer, 0) + 1
            if answer == "200":
                self.first_ok_s = time.monotonic() - self.launched
                if self.runtime.pid is not None:
                    self.workers_at_ready = child_pids(self.runtime.pid)
                if self.on_gpu:
                    self.gpu_at_ready = gpu_memory_by_pid()
                return
            self.stop.wait(READY_POLL_S)


# --- one variant of one function ------------------------------------------------------------------------

@dataclass
class Workload:
    name: str  # trace name without the GPU tag
    folder: str
    env: dict[str, str]
    requests: list[tuple[str, bytes]]  # (param, body) in sending order; the first is also the cold request
    reports_device: bool = True  # the handler's answer names the device it ran on
    loads_model: bool = True  # init puts something on the device (idle-wait never touches the GPU)
    burst: int = 0  # after the sequence: this many requests at once (not traced; see docs/gpu-check.md)


@dataclass
class VariantRun:
    rows: list[Row]
    cold_start_s: float | None  # launch to /_/ready 200
    handler_ms: dict[str, float]  # median of the handler's own timing (matmul_ms, generate_ms) per param
    burst: dict | None
    info: dict | None  # /_/gaia


class Budget:
    def __init__(self, seconds: float):
        self.deadline = time.monotonic() + seconds

    def left(self) -> float:
        return self.deadline - time.monotonic()


def start_checked(report: Report, label: str, context: Path, variant: str, env: dict, *, workers: int | None,
                  expect: dict, start_timeout: float, loads_model: bool = True,
                  ) -> tuple[RuntimeProcess, ReadinessWatcher] | None:
    """Start one variant and check its readiness and /_/gaia; None (and a failed check) if it did not start."""
    on_gpu = expect["device"] == "cuda"
    runtime = RuntimeProcess(context, variant=variant, env=env, workers=workers)
    watcher = ReadinessWatcher(runtime.url, runtime, on_gpu)
    watcher.start()
    try:
        runtime.start(timeout=start_timeout)
    except (RuntimeError, TimeoutError) as exc:
        watcher.stop.set()
        runtime.close()
        report.check(f"{label}: starts", False, str(exc).splitlines()[0] + " (log tail in the message above)")
        print(str(exc), file=sys.stderr)
        return None
    watcher.join(timeout=10)
    watcher.stop.set()
    expected_workers = expect["workers"]
    answers = ", ".join(f"{n}x {a}" for a, n in watcher.answers.items())
    ok = watcher.first_ok_s is not None and len(watcher.workers_at_ready) == expected_workers
    report.check(f"{label}: /_/ready", ok,
                 f"200 after {watcher.first_ok_s or float('nan'):.1f} s with {len(watcher.workers_at_ready)} of "
                 f"{expected_workers} worker(s) up (answers while starting: {answers})")
    if on_gpu and loads_model:
        check_gpu_memory_at_ready(report, label, watcher, expected_workers)
    status, info = request(runtime.url + "/_/gaia")
    mismatches = [f"{key}={info.get(key)!r} (expected {value!r})" for key, value in expect.items()
                  if not isinstance(info, dict) or info.get(key) != value] if status == 200 else [f"HTTP {status}"]
    if isinstance(info, dict) and on_gpu and not info.get("cuda"):
        mismatches.append("cuda=None (a torch without CUDA)")
    report.check(f"{label}: /_/gaia", not mismatches,
                 "; ".join(mismatches) if mismatches else
                 f"variant {info['variant']}, device {info['device']}, gpus {info['gpus']}, workers {info['workers']}, "
                 f"torch {info.get('torch')}, cuda {info.get('cuda')}")
    return runtime, watcher


def check_gpu_memory_at_ready(report: Report, label: str, watcher: ReadinessWatcher, expected_workers: int) -> None:
    memory = watcher.gpu_at_ready
    name = f"{label}: every worker holds GPU memory when /_/ready turns 200"
    if memory is None:
        report.skip(f"{name} (nvidia-smi could not list GPU processes)")
        return
    if not memory:
        # Some container runtimes hide other processes from nvidia-smi: then only the total can be seen.
        report.skip(f"{name} (nvidia-smi lists no processes here; total used {gpu_used_mib()} MiB)")
        return
    holding = {pid: memory[pid] for pid in watcher.workers_at_ready if pid in memory}
    how = "by pid"
    if not holding:
        # nvidia-smi may report pids of another pid namespace: then count the GPU's processes instead.
        holding, how = memory, f"by count: nvidia-smi's pids {sorted(memory)} are not the workers' {watcher.workers_at_ready}"
    # A listed process holds a CUDA context on that GPU; where the driver reports its memory, it must be > 0.
    detail = ", ".join(f"pid {pid}: {used if used is not None else 'N/A'} MiB on {uuid[-8:]}"
                       for pid, (uuid, used) in holding.items())
    report.check(name, len(holding) == expected_workers and all(used is None or used > 0 for _, used in holding.values()),
                 f"{len(holding)} of {expected_workers} worker(s) {how}: {detail}")


def run_variant(report: Report, workload: Workload, context: Path, variant: str, *, expect: dict, workers: int | None,
                tag: str, budget: Budget, start_timeout: float) -> VariantRun | None:
    label = f"{workload.name} {variant}"
    started = start_checked(report, label, context, variant, workload.env, workers=workers, expect=expect,
                            start_timeout=start_timeout, loads_model=workload.loads_model)
    if started is None:
        return None
    runtime, watcher = started
    rows: list[Row] = []
    handler_ms: dict[str, list[float]] = {}
    wrong_device = failures = 0
    try:
        sequence = [workload.requests[0]] + workload.requests  # seq 0: the cold request
        for seq, (param, body) in enumerate(sequence):
            if seq > 1 and budget.left() < 0:
                report.skip(f"{label}: requests {seq}..{len(sequence) - 1} (over the time budget)")
                break
            sent = time.monotonic()
            status, answer = request(runtime.url + "/", body)
            done = time.monotonic()
            ok = status == 200 and isinstance(answer, dict)
            failures += not ok
            if ok and workload.reports_device and answer.get("device") != expect["device"]:
                wrong_device += 1
            if ok and seq >= 1:
                for key in ("matmul_ms", "generate_ms"):
                    if key in answer:
                        handler_ms.setdefault(param, []).append(answer[key])
            latency = ((done - watcher.launched) if seq == 0 else (done - sent)) * 1000 if ok else -1.0
            rows.append(Row(f"{workload.name}-{tag}", variant, seq, utc_now(), param, latency))
        report.check(f"{label}: answers", failures == 0 and wrong_device == 0,
                     f"{len(rows) - failures} of {len(rows)} requests 200"
                     + (f", {wrong_device} answered from a device other than {expect['device']}" if wrong_device else
                        f", each from device {expect['device']}" if workload.reports_device else ""))
        burst = measure_burst(report, label, runtime, workload) if workload.burst and budget.left() > 0 else None
        _, info = request(runtime.url + "/_/gaia")
    finally:
        runtime.close()
    return VariantRun(rows, watcher.first_ok_s, {p: statistics.median(v) for p, v in handler_ms.items()}, burst,
                      info if isinstance(info, dict) else None)


def measure_burst(report: Report, label: str, runtime: RuntimeProcess, workload: Workload) -> dict:
    """``workload.burst`` copies of the first request at once: what a batch of that size costs this variant."""
    body = workload.requests[0][1]

    def one(_):
        sent = time.monotonic()
        status, _ = request(runtime.url + "/", body)
        return status, (time.monotonic() - sent) * 1000

    began = time.monotonic()
    with ThreadPoolExecutor(workload.burst) as pool:
        results = list(pool.map(one, range(workload.burst)))
    wall = time.monotonic() - began
    latencies = sorted(ms for status, ms in results if status == 200)
    report.check(f"{label}: {workload.burst} requests at once", len(latencies) == workload.burst,
                 f"{len(latencies)} of {workload.burst} 200 in {wall * 1000:.0f} ms")
    return {"requests": workload.burst, "wall_ms": wall * 1000, "per_second": workload.burst / wall,
            "p50_ms": statistics.median(latencies) if latencies else None,
            "max_ms": latencies[-1] if latencies else None}


# --- the workloads ------------------------------------------------------------------------------------

def sample_image() -> str:
    """A 640x480 JPEG (smooth gradients and a grid), base64: decoded, resized and cropped like a photo would be."""
    from PIL import Image

    image = Image.new("RGB", (640, 480))
    image.putdata([((x * 255) // 640, (y * 255) // 480, 255 * ((x // 40 + y // 40) % 2)) for y in range(480)
                   for x in range(640)])
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    return base64.b64encode(buffer.getvalue()).decode()


def tinyllama_cached() -> Path | None:
    """The snapshot folder of TinyLlama in the Hugging Face cache, if its weights are there."""
    hub = os.environ.get("HF_HUB_CACHE") or str(Path(os.environ.get("HF_HOME", Path.home() / ".cache" / "huggingface"))
                                                / "hub")
    for snapshot in sorted(Path(hub, "models--" + TINYLLAMA_ID.replace("/", "--"), "snapshots").glob("*")):
        if (snapshot / "config.json").is_file() and (any(snapshot.glob("*.safetensors")) or any(snapshot.glob("*.bin"))):
            return snapshot
    return None


def replay_annotations() -> dict[str, dict[str, str]]:
    """Handler folder name -> the com.gaia.* settings its function deploys with (stack.source.yml, the mode
    declared or classified), so a replay of the measured pair runs under the function's own SLO and mode."""
    expansion = expand_stack(load_stack(STACK), STACK.parent)
    return {fn.handler.name: {k: v for k, v in fn.annotations.items() if k not in NOT_REPLAY_SETTINGS}
            for fn in expansion.functions}


def plan(args, tiny_model_dir: Path) -> list[Workload]:
    sizes = [int(s) for s in args.sizes.split(",")]
    matmul = [(str(s), json.dumps({"matrix_size": s}).encode()) for s in sizes for _ in range(args.repeats)]
    image = json.dumps({"image": sample_image()}).encode()
    generate = json.dumps({"prompt": PROMPT, "max_new_tokens": args.max_new_tokens}).encode()
    offline = {"HF_HUB_OFFLINE": "1"}
    return [
        Workload("matmul", "matmul", {}, matmul),
        Workload("image-classification", "image-classification", {}, [("", image)] * args.requests,
                 burst=args.burst),
        Workload("llm-tiny", "llm", {**offline, "MODEL_ID": str(tiny_model_dir)}, [("", generate)] * args.requests),
        Workload("idle-wait", "idle-wait", {}, [("", json.dumps({"wait_time": args.idle_wait_s}).encode())]
                 * args.idle_requests, reports_device=False, loads_model=False),
        Workload("llm-tinyllama", "llm", {**offline, "MODEL_ID": TINYLLAMA_ID},
                 [("", generate)] * max(6, args.requests // 3)),
    ]


def check_refusal(report: Report, context: Path, start_timeout: float) -> None:
    """A GPU variant that sees no GPU must exit with the documented message, not fall back to the CPU."""
    runtime = RuntimeProcess(context, variant="gpu", env={"CUDA_VISIBLE_DEVICES": ""})
    try:
        runtime.start(timeout=start_timeout)
    except RuntimeError as exc:
        report.check("gpu variant with no visible GPU", REFUSAL_MESSAGE in str(exc),
                     "refuses to start: " + next((l.strip() for l in str(exc).splitlines() if REFUSAL_MESSAGE in l),
                                                str(exc).splitlines()[0]))
        return
    except TimeoutError as exc:
        report.check("gpu variant with no visible GPU", False, f"neither started nor refused: {exc}")
        return
    finally:
        runtime.close()
    report.check("gpu variant with no visible GPU", False, "started anyway (it must refuse without "
                 "GAIA_ALLOW_CPU_FALLBACK=1)")


def check_shared_gpu(report: Report, context: Path, env: dict, gpu_ids: list[str], start_timeout: float) -> dict:
    """Two workers on one GPU (GAIA_WORKERS=2): both are ready only with their own model on that one GPU."""
    label = "image-classification gpu, 2 workers"
    expect = {"variant": "gpu", "device": "cuda", "gpus": gpu_ids[:1], "workers": 2}
    started = start_checked(report, label, context, "gpu", {**env, "CUDA_VISIBLE_DEVICES": gpu_ids[0]}, workers=2,
                            expect=expect, start_timeout=start_timeout)
    if started is None:
        return {}
    runtime, watcher = started
    try:
        memory = watcher.gpu_at_ready or {}
        uuids = ({memory[pid][0] for pid in watcher.workers_at_ready if pid in memory}
                 or {uuid for uuid, _ in memory.values()})  # pids of another namespace: every GPU process
        if memory:
            report.check(f"{label}: share one GPU", len(uuids) == 1 and len(watcher.workers_at_ready) == 2,
                         f"worker pids {watcher.workers_at_ready} on {len(uuids)} GPU(s)")
        body = json.dumps({"image": sample_image()}).encode()
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda _: request(runtime.url + "/", body), range(8)))
        served = sum(status == 200 and isinstance(a, dict) and a.get("device") == "cuda" for status, a in answers)
        report.check(f"{label}: serve", served == 8, f"{served} of 8 concurrent requests 200 from cuda")
        return {"workers": watcher.workers_at_ready, "gpu_mib": {str(p): memory[p][1] for p in watcher.workers_at_ready
                                                                  if p in memory}}
    finally:
        runtime.close()


# --- main ---------------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path, help="folder for NAME-cpu.csv, NAME-gpu.csv and summary.json (created)")
    parser.add_argument("--sizes", default=DEFAULT_SIZES, help=f"matmul sizes (default {DEFAULT_SIZES})")
    parser.add_argument("--repeats", type=int, default=3, help="matmul requests per size (default 3)")
    parser.add_argument("--requests", type=int, default=30,
                        help="sequential requests to ResNet-18 and the tiny Llama (default 30; TinyLlama gets a third)")
    parser.add_argument("--burst", type=int, default=32, help="ResNet-18 requests sent at once, 0: none (default 32)")
    parser.add_argument("--max-new-tokens", type=int, default=32, help="tokens per LLM request (default 32)")
    parser.add_argument("--idle-requests", type=int, default=6, help="idle-wait requests (default 6)")
    parser.add_argument("--idle-wait-s", type=float, default=1.0, help="idle-wait's wait_time (default 1.0)")
    parser.add_argument("--workloads", default=",".join(WORKLOADS), help=f"subset of {','.join(WORKLOADS)}")
    parser.add_argument("--cpu-workers", type=int, help="workers of the CPU variants (default: the runtime's, 2)")
    parser.add_argument("--budget-s", type=float, default=300.0,
                        help="stop starting blocks and sending requests after this many seconds (default 300)")
    parser.add_argument("--start-timeout", type=float, default=180.0, help="seconds one variant may take to be ready")
    args = parser.parse_args(argv)
    chosen = [w.strip() for w in args.workloads.split(",") if w.strip()]
    unknown = sorted(set(chosen) - set(WORKLOADS))
    if unknown or args.repeats < 1 or args.requests < 1 or args.idle_requests < 1:
        parser.error(f"unknown workload(s) {', '.join(unknown)}" if unknown else
                     "--repeats, --requests and --idle-requests must be at least 1")
    began, started_utc, load_start = time.monotonic(), utc_now(), os.getloadavg()
    budget = Budget(args.budget_s)
    report = Report()
    versions = torch_cuda()
    gpus = gpu_inventory() if versions["gpus"] else []
    has_cuda = versions["gpus"] > 0
    # As the runtime names them (index.py's visible_gpu_ids): CUDA_VISIBLE_DEVICES' entries, else 0..n-1.
    listed = [d.strip() for d in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if d.strip()]
    gpu_ids = (listed or [str(i) for i in range(versions["gpus"])])[:versions["gpus"]]
    tag = slug(gpus[0]["name"] if gpus else ("gpu" if has_cuda else None))
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"gpu_check: torch {versions['torch']} (CUDA {versions['cuda']}), {versions['gpus']} GPU(s) "
          f"{[g['name'] for g in gpus]}; load average {load_start[0]:.2f}; traces tagged '{tag}' in {args.out}",
          flush=True)
    if not has_cuda:
        report.skip(f"every GPU step: no CUDA device here (torch {versions['torch']}, CUDA build {versions['cuda']}, "
                    f"{'no' if shutil.which('nvidia-smi') is None else 'an'} nvidia-smi); only the CPU variants are measured")

    try:
        settings = replay_annotations()
    except StackError as exc:
        settings = {}
        report.skip(f"the functions' SLOs and modes for the replay ({exc})")
    results: dict[str, dict] = {}
    shared_gpu: dict = {}
    with tempfile.TemporaryDirectory(prefix="gaia-gpu-check-") as tmp:
        tmp_path = Path(tmp)
        tiny_model_dir = tmp_path / "tiny-llama"
        tiny_build = None
        if "llm-tiny" in chosen:  # built while the first workloads run
            tiny_build = subprocess.Popen([sys.executable, str(FUNCTIONS / "llm" / "tiny_model.py"), str(tiny_model_dir)],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        contexts: dict[str, Path] = {}

        def context_of(folder: str) -> Path:
            if folder not in contexts:
                contexts[folder] = assemble_build_context(FUNCTIONS / folder, tmp_path / f"build-{folder}")
            return contexts[folder]

        signal.signal(signal.SIGTERM, stop_on_sigterm)
        try:
            measure_all(args, report, chosen, plan(args, tiny_model_dir), context_of, tiny_build, budget, has_cuda,
                        gpus, gpu_ids, tag, settings, started_utc, results, shared_gpu)
        except Stopped as exc:
            report.check("the run", False, f"{exc}: what follows covers the workloads finished before it")
        finally:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            if tiny_build is not None and tiny_build.poll() is None:
                tiny_build.kill()
                tiny_build.wait()
        if not has_cuda:
            report.skip("two workers sharing one GPU: no CUDA device here")

    failed = [c for c in report.checks if not c.ok]
    matmul_speedups = results.get("matmul", {}).get("speedup_by_param", {})
    summary = {
        "started_utc": started_utc,
        "elapsed_s": round(time.monotonic() - began, 1),
        "load_average": {"start": list(load_start), "end": list(os.getloadavg())},
        "host": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "gpu": gpus[0] if gpus else None,
        "gpus": gpus,
        "torch": versions["torch"],
        "torch_cuda": versions["cuda"],
        "options": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "checks": [c.__dict__ for c in report.checks],
        "skipped": report.skipped,
        "workloads": results,
        "matmul_crossover": crossover(matmul_speedups) if matmul_speedups else None,
        "two_workers_one_gpu": shared_gpu or None,
    }
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")

    print("\n" + format_table([(name, param, line.get("cpu_ms"), line.get("gpu_ms"))
                               for name, result in results.items() for param, line in result["by_param"].items()]))
    for name, result in results.items():
        if result.get("burst"):
            burst = result["burst"]
            print(f"{name}: {burst.get('cpu', {}).get('requests', '-')} requests at once: "
                  + ", ".join(f"{v} {b['wall_ms']:.0f} ms ({b['per_second']:.1f}/s)" for v, b in burst.items()))
    print(f"\nchecks: {len(report.checks) - len(failed)} passed, {len(failed)} failed, {len(report.skipped)} skipped; "
          f"summary and traces in {args.out}; load average {os.getloadavg()[0]:.2f}")
    print(json.dumps({
        "gpu": gpus[0]["name"] if gpus else None,
        "driver": gpus[0]["driver"] if gpus else None,
        "torch": versions["torch"], "cuda": versions["cuda"],
        "checks_passed": len(report.checks) - len(failed), "checks_failed": len(failed),
        "failed": [c.name for c in failed], "skipped": len(report.skipped),
        "speedup": {name: result["speedup"] for name, result in results.items()},
        "matmul_speedup_by_size": matmul_speedups or None,
        "matmul_crossover_size": summary["matmul_crossover"]["size"] if summary["matmul_crossover"] else None,
        "elapsed_s": summary["elapsed_s"], "load_average": round(os.getloadavg()[0], 2), "out": str(args.out),
    }))
    return 1 if failed else 0


def measure_all(args, report: Report, chosen: list[str], workloads: list[Workload], context_of, tiny_build,
                budget: Budget, has_cuda: bool, gpus: list[dict], gpu_ids: list[str], tag: str,
                settings: dict, started_utc: str, results: dict, shared_gpu: dict) -> None:
    """The checks and measurements, in order; ``results`` and ``shared_gpu`` fill as they go."""
    print("\n== a GPU variant without a visible GPU", flush=True)
    check_refusal(report, context_of("idle-wait"), args.start_timeout)
    for workload in workloads:
        if workload.name not in chosen:
            continue
        print(f"\n== {workload.name}", flush=True)
        if workload.name == "llm-tinyllama" and tinyllama_cached() is None:
            report.skip(f"llm-tinyllama: {TINYLLAMA_ID} is not in the Hugging Face cache (nothing is downloaded)")
            continue
        if workload.name == "llm-tiny":
            _, err = tiny_build.communicate()
            if tiny_build.returncode != 0:
                report.check("llm-tiny: build the tiny model", False,
                             (err.strip().splitlines() or [f"exit code {tiny_build.returncode}"])[-1])
                continue
        if budget.left() < MIN_BLOCK_S:
            report.skip(f"{workload.name}: over the time budget ({args.budget_s:.0f} s)")
            continue
        context = context_of(workload.folder)
        runs = {}
        cpu_expect = {"variant": "cpu", "device": "cpu", "gpus": [], "workers": args.cpu_workers or 2}
        runs["cpu"] = run_variant(report, workload, context, "cpu", expect=cpu_expect, workers=args.cpu_workers,
                                  tag=tag, budget=budget, start_timeout=args.start_timeout)
        if has_cuda and budget.left() >= MIN_BLOCK_S:
            gpu_expect = {"variant": "gpu", "device": "cuda", "gpus": gpu_ids, "workers": len(gpu_ids)}
            runs["gpu"] = run_variant(report, workload, context, "gpu", expect=gpu_expect, workers=None, tag=tag,
                                      budget=budget, start_timeout=args.start_timeout)
        elif has_cuda:
            report.skip(f"{workload.name} gpu: over the time budget ({args.budget_s:.0f} s)")
        results[workload.name] = summarise(workload, runs, tag, args.out, settings.get(workload.folder, {}),
                                           gpus[0]["name"] if gpus else "no GPU", started_utc)
        if workload.name == "image-classification" and has_cuda and budget.left() >= MIN_BLOCK_S:
            print("\n== two workers on one GPU", flush=True)
            shared_gpu.update(check_shared_gpu(report, context, workload.env, gpu_ids, args.start_timeout))


def summarise(workload: Workload, runs: dict[str, VariantRun | None], tag: str, out: Path,
              annotations: dict[str, str], gpu_name: str, started_utc: str) -> dict:
    """Write this workload's traces (cut to a common length when both variants ran), the replay's side file
    NAME.json beside them (description and the function's com.gaia.* settings), and its figures."""
    cpu, gpu = runs.get("cpu"), runs.get("gpu")
    cpu_rows, gpu_rows = (common_prefix(cpu.rows, gpu.rows) if cpu and gpu else
                          (cpu.rows if cpu else [], gpu.rows if gpu else []))
    traces = {}
    for variant, rows in (("cpu", cpu_rows), ("gpu", gpu_rows)):
        if rows:
            traces[variant] = write_trace(out / f"{workload.name}-{tag}-{variant}.csv", rows).name
    if traces:
        side = {"description": f"{workload.name}: {len(cpu_rows or gpu_rows)} sequential requests measured by "
                               f"benchmarks/gpu_check.py on one machine ({gpu_name}, {started_utc[:10]}); "
                               "row 0 is the cold start from the runtime's launch",
                "timestamps": "completion", "annotations": annotations}
        traces["settings"] = (out / f"{workload.name}-{tag}.json").name
        (out / traces["settings"]).write_text(json.dumps(side, indent=2) + "\n")
    cpu_ms, gpu_ms = warm_medians(cpu_rows), warm_medians(gpu_rows)
    by_param = {param: {"cpu_ms": cpu_ms.get(param), "gpu_ms": gpu_ms.get(param)}
                for param in sorted(set(cpu_ms) | set(gpu_ms), key=lambda p: float(p) if p else 0.0)}
    speedup_by_param = speedups(cpu_ms, gpu_ms)
    for param, ratio in speedup_by_param.items():
        by_param[param]["speedup"] = ratio
    result = {
        "trace": traces,
        "requests": len(cpu_rows or gpu_rows),
        "cold_start_s": {v: r.cold_start_s for v, r in runs.items() if r},
        "by_param": by_param,
        "speedup_by_param": speedup_by_param if workload.name == "matmul" else {},
        # One figure per workload: the CPU/GPU ratio of the warm medians (for matmul, at the largest size).
        "speedup": speedup_by_param[max(speedup_by_param, key=lambda p: float(p) if p else 0.0)]
        if speedup_by_param else None,
        "handler_ms": {v: r.handler_ms for v, r in runs.items() if r and r.handler_ms},
        # The handler's own timing (matmul: the product alone, without making the matrices or HTTP).
        "handler_speedup_by_param": speedups(cpu.handler_ms, gpu.handler_ms) if cpu and gpu else {},
        "runtime": {v: {k: r.info.get(k) for k in ("torch", "cuda", "workers", "threads")}
                    for v, r in runs.items() if r and r.info},
    }
    if workload.burst:
        result["burst"] = {v: r.burst for v, r in runs.items() if r and r.burst}
    return result


if __name__ == "__main__":
    sys.exit(main())
