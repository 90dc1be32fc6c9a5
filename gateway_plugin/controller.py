"""The controller loop: stats windows -> policy -> GPU pool -> actuator, on the leader replica only.

Runs as a background task of the gateway plugin (``controller_task(options)``; every gunicorn worker of
every replica runs one, and the leader lease lets exactly one act). Every tick (``tick_s``) the leader:

1. reads, in one Redis pipeline, the new per-second stats of every function due for evaluation (each
   function every ``interval_s``; seconds already read are kept in memory, so a tick reads each second of
   each variant once: Redis commands grow linearly with the functions);
2. runs ``policy.decide`` for each (the same code as ``gaia replay``);
3. allocates the shared GPU pool over all functions with a GPU variant (``pool.allocate``: the capacity
   from ``capacity.py``, the holdings from Redis, ``holdings.py``): a promotion beyond the capacity is not
   carried out but logged as ``gpu-pool-full``, a lower-benefit holder may be preempted;
4. acts: a switch runs as its own task (warm-up can take seconds; other functions go on being evaluated,
   this one is not evaluated meanwhile); a release scales the old variant down.

The policy state of every function lives in Redis (``gaia:controller:state:NAME``), the pool's holdings
too, so a replica that takes over the lease continues with the same back-offs, switch counts and GPUs.
Every action is appended to the decision stream (``decisions.py``) and served at ``GET /gaia/v1/decisions``;
the last allocation is at ``gaia:pool:status`` (``GET /gaia/v1/functions``, ``gaia status``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
import zlib
from dataclasses import asdict, dataclass, field, fields, replace
from operator import attrgetter

from aiohttp import web

from gaia_faas.gateway_plugin import policy, pool, snapshot
from gaia_faas.gateway_plugin.actuator import DEFAULT_WARMUP_PATH, Actuator
from gaia_faas.gateway_plugin.capacity import Capacity, ClusterAPI
from gaia_faas.gateway_plugin.controller_config import ConfigError, ControllerConfig
from gaia_faas.gateway_plugin.decisions import DecisionLog, DecisionRecord
from gaia_faas.gateway_plugin.holdings import STATUS_KEY, Holding, Holdings
from gaia_faas.gateway_plugin.leader import LeaderLease
from gaia_faas.gateway_plugin.loop_share import DEFAULT_SLICE_S, LoopShare
from gaia_faas.gateway_plugin.registry import FunctionSpec, Replicas
from gaia_faas.gateway_plugin.routes import RoutePinned, RouteState
from gaia_faas.gateway_plugin import hybrid

STATE_KEY_PREFIX = "gaia:controller:state:"
GPU_NOT_ROUTED = "gpu-up-not-routed"  # a GPU variant with replicas and nothing routed to it: scaled down
BY_REPLICAS = "replicas"  # a holding counted because the provider reports replicas of the GPU variant
# A grant's scale-up is asked for right after it is written: a discovery asked this much later that shows no
# replica of the GPU says nobody scaled it up (a stale leader's switch in flight has asked by then).
UNUSED_GRANT_GRACE_S = 10.0
DENIAL_RECORD_EVERY_S = 30.0  # a function kept waiting for the pool is logged when it starts waiting, then this often
# The stats of an evaluation are read in pieces (`_read_pieces`, `Controller.tick`), the first of
# FIRST_READ_PIECE functions, each next one twice as large: the evaluation waits for the first piece's read
# only, so that one is small, and Redis reads each next piece (4-8 us a function) while the leader
# evaluates the ones before (40-50 us a function). Each piece in flight holds a connection of the pool:
# 5 pieces for 1,000 functions, 7 for 5,000.
FIRST_READ_PIECE = 64

log = logging.getLogger("gaia.controller")


def _read_pieces(functions: int) -> list[range]:
    """The pieces an evaluation's reads come in (`FIRST_READ_PIECE`), as ranges of the due functions."""
    pieces, size, start = [], FIRST_READ_PIECE, 0
    while start < functions:
        pieces.append(range(start, min(functions, start + size)))
        start, size = start + size, size * 2
    return pieces


@dataclass(frozen=True)
class ControllerOptions:
    leader_ttl_s: float = 5.0
    tick_s: float = 0.25  # how often the loop looks for functions due for evaluation
    flush_lag_s: float = 0.3  # a second is read once it ended this long ago (the recorder flushes every 250 ms)
    warmup_path: str = DEFAULT_WARMUP_PATH
    loop_slice_s: float = DEFAULT_SLICE_S  # an evaluation gives the worker's event loop back this often
    hybrid_drain_s: float = hybrid.DRAIN_S  # a standby given back drains this long before its release


@dataclass
class _Function:
    state: policy.PolicyState
    stored: policy.PolicyState | None = None  # what Redis has (worth_storing)
    estimates_phase_s: float = 0.0
    next_eval: float = 0.0
    fresh_from_s: int | None = None  # first whole second not yet counted as fresh
    hybrid_retry_at: float = 0.0  # after a failed warm-up of the standby for hybrid dispatch, not before this
    # Its learn_until, released, draining_since (whether it is held or drains is read from Redis each time).
    standby: hybrid.Standby = hybrid.Standby()
    busy: asyncio.Task | None = None
    busy_target: str | None = None  # the variant the switch in flight goes to
    # The per-second buckets read so far, for seconds read_from_s <= t < read_until_s.
    series: dict[str, snapshot.BucketSeries] = field(default_factory=dict)
    read_from_s: int | None = None
    read_until_s: int | None = None
    last_snapshot: policy.Snapshot | None = None
    benefit_per_s: float = 0.0  # the GPU's benefit at the last evaluation
    expected: pool.ExpectedBenefit = pool.ExpectedBenefit()  # and over the pool's horizon (pool.Claim)
    cpu_slow_share: float | None = None  # share of the CPU's requests over the SLO at the last evaluation on CPU
    cpu_basis_rate: float | None = None  # the policy's request rate then (a new leader's stored basis has none)
    wants_gpu: bool = False  # at the last evaluation
    waiting_since: float | None = None  # kept waiting by the pool since
    denial_logged_at: float | None = None


BOTH_VARIANTS = frozenset(policy.VARIANTS)  # the policy manages these functions
GPU_ONLY = frozenset({policy.GPU})

