"""The routing policy, driven with synthetic snapshots: one test (or more) per behaviour of issue 5."""

from __future__ import annotations

import pytest

from gaia_faas.gateway_plugin import policy
from gaia_faas.gateway_plugin.controller_config import ControllerConfig
from gaia_faas.gateway_plugin.policy import CPU, GPU, HOLD, SCALE_DOWN, SWITCH, PolicyState, Snapshot, VariantWindow

BOTH = frozenset({CPU, GPU})


def config(**overrides) -> ControllerConfig:
    values = {"slo_ms": 1000.0}
    values.update(overrides)
    return ControllerConfig(**values)


def window(cfg: ControllerConfig, latencies: list[float], span: float = 1.0) -> VariantWindow:
    return VariantWindow.of(latencies, span, cfg)


def snap(cfg, route, cpu=(), gpu=(), fresh_cpu=None, fresh_gpu=None, pinned=False, variants=BOTH) -> Snapshot:
    """Windows from latency lists; by default the fresh requests are the whole window."""
    return Snapshot(
        route=route, variants=variants, pinned=pinned,
        windows={CPU: window(cfg, list(cpu), 10.0), GPU: window(cfg, list(gpu), 10.0)},
        fresh={CPU: window(cfg, list(cpu if fresh_cpu is None else fresh_cpu)),
               GPU: window(cfg, list(gpu if fresh_gpu is None else fresh_gpu))})


class Driver:
    """Feeds snapshots to the policy and acts on switches the way the actuator does (target ready at once)."""

    def __init__(self, cfg: ControllerConfig, route: str = CPU):
        self.cfg = cfg
        self.state = PolicyState()
        self.route = route
        self.decisions: list[tuple[float, policy.Decision]] = []

    def step(self, now: float, cpu=(), gpu=(), **kwargs) -> policy.Decision:
        snapshot = snap(self.cfg, self.route, cpu, gpu, **kwargs)
        decision, self.state = policy.decide(snapshot, self.cfg, self.state, now)
        self.decisions.append((now, decision))
        if decision.action == SWITCH:
            self.state = policy.switched(self.state, decision, snapshot, now)
            self.route = decision.target
        return decision

    def switches(self) -> list[tuple[float, policy.Decision]]:
        return [(t, d) for t, d in self.decisions if d.action == SWITCH]


def promote(driver: Driver, start: float = 0.0, level: float = 2000.0) -> float:
    """Drive a CPU violation until the policy promotes; return the time of the promotion."""
    now = start
    for _ in range(20):
        decision = driver.step(now, cpu=[level])
        if decision.action == SWITCH:
            return now
        now += 1.0
    raise AssertionError(f"no promotion: {driver.decisions[-1][1]}")


# --- what never migrates ----------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["cpu", "gpu"])
def test_fixed_modes_never_migrate(mode):
    cfg = config(mode=mode)
    driver = Driver(cfg)
    for now in range(30):
        assert driver.step(float(now), cpu=[5000.0] * 5).action == HOLD
    assert driver.decisions[-1][1].reason == f"mode-{mode}-never-migrates"


def test_single_variant_and_missing_slo_hold():
    driver = Driver(config())
    decision, _ = policy.decide(snap(driver.cfg, CPU, cpu=[5000] * 9, variants=frozenset({CPU})), driver.cfg,
                                PolicyState(), 10.0)
    assert (decision.action, decision.reason) == (HOLD, "single-variant")
    no_slo = ControllerConfig()
    decision, _ = policy.decide(snap(no_slo, CPU, cpu=[5000] * 9), no_slo, PolicyState(), 10.0)
    assert (decision.action, decision.reason) == (HOLD, "no-slo")


def test_pin_overrides_the_policy_until_unpinned():
    driver = Driver(config())
    for now in range(10):
        assert driver.step(float(now), cpu=[3000.0] * 3, pinned=True).reason == "pinned"
    assert driver.state.violation_since is None  # a pinned stretch does not count towards a promotion
    assert promote(driver, start=10.0) >= 12.0  # unpinned: the violation must be sustained afresh


# --- cpu_preferred: promotion ----------------------------------------------------------------------

def test_starts_on_the_variant_its_mode_leans_to():
    assert policy.start_variant(config(mode="cpu_preferred"), BOTH) == CPU
    assert policy.start_variant(config(mode="gpu_preferred"), BOTH) == GPU
    assert policy.start_variant(config(mode="gpu_preferred"), frozenset({CPU})) == CPU


