"""`gaia status`: formatting of the plugin's answers and clear errors when it cannot be asked."""

from __future__ import annotations

import subprocess
import sys

from gaia_faas.gateway_plugin.status import format_decisions, format_functions
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
    assert lines[1].split()[-2:] == ["dispatch", "crossover"]
    assert lines[2].split() == ["matmul", "cpu_preferred", "gpu", "yes", "12", "1234", "40", "513", "hybrid", "2791.5"]
    decisions = {"leader": "host:42:ab", "decisions": [
        {"time": 0.0, "function": "matmul", "action": "switch", "from": "cpu", "to": "gpu", "reason": "cpu-violates-slo"}]}
    lines = format_decisions(decisions)
    assert lines[0] == "decisions (controller leader: host:42:ab):"
    assert lines[2].split() == ["1970-01-01", "00:00:00", "matmul", "switch", "cpu", "gpu", "cpu-violates-slo"]
    assert format_decisions({"leader": None, "decisions": []}) == ["decisions (controller leader: none):", "  (none)"]


def test_stats_unavailable_are_shown_as_dashes():
    lines = format_functions({"window_s": 60, "functions": [{"name": "f", "mode": None, "route": {"variant": "cpu"},
                                                              "stats": None}]})
    assert lines[2].split() == ["f", "-", "cpu", "no", "-", "-", "-", "-", "-", "-"]


def test_unreachable_plugin_is_a_clear_error():
    result = status("--url", f"http://127.0.0.1:{free_port()}")
    assert result.returncode == 1 and "gaia status: cannot reach http://127.0.0.1:" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_arguments_are_clear_errors():
    result = status("--url", "localhost:8080")
    assert result.returncode == 2 and "--url must be a URL with a scheme" in result.stderr
    result = status("--limit", "0")
    assert result.returncode == 2 and "--limit 1..1000" in result.stderr
