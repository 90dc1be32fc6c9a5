"""The replay's simulator: queues, platforms and billing, cold starts, failures, the controller's lagged view,
and `gaia replay --pair/--pairs` (virtual time: milliseconds each)."""

from __future__ import annotations

import json
import random
import subprocess
import sys

import pytest

from gaia_faas.gateway_plugin import policy, replay, simulator, snapshot, stats, traces
from gaia_faas.gateway_plugin.controller_config import ControllerConfig

CPU, GPU = policy.CPU, policy.GPU
PRICES = {CPU: 1.0, GPU: 10.0}
HEADER = "workload,mode,seq,timestamp,param,latency_ms"


def workload(sends, cpu_ms, gpu_ms=None, cold=None, warm=True, cpu_error=None, gpu_error=None) -> traces.Workload:
    n = len(sends)
    gpu_ms = gpu_ms if gpu_ms is not None else cpu_ms
    as_list = lambda v: v if isinstance(v, list) else [v] * n  # noqa: E731
    requests = tuple(traces.Request(cpu_ms=c, gpu_ms=g, send_s=s, cpu_error=ce, gpu_error=ge)
                     for s, c, g, ce, ge in zip(sends, as_list(cpu_ms), as_list(gpu_ms), as_list(cpu_error),
                                                as_list(gpu_error)))
    return traces.Workload("w", "test", requests, closed_loop=False, annotations={"com.gaia.slo-ms": "1000"},
                           cold_start_s=cold or {CPU: 0.0, GPU: 0.0}, warm_start=warm)


def simulate(load, platform, start=CPU, deployed=(CPU,), script=None, interval_s=1.0):
    sim = simulator.Simulation(load, "test", start, platform, frozenset(deployed), PRICES, 1000.0)
    return sim, sim.run(script, interval_s, interval_s)


def latencies(result) -> list[float]:
    return [round(s.latency_ms, 3) for s in sorted(result.served, key=lambda s: (s.send_s, s.done_s))]


# --- queueing ------------------------------------------------------------------------------------------

def test_a_spike_beyond_the_slots_queues_fifo_and_latency_is_wait_plus_service():
    two_slots = simulator.platform(simulator.CE, concurrency={CPU: 2})
    _, result = simulate(workload([0.0, 0.0, 0.0, 0.0, 0.5], 1000.0), two_slots)
    # two at once, the next two after 1 s, the fifth (sent at 0.5 s) after 2 s of service: 3 s - 0.5 s waited
    assert latencies(result) == [1000.0, 1000.0, 2000.0, 2000.0, 2500.0]
    replicas = simulator.platform(simulator.CE, concurrency={CPU: 2}, replicas=2)
    _, result = simulate(workload([0.0] * 5, 1000.0), replicas)
    assert latencies(result) == [1000.0] * 4 + [2000.0]
    assert result.seconds_on(CPU) == pytest.approx(2 * 2.0)  # two replicas billed for the 2 s run


def test_the_default_slots_are_the_templates_workers_times_threads():
    assert simulator.DEFAULT_CONCURRENCY == {CPU: 2 * 4, GPU: 1 * 4}
    _, result = simulate(workload([0.0] * 9, 1000.0), simulator.platform(simulator.PRO))
    assert latencies(result) == [1000.0] * 8 + [2000.0]


def test_a_request_waiting_past_the_timeout_fails_at_the_timeout():
    one_slot = simulator.platform(simulator.CE, concurrency={CPU: 1}, timeout_s=1.5)
    _, result = simulate(workload([0.0, 0.0, 0.0], 1000.0), one_slot)
    # the second starts at 1 s and would answer at 2 s: cut at 1.5 s; the third never got a slot
    assert latencies(result) == [1000.0, 1500.0, 1500.0]
    assert [s.failure for s in result.served] == [None, "timeout", "timeout"]


# --- platforms and billing -------------------------------------------------------------------------------

def scripted_switch(switch_at=10.0, release_at=20.0):
    """Switch to the GPU at 10 s (once it answers), ask to release the CPU at 20 s."""
    done = set()

    def tick(sim):
        if sim.now >= switch_at and "switch" not in done:
            done.add("switch")
            sim.at(sim.scale_up(GPU), lambda s: s.switch(GPU, "scripted"))
        if sim.now >= release_at and "release" not in done:
            done.add("release")
            sim.release(CPU)

    return tick


