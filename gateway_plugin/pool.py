"""The shared GPU pool: which functions may hold one of the cluster's few GPU replicas.

Every function is decided alone by ``policy.decide``; on a cluster with fewer GPUs than functions that
want one, the leader then decides globally with ``allocate(claims, capacity, config, now)``, a pure
function of a snapshot of all functions (like ``decide``: no I/O, no clock), used by the live controller
and by ``gaia replay --pool``.

A *holder* is a function whose GPU variant is scaled up (from the moment its scale-up is asked for until
its release is done, warm-up included). The allocation never lets the holders plus the new grants exceed
the capacity: a GPU freed by a release or a preemption is granted at a later evaluation, once the
release is done, never in the same one.

Order of the pool:

1. Reserved claims (mode ``gpu``, a function pinned to the GPU, a function with only a GPU variant) keep
   theirs and are granted first.
2. Holders that still want the GPU keep it; a holder that no longer wants it is releasing it (its own
   decision, not a preemption); a GPU released whose pod is still terminating (``Claim.terminating``)
   stays counted and is given to nobody, its own function included, until it is gone.
3. Free slots go to the waiting functions by benefit per GPU-second, highest first (``Claim.score``).
4. A waiting function that finds no free slot, and no GPU on its way to free that is its by rank (a holder
   releasing it, terminating, preempted earlier), may preempt the holder of the lowest benefit, but only when
   its own score, counting the holder's hand-over (``Claim.handover_s``), the release of its GPU
   (``PoolConfig.release_grace_s``) and its own warm-up, is at least ``preempt_ratio`` times that
   holder's benefit, and only once the holder held its GPU for ``min_dwell_s`` (so the allocation does
   not thrash). It is granted the freed GPU later, once its pod is gone.
5. When the capacity shrinks below the holders (a GPU node left the cluster, the operator lowered it),
   the lowest-benefit holders past it give theirs up (``gpu-capacity-reduced``), reserved ones last.

Benefit: SLO violations the GPU avoids per second (the request rate times the share of requests over the
SLO on the CPU minus that on the GPU), weighted by the function's violation cost, *expected over the
horizon a grant holds* (``expected_benefit``: the time average of each evaluation's figure, older ones
weighing less over ``horizon_s``), not the figure of the last second: a GPU is granted for minutes, and a
function with bursts and pauses, which avoids no violation in a pause, is worth its cycle's average there,
not nothing. A function that is not holding yet pays its switch: its warm-up holds a GPU without serving, so
its score is its benefit less the share of the pool's horizon the warm-up takes (``Claim.score``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from gaia_faas.gateway_plugin import policy
from gaia_faas.gateway_plugin.controller_config import ControllerConfig

GPU_POOL_FULL = "gpu-pool-full"
PREEMPTED = "gpu-preempted"
CAPACITY_REDUCED = "gpu-capacity-reduced"
WAITING_FOR_GPU = "waiting-for-gpu-capacity"  # the policy's hold after policy.promotion_denied: still wants one


@dataclass(frozen=True)
class PoolConfig:
    preempt_ratio: float = 2.0  # a waiting function preempts a holder only with this many times its benefit
    min_dwell_s: float = 60.0  # a holder keeps its GPU at least this long before it can be preempted
    horizon_s: float = 300.0  # the holding a switch's warm-up is amortised over (Claim.score)
    # A released GPU's pod is still terminating: it holds its GPU for up to Kubernetes' termination grace
    # (30 s by default; faas-netes sets none) and of-watchdog waits its healthcheck_interval (= write_timeout,
    # 30 s by default) after SIGTERM before it even stops, while faas-netes already reports 0 replicas. The
    # GPU counts as held this long after its release, so the next function's GPU pod is not left Pending.
    release_grace_s: float = 30.0

    def check(self) -> None:
        if not self.preempt_ratio >= 1.0:
            raise ValueError(f"the GPU pool's preemption ratio must be at least 1, got {self.preempt_ratio:g}")
        if not self.min_dwell_s >= 0:
            raise ValueError(f"the GPU pool's minimum dwell must be 0 or more seconds, got {self.min_dwell_s:g}")
        if not self.release_grace_s >= 0:
            raise ValueError(f"the GPU pool's release grace must be 0 or more seconds, got {self.release_grace_s:g}")
        if not self.horizon_s > 0:
            raise ValueError(f"the GPU pool's horizon must be positive, got {self.horizon_s:g}")


@policy.record
class Claim:
    """One function at one evaluation, as the pool sees it."""

    name: str
    wants: bool  # wants a GPU now (a promotion, or a holder that keeps serving on it)
    holds: bool = False  # its GPU variant is scaled up (or being scaled up, or not yet released)
    held_since: float | None = None  # when its current holding began
    reserved: bool = False  # mode gpu, pinned to the GPU, or GPU-only: granted first, never preempted
    benefit_per_s: float = 0.0  # weighted SLO violations the GPU avoids per second, expected over the horizon
    warmup_s: float = 0.0  # expected seconds from scale-up until it serves (what a newcomer pays)
    handover_s: float = 0.0  # a holder: expected seconds until its CPU serves again if preempted (0: it is up)
    terminating: bool = False  # a holder whose GPU was released, its pod not gone yet (the release grace)

    def score(self, config: PoolConfig, after_s: float = 0.0) -> float:
        """Benefit per GPU-second: a holder's benefit; a newcomer's less the share of the horizon its
        warm-up holds a GPU without serving, and ``after_s`` more before it gets the GPU at all."""
        if self.holds:
            return self.benefit_per_s
        return self.benefit_per_s * max(0.0, 1.0 - (self.warmup_s + after_s) / config.horizon_s)


@policy.record
class Denial:
    name: str
    reason: str  # GPU_POOL_FULL
    numbers: Mapping[str, object] = field(default_factory=dict)  # capacity, holders and why they hold


@policy.record
class Preemption:
    name: str  # the holder that gives its GPU up
    reason: str  # PREEMPTED (for `by`) or CAPACITY_REDUCED
    by: str | None = None
    numbers: Mapping[str, object] = field(default_factory=dict)


@policy.record
class Allocation:
    capacity: int | None  # None: unlimited (no pool configured)
    granted: tuple[str, ...] = ()  # newcomers that may scale their GPU up now
    kept: tuple[str, ...] = ()  # holders that keep theirs
    releasing: tuple[str, ...] = ()  # holders that gave theirs up by their own decision
    preempted: tuple[Preemption, ...] = ()
    denied: tuple[Denial, ...] = ()

    @property
    def waiting(self) -> tuple[str, ...]:
        return tuple(denial.name for denial in self.denied)


def _holder_view(claim: Claim, config: PoolConfig, now: float) -> dict:
    return {"function": claim.name, "benefit_per_s": round(claim.benefit_per_s, 4),
            "held_s": None if claim.held_since is None else round(max(0.0, now - claim.held_since), 1),
            "reserved": claim.reserved, "wants": claim.wants}


def allocate(claims: Iterable[Claim], capacity: int | None, config: PoolConfig, now: float) -> Allocation:
    """Grant the pool of ``capacity`` GPU replicas (None: unlimited) among ``claims`` (one per function; one
    that neither wants nor holds a GPU changes nothing)."""
    claims = sorted(claims, key=lambda c: c.name)
    if capacity is None:
        return Allocation(capacity=None, granted=tuple(c.name for c in claims if c.wants and not c.holds),
                          kept=tuple(c.name for c in claims if c.wants and c.holds),
                          releasing=tuple(c.name for c in claims if c.holds and not c.wants))
    if capacity < 0:
        raise ValueError(f"the GPU capacity must be 0 or more, got {capacity}")

    def rank(claim: Claim) -> tuple:  # best first: reserved, then by score; names break ties
        return (not claim.reserved, -claim.score(config), claim.name)

    holders = sorted((c for c in claims if c.holds), key=rank)
    # A terminating GPU is nobody's to take, not even its own function's: taken back at once, the GPU a
    # preemption freed would go straight back to the preempted function and the preemptor wait again.
    releasing = [c for c in holders if not c.wants or c.terminating]
    keeping = [c for c in holders if c.wants and not c.terminating]
    preempted: list[Preemption] = []
    # The capacity shrank below the holders: the lowest-ranked keepers past it give theirs up. The ones
    # releasing anyway free theirs first.
    excess = len(holders) - capacity
    if excess > len(releasing):
        evicted = keeping[len(keeping) - (excess - len(releasing)):]
        keeping = keeping[:len(keeping) - len(evicted)]
        for claim in evicted:
            preempted.append(Preemption(claim.name, CAPACITY_REDUCED, numbers={
                "capacity": capacity, "holders": len(holders), "benefit_per_s": round(claim.benefit_per_s, 4)}))
    free = max(0, capacity - len(holders))  # a GPU is free only once its holder has released it
    waiting = sorted((c for c in claims if c.wants and not c.holds), key=rank)
    granted = waiting[:free]
    denied_claims = waiting[free:]

    # Preemption: each waiting function, best first, may displace one holder (the lowest-benefit one
    # past its dwell); the GPU it frees is granted at a later evaluation, once released. Holders are
    # displaced weakest first, so one pass over both lists does it.
    eligible = sorted((c for c in keeping if not c.reserved and c.held_since is not None
                       and now - c.held_since >= config.min_dwell_s), key=lambda c: (c.benefit_per_s, c.name))
    # Who holds the pool, and who takes its free GPUs at this evaluation: shared by every denial.
    views = tuple(_holder_view(c, config, now) for c in holders) + tuple(
        {**_holder_view(c, config, now), "granted_now": True} for c in granted)
    # GPUs already on their way to free (released, terminating, being handed over) go to the best waiting
    # functions once free: those wait for them and preempt nobody; preempting for them as well would leave
    # a second GPU idle for the same function (with a release grace of 30 s, at every evaluation of it).
    coming_free = max(0, len(releasing) - max(0, excess))

    def denial_numbers(claim: Claim) -> dict:
        return {"capacity": capacity, "holders": views, "benefit_per_s": round(claim.benefit_per_s, 4),
                "score": round(claim.score(config), 4), "releasing": len(releasing) + len(preempted),
                "preempt_ratio": config.preempt_ratio}

    next_weakest = 0
    denials = []
    for rank_among_waiting, claim in enumerate(denied_claims):
        numbers = denial_numbers(claim)
        if rank_among_waiting < coming_free:
            numbers["waits_for_release"] = True
            denials.append(Denial(claim.name, GPU_POOL_FULL, numbers))
            continue
        weakest = eligible[next_weakest] if next_weakest < len(eligible) else None
        # A preemption frees the GPU only once the holder is back on its CPU (its CPU's start, where the
        # CPU was released: for a model, loading it again) and its GPU pod is gone (the release grace), and
        # the newcomer serves only after its own warm-up: these stretches hold the GPU without the newcomer
        # gaining anything, so its score against this holder counts them. The holder keeps serving on its
        # GPU meanwhile; what it loses after is its benefit over the horizon, which the ratio weighs.
        against = 0.0 if weakest is None else claim.score(config, after_s=weakest.handover_s + config.release_grace_s)
        if weakest is not None and (claim.reserved or (
                against > 0 and against >= config.preempt_ratio * weakest.benefit_per_s)):
            next_weakest += 1
            preempted.append(Preemption(weakest.name, PREEMPTED, by=claim.name, numbers={
                "capacity": capacity, "by": claim.name, "by_score": round(against, 4),
                "benefit_per_s": round(weakest.benefit_per_s, 4), "held_s": round(now - weakest.held_since, 1),
                "preempt_ratio": config.preempt_ratio}))
            numbers["preempting"] = weakest.name
        denials.append(Denial(claim.name, GPU_POOL_FULL, numbers))
    for claim in (c for c in holders if c.wants and c.terminating):
        denials.append(Denial(claim.name, GPU_POOL_FULL, {**denial_numbers(claim), "terminating": True}))
    gone = {p.name for p in preempted}
    return Allocation(capacity=capacity, granted=tuple(c.name for c in granted),
                      kept=tuple(c.name for c in keeping if c.name not in gone),
                      releasing=tuple(c.name for c in releasing), preempted=tuple(preempted),
                      denied=tuple(denials))


@policy.record
class ExpectedBenefit:
    """A function's benefit expected over the horizon (``expected_benefit``): the mean of its evaluations'
    figures, each weighted by the seconds it stood for and by exp(-age / horizon)."""

    per_s: float = 0.0
    weight: float = 0.0  # the weight seen so far, 1 - exp(-seconds observed / horizon)
    at: float | None = None  # the last evaluation


def expected_benefit(previous: ExpectedBenefit, benefit_now_per_s: float, now: float, horizon_s: float,
                     first_s: float = 1.0) -> ExpectedBenefit:
    """``previous`` with one more evaluation's benefit (``gpu_benefit``), which stands for the seconds since
    the last one (``first_s`` for the first). Why: a grant holds for minutes (the dwell, the horizon), so
    the pool must rank by what the GPU will avoid over them, not by the last seconds alone: a function
    with bursts and pauses is worth its cycle's average, not nothing in a pause nor its peak in a burst,
    and a function that went quiet loses its claim over the horizon rather than at once. The mean is
    over what was observed (the weight divides it out), so a function evaluated for a few seconds counts
    at their mean, not at a fraction of it."""
    elapsed = first_s if previous.at is None else max(0.0, now - previous.at)
    keep = math.exp(-elapsed / horizon_s)
    weight = previous.weight * keep + (1.0 - keep)
    if weight <= 0.0:  # no time passed since the very first evaluation
        return ExpectedBenefit(benefit_now_per_s, 0.0, now) if previous.at is None else previous
    per_s = (previous.per_s * previous.weight * keep + benefit_now_per_s * (1.0 - keep)) / weight
    return ExpectedBenefit(per_s, weight, now)


def violations_avoided_per_s(rate_per_s: float, slow_share_cpu: float, slow_share_gpu: float,
                             violation_cost: float = 1.0) -> float:
    """Weighted SLO violations per second the GPU avoids at ``rate_per_s`` (never negative)."""
    return max(0.0, rate_per_s * (slow_share_cpu - slow_share_gpu)) * violation_cost


def slow_share(window: policy.VariantWindow) -> float | None:
    """Share of a window's requests over the SLO (None without requests)."""
    return None if not window.count else window.slow / window.count


