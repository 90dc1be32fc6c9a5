"""benchmarks/gpu_check.py: its CPU path end to end (the real runtime under gunicorn, real HTTP), and its parts.

CI has no GPU, so the script's CPU path is what runs here: every reference function's CPU variant is started,
checked and measured, the GPU variant must refuse to start without a GPU, and the traces it writes must be
readable by the replay's own trace reader. The GPU path runs on a device machine (docs/gpu-check.md).
"""

from __future__ import annotations

import importlib.util
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from gaia_faas.gateway_plugin.traces import read_trace

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "benchmarks" / "gpu_check.py"
TRACED = ("matmul", "image-classification", "llm-tiny", "idle-wait")


def load_module(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their annotations through sys.modules
    spec.loader.exec_module(module)
    return module


def test_cpu_path_checks_measures_and_writes_replayable_traces(tmp_path):
    out = tmp_path / "results"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TORCH_HOME": str(tmp_path / "torch-home")}
    done = subprocess.run(
        [sys.executable, str(SCRIPT), str(out), "--sizes", "64,256", "--repeats", "3", "--requests", "5",
         "--burst", "4", "--max-new-tokens", "4", "--idle-requests", "5", "--idle-wait-s", "0.02",
         "--cpu-workers", "1", "--workloads", ",".join(TRACED)],
        capture_output=True, text=True, timeout=180, env=env,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    last = json.loads(done.stdout.strip().splitlines()[-1])
    has_gpu = last["gpu"] is not None
    assert last["checks_failed"] == 0 and last["failed"] == []
    summary = json.loads((out / "summary.json").read_text())
    checks = {c["name"]: c for c in summary["checks"]}
    # The GPU variant without a GPU refuses with the documented message instead of falling back to the CPU.
    assert checks["gpu variant with no visible GPU"]["ok"]
    assert "no CUDA device is visible" in checks["gpu variant with no visible GPU"]["detail"]
    if not has_gpu:
        assert last["skipped"] >= 2 and any("no CUDA device here" in s for s in summary["skipped"])
        assert "[skipped] every GPU step: no CUDA device here" in done.stdout
    tag = "cpuonly" if not has_gpu else None
    for name in TRACED:
        for suffix in ("/_/ready", "/_/gaia", "answers"):
            assert checks[f"{name} cpu: {suffix}"]["ok"], checks[f"{name} cpu: {suffix}"]
        result = summary["workloads"][name]
        trace = out / result["trace"]["cpu"]
        assert trace.name.endswith("-cpu.csv") and (tag is None or trace.name == f"{name}-{tag}-cpu.csv")
        rows = read_trace(trace)  # the replay's reader accepts it
        expected = 3 * 2 + 1 if name == "matmul" else 5 + 1  # + the cold request
        assert [r.seq for r in rows] == list(range(expected))
        assert all(r.latency_ms is not None and r.latency_ms > 0 for r in rows)
        assert [r.completed_at for r in rows] == sorted(r.completed_at for r in rows)
        # Row 0 runs from the launch of the runtime to its first answer: it carries the cold start.
        assert rows[0].latency_ms / 1000 >= result["cold_start_s"]["cpu"] > 0
        assert rows[0].latency_ms > statistics.median(r.latency_ms for r in rows[1:])
        assert result["runtime"]["cpu"]["workers"] == 1
        # The replay's side file: the function's own SLO and mode from stack.source.yml.
        side = json.loads((out / result["trace"]["settings"]).read_text())
        assert side["timestamps"] == "completion" and f"{len(rows)} sequential requests" in side["description"]
        assert side["annotations"]["com.gaia.slo-ms"] == {"matmul": "1000", "idle-wait": "1000"}.get(name, "500")
        assert side["annotations"]["com.gaia.mode"] in {"cpu_preferred", "gpu_preferred"}
    matmul = read_trace(out / summary["workloads"]["matmul"]["trace"]["cpu"])
    assert [r.param for r in matmul] == ["64"] * 4 + ["256"] * 3
    assert set(summary["workloads"]["matmul"]["by_param"]) == {"64", "256"}
    assert summary["workloads"]["image-classification"]["burst"]["cpu"]["requests"] == 4
    # idle-wait's latency is its wait plus the runtime's overhead.
    assert summary["workloads"]["idle-wait"]["by_param"][""]["cpu_ms"] >= 20
    assert "cpu p50 ms" in done.stdout and f"summary and traces in {out}" in done.stdout


def test_bad_arguments_are_refused_before_anything_starts(tmp_path):
    done = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path / "x"), "--workloads", "matmul,nope"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "unknown workload(s) nope" in done.stderr
    assert not (tmp_path / "x").exists()


def test_speedups_and_crossover():
    traces = load_module(REPO / "benchmarks" / "gpu_traces.py")
    row = traces.Row
    cpu = [row("m", "cpu", 0, "t", "100", 900.0), row("m", "cpu", 1, "t", "100", 1.0), row("m", "cpu", 2, "t", "100", 3.0),
           row("m", "cpu", 3, "t", "1000", 40.0), row("m", "cpu", 4, "t", "1000", -1.0)]
    medians = traces.warm_medians(cpu)
    assert medians == {"100": 2.0, "1000": 40.0}  # the cold row and the failed one are left out
    assert traces.speedups(medians, {"100": 4.0, "1000": 10.0}) == {"100": 0.5, "1000": 4.0}
    assert traces.crossover({"100": 0.5, "500": 1.2, "1000": 0.9, "2000": 3.0, "8192": 20.0}) == {
        "size": 2000, "between": [1000, 2000], "gpu_faster_at_none": False}
    assert traces.crossover({"100": 2.0, "200": 3.0})["between"] is None
    assert traces.crossover({"100": 0.5, "200": 0.9})["size"] is None
    assert traces.common_prefix(cpu, cpu[:3]) == (cpu[:3], cpu[:3])


def test_gpu_facts_are_read_from_nvidia_smi(tmp_path, monkeypatch):
    """nvidia-smi cannot run here; a stand-in prints its documented CSV so the parsing is checked."""
    fake = tmp_path / "nvidia-smi"
    fake.write_text(
        "#!/bin/sh\n"
        'case "$1" in\n'
        "  --query-gpu=index,uuid,name,driver_version,memory.total) echo '0, GPU-1234abcd, NVIDIA H200, 580.159.04, 143771';;\n"
        "  --query-compute-apps=pid,gpu_uuid,used_memory) echo '4242, GPU-1234abcd, 1530'; echo '4243, GPU-1234abcd, [N/A]';;\n"
        "  --query-gpu=memory.used) echo '3058';;\n"
        "  *) exit 9;;\n"
        "esac\n"
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    check = load_module(SCRIPT)
    assert check.gpu_inventory() == [{"index": "0", "uuid": "GPU-1234abcd", "name": "NVIDIA H200",
                                      "driver": "580.159.04", "memory_mib": 143771}]
    assert check.gpu_memory_by_pid() == {4242: ("GPU-1234abcd", 1530), 4243: ("GPU-1234abcd", None)}
    assert check.gpu_used_mib() == 3058
    assert check.nvidia_smi("--bogus") is None
    assert [check.slug(n) for n in ("NVIDIA H200", "NVIDIA GeForce RTX 4090", "Tesla T4", None)] == [
        "h200", "rtx-4090", "t4", "cpuonly"]
    assert os.getpid() in check.child_pids(os.getppid())