# The running estimates alone (see `_decided`) are stored this often: storing every evaluation would cost a
# write per function per second. A new leader's first evaluation counts the whole last window of stats
# (window_s, 10 s by default) as fresh, so it learns again what the estimates it read lack.
ESTIMATES_PERSIST_S = 10.0
# What changes at every evaluation of a function with traffic: rates, counts, evidence, per-rate knowledge.
_STATE_ESTIMATES = frozenset({"last_request_at", "long_gap_s", "last_eval_at", "rate_n", "rate_t", "served",
                              "served_bad", "served_errors", "cpu", "gpu"})
_MEMORY_ESTIMATES = frozenset({"evidence", "stretch_n", "stretch_bad", "stretch_since", "bands", "error_n",
                               "error_bad"})
_state_decided = attrgetter(*(f.name for f in fields(policy.PolicyState) if f.name not in _STATE_ESTIMATES))
_memory_decided = attrgetter(*(f.name for f in fields(policy.VariantMemory) if f.name not in _MEMORY_ESTIMATES))


def _decided(state: policy.PolicyState) -> tuple:
    """What the policy decided (switches, verification, back-offs, bars, warm-up times), without the
    running estimates: the part a new leader must find exactly as it was."""
    return _state_decided(state), _memory_decided(state.cpu), _memory_decided(state.gpu)


def _memory_json(memory: policy.VariantMemory) -> dict:
    plain = dict(memory.__dict__)
    plain["bands"] = [band.__dict__ for band in memory.bands]
    return plain


def state_to_json(state: policy.PolicyState) -> str:
    """The state as `state_from_json` reads it (the fields by name; tuples as lists). Written out rather
    than through `asdict` and its deep copies: at a thousand functions a tick stores a hundred states."""
    plain = dict(state.__dict__)
    plain["cpu"], plain["gpu"] = _memory_json(state.cpu), _memory_json(state.gpu)
    return json.dumps(plain)


def estimates_phase_s(name: str) -> float:
    """Where in each ESTIMATES_PERSIST_S a function's estimates are stored: spread by name, so that the
    leader, which evaluates all functions on the same beat, stores a tenth of them per second rather
    than all of them every tenth second."""
    return zlib.crc32(name.encode()) % 1000 / 1000.0 * ESTIMATES_PERSIST_S


def worth_storing(new: policy.PolicyState, stored: policy.PolicyState | None, phase_s: float = 0.0) -> bool:
    """A decision changed the state, or a new period of ESTIMATES_PERSIST_S (shifted by ``phase_s``) began
    since the stored one was evaluated and its running estimates changed: what is stored is never more
    than that period behind (a new leader then sees a function idle a few seconds longer than it is,
    never shorter)."""
    if stored is None:
        return True
    if new.last_eval_at is None or stored.last_eval_at is None:
        return new != stored
    if (new.last_eval_at + phase_s) // ESTIMATES_PERSIST_S != (stored.last_eval_at + phase_s) // ESTIMATES_PERSIST_S:
        return True  # its last_eval_at changed, at least (no need to compare every field)
    return _decided(new) != _decided(stored)


def _known(cls, data: dict) -> dict:
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in data.items() if k in names}


def _memory_from_json(data: dict) -> policy.VariantMemory:
    values = _known(policy.VariantMemory, data)
    values["bands"] = tuple(sorted((policy.Band(**_known(policy.Band, band)) for band in values.get("bands", ())),
                                   key=lambda band: band.band))  # the policy reads them in this order
    return policy.VariantMemory(**values)


def state_from_json(text: str | bytes | None) -> policy.PolicyState:
    """A stored policy state; unknown fields are dropped and a damaged value starts afresh."""
    if not text:
        return policy.PolicyState()
    try:
        data = json.loads(text)
        values = _known(policy.PolicyState, data)
        values["switch_times"] = tuple(values.get("switch_times", ()))
        for variant in (policy.CPU, policy.GPU):
            values[variant] = _memory_from_json(values.get(variant) or {})
        return policy.PolicyState(**values)
    except (ValueError, TypeError, AttributeError) as exc:
        log.warning("ignoring a damaged stored policy state: %s", exc)
        return policy.PolicyState()