def steady(seconds=300):
    return workload([float(t) for t in range(seconds)], 200.0, 100.0, cold={CPU: 2.0, GPU: 8.0})


def test_ce_bills_both_variants_for_the_whole_run_and_ignores_releases():
    _, result = simulate(steady(), simulator.platform(simulator.CE), deployed=(CPU, GPU), script=scripted_switch())
    end = max(s.done_s for s in result.served)
    assert sorted(result.provisioned) == [(CPU, 0.0, end), (GPU, 0.0, end)]
    assert result.switches[0][0] == pytest.approx(10.0)  # the GPU runs already: no warm-up wait
    assert result.cost == pytest.approx(end * (PRICES[CPU] + PRICES[GPU]))
    _, alone = simulate(steady(), simulator.platform(simulator.CE))
    assert alone.provisioned == [(CPU, 0.0, max(s.done_s for s in alone.served))]  # a static choice is a deployment of that variant alone


def test_pro_releases_at_once_and_the_gpu_is_billed_from_its_scale_up():
    _, result = simulate(steady(), simulator.platform(simulator.PRO), deployed=(CPU, GPU), script=scripted_switch())
    end = max(s.done_s for s in result.served)
    assert result.switches[0][0] == pytest.approx(18.0)  # asked at 10 s, 8 s cold start
    assert sorted(result.provisioned) == [(CPU, 0.0, 20.0), (GPU, 10.0, end)]


def test_knative_ignores_releases_and_scales_away_after_the_stable_window_and_grace():
    _, result = simulate(steady(), simulator.platform(simulator.KNATIVE), deployed=(CPU, GPU),
                         script=scripted_switch())
    last_on_cpu = max(s.done_s for s in result.served if s.variant == CPU)
    cpu = [p for p in result.provisioned if p[0] == CPU]
    assert cpu == [(CPU, 0.0, pytest.approx(last_on_cpu + 60.0 + 30.0))]


def test_ce_scales_out_as_its_alertmanager_rule_does_and_back_once_resolved():
    # 12 req/s for 2 minutes, then 1 req/s; 4 slots per replica of 0.5 s: one replica answers 8 req/s (> 5)
    sends = [i / 12 for i in range(12 * 120)] + [120.0 + i for i in range(80)]
    load = workload(sends, 500.0, cold={CPU: 2.0, GPU: 0.0})
    _, result = simulate(load, simulator.platform(simulator.CE, concurrency={CPU: 4}))
    # pending at the 15 s evaluation, firing at 30 s, notified 5 s later: 2 replicas; 30 s later 2 more
    # (CE's cap of 5); the 135 s evaluation sees 1 req/s and the resolve comes 10 s later
    assert result.added == [(CPU, 35.0, 145.0), (CPU, 35.0, 145.0), (CPU, 65.0, 145.0), (CPU, 65.0, 145.0)]
    late = [s.latency_ms for s in result.served if 60.0 <= s.send_s < 120.0]
    assert max(late) == pytest.approx(500.0)  # the queue was gone once the added replicas answered
    end = max(s.done_s for s in result.served)
    assert result.seconds_on(CPU) == pytest.approx(end + 2 * 110.0 + 2 * 80.0)  # every added replica billed
    _, capped = simulate(load, simulator.platform(simulator.CE, concurrency={CPU: 4}, ce_max_replicas=1))
    assert capped.added == [] and max(s.latency_ms for s in capped.served) > 10_000.0
    _, pro = simulate(load, simulator.platform(simulator.PRO, concurrency={CPU: 4}))
    assert pro.added == []


def test_cold_start_on_the_way_back_after_scale_to_zero():
    load = workload([0.0, 1000.0], 500.0, cold={CPU: 5.0, GPU: 0.0})
    for name, idle in ((simulator.PRO, 900.0), (simulator.KNATIVE, 90.0)):
        _, result = simulate(load, simulator.platform(name))
        assert latencies(result) == [500.0, 5500.0], name
        assert result.provisioned == [(CPU, 0.0, pytest.approx(0.5 + idle)), (CPU, 1000.0, pytest.approx(1005.5))]
    _, result = simulate(load, simulator.platform(simulator.CE))
    assert latencies(result) == [500.0, 500.0] and result.provisioned == [(CPU, 0.0, 1000.5)]
    _, result = simulate(load, simulator.platform(simulator.PRO, scale_to_zero_after_s=2000.0))
    assert latencies(result) == [500.0, 500.0]
    for name in (simulator.PRO, simulator.KNATIVE):  # as gaia stack deploys the CPU variant
        _, result = simulate(load, simulator.platform(name, always_on={CPU}))
        assert latencies(result) == [500.0, 500.0] and result.provisioned == [(CPU, 0.0, 1000.5)]
    retained = simulator.platform(simulator.KNATIVE, scale_to_zero_after_s={GPU: 2000.0})  # a GPU retention period
    assert latencies(simulate(load, retained, start=GPU, deployed=(GPU,))[1]) == [500.0, 500.0]
    assert latencies(simulate(load, retained)[1]) == [500.0, 5500.0]  # the CPU keeps knative's 90 s


