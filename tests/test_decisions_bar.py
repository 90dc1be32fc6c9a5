"""benchmarks/decisions.py's bar, judged on hand-made replay results (pure)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parent.parent / "benchmarks" / "decisions.py"
_spec = importlib.util.spec_from_file_location("decisions_benchmark", _PATH)
decisions = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = decisions
_spec.loader.exec_module(decisions)
bar_verdict = decisions.bar_verdict


def results(cpu, gpu, proto, gaia, percentile=95, failed=(0, 0, 0, 0), requests=1000):
    """{strategy: figures} from (violations %, cost) per strategy, failed requests per strategy."""
    out = {}
    for name, (viol, cost), fails in zip(decisions.STRATEGIES, (cpu, gpu, proto, gaia), failed):
        out[name] = {"slo_violation_pct": viol, "cost": cost, "failed": fails, "requests": requests,
                     "slo_ms": 1000.0, "slo_percentile": percentile, "switches": 0}
    return out


# -- some static choice meets the SLO ------------------------------------------------------------------------


def test_cpu_meets_and_gaia_stays_near_its_cost_passes():
    ok, why = bar_verdict(results((3.0, 1.0), (0.0, 3.5), (2.0, 3.0), (3.1, 1.05)), "pro")
    assert ok, why
    assert "static-cpu" in why and "1.050x" in why


def test_gaia_missing_the_slo_that_static_cpu_meets_fails():
    ok, why = bar_verdict(results((4.0, 1.0), (0.0, 3.5), (9.0, 3.0), (5.2, 1.0)), "pro")
    assert not ok and "misses the SLO (5.2% > 5%)" in why


def test_exactly_at_the_allowed_violations_meets():
    # Tie: "violations <= 100 - percentile" includes equality.
    ok, why = bar_verdict(results((5.0, 1.0), (0.0, 3.5), (5.0, 1.0), (5.0, 1.0)), "pro")
    assert ok, why


def test_cost_limit_is_11_tenths_of_the_cheapest_meeting_static_inclusive():
    at_limit = results((3.0, 1.0), (0.0, 3.5), (3.0, 1.1), (3.0, 1.1))
    assert bar_verdict(at_limit, "knative")[0]
    over = results((3.0, 1.0), (0.0, 3.5), (3.0, 1.2), (3.0, 1.11))
    ok, why = bar_verdict(over, "knative")
    assert not ok and "1.110x static-cpu (limit 1.1x)" in why


def test_when_both_statics_meet_the_cheapest_is_the_reference():
    # GPU cheaper here (say a fast GPU finishing a closed-loop run sooner): gaia is judged against it.
    ok, why = bar_verdict(results((2.0, 2.0), (1.0, 1.0), (2.0, 2.0), (1.0, 1.5)), "pro")
    assert not ok and "1.500x static-gpu" in why


def test_only_static_gpu_meets_gaia_must_cost_less_than_it():
    assert bar_verdict(results((30.0, 1.0), (0.0, 3.5), (25.0, 3.0), (2.0, 3.0)), "pro")[0]
    ok, why = bar_verdict(results((30.0, 1.0), (0.0, 3.5), (25.0, 3.6), (2.0, 3.5)), "pro")  # a tie is not less
    assert not ok and "1.000x static-gpu (the only one meeting it) (must be below 1x)" in why


def test_the_percentile_comes_from_the_results():
    # p99: 1 % allowed, so 3 % on the CPU does not meet and the GPU is the only static choice that does.
    ok, why = bar_verdict(results((3.0, 1.0), (0.5, 3.5), (3.0, 1.0), (3.0, 1.0), percentile=99), "pro")
    assert not ok and "misses the SLO (3.0% > 1%)" in why


# -- no static choice meets the SLO --------------------------------------------------------------------------


def test_impossible_slo_must_not_cost_more_than_the_cheap_variant():
    assert bar_verdict(results((100.0, 1.0), (100.0, 3.5), (100.0, 3.4), (100.0, 1.08)), "pro")[0]
    ok, why = bar_verdict(results((100.0, 1.0), (100.0, 3.5), (100.0, 3.4), (100.0, 1.3)), "pro")
    assert not ok and "costs 1.300x static-cpu (limit 1.1x)" in why


def test_clearly_fewer_violations_than_the_best_static_may_cost_more():
    # GPU outage: static GPU 10 %, static CPU 18 %; gaia 3 % at 2x the CPU's cost.
    ok, why = bar_verdict(results((18.0, 1.0), (10.0, 3.5), (11.0, 3.5), (3.0, 2.0)), "pro")
    assert ok, why


def test_more_violations_than_the_best_static_plus_the_margin_fails():
    ok, why = bar_verdict(results((18.0, 1.0), (10.0, 3.5), (10.0, 3.5), (11.5, 2.0)), "pro")
    assert not ok and "gaia 11.5% > best static-gpu 10.0% + 1 point" in why


def test_on_a_short_trace_the_margin_is_five_requests_counted_exactly():
    # matmul-increment: 101 requests; a policy needs a few slow ones before it switches. The replay reports
    # 2 decimals: 54 of 101 = 53.47 %, 49 of 101 = 48.51 %; 5 requests more is just within the margin.
    short = results((67.33, 1.0), (48.51, 3.5), (60.4, 2.5), (53.47, 2.0), requests=101)
    assert bar_verdict(short, "pro")[0]
    short["gaia"]["slo_violation_pct"] = 54.46  # 55 of 101
    ok, why = bar_verdict(short, "pro")
    assert not ok and "gaia 54.5% > best static-gpu 48.5% + 4.95 points" in why


def test_within_the_margin_of_the_best_it_must_be_as_cheap_as_the_cheapest_peer():
    # CPU 8 %, GPU 7.5 %: both within a point of the best; gaia 8 % must cost <= 1.1x the CPU.
    ok, why = bar_verdict(results((8.0, 1.0), (7.5, 3.5), (8.0, 3.5), (8.0, 2.0)), "pro")
    assert not ok and "costs 2.000x static-cpu" in why


def test_a_gpu_outage_failed_like_static_gpu_fails_even_within_the_violation_margin():
    # Error-blind: gaia stays on the failing GPU (111 failed of 1000, 11.2 %) next to static GPU's 11.1 %.
    outage = results((18.0, 1.0), (11.1, 3.5), (11.4, 3.5), (11.2, 3.5), failed=(0, 111, 111, 112))
    ok, why = bar_verdict(outage, "pro")
    assert not ok and "gaia failed 112 requests, more than static-cpu's 0 + 3% of the requests (30)" in why
    assert not bar_verdict(outage, "ce")[0]  # failures are violations: on CE too


def test_failures_up_to_the_margin_pass():
    # Timeouts: the requests in flight when the GPU hangs fail before any policy can see it.
    outage = results((18.0, 1.0), (12.5, 3.5), (14.6, 3.5), (3.0, 2.0), failed=(0, 125, 125, 30))
    assert bar_verdict(outage, "pro")[0]
    outage["gaia"]["failed"] = 31
    assert not bar_verdict(outage, "pro")[0]


# -- the prototype -------------------------------------------------------------------------------------------


def test_worse_than_the_prototype_on_both_counts_fails_even_when_the_rest_passes():
    ok, why = bar_verdict(results((3.0, 1.0), (0.0, 3.5), (2.0, 1.0), (3.0, 1.05)), "pro")
    assert not ok and "worse than the prototype on both violations (3.0% > 2.0%) and cost (1.050x)" in why


def test_worse_than_the_prototype_on_one_count_only_is_not_worse():
    assert bar_verdict(results((3.0, 1.0), (0.0, 3.5), (2.0, 1.1), (3.0, 1.05)), "pro")[0]
    assert bar_verdict(results((3.0, 1.0), (0.0, 3.5), (3.0, 1.0), (3.0, 1.0)), "pro")[0]  # ties


# -- ce: violations only -------------------------------------------------------------------------------------


def test_ce_ignores_cost_and_the_prototype():
    # Both variants billed all the time on CE; a cost 3x static CPU's does not matter there, on pro it does.
    figures = results((3.0, 1.0), (0.0, 3.5), (2.0, 1.0), (3.0, 3.0))
    ok, why = bar_verdict(figures, "ce")
    assert ok and why.endswith("(ce: violations only)")
    assert not bar_verdict(figures, "pro")[0]


def test_ce_still_needs_the_slo_when_a_static_choice_meets_it():
    ok, why = bar_verdict(results((30.0, 1.0), (0.0, 1.0), (25.0, 1.0), (6.0, 1.0)), "ce")
    assert not ok and "static-gpu meets it" in why


def test_ce_with_no_static_meeting_uses_the_margin():
    assert bar_verdict(results((18.0, 1.0), (10.0, 1.0), (9.0, 1.0), (10.9, 1.0)), "ce")[0]
    assert not bar_verdict(results((18.0, 1.0), (10.0, 1.0), (9.0, 1.0), (11.1, 1.0)), "ce")[0]


# -- failed requests and bad input ---------------------------------------------------------------------------


def test_failed_requests_are_named_in_the_reason():
    # A broken GPU: static GPU fails every request (100 % violations); gaia failed 40 of them on its attempts.
    fails = (0, 1000, 900, 40)
    ok, why = bar_verdict(results((3.0, 1.0), (100.0, 3.5), (90.0, 3.4), (4.2, 1.02), failed=fails), "pro")
    assert ok and "gaia failed 40 requests" in why
    fails = (0, 1000, 900, 110)
    ok, why = bar_verdict(results((3.0, 1.0), (100.0, 3.5), (90.0, 3.4), (6.0, 1.02), failed=fails), "pro")
    assert not ok and "misses the SLO" in why and "gaia failed 110 requests" in why


def test_a_missing_strategy_fails_with_its_name():
    figures = results((3.0, 1.0), (0.0, 3.5), (2.0, 3.0), (3.0, 1.0))
    del figures["prototype"]
    assert bar_verdict(figures, "pro") == (False, "no result for prototype")


@pytest.mark.parametrize("bad", [None, "n/a", float("nan"), -1.0])
def test_malformed_figures_raise_naming_the_strategy(bad):
    figures = results((3.0, 1.0), (0.0, 3.5), (2.0, 3.0), (3.0, 1.0))
    figures["static-gpu"]["cost"] = bad
    with pytest.raises(ValueError, match="static-gpu"):
        bar_verdict(figures, "pro")


def test_an_unknown_platform_is_an_error():
    with pytest.raises(ValueError, match="unknown platform 'lambda'"):
        bar_verdict(results((3.0, 1.0), (0.0, 3.5), (2.0, 3.0), (3.0, 1.0)), "lambda")


# -- the harness around it -----------------------------------------------------------------------------------


def test_every_committed_scenario_is_a_pair():
    names = [p.name for p in decisions.scenario_pairs(decisions.SCENARIOS_DIR)]
    assert len(names) == 17 and "gpu-outage-timeout" in names and "low-rate-10min" in names


def test_thesis_pairs_carry_their_slo(tmp_path):
    assert decisions.thesis_pairs(tmp_path) == []
    for half in ("matmul-increment-cpu.csv", "matmul-increment-gpu.csv", "sentiment-analysis-breaks-cpu.csv"):
        (tmp_path / half).write_text("workload,mode,seq,timestamp,param,latency_ms\n")
    (pair,) = decisions.thesis_pairs(tmp_path)  # the lone sentiment half is no pair
    assert pair.name == "matmul-increment" and "com.gaia.slo-ms=1000" in pair.settings
    command = decisions.replay_command(pair, "knative")
    assert command[-4:] == ["--set", "com.gaia.slo-ms=1000", "--set", "com.gaia.mode=cpu_preferred"]
    assert command[command.index("--platform") + 1] == "knative"


def test_an_unknown_scenario_is_a_one_line_error(capsys):
    with pytest.raises(SystemExit) as exit_:
        decisions.main(["--only", "no-such-scenario", "--no-thesis"])
    assert exit_.value.code == 2
    assert "no scenario named no-such-scenario (have: bimodal, bursts" in capsys.readouterr().err


def test_cost_ratios_are_gaia_over_each_other_strategy():
    figures = results((3.0, 2.0), (0.0, 4.0), (2.0, 0.0), (3.0, 1.0))
    assert decisions.cost_ratios(figures) == {"gaia/static-cpu": 0.5, "gaia/static-gpu": 0.25, "gaia/prototype": None}
    assert decisions.cost_ratios(None) == {}
