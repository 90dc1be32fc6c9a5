"""`gaia replay` as a user runs it: table, --json, --plot, progress, clear errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from gaia_faas.gateway_plugin import replay, traces

KEYS = {"platform", "requests", "mean_ms", "p95_ms", "slo_ms", "slo_percentile", "slo_violation_pct", "failed", "cost", "switches",
        "first_switch_delay_s", "gpu_seconds", "cpu_seconds"}


def gaia(*args: str, check_rc: int | None = 0) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "gaia_faas.cli", "replay", *args], capture_output=True, text=True,
                          timeout=120)
    if check_rc is not None:
        assert proc.returncode == check_rc, proc.stderr
    return proc


def test_json_has_every_strategy_and_exactly_the_documented_keys():
    proc = gaia("step", "ramp", "--json", "--quiet")
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    assert set(data) == {"step", "ramp"}
    for by_strategy in data.values():
        assert list(by_strategy) == ["static-cpu", "static-gpu", "prototype", "gaia"]
        for summary in by_strategy.values():
            assert set(summary) == KEYS
    assert data["step"]["static-cpu"]["switches"] == 0 and data["step"]["gaia"]["switches"] >= 1


def test_table_progress_and_strategy_selection():
    proc = gaia("step", "--strategy", "gaia", "--strategy", "static-gpu")
    lines = proc.stdout.strip().splitlines()
    assert lines[0] == "platform: pro"
    assert lines[1].split()[:4] == ["workload", "strategy", "mean", "ms"]
    assert [line.split()[1] for line in lines[3:]] == ["static-gpu", "gaia"] or \
           [line.split()[1] for line in lines[3:]] == ["gaia", "static-gpu"]
    assert "replaying step / gaia: 100%" in proc.stderr


def test_plot_writes_a_png(tmp_path):
    target = tmp_path / "replay.png"
    gaia("step", "--plot", str(target), "--quiet")
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and target.stat().st_size > 10_000


@pytest.mark.parametrize(("args", "message"), [
    (["no-such-workload"], "unknown workload(s) no-such-workload"),
    (["step", "--set", "slo=5"], "--set expects com.gaia.NAME=VALUE"),
    (["step", "--set", "com.gaia.slo-ms=fast"], "com.gaia.slo-ms: 'fast' is not a number"),
    (["step", "--set", "com.gaia.slo=5"], "unknown setting(s) com.gaia.slo; known: com.gaia.backoff-max-seconds"),
    (["step", "--cold-start", "cpu=2,tpu=3"], "--cold-start expects cpu=VALUE,gpu=VALUE"),
    (["step", "--concurrency", "cpu=0"], "concurrency must be at least 1"),
    (["step", "--scale-to-zero-after", "soon"], "--scale-to-zero-after expects seconds (at least 0) or cpu=S,gpu=S"),
    (["step", "--platform", "lambda"], "invalid choice: 'lambda'"),
])
def test_bad_input_gives_a_clear_message_not_a_traceback(args, message):
    proc = gaia(*args, check_rc=2)
    assert message in proc.stderr and "Traceback" not in proc.stderr


def test_unwritable_plot_path_is_a_clear_error(tmp_path):
    proc = gaia("step", "--strategy", "gaia", "--quiet", "--plot", str(tmp_path / "no" / "such" / "dir.png"), check_rc=2)
    assert "cannot write the plot to" in proc.stderr and "Traceback" not in proc.stderr


def test_a_named_thesis_workload_without_its_traces_says_where_they_come_from(tmp_path):
    proc = gaia("idle-wait", "--traces", str(tmp_path / "nowhere"), check_rc=2)
    [line] = proc.stderr.strip().splitlines()
    assert "idle-wait needs the thesis traces" in line and "polaris-slo-cloud/gaia" in line and "--traces DIR" in line


def test_the_default_set_without_thesis_traces_replays_the_scenarios_and_exits_0(tmp_path):
    proc = gaia("--json", "--quiet", "--traces", str(tmp_path / "nowhere"))
    [line] = proc.stderr.strip().splitlines()
    assert "thesis workloads skipped" in line and "polaris-slo-cloud/gaia" in line
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    assert list(data) == list(replay.DEFAULT_SCENARIOS)
    assert data["spike-10x"]["static-gpu"]["slo_ms"] == 1500.0  # the scenario's own SLO, from its sidecar


def test_list_names_every_workload():
    listed = [line.split()[0] for line in gaia("--list").stdout.splitlines()]
    assert listed == list(traces.WORKLOADS)


def test_overrides_reach_the_policy():
    data = json.loads(gaia("step", "--json", "--quiet", "--strategy", "gaia",
                           "--set", "com.gaia.mode=cpu").stdout.strip().splitlines()[-1])
    assert data["step"]["gaia"]["switches"] == 0