def test_a_cold_run_makes_its_first_requests_wait_for_the_start():
    load = workload([0.0, 1.0, 10.0], 100.0, cold={CPU: 3.0, GPU: 0.0}, warm=False)
    _, result = simulate(load, simulator.platform(simulator.PRO))
    assert latencies(result) == [3100.0, 2100.0, 100.0]


def test_gaia_on_pro_costs_less_than_on_ce_with_the_same_switch():
    load = workload([float(t) for t in range(600)], 1500.0, 200.0, cold={CPU: 2.0, GPU: 8.0})
    config = ControllerConfig.from_annotations({"com.gaia.slo-ms": "1000"})
    by_platform = {name: replay.replay(load, "gaia", config, simulator.platform(name)) for name in simulator.PLATFORMS}
    assert all(r.switches and r.switches[0][2] == GPU for r in by_platform.values())
    assert by_platform["ce"].seconds_on(CPU) == pytest.approx(max(s.done_s for s in by_platform["ce"].served))
    assert by_platform["pro"].cost < by_platform["knative"].cost < by_platform["ce"].cost


# --- failures ------------------------------------------------------------------------------------------

def test_failure_modes_5xx_refused_timeout():
    def run(failure, deployed=(GPU,), start=GPU, ms=None):
        load = workload([0.0, 0.1], 300.0, [ms, 50.0], gpu_error=[failure, None])
        return simulate(load, simulator.platform(simulator.CE, concurrency={GPU: 1}, timeout_s=30.0),
                        start=start, deployed=deployed)[1]

    fast = run("5xx")
    assert latencies(fast) == [simulator.FAST_FAILURE_MS, 50.0]  # answered before the next came
    assert latencies(run("5xx", ms=20.0))[0] == 20.0  # a failure that shows its latency keeps it
    refused = run("refused")
    assert latencies(refused)[0] == simulator.REFUSED_MS and refused.served[0].failure == "refused"
    failed_over = run("refused", deployed=(CPU, GPU))
    first = min(failed_over.served, key=lambda s: s.send_s)
    assert first.variant == CPU and first.failure is None and first.latency_ms == 300.0  # as the proxy retries
    hung = run("timeout")
    # it holds the only slot for the 30 s timeout; the next request waits behind it
    assert latencies(hung) == [30000.0, pytest.approx(30000.0 - 100.0 + 50.0)]
    summary = hung.summary()
    assert summary["failed"] == 1 and summary["slo_violation_pct"] == 100.0  # failed ones are violations too
    assert summary["mean_ms"] == pytest.approx(29950.0, abs=0.01)  # latencies are of answered requests


def test_the_controller_sees_failures_as_errors_in_their_second():
    load = workload([0.0, 0.2, 2.5], 100.0, 100.0, gpu_error=["5xx", "refused", None])
    sim, _ = simulate(load, simulator.platform(simulator.CE), start=GPU, deployed=(CPU, GPU))
    gpu = sim.series[GPU].window(0, 10)
    assert gpu.errors == 2 and gpu.platform_faults == 1 and gpu.status_counts == {500: 1, 0: 1, 200: 1}
    assert sim.series[CPU].window(0, 10).status_counts == {200: 1}  # the refused one, retried there


# --- the controller's view -------------------------------------------------------------------------------

def test_the_controller_does_not_see_a_request_before_its_second_is_readable():
    load = workload([3.0, 10.0], 500.0)  # the first answered at 3.5 s, recorded in second 3
    config = ControllerConfig.from_annotations({"com.gaia.slo-ms": "1000"})
    seen = []

    def look(sim):
        strategy = replay.GaiaStrategy(config)  # no fresh_from_s: the whole horizon every time
        seen.append((round(sim.now, 1), strategy.snapshot(sim).window(CPU).count))

    simulate(load, simulator.platform(simulator.CE), deployed=(CPU, GPU), script=look, interval_s=0.1)
    first = next(t for t, count in seen if count)
    assert first == 4.3  # second 3 is readable once 4 s + the 0.3 s flush lag have passed
    assert all(count == 0 for t, count in seen if t < 4.3)