def _finite(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def gpu_benefit(snap: policy.Snapshot, decision: policy.Decision, basis_cpu_slow_share: float | None,
                config: ControllerConfig, basis_rate_per_s: float | None) -> float:
    """Weighted SLO violations per second the GPU avoids for one function now (``Claim.benefit_per_s``).

    The policy's own figure when it gives one (``benefit_per_s`` in the decision's numbers); else from the
    windows: on the CPU, its rate times the share of its requests over the SLO less the GPU's (0 when the
    GPU has not served yet); on the GPU, its rate times the CPU's share when it was last seen on the CPU
    (``basis_cpu_slow_share``) less the GPU's.

    On the GPU, the policy's figure takes the CPU's bad share from what it knows of the CPU at the rate's
    band now, and 0 where it knows nothing there (``cpu_bad_share_known`` false: a function promoted on a
    few slow requests filed at other bands, its CPU answering one request per service time): the holder
    would be worth nothing to the pool while its CPU was last seen violating the SLO, and any waiting
    function would preempt it at its dwell. There the basis stands in for that 0 when the rate's band now is
    at or above the band of ``basis_rate_per_s`` (the policy's request rate when the basis was seen; None for
    a new leader's basis, stored at the grant without it): more load is no better
    (`policy.predicted_share`); at a lower band the CPU may meet the SLO, and the 0 stands. Where the policy
    knows the CPU's share, its figure stands (a band's decayed share is better evidence than one window).
    """
    given = decision.numbers.get("benefit_per_s")
    if _finite(given):
        benefit = max(0.0, float(given))
        numbers = decision.numbers  # `policy.economics` writes the rate and both shares with the figure
        if (snap.route == policy.GPU and numbers.get("cpu_bad_share_known") is False
                and basis_cpu_slow_share is not None and basis_cpu_slow_share > numbers["cpu_bad_share"]
                and _finite(basis_rate_per_s)
                and policy.band_of(numbers["request_rate_per_s"]) >= policy.band_of(basis_rate_per_s)):
            avoided = policy.excess_avoided_per_s(numbers["request_rate_per_s"], basis_cpu_slow_share,
                                                  numbers["gpu_bad_share"], config.allowed_share)
            benefit = max(benefit, avoided * config.violation_cost)
        return benefit
    cpu, gpu = snap.window(policy.CPU), snap.window(policy.GPU)
    if snap.route == policy.CPU:
        return violations_avoided_per_s(cpu.rate_per_s, slow_share(cpu) or 0.0, slow_share(gpu) or 0.0)
    if basis_cpu_slow_share is None:
        return 0.0
    return violations_avoided_per_s(gpu.rate_per_s, basis_cpu_slow_share, slow_share(gpu) or 0.0)