def test_one_slow_request_is_not_a_trend():
    driver = Driver(config())
    driver.step(0.0, cpu=[5000.0])
    for now in range(1, 20):  # the slow one stays in the window; no new slow requests arrive
        decision = driver.step(float(now), cpu=[5000.0] + [100.0] * 5, fresh_cpu=[100.0])
        assert decision.action == HOLD
    assert decision.reason == "cpu-violates-slo-not-sustained"


def test_promotion_needs_the_minimum_time():
    cfg = config(sustain_s=5.0, min_samples=3)
    driver = Driver(cfg)
    driver.step(0.0, cpu=[3000.0] * 10)  # ten slow requests at once: enough requests, not enough time
    for now in (1.0, 2.0, 3.0, 4.0):
        assert driver.step(now, cpu=[3000.0], fresh_cpu=[3000.0]).action == HOLD
    decision = driver.step(5.0, cpu=[3000.0], fresh_cpu=[3000.0])
    assert (decision.action, decision.target, decision.reason) == (SWITCH, GPU, "cpu-violates-slo")
    assert decision.numbers["violation_s"] == 5.0 and decision.numbers["cpu_p_ms"] == 3000.0


def test_promotion_needs_the_minimum_number_of_slow_requests():
    cfg = config(sustain_s=2.0, min_samples=4)
    driver = Driver(cfg)
    driver.step(0.0, cpu=[3000.0])
    for now in range(1, 30):  # a long stretch, but no further slow request completes
        assert driver.step(float(now), cpu=[3000.0], fresh_cpu=[]).action == HOLD
    for now in (30.0, 31.0):
        assert driver.step(now, cpu=[3000.0], fresh_cpu=[3000.0]).action == HOLD
    assert driver.step(32.0, cpu=[3000.0], fresh_cpu=[3000.0]).action == SWITCH  # the 4th slow request


def test_an_empty_window_neither_starts_nor_ends_a_violation():
    driver = Driver(config(sustain_s=2.0, min_samples=3))
    driver.step(0.0, cpu=[16000.0])  # slow function: a request every 16 s
    for now in range(1, 16):
        assert driver.step(float(now)).action == HOLD
    assert driver.state.violation_since == 0.0
    driver.step(16.0, cpu=[16000.0])
    assert driver.step(32.0, cpu=[16000.0]).action == SWITCH


def test_a_violation_that_ends_starts_over():
    driver = Driver(config(sustain_s=2.0, min_samples=3))
    driver.step(0.0, cpu=[3000.0, 3000.0])
    driver.step(1.0, cpu=[100.0] * 40, fresh_cpu=[100.0] * 40)  # meets the SLO again
    assert driver.state.violation_since is None
    assert driver.step(2.0, cpu=[3000.0], fresh_cpu=[3000.0]).action == HOLD


# --- verification, back-off, retry ------------------------------------------------------------------

def test_a_gpu_that_helps_is_verified_then_the_cpu_is_released():
    cfg = config(verify_s=2.0, verify_samples=2, scale_down_after_s=5.0)
    driver = Driver(cfg)
    t = promote(driver, level=2000.0)
    assert driver.state.previous_level_ms == 2000.0
    assert driver.step(t + 1, gpu=[400.0, 400.0]).reason == "verifying-gpu"  # too early
    first = driver.step(t + 2, gpu=[400.0, 400.0])
    assert (first.action, first.reason) == (HOLD, "gpu-on-probation")
    decisions = [driver.step(t + 2 + i, gpu=[400.0] * 3) for i in range(1, 6)]
    assert [d.action for d in decisions[:-1]] == [HOLD] * 4
    assert (decisions[-1].action, decisions[-1].target, decisions[-1].reason) == (SCALE_DOWN, CPU, "gpu-verified")
    assert not driver.state.verifying and driver.state.standby_released
    for i in range(100):  # the GPU keeps serving while the CPU would miss the SLO
        assert driver.step(t + 10 + i, gpu=[400.0] * 3).action == HOLD


def test_a_gpu_that_does_not_help_is_left_at_once_and_released():
    cfg = config(gpu_margin=0.2)
    driver = Driver(cfg)
    t = promote(driver, level=2000.0)
    decision = driver.step(t + 2, gpu=[1700.0, 1700.0])  # 15% better: below the 20% margin
    assert (decision.action, decision.target, decision.release, decision.reason) == (SWITCH, CPU, GPU, "gpu-does-not-help")
    assert decision.numbers["bar_ms"] == 1600.0 and decision.numbers["backoff_s"] == cfg.backoff_s
    assert driver.state.gpu_failed_at_level_ms == 2000.0 and driver.state.retry_after == t + 2 + cfg.backoff_s