# --- traces ----------------------------------------------------------------------------------------------

def write_pair(folder, name, rows_cpu, rows_gpu, sidecar=None, error_column=False):
    """rows: (seq, completion seconds after 10:00:00, latency_ms[, error])."""
    folder.mkdir(parents=True, exist_ok=True)
    for variant, rows in (("cpu", rows_cpu), ("gpu", rows_gpu)):
        lines = [HEADER + (",error" if error_column else "")]
        for seq, done, latency, *error in rows:
            line = f"{name},{variant},{seq},2026-01-01T10:{int(done // 60):02d}:{done % 60:09.6f},,{latency}"
            lines.append(line + (f",{error[0] if error else ''}" if error_column else ""))
        (folder / f"{name}-{variant}.csv").write_text("\n".join(lines) + "\n")
    if sidecar is not None:
        (folder / f"{name}.json").write_text(json.dumps(sidecar))
    return folder / f"{name}-cpu.csv", folder / f"{name}-gpu.csv"


def test_pairs_with_failed_rows_load_send_times_from_the_row_that_answered(tmp_path):
    cpu, gpu = write_pair(tmp_path, "p", [(0, 1.0, 1000), (1, 5.0, -1), (2, 9.0, -1), (3, 12.0, 500, "timeout")],
                          [(0, 0.5, 500), (1, 4.5, 500), (2, 9.0, -1, "refused"), (3, 11.0, 100)],
                          sidecar={"warm_start": True, "failure": "timeout"}, error_column=True)
    load = traces.load_pair(cpu, gpu)
    assert [r.send_s for r in load.requests] == [0.0, 4.0, 9.0, 11.5]
    assert [(r.cpu_error, r.gpu_error) for r in load.requests] == [(None, None), ("timeout", None),
                                                                   ("timeout", "refused"), ("timeout", None)]
    assert [r.cpu_ms for r in load.requests] == [1000.0, None, None, 500.0]
    assert traces.load_pair(cpu, gpu, failure="5xx").requests[1].cpu_error == "5xx"
    assert load.warm_start and load.cold_start_s == traces.SYNTHETIC_COLD_START_S


def test_a_failed_cpu_row_of_two_separate_runs_takes_its_send_time_on_the_cpu_runs_clock(tmp_path):
    # the GPU run happened 30 minutes earlier (the thesis measured each variant in a run of its own)
    cpu, gpu = write_pair(tmp_path, "r", [(0, 1801.0, 1000), (1, 1805.0, -1), (2, 1810.0, 1000), (3, 1810.3, -1)],
                          [(0, 0.2, 200), (1, 0.9, 300), (2, 1.5, 200), (3, 3.0, 100)], sidecar={"warm_start": True})
    # seq 1: 0.6 s after seq 0 as in the GPU run; seq 3: 1.6 s after seq 2 as in the GPU run would be 10.6 s,
    # but the CPU run logged its failure at 10.3 s
    assert [r.send_s for r in traces.load_pair(cpu, gpu).requests] == [0.0, pytest.approx(0.6), 9.0, pytest.approx(10.3)]


def test_sidecars_as_gpu_check_writes_them_and_traces_of_send_times(tmp_path):
    rows = [(0, 10.0, 100), (1, 12.0, 1100), (2, 14.0, 100)]
    side = {"description": "measured", "timestamps": "completion", "warm_start": True,
            "annotations": {"com.gaia.slo-ms": "800", "com.gaia.mode": "cpu_preferred", "com.gaia.gpu-idle": "15m"}}
    cpu, gpu = write_pair(tmp_path / "completion", "m-h200", rows, rows, sidecar=side)
    load = traces.load_pair(cpu, gpu)
    assert load.name == "m-h200" and load.description == "measured" and load.annotations["com.gaia.slo-ms"] == "800"
    assert [r.send_s for r in load.requests] == [0.0, pytest.approx(1.0), 4.0]  # completion minus latency
    assert replay.workload_config(load, {}).slo_ms == 800.0
    cpu, gpu = write_pair(tmp_path / "send", "m", rows, rows, sidecar={**side, "timestamps": "send"})
    assert [r.send_s for r in traces.load_pair(cpu, gpu).requests] == [0.0, 2.0, 4.0]  # not shifted by the latency
    first = traces.load_pair(cpu, gpu).requests[0]
    assert (first.cpu_ms, first.gpu_ms) == (100.0, 100.0)