class Controller:
    def __init__(self, gateway_state, options: ControllerOptions = ControllerOptions(), identity: str | None = None):
        self.gateway = gateway_state
        self.options = options
        self.lease = LeaderLease(gateway_state.redis, identity, ttl_s=options.leader_ttl_s)
        self.decisions = DecisionLog(gateway_state.redis)
        config = gateway_state.config
        self.actuator = Actuator(gateway_state.client, upstream_url=config.upstream_url, basic_auth=config.basic_auth,
                                 static_mode=config.mode == "static", warmup_path=options.warmup_path)
        self.holdings = Holdings(gateway_state.redis)
        self.pool_config = config.pool
        self.capacity = Capacity(setting=config.gpu_capacity, routes_file=config.routes_file,
                                 cluster=ClusterAPI.in_cluster() if config.gpu_capacity_from_cluster else None,
                                 resource=config.gpu_resource)
        self._functions: dict[str, _Function] = {}
        self._config_errors: dict[str, str] = {}
        self._configs: dict[str, tuple[FunctionSpec, ControllerConfig]] = {}
        self._held: dict[str, Holding] = {}  # the holdings as this leader last knew them (survives a Redis flush)
        # GPU variants' replicas as the provider reports them (registry.replicas): when this leader last
        # released each, whose releases the platform refuses (CE keeps one replica), and for which
        # discovery a leftover GPU was last scaled down (`_release_unrouted_gpu`).
        self._released_at: dict[str, float] = {}
        self._platform_keeps: set[str] = set()
        self._unrouted_tried: dict[str, float] = {}
        self.last_allocation: pool.Allocation | None = None
        self._tick_error: str | None = None
        self.last_tick_ms: dict[str, float] = {}

    async def run(self) -> None:
        lease_task = asyncio.create_task(self.lease.run(), name="gaia-leader-lease")
        try:
            while True:
                if self.lease.is_leader:
                    try:
                        await self.tick(time.time())
                        self._tick_error = None
                    except Exception as exc:  # Redis away: no evaluation this tick; the next one tries again
                        error = f"{type(exc).__name__}: {exc}"
                        if error != self._tick_error:
                            log.warning("controller: no evaluation until this is over: %s", error)
                        self._tick_error = error
                elif self._functions:
                    self._step_down()
                await asyncio.sleep(self.options.tick_s)
        finally:
            self._step_down()
            lease_task.cancel()
            await asyncio.gather(lease_task, return_exceptions=True)

    def _step_down(self) -> None:
        """Lost the lease: stop acting and forget local state (the next leader reads it from Redis)."""
        for entry in self._functions.values():
            if entry.busy is not None and not entry.busy.done():
                entry.busy.cancel()
        self._functions.clear()
        self._held.clear()
        self._released_at.clear()
        self._unrouted_tried.clear()

    # -- one evaluation of all functions -----------------------------------------------------------------
    async def tick(self, now: float) -> None:
        started = time.perf_counter()
        share = LoopShare(self.options.loop_slice_s)  # this worker proxies too: requests wait a slice, not the tick
        capacity = await self.capacity.refresh(self.gateway.client, now)
        specs = [spec for spec in map(self.gateway.registry.get, self.gateway.registry.names()) if spec is not None]
        managed = []
        for spec in specs:
            if spec.variant_names == BOTH_VARIANTS:
                await share.pause()
                config = self._config(spec)  # parsed once per change of the spec
                if config is not None:
                    managed.append((spec, config))
        await self._load_states([spec.name for spec, _ in managed if spec.name not in self._functions], share)
        due = []
        for spec, config in managed:
            await share.pause()
            entry = self._functions[spec.name]
            if (entry.busy is not None and not entry.busy.done()) or now < entry.next_eval:
                continue
            entry.next_eval = now + config.interval_s
            due.append((spec, config, entry))
        if not due:  # nothing evaluated, nothing to allocate anew (ticks between evaluations cost no Redis call)
            return
        due_done = time.perf_counter()
        with_gpu = [spec for spec in specs if policy.GPU in spec.variants]
        held = await self._current_holdings(with_gpu, now, share)
        holdings_done = time.perf_counter()
        end_s = snapshot.readable_end_s(now, self.options.flush_lag_s)
        outcomes: dict[str, tuple[FunctionSpec, ControllerConfig, policy.Decision, policy.Snapshot]] = {}
        changed: dict[str, policy.PolicyState] = {}
        reads: list[asyncio.Future] = []
        building_s = waited_s = 0.0
        try:
            pieces = await self._plan_reads(due, now, end_s, share)
            planned = time.perf_counter()
            # Each piece is evaluated once its stats are in, while Redis reads the pieces after it. All are sent
            # once all are known: sent during the planning, each step of a read would wait for the loop's next
            # slice (the leader plans in between), and arrive no sooner.
            reads += [asyncio.ensure_future(self.gateway.stats.fetch_many(requests, share))
                      for _, _, requests in pieces]
            for (functions, readers, _), read in zip(pieces, reads):
                waiting = time.perf_counter()
                fetched = await read
                waited_s += time.perf_counter() - waiting
                for entry, by_variant in zip(readers, fetched):
                    await share.pause()
                    for variant, buckets in by_variant.items():
                        entry.series[variant].extend(buckets)  # seconds not read before: nothing to merge with
                for spec, config, entry in functions:
                    await share.pause()
                    building = time.perf_counter()
                    route = self.gateway.routes.current(spec.name)
                    snap = snapshot.build_snapshot(
                        route=route.variant, variants=spec.variant_names, pinned=route.pinned, series=entry.series,
                        state=entry.state, config=config, now=now, end_s=end_s, fresh_from_s=entry.fresh_from_s)
                    entry.read_until_s = entry.fresh_from_s = end_s
                    building_s += time.perf_counter() - building
                    try:
                        decision, new_state = policy.decide(snap, config, entry.state, now)
                    except Exception as exc:  # a bug with one function must not stop the others
                        log.warning("controller: %s not evaluated: %s: %s", spec.name, type(exc).__name__, exc)
                        continue
                    entry.state = new_state
                    if worth_storing(new_state, entry.stored, entry.estimates_phase_s):
                        changed[spec.name] = new_state
                    plan = self.gateway.sizing.plans.get(spec.name) if self.gateway.sizing is not None else None
                    if plan is not None or entry.standby.held is not None or entry.standby.draining:
                        # Without a plan (it stopped declaring its size) a standby held for it still goes.
                        decision = await self._hybrid_standby(spec, config, entry, plan, snap.route, decision)
                    self._weigh(spec, config, entry, snap, decision, held, now)
                    outcomes[spec.name] = (spec, config, decision, snap)
        finally:  # a read that failed: the pieces still in flight are not waited for
            for pending in reads:
                pending.cancel()
            await asyncio.gather(*reads, return_exceptions=True)
        decided = time.perf_counter()
        claims = []
        for spec in with_gpu:
            await share.pause()
            claim = self._claim(spec, outcomes.get(spec.name), held.get(spec.name))
            if claim is not None:
                claims.append(claim)
        specified = {spec.name for spec in with_gpu}
        # A deleted function's GPU, its pod still terminating: counted, nobody's to take.
        claims += [pool.Claim(name=name, wants=False, holds=True, terminating=True, held_since=holding.since)
                   for name, holding in held.items() if name not in specified]
        allocation = pool.allocate(claims, capacity, self.pool_config, now)
        self.last_allocation = allocation
        allocated = time.perf_counter()
        await self._store(changed, self._status(allocation, claims, held, now), share)
        await self._act(allocation, outcomes, held, capacity, now, share)
        done = time.perf_counter()
        # Where the evaluation's time goes (benchmarks/controller_scale.py prints it): finding the due
        # functions, waiting for their stats (what the reads in flight did not hide), working out the reads
        # and building the snapshots, the policy's decisions, the pool (holdings, claims, allocation).
        self.last_tick_ms = {"due": (due_done - started) * 1000, "read_stats": waited_s * 1000,
                             "snapshots": (planned - holdings_done + building_s) * 1000,
                             "decide": (decided - planned - waited_s - building_s) * 1000,
                             "pool": (holdings_done - due_done + allocated - decided) * 1000,
                             "store_and_act": (done - allocated) * 1000, "total": (done - started) * 1000}

    def _config(self, spec: FunctionSpec) -> ControllerConfig | None:
        cached = self._configs.get(spec.name)
        if cached is not None and cached[0] is spec:  # the registry replaces a spec when it changes
            return cached[1]
        try:
            config = ControllerConfig.from_annotations(spec.annotations)
        except ConfigError as exc:
            if self._config_errors.get(spec.name) != str(exc):
                log.error("controller: %s is not managed until its annotations are fixed: %s", spec.name, exc)
                self._config_errors[spec.name] = str(exc)
            return None
        self._config_errors.pop(spec.name, None)
        self._configs[spec.name] = (spec, config)
        return config

    async def _load_states(self, names: list[str], share: LoopShare) -> None:
        if not names:
            return
        stored = await self.gateway.redis.mget([STATE_KEY_PREFIX + name for name in names])
        for name, text in zip(names, stored):
            await share.pause()
            state = state_from_json(text)
            self._functions[name] = _Function(state=state, stored=state if text else None,
                                              estimates_phase_s=estimates_phase_s(name))

    async def _save_state(self, name: str, state: policy.PolicyState) -> None:
        await self.gateway.redis.set(STATE_KEY_PREFIX + name, state_to_json(state))
        entry = self._functions.get(name)
        if entry is not None:
            entry.stored = state

    async def _store(self, changed: dict[str, policy.PolicyState], status: dict | None, share: LoopShare) -> None:
        """The policy states that changed and the pool's status (None: not this time), in one round trip;
        each function's stored state is then the one written."""
        pipe = self.gateway.redis.pipeline(transaction=False)
        for name, state in changed.items():
            await share.pause()
            pipe.set(STATE_KEY_PREFIX + name, state_to_json(state))
        if status is not None:
            pipe.set(STATUS_KEY, json.dumps(status), ex=max(30, int(10 * self.options.leader_ttl_s)))
        await pipe.execute()
        for name, state in changed.items():
            self._functions[name].stored = state

    async def _plan_reads(self, due: list, now: float, end_s: int,
                          share: LoopShare) -> list[tuple[list, list, list]]:
        """The seconds each due function has not read yet, in pieces (`_read_pieces`): per piece its due
        functions, whose reads come back (in the order of the piece's reply) and the reads."""
        pieces: list[tuple[list, list, list]] = []
        for piece in _read_pieces(len(due)):
            functions, readers, requests = due[piece.start:piece.stop], [], []
            for spec, config, entry in functions:
                await share.pause()
                start_s = min(snapshot.horizon_start_s(entry.state, config, now), end_s - 1)
                if entry.fresh_from_s is not None:
                    start_s = min(start_s, entry.fresh_from_s)
                if entry.read_from_s is None or entry.read_until_s > end_s:
                    entry.series = {v: snapshot.BucketSeries() for v in (policy.CPU, policy.GPU)}
                    entry.read_until_s = start_s
                elif start_s < entry.read_from_s:  # the horizon reaches further back: read only the seconds missing
                    requests.append((spec.name, (policy.CPU, policy.GPU), start_s, entry.read_from_s))
                    readers.append(entry)
                else:
                    entry.read_until_s = max(entry.read_until_s, start_s)
                    for series in entry.series.values():  # seconds the horizon left behind
                        series.drop_before(start_s)
                entry.read_from_s = start_s
                if entry.read_until_s < end_s:
                    requests.append((spec.name, (policy.CPU, policy.GPU), entry.read_until_s, end_s))
                    readers.append(entry)
            pieces.append((functions, readers, requests))
        return pieces

    def _weigh(self, spec: FunctionSpec, config: ControllerConfig, entry: _Function, snap: policy.Snapshot,
               decision: policy.Decision, held: dict[str, Holding], now: float) -> None:
        """What the GPU is worth to the function now, and expected over the pool's horizon (its claim)."""
        entry.last_snapshot = snap
        if snap.route == policy.CPU and snap.window(policy.CPU).count:
            entry.cpu_slow_share = pool.slow_share(snap.window(policy.CPU))
            entry.cpu_basis_rate = decision.numbers.get("request_rate_per_s")
        elif entry.cpu_slow_share is None and spec.name in held:  # a new leader: the basis stored at the grant
            entry.cpu_slow_share = held[spec.name].cpu_slow_share
        entry.benefit_per_s = pool.gpu_benefit(snap, decision, entry.cpu_slow_share, config, entry.cpu_basis_rate)
        entry.expected = pool.expected_benefit(entry.expected, entry.benefit_per_s, now,
                                               self.pool_config.horizon_s, first_s=config.interval_s)

    # -- the GPU pool ------------------------------------------------------------------------------------
    async def _current_holdings(self, with_gpu: list[FunctionSpec], now: float, share: LoopShare) -> dict[str, Holding]:
        """Who holds a GPU: Redis's holdings, plus what is observed to hold one and Redis lacks (a function
        routed to its GPU, a switch to the GPU in flight, this leader's memory, a GPU variant the provider
        reports replicas of), written back. After Redis lost the holdings (FLUSHALL, a restart) this rebuilds
        them, conservatively: anything that may hold a GPU counts until it is released. The replicas are what
        a new leader has when Redis and every plugin restarted at once (routes and memory gone, the GPU
        deployments still up)."""
        stored, known = await self.holdings.load()
        wall = time.time()  # released_at is the releasing leader's wall clock

        async def let_go(name: str, terminates: bool = True) -> None:
            marked = await self._let_go(name, stored[name], wall, terminates)
            if marked is None:
                stored.pop(name)
            else:
                stored[name] = marked

        for name, holding in list(stored.items()):
            if holding.released_at is not None and not holding.terminating(wall, self.pool_config.release_grace_s):
                await let_go(name, terminates=False)  # its pod is gone: the GPU is the pool's again
        names = {spec.name for spec in with_gpu}
        for name in [name for name, holding in stored.items() if name not in names and holding.released_at is None]:
            await let_go(name)  # a deleted function: its Deployment's pod terminates like a released one
        observed: dict[str, Holding] = {}
        asked_at = self.gateway.registry.replicas_asked_at
        for spec in with_gpu:
            await share.pause()
            entry = self._functions.get(spec.name)
            routed = self.gateway.routes.current(spec.name).variant == policy.GPU
            switching = entry is not None and entry.busy is not None and not entry.busy.done() \
                and entry.busy_target == policy.GPU
            holding = stored.get(spec.name)
            if holding is not None:
                if holding.released_at is None and not (routed or switching) \
                        and self._holds_nothing(spec, holding, asked_at):
                    log.info("GPU pool: %s holds no GPU replica the pool could give (holding by %s); given back",
                             spec.name, holding.by)
                    # Replicas the platform runs always were never the pool's; replicas gone (the platform's
                    # idle scale-down) may still be a terminating pod, as may a grant's that never showed.
                    await let_go(spec.name, terminates=not self._runs_always(spec))
                continue
            if routed or switching or spec.name in self._held:
                observed[spec.name] = self._held.get(spec.name) or Holding(
                    since=now, reserved=self._reserved(spec), by="observed")
            elif (replicas := self._gpu_replicas(spec)) is not None and replicas.up:
                observed[spec.name] = Holding(since=now, reserved=self._reserved(spec), by=BY_REPLICAS)
        if observed or not known:
            added = await self.holdings.record(observed, now)
            if not known and observed:
                log.warning("GPU pool: Redis had no holdings; rebuilt %d from the routes, the replicas and this "
                            "leader's memory", len(observed))
            elif added:
                log.info("GPU pool: %d observed GPU holders added to the holdings", added)
        held = {**observed, **stored}
        self._held = dict(held)
        return held

    def _holds_nothing(self, spec: FunctionSpec, holding: Holding, asked_at: float | None) -> bool:
        """A holding of a function routed to its CPU with no switch in flight that holds no GPU the pool could
        give to another: counted for replicas of a platform that runs every variant always (CE, or one that
        refused a scale to zero: they stay up whatever the pool decides), for replicas that are gone now, or
        granted by a leader that stopped before it scaled the GPU up — no replica in a discovery asked after
        the grant's scale-up would have been asked for. Kept, it would shrink the pool for good."""
        if holding.by == BY_REPLICAS and self._runs_always(spec):
            return True
        taken_at = holding.since if holding.granted_at is None else holding.granted_at
        grace_s = 0.0 if holding.by == BY_REPLICAS else UNUSED_GRANT_GRACE_S
        if asked_at is None or asked_at <= taken_at + grace_s:
            return False
        replicas = self._gpu_replicas(spec)
        return replicas is not None and not replicas.up

    def _runs_always(self, spec: FunctionSpec) -> bool:
        """The platform runs every variant of this function at a replica whatever the pool decides: CE, or one
        that refused a scale to zero here. Its GPU's replicas hold nothing the pool could give to another."""
        config = self._config(spec)
        return spec.name in self._platform_keeps or (config is not None and config.platform == "ce")

    def _gpu_replicas(self, spec: FunctionSpec) -> Replicas | None:
        """The GPU variant's replicas at the last discovery, where they say whether it holds a GPU (not where
        it `_runs_always`), asked for after this leader's last release of it (an earlier answer still shows
        the replicas it removed). None: nothing to go by."""
        asked_at = self.gateway.registry.replicas_asked_at
        if asked_at is None or asked_at <= self._released_at.get(spec.name, -math.inf) \
                or self._config(spec) is None or self._runs_always(spec):
            return None
        return self.gateway.registry.replicas_of(spec.name, policy.GPU)

    async def _release_unrouted_gpu(self, name: str) -> None:
        """A GPU variant the provider runs replicas of for nothing: the function is routed to its CPU, no
        switch is in flight and no probation of the CPU keeps the GPU to go back to (`policy._demote`). Left
        over by a leader that stopped mid-switch, or by a restart of Redis and the plugins that lost the
        routes: it would hold a GPU of the pool, billed, forever. Scaled to zero, once per discovery that
        shows it asked for (a failed release is tried again after the next discovery)."""
        spec, entry = self.gateway.registry.get(name), self._functions.get(name)
        if spec is None or entry is None or policy.CPU not in spec.variants or entry.state.verifying:
            return
        if (entry.busy is not None and not entry.busy.done()) or self.gateway.routes.current(name).variant != policy.CPU:
            return
        replicas, asked_at = self._gpu_replicas(spec), self.gateway.registry.replicas_asked_at
        if replicas is None or replicas.desired == 0 or self._unrouted_tried.get(name) == asked_at:
            return
        self._unrouted_tried[name] = asked_at
        outcome = await self.actuator.release(spec, policy.GPU)
        if outcome.kept:
            self._platform_keeps.add(name)
        await self._released(name, policy.GPU, outcome)
        log.info("controller: %s's GPU ran %d replica(s) with the route on its CPU: %s", name, replicas.desired,
                 outcome.detail)
        await self._record(name, "scale_down", policy.GPU, None, GPU_NOT_ROUTED,
                           {"desired_replicas": replicas.desired, "available_replicas": replicas.available,
                            "detail": outcome.detail})

    def _reserved(self, spec: FunctionSpec, route: RouteState | None = None) -> bool:
        """Mode gpu, GPU only, or pinned to its GPU (``route``: its current route, where the caller has it)."""
        route = route or self.gateway.routes.current(spec.name)
        return (spec.mode == "gpu" or spec.variant_names == GPU_ONLY
                or (route.pinned and route.variant == policy.GPU))

    def _claim(self, spec: FunctionSpec, outcome, holding: Holding | None) -> pool.Claim | None:
        """What the pool sees of the function; None when it neither wants nor holds a GPU (most functions
        of a pool: the allocation sets them aside anyway)."""
        entry = self._functions.get(spec.name)
        current = self.gateway.routes.current(spec.name)
        reserved, route = self._reserved(spec, current), current.variant
        if entry is None:  # not managed by the policy (GPU only, annotations to fix): holds what it runs on
            wants = reserved or route == policy.GPU
        elif entry.busy is not None and not entry.busy.done():
            wants = entry.busy_target == policy.GPU  # a promotion in flight keeps its claim
        elif outcome is not None:
            decision = outcome[2]
            if decision.action == policy.SWITCH:
                wants = decision.target == policy.GPU
            elif decision.action == policy.SCALE_DOWN and decision.target == policy.GPU:
                wants = False
            else:  # holding: on its GPU, or waiting for one (the policy asks again after a denial)
                wants = route == policy.GPU or decision.reason == pool.WAITING_FOR_GPU
            entry.wants_gpu = wants
        else:
            wants = entry.wants_gpu if holding is None else route == policy.GPU and entry.wants_gpu
        if not (wants or reserved) and holding is None:
            return None
        # What a switch costs the pool in GPU-seconds that serve nobody: a newcomer's GPU warm-up (its
        # observed start, from an earlier switch or this holding), and a holder's hand-over if preempted:
        # the start of its CPU where that was released (a model loads again), the GPU held meanwhile.
        warmup_s = holding.warmup_s if holding is not None and holding.warmup_s is not None else 0.0
        handover_s = 0.0
        if entry is not None:
            if holding is None and entry.state.gpu.start_s is not None:
                warmup_s = entry.state.gpu.start_s
            if route == policy.GPU and entry.state.standby_released and entry.state.cpu.start_s is not None:
                handover_s = entry.state.cpu.start_s
        return pool.Claim(name=spec.name, wants=wants or reserved, holds=holding is not None,
                          terminating=holding is not None and holding.released_at is not None,
                          held_since=None if holding is None else holding.since, reserved=reserved,
                          benefit_per_s=0.0 if entry is None else entry.expected.per_s, warmup_s=warmup_s,
                          handover_s=handover_s)

    def _status(self, allocation: pool.Allocation, claims: list[pool.Claim], held: dict[str, Holding],
                now: float) -> dict:
        """What operators see of the pool (GET /gaia/v1/functions, gaia status)."""
        by_name = {claim.name: claim for claim in claims}
        preempted = {p.name: p for p in allocation.preempted}
        holders = []
        for name, holding in sorted(held.items()):
            claim = by_name.get(name)
            terminating = holding.released_at is not None and name not in allocation.kept
            state = ("preempted" if name in preempted else "terminating" if terminating
                     else "releasing" if name in allocation.releasing else "holds")
            holders.append({"function": name, "since": holding.since, "held_s": round(now - holding.since, 1),
                            "reserved": holding.reserved, "state": state,
                            "benefit_per_s": None if claim is None else round(claim.benefit_per_s, 4),
                            "by": holding.by, **({"free_at": holding.released_at + self.pool_config.release_grace_s}
                                                 if terminating else {})})
        waiting = []
        for denial in allocation.denied:
            entry = self._functions.get(denial.name)
            waiting.append({"function": denial.name, "reason": denial.reason,
                            "since": None if entry is None else entry.waiting_since,
                            "benefit_per_s": denial.numbers.get("benefit_per_s"),
                            "preempting": denial.numbers.get("preempting")})
        return {"updated_at": now, "leader": self.lease.identity, **self.capacity.describe(),
                "capacity": allocation.capacity, "preempt_ratio": self.pool_config.preempt_ratio,
                "min_dwell_s": self.pool_config.min_dwell_s, "release_grace_s": self.pool_config.release_grace_s,
                "held": len(held), "holders": holders,
                "waiting": waiting}

    async def _act(self, allocation: pool.Allocation, outcomes: dict, held: dict[str, Holding],
                   capacity: int | None, now: float, share: LoopShare) -> None:
        granted = set(allocation.granted) | set(allocation.kept)
        denied = {denial.name: denial for denial in allocation.denied}
        displaced = set()
        unsaved: dict[str, policy.PolicyState] = {}  # states the pool's answer changed: stored in one go below
        for preemption in allocation.preempted:
            if await self._preempt(preemption, held[preemption.name], now):
                displaced.add(preemption.name)
        for name, (spec, config, decision, snap) in outcomes.items():
            await share.pause()
            entry = self._functions[name]
            if name in displaced:
                continue
            try:
                if decision.action == policy.SWITCH and decision.target == policy.GPU:
                    taken = await self._grant(spec, entry, held.get(name), capacity, now) if name in granted else 0
                    if taken == 1:
                        entry.waiting_since = entry.denial_logged_at = None
                        self._start_switch(spec, config, entry, decision, snap)
                    elif taken == 0:  # denied here, or by the stored holdings' count
                        # The policy asks again after com.gaia.capacity-retry-seconds.
                        entry.state = unsaved[name] = policy.promotion_denied(entry.state, config, now)
                        await self._denied(spec, entry, decision, denied.get(name), now)
                elif name in granted and decision.reason == pool.WAITING_FOR_GPU and name not in held:
                    # The pool has a GPU for it now: it asks at its next evaluation, not after its retry.
                    entry.state = policy.capacity_available(entry.state)
                    unsaved[name] = entry.state
                elif decision.action == policy.SWITCH:
                    self._start_switch(spec, config, entry, decision, snap)
                elif decision.action == policy.SCALE_DOWN:
                    outcome = await self.actuator.release(spec, decision.target)
                    await self._released(name, decision.target, outcome)
                    await self._record(name, "scale_down", decision.target, None, decision.reason,
                                       {**decision.numbers, "detail": outcome.detail})
                if not (decision.action == policy.SWITCH and decision.target == policy.GPU
                        or decision.reason == pool.WAITING_FOR_GPU):
                    entry.waiting_since = entry.denial_logged_at = None
            except Exception as exc:  # Redis away or a platform error with one function must not stop the others
                log.warning("controller: %s not acted on: %s: %s", name, type(exc).__name__, exc)
        if unsaved:
            try:
                await self._store(unsaved, None, share)
            except Exception as exc:
                log.warning("controller: %d states not stored: %s: %s", len(unsaved), type(exc).__name__, exc)
        for name in allocation.releasing:  # a switch or release of their own started above is seen there
            try:
                await self._release_unrouted_gpu(name)
            except Exception as exc:
                log.warning("controller: %s's unrouted GPU not released: %s: %s", name, type(exc).__name__, exc)

    async def _grant(self, spec: FunctionSpec, entry: _Function, holding: Holding | None, capacity: int | None,
                     now: float) -> int:
        """Take the GPU in Redis before scaling it up, atomically checking that the pool has room and that
        we lead: 1 taken, 0 full, -1 not the leader any more."""
        taken = Holding(since=holding.since if holding is not None else now, reserved=self._reserved(spec),
                        cpu_slow_share=entry.cpu_slow_share,
                        warmup_s=None if holding is None else holding.warmup_s, by=self.lease.identity,
                        granted_at=now)
        result = await self.holdings.grant(spec.name, taken, capacity, self.lease.identity, now)
        if result == 1:
            self._held[spec.name] = taken
        return result

    async def _denied(self, spec: FunctionSpec, entry: _Function, decision: policy.Decision,
                      denial: pool.Denial | None, now: float) -> None:
        """A promotion the pool cannot serve now, logged when the wait starts, then every DENIAL_RECORD_EVERY_S."""
        if entry.waiting_since is None:
            entry.waiting_since = now
        if entry.denial_logged_at is not None and now - entry.denial_logged_at < DENIAL_RECORD_EVERY_S:
            return
        entry.denial_logged_at = now
        numbers = dict(decision.numbers)
        if denial is not None:
            holders = denial.numbers["holders"]
            numbers.update(
                capacity=denial.numbers["capacity"], benefit_per_s=denial.numbers["benefit_per_s"],
                score=denial.numbers["score"], held=sum(1 for h in holders if not h.get("granted_now")),
                preempt_ratio=denial.numbers["preempt_ratio"],
                waiting_s=round(now - entry.waiting_since, 1), preempting=denial.numbers.get("preempting"),
                holders="; ".join(f"{h['function']} {h['benefit_per_s']:g}/s "
                                  + ("granted now" if h.get("granted_now") else f"for {h['held_s']:g} s")
                                  + (" (reserved)" if h["reserved"] else "") + ("" if h["wants"] else " (releasing)")
                                  for h in holders))
            for flag in ("terminating", "waits_for_release"):  # its own GPU's pod not gone yet; one on its way to free
                if denial.numbers.get(flag):
                    numbers[flag] = True
        else:
            numbers.update(detail="the stored holdings are at capacity (another leader's grant)")
        log.info("controller: %s waits for a GPU (%s)", spec.name, numbers.get("holders", numbers.get("detail")))
        await self._record(spec.name, "denied", policy.CPU, policy.GPU, pool.GPU_POOL_FULL, numbers)

    async def _preempt(self, preemption: pool.Preemption, holding: Holding, now: float) -> bool:
        """Give a holder's GPU up: back to its CPU and release the GPU (the pool grants it once released)."""
        spec = self.gateway.registry.get(preemption.name)
        entry = self._functions.get(preemption.name)
        if spec is None or entry is None or policy.CPU not in spec.variants:
            return False
        if entry.busy is not None and not entry.busy.done():
            return True  # a switch of its own is in flight; it is preempted once that is done
        config = self._config(spec)
        if config is None:
            return False
        decision = policy.Decision(policy.SWITCH, preemption.reason, target=policy.CPU, release=policy.GPU,
                                   numbers=dict(preemption.numbers))
        route = self.gateway.routes.current(spec.name)
        snap = entry.last_snapshot or policy.Snapshot(route=route.variant, variants=spec.variant_names)
        if route.variant == policy.CPU:  # already back on its CPU, the GPU not yet released: release it now
            outcome = await self.actuator.release(spec, policy.GPU)
            await self._released(spec.name, policy.GPU, outcome)
            await self._record(spec.name, "scale_down", policy.GPU, None, preemption.reason,
                               {**preemption.numbers, "detail": outcome.detail})
        else:
            log.info("controller: %s gives its GPU up (%s%s)", spec.name, preemption.reason,
                     f" for {preemption.by}" if preemption.by else "")
            self._start_switch(spec, config, entry, decision, snap)
        return True

    async def _released(self, name: str, variant: str, outcome) -> None:
        """A release is done (not where the platform kept it running): the GPU leaves the pool once its pod
        is gone, after the release grace (`PoolConfig.release_grace_s`)."""
        if variant == policy.GPU and outcome.ok and not outcome.kept:
            released_at = time.time()
            # Without a holding (given back already): the pod terminates all the same.
            holding = self._held.get(name) or Holding(since=released_at, by=self.lease.identity)
            await self._let_go(name, holding, released_at)
            self._released_at[name] = released_at

    async def _let_go(self, name: str, holding: Holding, at: float, terminates: bool = True) -> Holding | None:
        """A holding whose GPU is let go at ``at``: kept, marked ``released_at``, while its pod terminates (the
        release grace; also in this leader's memory, which rebuilds the holdings if Redis loses them), else
        deleted. Returns the holding kept, None when deleted."""
        if terminates and self.pool_config.release_grace_s > 0:
            marked = replace(holding, released_at=at)
            await self.holdings.mark_released(name, marked)
            self._held[name] = marked
            return marked
        await self.holdings.release(name)
        self._held.pop(name, None)
        return None

    # -- switches ----------------------------------------------------------------------------------------
    def _start_switch(self, spec: FunctionSpec, config: ControllerConfig, entry: _Function,
                      decision: policy.Decision, snap: policy.Snapshot) -> None:
        entry.busy_target = decision.target
        entry.busy = asyncio.create_task(self._switch(spec, config, entry, decision, snap),
                                         name=f"gaia-switch-{spec.name}")

    async def _hybrid_standby(self, spec: FunctionSpec, config: ControllerConfig, entry: _Function,
                              plan: hybrid.Plan | None, route: str, decision: policy.Decision) -> policy.Decision:
        """Hold the standby variant up while hybrid dispatch is worth it or still learning
        (hybrid.standby_action), and give it back when not; returns the policy's decision with a release of
        a held standby taken out."""
        redis, name = self.gateway.redis, spec.name
        flag = await hybrid.standby_flag(redis, name)
        held = None if flag == hybrid.DRAINING else flag
        now = time.time()
        action, entry.standby = hybrid.standby_action(
            plan, route, replace(entry.standby, held=held, draining=flag == hybrid.DRAINING),
            entry.state.standby_released, now, self.options.hybrid_drain_s)
        standby = policy.other(route)
        # Outlives a missed evaluation and a lost leader: its successor (the lease expires in leader_ttl_s)
        # finds the standby held and decides on it; an expired flag would leave the standby up for nobody.
        ttl_s = max(5.0, 3 * config.interval_s, 3 * self.options.leader_ttl_s)
        if action == hybrid.KEEP:
            await hybrid.set_warm(redis, name, standby, ttl_s)
            if held is None:
                await self._record(name, "hybrid_on", route, standby, _hybrid_reason(plan),
                                   {"crossover_size": plan.model.crossover_size()})
            return hybrid.keep_standby(decision, standby)
        if action == hybrid.WARM_UP and decision.action == policy.HOLD and now >= entry.hybrid_retry_at:
            entry.busy_target = standby  # the CPU (hybrid holds a standby only next to a GPU route)
            entry.busy = asyncio.create_task(self._hybrid_warm_up(spec, config, entry, plan, standby, ttl_s),
                                             name=f"gaia-hybrid-{name}")
        elif action == hybrid.DRAIN:
            await hybrid.drain_standby(redis, name, ttl_s)
            if held is not None:
                await self._record(name, "hybrid_off", held, None, _hybrid_off_reason(plan),
                                   {"detail": f"{held} drains for {self.options.hybrid_drain_s:g} s, the workers "
                                              "sending it no more calls, then is released"})
            return hybrid.keep_standby(decision, standby)
        elif action in (hybrid.RELEASE_HELD, hybrid.FORGET):
            await hybrid.clear_warm(redis, name)
            if action == hybrid.RELEASE_HELD and held is None:  # a drained standby: no flag names it now
                detail = (await self.actuator.release(spec, standby)).detail
                await self._record(name, "scale_down", standby, None, "hybrid-standby-drained", {"detail": detail})
            elif action == hybrid.RELEASE_HELD:
                detail = (await self.actuator.release(spec, held)).detail
                await self._record(name, "hybrid_off", held, None, _hybrid_off_reason(plan), {"detail": detail})
            elif held is not None:
                await self._record(name, "hybrid_off", held, None, _hybrid_off_reason(plan),
                                   {"detail": "the route is on it now"})
        return decision

    async def _hybrid_warm_up(self, spec: FunctionSpec, config: ControllerConfig, entry: _Function, plan: hybrid.Plan,
                              standby: str, ttl_s: float) -> None:
        warm = await self.actuator.warm_up(spec, standby, config.warmup_timeout_s)
        if not warm.ok or not self.lease.is_leader:
            entry.hybrid_retry_at = time.time() + config.warmup_retry_s
            await self._record(spec.name, "hybrid_warmup_failed", None, standby, warm.detail, {"warmup_s": round(warm.waited_s, 3)})
            return
        await hybrid.set_warm(self.gateway.redis, spec.name, standby, ttl_s)
        await self._record(spec.name, "hybrid_on", policy.other(standby), standby, _hybrid_reason(plan),
                           {"crossover_size": plan.model.crossover_size(), "warmup_s": round(warm.waited_s, 3)})

    async def _switch(self, spec: FunctionSpec, config: ControllerConfig, entry: _Function,
                      decision: policy.Decision, snapshot: policy.Snapshot) -> None:
        name, target, origin = spec.name, decision.target, snapshot.route
        numbers = dict(decision.numbers)
        try:
            timeout_s = decision.warmup_timeout_s or config.warmup_timeout_s
            warm = await self.actuator.warm_up(spec, target, timeout_s)
            numbers["warmup_s"] = round(warm.waited_s, 3)
            if target == policy.GPU and name in self._held:
                self._held[name] = held = Holding(**{**asdict(self._held[name]), "warmup_s": round(warm.waited_s, 3)})
                await self.holdings.grant(name, held, None, self.lease.identity, time.time())
            if not warm.ok:
                await self._released(name, target, await self.actuator.release(spec, target))
                await self._failed(name, config, entry, "warmup_failed", origin, target, warm.detail, numbers,
                                   waited_s=warm.waited_s)
                return
            if not self.lease.is_leader:
                return  # lost the lease while warming up: the new leader decides afresh
            try:
                await self.gateway.routes.switch(name, target, decision.reason, by=self.lease.identity)
            except RoutePinned as exc:
                await self._failed(name, config, entry, "switch_refused", origin, target, str(exc), numbers)
                return
            entry.state = policy.switched(entry.state, decision, snapshot, time.time(), warmup_s=warm.waited_s)
            entry.fresh_from_s = None
            await self._save_state(name, entry.state)
            await self._record(name, "switch", origin, target, decision.reason, numbers)
            log.info("controller: %s %s -> %s (%s)", name, origin, target, decision.reason)
            if decision.release is not None:
                outcome = await self.actuator.release(spec, decision.release)
                await self._released(name, decision.release, outcome)
                await self._record(name, "scale_down", decision.release, None, "released-with-switch",
                                   {"detail": outcome.detail})
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # Redis away mid-switch: retry later like a failed warm-up
            await self._failed(name, config, entry, "switch_failed", origin, target, f"{type(exc).__name__}: {exc}", numbers)

    async def _failed(self, name, config, entry, action, origin, target, detail, numbers, waited_s=None) -> None:
        log.warning("controller: %s %s -> %s not switched: %s", name, origin, target, detail)
        entry.state = policy.switch_failed(entry.state, config, time.time(), target=target, waited_s=waited_s)
        try:
            await self._save_state(name, entry.state)
            await self._record(name, action, origin, target, detail, numbers)
        except Exception as exc:  # nothing more to do without Redis; the state stays in memory
            log.warning("controller: %s: cannot store the failed switch: %s", name, exc)

    async def _record(self, function, action, origin, target, reason, numbers) -> None:
        clean = {k: v for k, v in numbers.items() if v is None or isinstance(v, (int, float, str))
                 and not (isinstance(v, float) and math.isnan(v))}
        await self.decisions.append(DecisionRecord(time=time.time(), function=function, action=action,
                                                   from_variant=origin, to_variant=target, reason=reason,
                                                   numbers=clean, by=self.lease.identity))


