"""Production traces as pool-replay inputs (public_traces.py): GenTD26 and Azure LLM 2023, the CPU/GPU ratios,
and `gaia replay --pool --gentd26/--azure-llm` end to end."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from datetime import datetime

import pytest

from gaia_faas.gateway_plugin import pool_replay, public_traces, traces

THESIS = traces.default_traces_dir()
PUBLIC = THESIS / "public"
GENTD26 = PUBLIC / "alibaba-gentd26"
AZURE = PUBLIC / "azure-llm-2023"
# A checkout without ../shared/traces skips these; CI (CI=true) always has them, so there they must run.
needs_thesis = pytest.mark.skipif(not THESIS.is_dir() and not os.environ.get("CI"),
                                  reason=f"thesis traces not found at {THESIS}")
needs_gentd26 = pytest.mark.skipif(not GENTD26.is_dir() and not os.environ.get("CI"),
                                   reason=f"GenTD26 trace not found at {GENTD26} (../shared/traces/public/SOURCES.md)")
needs_azure = pytest.mark.skipif(not AZURE.is_dir() and not os.environ.get("CI"),
                                 reason=f"Azure LLM trace not found at {AZURE} (../shared/traces/public/SOURCES.md)")
REQUEST_HEADER = ("gmt_create,predict_type,predict_status,exec_time_seconds,groupId,prompt_length,"
                  "negative_prompt_length,num_images_per_prompt,num_inference_steps,checkpoint_model_version_id,num_lora\n")


def write_gentd26(folder, rows, loads=("20000.0", "30000.0")):
    """A GenTD26-shaped folder: rows of (time, status, exec s, model)."""
    folder.mkdir(exist_ok=True)
    (folder / public_traces.GENTD26_REQUESTS).write_text(REQUEST_HEADER + "".join(
        f"{at},TXT_2_IMG,{status},{exec_s},G1,10,,1,30,{model},0\n" for at, status, exec_s, model in rows))
    (folder / public_traces.GENTD26_LOADS).write_text(
        "timestamp_anon,value,container_ip\n" + "".join(f"1,{v},ip\n" for v in loads))
    return folder


def test_gentd26_models_become_functions_with_the_trace_failure_and_cold_start_models(tmp_path):
    folder = write_gentd26(tmp_path / "g", [
        ("2024-12-01 10:00:05", "SUCCEED", "20.0", "M1"),
        ("2024-12-01 10:00:10", "FAILED", "3.0", "M1"),
        ("2024-12-01 10:30:00", "SUCCEED", "40.0", "M2"),
        ("2024-12-01 10:40:00", "PENDING", "0.0", "M2"),  # unfinished: left out, counted
        ("2024-12-01 10:41:00", "SUCCEED", "10.0", ""),  # no model id: left out, counted
        ("2024-12-01 10:50:00", "SUCCEED", "10.0", "M1"),
        ("2024-12-01 10:55:00", "SUCCEED", "12.0", "M3"),
        ("2024-12-01 12:00:00", "SUCCEED", "12.0", "M3"),  # outside the busiest hour
    ])
    ratio = public_traces.CPU_GPU_RATIOS["llm"]
    workloads, selection = public_traces.load_gentd26(folder, hours=1, top=2)
    assert selection.start == datetime(2024, 12, 1, 10) and selection.busiest
    assert [w.name for w in workloads] == ["gentd26-m1", "gentd26-m2"]  # M3 has one request: left out
    assert (selection.window_requests, selection.kept_requests, selection.unfinished, selection.no_model) == (7, 4, 1, 1)
    m1 = workloads[0]
    assert [r.send_s for r in m1.requests] == [5.0, 10.0, 3000.0]  # one clock: from the window's start
    assert m1.requests[0].on("gpu") == (20_000.0, None)
    assert m1.requests[0].on("cpu") == (pytest.approx(20_000.0 * ratio.ratio), None)
    assert m1.requests[1].on("gpu") == (3000.0, "5xx") and m1.requests[1].on("cpu")[1] == "5xx"
    assert m1.cold_start_s["gpu"] in (20.0, 30.0) and m1.cold_start_s["cpu"] == m1.cold_start_s["gpu"]
    again, _ = public_traces.load_gentd26(folder, hours=1, top=2)
    assert [w.cold_start_s for w in again] == [w.cold_start_s for w in workloads]  # seeded by the model id
    lines = selection.describe()
    assert "the 2 busiest of 3 models" in lines[0] and "left out: 1 models (1 requests)" in lines[0]
    assert f"CPU = GPU x {ratio.ratio:g}" in lines[1] and "diffusion has no thesis trace" in lines[1]
    everything, chosen = public_traces.load_gentd26(folder, start=datetime(2024, 12, 1, 10), hours=3, top=None)
    assert not chosen.busiest and len(everything) == 3 and chosen.kept_requests == 6


def test_the_busiest_window_starts_at_the_whole_hour_with_most_arrivals():
    times = [datetime(2024, 1, 1, h, m) for h, m in ((0, 5), (2, 1), (2, 30), (3, 59), (3, 10), (5, 0))]
    times.sort()
    assert public_traces.busiest_window(times, 1) == datetime(2024, 1, 1, 2)
    assert public_traces.busiest_window(times, 2) == datetime(2024, 1, 1, 2)  # 4 arrivals in 2:00-4:00


@pytest.mark.parametrize(("make", "message"), [
    (lambda d: None, "GenTD26 trace folder not found"),
    (lambda d: d.mkdir(), "lora_request_trace.csv not found"),
    (lambda d: (d.mkdir(), (d / public_traces.GENTD26_REQUESTS).write_text("a,b\n1,2\n")),
     "missing columns: gmt_create, predict_status, exec_time_seconds, checkpoint_model_version_id"),
    (lambda d: write_gentd26(d, [("yesterday", "SUCCEED", "1", "M1")]), "lora_request_trace.csv:2: bad row"),
    (lambda d: write_gentd26(d, [("2024-12-01 10:00:00", "LOST", "1", "M1")]), "predict_status 'LOST'"),
    (lambda d: write_gentd26(d, [("2024-12-01 10:00:00", "SUCCEED", "1", "M1")], loads=("soon",)),
     "basemodel_update_latency_anon.csv:2: bad row"),
])
def test_bad_gentd26_folders_are_named(tmp_path, make, message):
    folder = tmp_path / "g"
    make(folder)
    with pytest.raises(traces.TraceError, match=message):
        public_traces.load_gentd26(folder)


def test_a_window_without_requests_says_where_the_trace_is(tmp_path):
    folder = write_gentd26(tmp_path / "g", [("2024-12-01 10:00:00", "SUCCEED", "1", "M1")])
    with pytest.raises(traces.TraceError, match="the trace runs from 2024-12-01 10:00:00"):
        public_traces.load_gentd26(folder, start=datetime(2025, 1, 1))


@needs_thesis
@pytest.mark.parametrize("workload_class", sorted(public_traces.CPU_GPU_RATIOS))
def test_each_stated_ratio_is_the_thesis_median_ratio(workload_class):
    measured = public_traces.measure_cpu_gpu_ratio(workload_class, THESIS)
    assert public_traces.CPU_GPU_RATIOS[workload_class].ratio == round(measured, 2)


@needs_gentd26
def test_gentd26_busiest_hour_on_the_real_trace():
    with (GENTD26 / public_traces.GENTD26_REQUESTS).open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    workloads, selection = public_traces.load_gentd26(GENTD26)
    assert selection.total_requests == len(rows) == 26_823 and selection.loads == 7_531
    assert round(selection.load_median_s, 1) == 22.7
    start = selection.start.strftime("%Y-%m-%d %H")
    in_hour = [r for r in rows if r["gmt_create"].startswith(start)]
    assert selection.window_requests == len(in_hour)
    # No whole hour of the trace has more arrivals.
    by_hour: dict[str, int] = {}
    for row in rows:
        by_hour[row["gmt_create"][:13]] = by_hour.get(row["gmt_create"][:13], 0) + 1
    assert len(in_hour) == max(by_hour.values())
    assert len(workloads) == min(public_traces.DEFAULT_TOP, selection.models_in_window)
    counts = [len(w.requests) for w in workloads]
    assert counts == sorted(counts, reverse=True) and sum(counts) == selection.kept_requests
    ok = [r for r in in_hour if r["checkpoint_model_version_id"] == selection.kept[0]
          and r["predict_status"] == public_traces.SUCCEEDED]
    assert sorted(r.gpu_ms for r in workloads[0].requests if r.gpu_error is None) == \
        sorted(float(r["exec_time_seconds"]) * 1000 for r in ok)
    assert all(0 <= r.send_s < 3600 for w in workloads for r in w.requests)


@needs_azure
def test_azure_llm_code_and_conversation_on_one_clock():
    workloads, described = public_traces.load_azure_llm(AZURE, hours=0.1)
    code, conv = workloads
    assert (code.name, conv.name) == ("azure-code", "azure-conv")
    assert conv.requests[0].send_s == 0.0 and code.requests[0].send_s > 60  # code starts 77 s later that hour
    assert max(r.send_s for w in workloads for r in w.requests) <= 360
    first = code.requests[0]
    with (AZURE / "AzureLLMInferenceTrace_code.csv").open(newline="") as handle:
        row = next(csv.DictReader(handle))
    context, generated = int(row["ContextTokens"]), int(row["GeneratedTokens"])
    assert first.param == str(context)
    assert first.cpu_ms == public_traces.llm_service_ms("cpu", context, generated) == 150 + 2 * context + 60 * generated
    assert "llm_service_ms" in described and "no CPU/GPU ratio needed" in described


def test_bad_azure_folders_are_named(tmp_path):
    with pytest.raises(traces.TraceError, match="Azure LLM trace folder not found"):
        public_traces.load_azure_llm(tmp_path / "none")
    (tmp_path / "AzureLLMInferenceTrace_code.csv").write_text("time,tokens\n1,2\n")
    with pytest.raises(traces.TraceError, match="missing columns: TIMESTAMP, ContextTokens, GeneratedTokens"):
        public_traces.load_azure_llm(tmp_path)


def gaia_pool(*args):
    return subprocess.run([sys.executable, "-m", "gaia_faas.cli", "replay", "--quiet", "--pool", *args],
                          capture_output=True, text=True, timeout=120)


@needs_gentd26
def test_cli_replays_a_short_gentd26_window_and_says_what_it_selected():
    window = ["--gentd26", str(GENTD26), "--trace-start", "2024-12-03T00:00", "--trace-hours", "0.25",
              "--top-models", "3"]
    result = gaia_pool("1", *window, "--json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert list(doc) == [*pool_replay.POOL_STRATEGIES, "inputs"]
    assert doc["pool"]["functions"] == 3 and doc["pool"]["capacity_exceeded"] == 0
    assert "window 2024-12-03 00:00:00 + 0.25 h (as asked" in doc["inputs"][0]
    assert "CPU = GPU x 7.79 (the thesis' llm class" in doc["inputs"][1]
    table = gaia_pool("1", *window, "--cpu-gpu-class", "image-classification", "--timeout", "120")
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0] == "platform: pro; 3 functions on one pool of 1 GPU(s)"
    assert "CPU = GPU x 1.24 (the thesis' image-classification class" in lines[2]
    assert "timeout 120 s, concurrency per replica cpu=1,gpu=1" in lines[4]
    assert lines[5].startswith("strategy")


@pytest.mark.parametrize(("args", "message"), [
    (["1", "--gentd26", "/no/such/gentd26"], "gaia replay: GenTD26 trace folder not found: /no/such/gentd26"),
    (["1", "--azure-llm", "/no/such/azure"], "gaia replay: Azure LLM trace folder not found: /no/such/azure"),
    (["1", "--gentd26", "/tmp", "--trace-start", "noon"], "--trace-start expects a date and time"),
    (["1", "--gentd26", "/tmp", "--top-models", "-1"], "--top-models must be 0 (all) or more"),
])
def test_cli_bad_production_inputs_are_one_line_and_exit_2(args, message):
    result = gaia_pool(*args)
    assert result.returncode == 2 and result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert message in result.stderr and "Traceback" not in result.stderr


def test_cli_wrong_columns_and_no_pool(tmp_path):
    folder = tmp_path / "g"
    folder.mkdir()
    (folder / public_traces.GENTD26_REQUESTS).write_text("when,what\n1,2\n")
    result = gaia_pool("1", "--gentd26", str(folder))
    assert result.returncode == 2 and "missing columns: gmt_create" in result.stderr
    alone = subprocess.run([sys.executable, "-m", "gaia_faas.cli", "replay", "--gentd26", str(folder)],
                           capture_output=True, text=True, timeout=60)
    assert alone.returncode == 2 and "inputs of the pool replay; add --pool N" in alone.stderr