def test_a_gpu_that_gets_worse_during_probation_is_left():
    driver = Driver(config(scale_down_after_s=5.0))
    t = promote(driver, level=2000.0)
    assert driver.step(t + 2, gpu=[500.0, 500.0]).reason == "gpu-on-probation"
    decision = driver.step(t + 4, gpu=[500.0, 1900.0, 1900.0, 1900.0])
    assert (decision.action, decision.reason) == (SWITCH, "gpu-does-not-help")


def _fail_once(driver: Driver, start: float) -> float:
    t = promote(driver, start=start, level=2000.0)
    assert driver.step(t + 2, gpu=[2000.0, 2000.0]).reason == "gpu-does-not-help"
    driver.step(t + 4, cpu=[2000.0, 2000.0])  # back on the CPU, which is judged as the known baseline
    return t + 2


def test_gpu_known_not_to_help_waits_for_an_exponential_back_off():
    cfg = config(backoff_s=600.0, backoff_max_s=7200.0, scale_down_after_s=0.0)
    driver = Driver(cfg)
    failed_at = _fail_once(driver, 0.0)
    for now in range(int(failed_at) + 10, int(failed_at) + 600, 7):
        decision = driver.step(float(now), cpu=[2000.0] * 3)
        assert decision.action == HOLD
    assert decision.reason == "gpu-known-not-to-help" and decision.numbers["retry_in_s"] > 0
    second = _fail_once(driver, failed_at + 600)
    assert driver.state.gpu_failures == 2
    assert driver.state.retry_after == pytest.approx(second + 1200.0)


def test_retry_sooner_when_the_cpu_grew_well_beyond_the_tried_level():
    cfg = config(retry_growth=1.5, window_s=10.0, scale_down_after_s=0.0)
    driver = Driver(cfg)
    failed_at = _fail_once(driver, 0.0)
    start = failed_at + 10
    switched_at = None
    for i in range(60):
        if driver.step(start + i, cpu=[3500.0] * 3).action == SWITCH:
            switched_at = start + i
            break
    assert switched_at is not None and switched_at < failed_at + cfg.backoff_s
    assert switched_at >= start + cfg.window_s  # grown for a whole window, not one noisy one
    assert driver.decisions[-2][1].reason == "gpu-known-not-to-help"


def test_a_noisy_window_above_the_tried_level_is_no_reason_to_retry():
    cfg = config(retry_growth=1.5, window_s=10.0, scale_down_after_s=0.0)
    driver = Driver(cfg)
    failed_at = _fail_once(driver, 0.0)
    for i in range(300):  # every other window jumps up, never for a whole window
        level = 4000.0 if i % 2 else 2000.0
        assert driver.step(failed_at + 10 + i, cpu=[level] * 3).action == HOLD


# --- gpu_preferred -----------------------------------------------------------------------------------

def test_gpu_preferred_demotes_when_the_cpu_is_known_to_meet_the_slo_at_this_rate():
    cfg = config(mode="gpu_preferred", cpu_headroom=0.2, cooldown_s=0.0, scale_down_after_s=0.0)
    driver = Driver(cfg, route=CPU)
    # Learn: the CPU met the SLO with headroom at 1 req/s (10 requests in the 10 s window).
    driver.step(0.0, cpu=[500.0] * 10)
    assert driver.state.cpu_ok_rate == pytest.approx(1.0)
    driver.route = GPU
    assert driver.step(1.0, gpu=[100.0] * 30).action == HOLD  # 3 req/s: more than the CPU was seen at
    decision = driver.step(2.0, gpu=[100.0] * 8)  # 0.8 req/s
    assert (decision.action, decision.target, decision.reason) == (SWITCH, CPU, "cpu-meets-slo-at-this-rate")
    assert decision.release is None  # the GPU stays up until the CPU has proven itself


def test_gpu_preferred_promotes_back_when_the_cpu_misses_after_a_demotion():
    cfg = config(mode="gpu_preferred", cooldown_s=0.0)
    driver = Driver(cfg, route=GPU)
    decision = driver.step(0.0, gpu=[100.0])  # unknown CPU, 0.1 req/s: try it
    assert (decision.action, decision.target, decision.reason) == (SWITCH, CPU, "low-rate-try-cpu")
    decision = driver.step(3.0, cpu=[1500.0, 1500.0])
    assert (decision.action, decision.target, decision.release, decision.reason) == (
        SWITCH, GPU, CPU, "cpu-misses-slo-after-demotion")
    assert driver.state.cpu_bad_rate == pytest.approx(0.2)
    # Known bad at 0.2 req/s: no second try at a similar rate.
    for now in range(20, 200):
        assert driver.step(float(now), gpu=[100.0] * 2).action != SWITCH


