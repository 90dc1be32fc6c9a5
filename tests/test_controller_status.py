"""`gaia status`: formatting of the plugin's answers and clear errors when it cannot be asked."""

from __future__ import annotations

import subprocess
import sys

from gaia_faas.gateway_plugin.status import format_decisions, format_functions, format_pool
from gaia_faas.processes import free_port


def status(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gaia_faas.cli", "status", *args], capture_output=True, text=True,
                          timeout=60)


def test_tables_show_route_pin_stats_and_decisions():
    functions = {"window_s": 60, "functions": [{
        "name": "matmul", "mode": "cpu_preferred", "route": {"variant": "gpu", "pinned": True},
        "stats": {"cpu": {"count": 12, "p95_ms": 1234.4}, "gpu": {"count": 40, "p95_ms": 512.6}},
        "hybrid": {"mode": "hybrid", "crossover_size": 2791.5}}]}
    lines = format_functions(functions)
    assert lines[0] == "functions (last 60 s):"
    assert lines[1].split()[-4:] == ["dispatch", "crossover", "gpu", "pool"]
    assert lines[2].split() == ["matmul", "cpu_preferred", "gpu", "yes", "12", "1234", "40", "513", "hybrid", "2791.5", "-"]
    decisions = {"leader": "host:42:ab", "decisions": [
        {"time": 0.0, "function": "matmul", "action": "switch", "from": "cpu", "to": "gpu", "reason": "cpu-violates-slo"}]}
    lines = format_decisions(decisions)
    assert lines[0] == "decisions (controller leader: host:42:ab):"
    assert lines[2].split() == ["1970-01-01", "00:00:00", "matmul", "switch", "cpu", "gpu", "cpu-violates-slo"]
    assert format_decisions({"leader": None, "decisions": []}) == ["decisions (controller leader: none):", "  (none)"]


def test_stats_unavailable_are_shown_as_dashes():
    lines = format_functions({"window_s": 60, "functions": [{"name": "f", "mode": None, "route": {"variant": "cpu"},
                                                              "stats": None}]})
    assert lines[2].split() == ["f", "-", "cpu", "no", "-", "-", "-", "-", "-", "-", "-"]


def test_pool_section_shows_capacity_sources_holders_and_waiting():
    pool = {"capacity": 1, "setting": 1, "cluster_gpus": 4, "held": 1, "preempt_ratio": 2.0, "min_dwell_s": 60.0,
            "holders": [{"function": "busy", "state": "holds", "held_s": 42.5, "benefit_per_s": 3.2, "reserved": False}],
            "waiting": [{"function": "slow", "reason": "gpu-pool-full", "benefit_per_s": 1.1, "preempting": None}]}
    lines = format_pool(pool)
    assert lines[0] == "GPU pool: 1 of 1 held (setting 1, cluster 4); preemption at 2x after 60 s:"
    assert lines[2].split() == ["busy", "holds", "42.5", "3.2", "no"]
    assert lines[4].split() == ["slow", "gpu-pool-full", "1.1", "-"]
    assert format_pool({"capacity": None, "error": "no controller leader reported it recently"}) == [
        "GPU pool: unknown (no controller leader reported it recently)"]
    terminating = {**pool, "updated_at": 1000.0, "release_grace_s": 30.0, "holders": [
        {"function": "busy", "state": "terminating", "held_s": 90.0, "benefit_per_s": 0.0, "reserved": False,
         "free_at": 1012.4}]}
    lines = format_pool(terminating)
    assert lines[0].endswith("; preemption at 2x after 60 s; a released GPU free 30 s later:")
    assert lines[2].split() == ["busy", "terminating", "(free", "in", "12", "s)", "90", "0", "no"]
    functions = {"window_s": 60, "functions": [{"name": "slow", "route": {"variant": "cpu"}, "stats": None,
                                                "gpu_pool": {"state": "waiting"}}]}
    assert format_functions(functions)[2].split()[-1] == "waiting"


def test_unreachable_plugin_is_a_clear_error():
    result = status("--url", f"http://127.0.0.1:{free_port()}")
    assert result.returncode == 1 and "gaia status: cannot reach http://127.0.0.1:" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_arguments_are_clear_errors():
    result = status("--url", "localhost:8080")
    assert result.returncode == 2 and "--url must be a URL with a scheme" in result.stderr
    result = status("--limit", "0")
    assert result.returncode == 2 and "--limit 1..1000" in result.stderr
