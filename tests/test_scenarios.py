"""The synthetic scenarios of benchmarks/decisions.py: generated, never hand-edited, and in the paired format."""

from __future__ import annotations

import csv
import importlib.util
import json
import sys
from datetime import datetime
from pathlib import Path

import pytest

from gaia_faas.gateway_plugin import traces

SCENARIOS_DIR = Path(__file__).resolve().parent.parent / "benchmarks" / "scenarios"
HEADER = ["workload", "mode", "seq", "timestamp", "param", "latency_ms"]
ERRORS = {"", "5xx", "refused", "timeout"}


def _generator():
    spec = importlib.util.spec_from_file_location("scenario_generator", SCENARIOS_DIR / "generate.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


GENERATOR = _generator()
NAMES = [s.name for s in GENERATOR.SCENARIOS]


def test_running_the_generator_reproduces_the_committed_files(tmp_path):
    assert GENERATOR.main(["--out", str(tmp_path)]) == 0
    generated = sorted(p.name for p in tmp_path.iterdir())
    committed = sorted(p.name for p in SCENARIOS_DIR.iterdir() if p.suffix in (".csv", ".json"))
    assert generated == committed
    for name in generated:
        assert (tmp_path / name).read_bytes() == (SCENARIOS_DIR / name).read_bytes(), f"{name} differs"


def _rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        return reader.fieldnames, list(reader)


def _send_s(row: dict[str, str]) -> float:
    return datetime.fromisoformat(row["timestamp"]).timestamp() - float(row["latency_ms"]) / 1000


@pytest.mark.parametrize("name", NAMES)
def test_every_pair_is_in_the_paired_format(name):
    cpu_header, cpu = _rows(SCENARIOS_DIR / f"{name}-cpu.csv")
    gpu_header, gpu = _rows(SCENARIOS_DIR / f"{name}-gpu.csv")
    for header in (cpu_header, gpu_header):
        assert header in (HEADER, HEADER + ["error"])
    assert 20 <= len(cpu) == len(gpu) <= 5000
    for variant, rows in (("cpu", cpu), ("gpu", gpu)):
        assert [int(r["seq"]) for r in rows] == list(range(len(rows)))
        assert {r["workload"] for r in rows} == {name} and {r["mode"] for r in rows} == {variant}
        for r in rows:
            latency = float(r["latency_ms"])
            error = r.get("error") or ""
            assert error in ERRORS
            assert (latency == -1) == (error != ""), r  # every failed row says how it fails
            assert latency == -1 or latency > 0
    # Both files carry the same send time for a seq (to the microsecond), and sends are in seq order.
    sends = []
    for c, g in zip(cpu, gpu):
        ok = [r for r in (c, g) if float(r["latency_ms"]) >= 0]
        assert ok, f"seq {c['seq']} failed on both variants"
        assert max(map(_send_s, ok)) - min(map(_send_s, ok)) < 2e-6, f"seq {c['seq']}"
        sends.append(_send_s(ok[0]))
    assert sends == sorted(sends)


@pytest.mark.parametrize("name", NAMES)
def test_every_sidecar_has_the_known_keys_and_an_slo(name):
    sidecar = json.loads((SCENARIOS_DIR / f"{name}.json").read_text())
    assert set(sidecar) <= traces.SIDECAR_KEYS
    assert len(sidecar["description"]) > 100
    annotations = sidecar["annotations"]
    assert all(isinstance(v, str) for v in annotations.values())
    assert float(annotations["com.gaia.slo-ms"]) > 0
    assert annotations["com.gaia.mode"] in ("cpu_preferred", "gpu_preferred")
    assert set(sidecar["cold_start_s"]) == {"cpu", "gpu"}


def test_every_pair_loads_with_the_replay_loader():
    pairs = traces.find_pairs(SCENARIOS_DIR)
    assert [name for name, _, _ in pairs] == sorted(NAMES)
    for name, cpu, gpu in pairs:
        workload = traces.load_pair(cpu, gpu)
        sidecar = json.loads((SCENARIOS_DIR / f"{name}.json").read_text())
        _, gpu_rows = _rows(gpu)
        assert workload.name == name and len(workload.requests) == len(gpu_rows)
        assert workload.annotations == sidecar["annotations"] and workload.warm_start
        assert workload.cold_start_s == sidecar["cold_start_s"]
        assert workload.requests[0].send_s == 0 and workload.requests[-1].send_s > 1000
        assert ([r.gpu_error for r in workload.requests if r.gpu_ms is None]
                == [row["error"] for row in gpu_rows if row["latency_ms"] == "-1"])


def _violation_pct(rows: list[dict[str, str]], slo_ms: float) -> float:
    bad = sum(1 for r in rows if not 0 <= float(r["latency_ms"]) <= slo_ms)
    return 100 * bad / len(rows)


# What each scenario's description promises about the service times alone (no queueing): the static
# choices' violations, as (cpu low, cpu high, gpu low, gpu high) in percent.
PROMISES = {
    "hover-at-slo": (2, 5, 0, 1),
    "gpu-slower": (1, 5, 6, 100),
    "drift-up-down": (20, 100, 0, 1),
    "gpu-outage-5xx": (10, 100, 8, 14),
    "bursts": (50, 100, 0, 1),
    "bimodal": (10, 20, 0, 1),
    "slow-rise": (10, 100, 0, 1),
    "gpu-cold-75s": (50, 100, 0, 1),
    "slo-impossible": (100, 100, 100, 100),
    "low-rate-10min": (90, 100, 0, 1),
    "gpu-degrading": (5, 10, 30, 100),
    "gpu-broken": (1, 5, 100, 100),
}


@pytest.mark.parametrize("name", sorted(PROMISES))
def test_the_static_choices_violate_as_the_description_says(name):
    slo_ms = float(json.loads((SCENARIOS_DIR / f"{name}.json").read_text())["annotations"]["com.gaia.slo-ms"])
    cpu_low, cpu_high, gpu_low, gpu_high = PROMISES[name]
    assert cpu_low <= _violation_pct(_rows(SCENARIOS_DIR / f"{name}-cpu.csv")[1], slo_ms) <= cpu_high
    assert gpu_low <= _violation_pct(_rows(SCENARIOS_DIR / f"{name}-gpu.csv")[1], slo_ms) <= gpu_high


def test_the_spike_offers_a_cpu_replica_more_than_its_concurrency():
    # 10x spike "that queues": arrivals per second x median service time beyond 8 (2 workers x 4 threads)
    # in the spike, well below it outside.
    _, cpu = _rows(SCENARIOS_DIR / "spike-10x-cpu.csv")
    sends = [_send_s(r) - _send_s(cpu[0]) for r in cpu]
    spike = [float(r["latency_ms"]) for r, t in zip(cpu, sends) if 1205 <= t < 1435]
    rate = len(spike) / 230
    median_s = sorted(spike)[len(spike) // 2] / 1000
    assert rate * median_s > GENERATOR.CPU_CONCURRENCY
    calm = [t for t in sends if t < 1190]
    assert len(calm) / 1190 * median_s < GENERATOR.CPU_CONCURRENCY / 4