def test_cold_start_from_the_sidecar_the_option_or_the_trace(tmp_path):
    rows = [(i, 10.0 + 2 * i, 4000 if i == 0 else 100) for i in range(8)]
    cpu, gpu = write_pair(tmp_path, "c", rows, rows, sidecar={"cold_start_s": {"gpu": 75.0}})
    load = traces.load_pair(cpu, gpu)
    assert load.cold_start_s == {"cpu": pytest.approx(3.9), "gpu": 75.0}  # cpu: its first row over the warm ones
    assert load.requests[0].cpu_ms == 100.0 and load.requests[0].gpu_ms == 4000.0
    assert traces.load_pair(cpu, gpu, cold_start_s={"gpu": 5.0}).cold_start_s["gpu"] == 5.0


@pytest.mark.parametrize(("sidecar", "message"), [
    ({"slo": 1}, "unknown key(s) slo; known: annotations, cold_start_s"),
    ({"cold_start_s": {"tpu": 1}}, "'cold_start_s' must be"),
    ({"failure": "crash"}, "'failure' must be one of 5xx, refused, timeout"),
    ({"warm_start": "yes"}, "'warm_start' must be true or false"),
])
def test_sidecars_are_strict_and_named(tmp_path, sidecar, message):
    cpu, gpu = write_pair(tmp_path, "s", [(0, 1.0, 10)], [(0, 1.0, 10)], sidecar=sidecar)
    with pytest.raises(traces.TraceError, match="s.json: ") as caught:
        traces.load_pair(cpu, gpu)
    assert message in str(caught.value)


def test_unpaired_seqs_and_bad_error_values_are_named(tmp_path):
    cpu, gpu = write_pair(tmp_path, "u", [(0, 1.0, 10), (1, 2.0, 10)], [(0, 1.0, 10)])
    with pytest.raises(traces.TraceError, match="seq 1 is only in u-cpu.csv"):
        traces.load_pair(cpu, gpu)
    cpu, gpu = write_pair(tmp_path, "e", [(0, 1.0, 10, "oom")], [(0, 1.0, 10)], error_column=True)
    with pytest.raises(traces.TraceError, match=r"e-cpu.csv:2: error 'oom' is not one of"):
        traces.load_pair(cpu, gpu)


# --- the CLI ---------------------------------------------------------------------------------------------

