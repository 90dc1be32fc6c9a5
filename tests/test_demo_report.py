import math

import pytest

from gaia_faas.demo_report import (
    Decision,
    RequestRecord,
    format_table,
    label_rows,
    percentile,
    phases,
    plot_timeline,
    route_segments,
    summarise,
    worst_window_p95,
)


def test_percentile_is_nearest_rank():
    assert percentile(list(range(1, 101)), 95) == 95
    assert percentile([5.0], 95) == 5.0
    assert math.isnan(percentile([], 95))


def test_route_segments_follow_the_decisions():
    decisions = [Decision(30, "f", "cpu", "gpu", "slo"), Decision(45, "f", "gpu", "cpu", "not faster")]
    assert route_segments("cpu", decisions, 100) == [(0, 30, "cpu"), (30, 45, "gpu"), (45, 100, "cpu")]
    assert route_segments("gpu", [], 10) == [(0, 10, "gpu")]


def _records():
    records = [RequestRecord("idle", float(i), 2000.0 + i, 200, "cpu" if i < 30 or i >= 45 else "gpu") for i in range(100)]
    records.append(RequestRecord("idle", 50.0, 3.0, 0, ""))  # a request that got no answer
    records += [RequestRecord("mm", float(i), 100.0, 200, "cpu", str(100 * i)) for i in range(10)]
    return records


def test_summary_counts_latency_time_and_cost_per_variant():
    decisions = [Decision(30, "idle", "cpu", "gpu", "slo"), Decision(45, "idle", "gpu", "cpu", "not faster")]
    summaries = summarise(_records(), decisions, {"idle": "cpu", "mm": "cpu"}, {"idle": {"gpu": 0.001}}, 100)
    idle, mm = summaries
    assert (idle.requests, idle.errors, idle.decisions) == (101, 1, 2)
    assert idle.mean_ms == pytest.approx(2049.5)
    assert idle.p95_ms == 2094.0
    assert idle.variant_seconds == {"cpu": 85, "gpu": 15}
    assert idle.variant_requests == {"cpu": 85, "gpu": 15}
    assert idle.cost == pytest.approx(85 * 0.000038 + 15 * 0.001)
    assert (mm.requests, mm.errors, mm.decisions, mm.variant_seconds) == (10, 0, 0, {"cpu": 100})


def test_table_has_one_row_per_function_with_slo_violations_and_cost_in_dollars():
    summaries = summarise(_records(), [], {"idle": "cpu", "mm": "cpu", "unused": "gpu"}, {}, 100,
                          {"idle": 2050.0, "mm": 500.0})
    table = format_table(summaries).splitlines()
    assert table[0].split()[:7] == ["function", "SLO", "ms", "requests", "errors", "over", "SLO"]
    assert "cost USD" in table[0] and "worst 10s p95" in table[0]
    assert [line.split()[0] for line in table[2:]] == ["idle", "mm", "unused"]
    idle, mm, unused = (line.split() for line in table[2:])
    # idle: 50 of 100 answers above 2,050 ms plus the one that failed.
    assert idle[1:5] == ["2050", "101", "1", "50%"] and mm[1:5] == ["500", "10", "0", "0%"]
    assert unused[1:5] == ["-", "0", "0", "-"]


def test_the_worst_stretch_shows_what_the_whole_run_p95_hides():
    records = [RequestRecord("mm", t * 0.1, 100.0, 200, "cpu") for t in range(1000)]
    records += [RequestRecord("mm", 95 + t * 0.5, 2500.0, 200, "cpu") for t in range(10)]
    [summary] = summarise(records, [], {"mm": "cpu"}, {}, 100, {"mm": 1000})
    assert summary.p95_ms == 100.0 and summary.worst_p95_ms == 2500.0 == worst_window_p95(records)
    assert summary.over_slo == pytest.approx(10 / 1010)


def test_phases_and_label_rows():
    records = [RequestRecord("mm", float(t), 1.0, 200, "cpu", "500" if t < 5 else "2000") for t in range(10)]
    assert phases(records) == [(0.0, "500"), (5.0, "2000")]
    assert phases(records[:3]) == []  # one size: nothing to mark
    # Three switches within a few seconds of a 100 s run go on three rows; a later one back on the first.
    assert label_rows([10, 12, 15, 60], 100) == [0, 1, 2, 0]


def test_timeline_plot_is_a_png(tmp_path):
    decisions = [Decision(30, "idle", "cpu", "gpu", "cpu-violates-slo"), Decision(33, "idle", "gpu", "cpu", "gpu-does-not-help")]
    path = plot_timeline(_records(), decisions, {"idle": "cpu", "mm": "cpu"}, {"idle": 1000}, 100, tmp_path / "t.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000
