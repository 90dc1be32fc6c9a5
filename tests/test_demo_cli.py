import subprocess
import sys
from pathlib import Path

import pytest

from gaia_faas.decision_words import describe
from gaia_faas.demo import progress_line, route_changes, thread_env, workloads_for
from gaia_faas.demo_report import Decision, RequestRecord
from gaia_faas.local_run import VariantPlan

REPO = Path(__file__).resolve().parent.parent
STARTED = 1_700_000_000.0

LOG = [
    {"id": "1-0", "time": STARTED + 5.2, "function": "idle-wait", "action": "switch", "from": "cpu", "to": "gpu",
     "reason": "cpu-violates-slo", "numbers": {"slo_ms": 1000.0, "slo_percentile": 95.0, "cpu_p_ms": 2040.4, "cpu_count": 3}},
    {"id": "2-0", "time": STARTED + 9.0, "function": "idle-wait", "action": "switch", "from": "gpu", "to": "cpu",
     "reason": "gpu-does-not-help", "numbers": {"slo_ms": 1000.0, "cpu_p_ms": 2040.0, "cpu_count": 3, "gpu_p_ms": 2041.0, "gpu_count": 3}},
    {"id": "3-0", "time": STARTED + 9.1, "function": "idle-wait", "action": "scale_down", "from": "gpu", "to": None,
     "reason": "released-with-switch", "numbers": {}},
]


def test_route_changes_are_the_switches_relative_to_the_start():
    assert route_changes(LOG, STARTED) == [
        Decision(pytest.approx(5.2), "idle-wait", "cpu", "gpu", "cpu-violates-slo"),
        Decision(pytest.approx(9.0), "idle-wait", "gpu", "cpu", "gpu-does-not-help"),
    ]


def test_decisions_are_described_in_words_with_the_numbers_they_were_made_on():
    headline, numbers = describe(LOG[0], STARTED).splitlines()
    assert headline == ("[    5s] DECISION idle-wait: route cpu -> gpu, because the CPU variant kept missing the SLO "
                        "(cpu-violates-slo)")
    assert numbers.strip() == "decided on: SLO p95 under 1000 ms; cpu: p95 2040 ms over 3 requests"
    assert "gpu: p95 2041 ms over 3 requests" in describe(LOG[1], STARTED)
    assert describe(LOG[2], STARTED) == ("[    9s] DECISION idle-wait: release the gpu variant, because released "
                                         "together with the switch (released-with-switch)")
    released = describe({**LOG[2], "numbers": {"detail": "static mode: nothing to scale down"}}, STARTED)
    assert released.endswith("decided on: static mode: nothing to scale down")


def test_window_figures_verification_numbers_and_unknown_names_are_all_shown():
    entry = {"time": STARTED + 61, "function": "matmul", "action": "switch", "from": "gpu", "to": "cpu",
             "reason": "gpu-fails-verification", "numbers": {
                 "slo_ms": 1000.0, "slo_percentile": 95.0, "cpu_p_ms": 1810.0, "cpu_count": 1, "cpu_violations": 1,
                 "gpu_p_ms": 1314.2, "gpu_count": 3, "gpu_violations": 3, "gpu_errors": 0, "gpu_rate": 0.3,
                 "stint_requests": 3, "stint_violations": 3, "bar_share": 0.2, "since_switch_s": 4.5,
                 "new_knob_ms": 12.5, "cpu_outlook": "unknown"}}
    text = describe(entry, STARTED)
    assert "because after the switch the GPU did not meet the bar it had to meet (gpu-fails-verification)" in text
    for words in ("cpu: p95 1810 ms over 1 request (1 over the SLO)", "gpu: p95 1314 ms over 3 requests (3 over the SLO, 0.3 req/s)",
                  "3 requests since the switch, 3 of them over the SLO", "at most 20% of requests may miss the SLO",
                  "4.5 s since the switch", "new knob 12.5 ms", "cpu outlook unknown"):
        assert words in text, words
    assert describe({**entry, "reason": "something-new"}, STARTED).splitlines()[0].endswith("route gpu -> cpu (something-new)")


def test_progress_shows_each_function_and_the_variant_holding_its_route():
    records = [RequestRecord("matmul", 1.0, 40.0, 200, "cpu", "500"), RequestRecord("matmul", 8.0, 900.0, 200, "cpu", "3000")]
    line = progress_line(10.0, records, ["matmul", "idle-wait"], {"matmul": "gpu"})
    # The last answer came from the CPU (in flight when the route changed); the route is the GPU.
    assert line == "[   10s] matmul 3000: 2 req, p95(10s) 900 ms, route gpu | idle-wait: -"


def test_without_cuda_the_gpu_variant_gets_every_core_and_the_cpu_variant_one():
    cpu = VariantPlan("f-cpu", "f", "cpu", Path("."))
    gpu = VariantPlan("f-gpu", "f", "gpu", Path("."))
    assert thread_env(cpu, 4, gpu_present=False) == {"OMP_NUM_THREADS": "1"}
    assert thread_env(gpu, 4, gpu_present=False) == {"OMP_NUM_THREADS": "4"}
    assert thread_env(gpu, 4, gpu_present=True) == {}


def test_workloads_follow_the_chosen_functions():
    assert [w.function for w in workloads_for(["idle-wait", "matmul"])] == ["idle-wait", "matmul"]


def test_demo_refuses_functions_it_has_no_workload_for_and_bad_bounds():
    for args, message in [
        (["--functions", "matmul,resize"], "it drives matmul, idle-wait, image-classification, llm; not resize"),
        (["--duration", "0"], "--duration and --max-requests must be positive"),
    ]:
        result = subprocess.run([sys.executable, "-m", "gaia_faas.cli", "demo", *args], capture_output=True, text=True)
        assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr

# The whole demo runs in tests/test_readme_commands.py (as the README's command, in a fresh clone).