def test_gpu_preferred_without_cpu_knowledge_stays_on_gpu_under_load():
    driver = Driver(config(mode="gpu_preferred"), route=GPU)
    for now in range(100):
        assert driver.step(float(now), gpu=[100.0] * 20).action == HOLD


def test_an_idle_gpu_goes_back_to_the_cpu():
    cfg = config(idle_demote_s=60.0, scale_down_after_s=0.0)
    driver = Driver(cfg)
    t = promote(driver)
    driver.step(t + 2, gpu=[300.0] * 3)
    last_request = t + 3
    driver.step(last_request, gpu=[300.0])
    for now in range(int(last_request) + 1, int(last_request) + 60):
        assert driver.step(float(now)).action == HOLD
    decision = driver.step(last_request + 60)
    assert (decision.action, decision.target, decision.release, decision.reason) == (SWITCH, CPU, GPU, "gpu-idle")


# --- bounds --------------------------------------------------------------------------------------

def test_noise_around_the_threshold_stays_within_the_switch_bound():
    """Alternate GPU-helps / GPU-does-not-help and violation / no violation as badly as possible."""
    cfg = config(max_switches_per_hour=4, backoff_s=0.0, cooldown_s=0.0, sustain_s=0.0, min_samples=1,
                 verify_s=0.0, verify_samples=1, scale_down_after_s=0.0)
    driver = Driver(cfg)
    for now in range(7200):
        if driver.route == CPU:
            driver.step(float(now), cpu=[2000.0])
        else:
            driver.step(float(now), gpu=[1900.0])  # never 20% better: every attempt fails
    times = [t for t, _ in driver.switches()]
    assert len(times) >= 4  # it did try
    for t in times:
        assert sum(1 for u in times if t <= u < t + 3600) <= 4
    # Every promotion got its way back: it never sits on a failed GPU for lack of budget.
    assert driver.route == CPU or driver.state.verifying


def test_cooldown_between_switches():
    cfg = config(cooldown_s=60.0, mode="gpu_preferred", scale_down_after_s=0.0)
    driver = Driver(cfg, route=GPU)
    assert driver.step(0.0, gpu=[100.0]).action == SWITCH  # explore the CPU
    driver.step(3.0, cpu=[200.0] * 2)  # the CPU copes: verified
    assert driver.route == CPU
    driver.step(4.0, cpu=[3000.0] * 5)
    for now in range(5, 60):
        decision = driver.step(float(now), cpu=[3000.0] * 5)
        assert decision.action == HOLD
    assert decision.reason == "cooldown"
    assert driver.step(60.0, cpu=[3000.0] * 5).action == SWITCH


def test_a_failed_warm_up_is_retried_later():
    cfg = config(warmup_retry_s=30.0)
    driver = Driver(cfg)
    snapshot = None
    for now in range(10):
        snapshot = snap(cfg, CPU, cpu=[2000.0])
        decision, driver.state = policy.decide(snapshot, cfg, driver.state, float(now))
        if decision.action == SWITCH:
            break
    driver.state = policy.switch_failed(driver.state, cfg, float(now))
    for later in range(now + 1, now + 30):
        decision, driver.state = policy.decide(snap(cfg, CPU, cpu=[2000.0]), cfg, driver.state, float(later))
        assert decision.action == HOLD
    assert decision.reason in ("waiting-to-retry-warmup", "cpu-violates-slo-not-sustained")
    for later in range(now + 30, now + 40):
        decision, driver.state = policy.decide(snap(cfg, CPU, cpu=[2000.0]), cfg, driver.state, float(later))
        if decision.action == SWITCH:
            break
    assert decision.action == SWITCH


def test_decide_is_pure():
    cfg = config()
    state = PolicyState(violation_since=0.0, violation_slow=2)
    snapshot = snap(cfg, CPU, cpu=[3000.0])
    first = policy.decide(snapshot, cfg, state, 5.0)
    again = policy.decide(snapshot, cfg, state, 5.0)
    assert first == again
    assert state == PolicyState(violation_since=0.0, violation_slow=2)


def test_windows_never_reach_back_before_a_switch_or_the_violation():
    cfg = config(window_s=10.0)
    assert policy.window_start(PolicyState(), cfg, 100.0) == 90.0
    assert policy.window_start(PolicyState(last_switch_at=95.0), cfg, 100.0) == 95.0
    assert policy.window_start(PolicyState(violation_since=97.0), cfg, 100.0) == 97.0