def _hybrid_reason(plan: hybrid.Plan) -> str:
    return "sizes-split-between-variants" if plan.worth else "learning-the-standby-curve"


def _hybrid_off_reason(plan: hybrid.Plan | None) -> str:
    return ("not-sized" if plan is None else "not-learned" if not plan.model.complete else
            "standby-does-not-pay" if plan.worth_keeping and not plan.standby_pays else "sizes-not-split")


def controller_task(options: ControllerOptions = ControllerOptions()):
    """A background task for ``create_app(..., background_tasks=[...])``."""

    async def controller(app: web.Application) -> None:
        from gaia_faas.gateway_plugin.app import STATE

        await Controller(app[STATE], options).run()

    return controller


# --- GET /gaia/v1/decisions ------------------------------------------------------------------------

api_routes = web.RouteTableDef()
MAX_DECISIONS = 1000


@api_routes.get("/gaia/v1/decisions")
async def list_decisions(request: web.Request) -> web.Response:
    from gaia_faas.gateway_plugin.api import json_error
    from gaia_faas.gateway_plugin.app import STATE
    from gaia_faas.gateway_plugin.leader import LEADER_KEY
    from gaia_faas.gateway_plugin.registry import FUNCTION_NAME_RE

    state = request.app[STATE]
    raw_limit = request.query.get("limit", "100")
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_DECISIONS:
        return json_error(400, f"limit must be 1..{MAX_DECISIONS}")
    function = request.query.get("function")
    if function is not None and (len(function) > 63 or not FUNCTION_NAME_RE.match(function)):
        return json_error(400, "function names are DNS labels: a-z, 0-9 and '-', at most 63 characters")
    try:
        records = await DecisionLog(state.redis).recent(int(raw_limit), function)
        leader = await state.redis.get(LEADER_KEY)
    except Exception as exc:
        state.metrics.redis_errors.labels("decisions_read").inc()
        return json_error(503, f"cannot read decisions, Redis unreachable: {exc}")
    return web.json_response({"leader": leader.decode() if isinstance(leader, bytes) else leader,
                              "decisions": [r.to_json() for r in records]})