def gaia(*args, rc=0):
    proc = subprocess.run([sys.executable, "-m", "gaia_faas.cli", "replay", "--quiet", *args],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == rc, proc.stderr
    return proc


def slow_cpu_pair(folder, name):
    rows_cpu = [(i, 2.0 * i + 1.5, 1500) for i in range(150)]
    rows_gpu = [(i, 2.0 * i + 0.2, 200 if i < 100 else -1) for i in range(150)]
    return write_pair(folder, name, rows_cpu, rows_gpu, sidecar={
        "description": "slow CPU, GPU failing after 200 s", "warm_start": True,
        "annotations": {"com.gaia.slo-ms": "1000"}, "cold_start_s": {"cpu": 1.0, "gpu": 5.0}})


def test_cli_pair_and_pairs_with_platforms_and_failures(tmp_path):
    cpu, gpu = slow_cpu_pair(tmp_path / "a", "slow-cpu")
    slow_cpu_pair(tmp_path / "b", "one")
    slow_cpu_pair(tmp_path / "b", "two")
    by_platform = {}
    for name in simulator.PLATFORMS:
        data = json.loads(gaia("--pair", str(cpu), str(gpu), "--platform", name, "--json").stdout)
        assert list(data) == ["slow-cpu"] and list(data["slow-cpu"]) == list(replay.STRATEGIES)
        by_platform[name] = data["slow-cpu"]
    static_gpu = by_platform["pro"]["static-gpu"]
    assert static_gpu["failed"] == 50 and static_gpu["slo_ms"] == 1000.0 and static_gpu["slo_percentile"] == 95.0
    assert by_platform["ce"]["gaia"]["cost"] > by_platform["pro"]["gaia"]["cost"]
    refused = json.loads(gaia("--pair", str(cpu), str(gpu), "--failure", "refused", "--json",
                              "--strategy", "static-gpu", "--strategy", "prototype").stdout)["slow-cpu"]
    assert refused["static-gpu"]["failed"] == 50 and refused["prototype"]["failed"] == 0  # retried on the CPU
    both = json.loads(gaia("--pairs", str(tmp_path / "b"), "--json", "--strategy", "gaia").stdout)
    assert list(both) == ["one", "two"]
    table = gaia("--pairs", str(tmp_path / "b"), "--platform", "knative", "--strategy", "gaia").stdout
    assert table.startswith("platform: knative\n") and "\none " in table and "\ntwo " in table


@pytest.mark.parametrize(("setup", "args", "message"), [
    (lambda d: (d / "x-cpu.csv").write_text(HEADER + "\n"), ["--pairs", "{d}"], "x-cpu.csv has no x-gpu.csv beside it"),
    (lambda d: None, ["--pairs", "{d}/none"], "pair folder not found"),
    (lambda d: None, ["--pairs", "{d}"], "no NAME-cpu.csv / NAME-gpu.csv pairs in"),
    (lambda d: None, ["--pair", "{d}/a-cpu.csv", "{d}/a-gpu.csv"], "trace file not found"),
])
def test_cli_pair_errors_are_one_line(tmp_path, setup, args, message):
    setup(tmp_path)
    proc = gaia(*[a.format(d=tmp_path) for a in args], rc=2)
    [line] = proc.stderr.strip().splitlines()
    assert message in line and line.startswith("gaia replay: ")


def test_bucket_windows_visit_only_recorded_seconds_and_equal_a_second_by_second_merge():
    rng = random.Random(7)
    series = snapshot.BucketSeries()
    for _ in range(400):  # mostly in order, as a replay records; some out of order, as fetched buckets come
        second = rng.randrange(0, 300) if rng.random() < 0.1 else len(series.buckets) * 2
        series.record(second, rng.lognormvariate(5, 1), rng.choice((200, 200, 500, 0)), platform_fault=rng.random() < 0.1)
    fetched = snapshot.BucketSeries(dict(series.buckets))  # how the live controller builds one
    for start, end in [(0, 10), (5, 700), (-3, 2), (100, 100), (250, 900), (0, 10_000)]:
        by_second = stats.BucketAggregate()
        for second in range(start, end):
            if second in series.buckets:
                by_second.add(series.buckets[second])
        assert series.window(start, end) == by_second == fetched.window(start, end)
        present = [second for second in range(start, end) if second in series.buckets]
        assert series.seconds_in(start, end) == fetched.seconds_in(start, end) == present


def test_cli_model_options_reach_the_simulation(tmp_path):
    # ten requests at once, one more after 20 minutes; 1 s on the CPU
    rows = [(i, 1.0, 1000) for i in range(10)] + [(10, 1201.0, 1000)]
    cpu, gpu = write_pair(tmp_path, "opts", rows, rows, sidecar={"warm_start": True, "cold_start_s": {"cpu": 4.0}})

    def static_cpu(*options):
        out = gaia("--pair", str(cpu), str(gpu), "--strategy", "static-cpu", "--json", *options).stdout
        return json.loads(out)["opts"]["static-cpu"]

    # 8 slots: two wait 1 s; the last comes after pro's 900 s of idleness and pays the 4 s start
    assert static_cpu()["mean_ms"] == pytest.approx((8 * 1000 + 2 * 2000 + 5000) / 11, abs=0.1)
    assert static_cpu("--concurrency", "cpu=5")["mean_ms"] == pytest.approx((5 * 1000 + 5 * 2000 + 5000) / 11, abs=0.1)
    assert static_cpu("--concurrency", "cpu=5", "--replicas", "2")["mean_ms"] == pytest.approx(15000 / 11, abs=0.1)
    assert static_cpu("--concurrency", "cpu=5", "--timeout", "1.5")["failed"] == 6
    assert static_cpu("--scale-to-zero-after", "gpu=10")["mean_ms"] == static_cpu()["mean_ms"]
    kept = static_cpu("--scale-to-zero-after", "2000")
    assert static_cpu("--scale-to-zero-after", "cpu=2000") == kept
    assert kept["mean_ms"] == pytest.approx((8 * 1000 + 2 * 2000 + 1000) / 11, abs=0.1)
    assert static_cpu("--always-on", "cpu") == kept
    assert static_cpu("--cold-start", "cpu=1")["mean_ms"] == pytest.approx((8 * 1000 + 2 * 2000 + 2000) / 11, abs=0.1)
