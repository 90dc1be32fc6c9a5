"""The controller loop: stats windows -> policy -> actuator, on the leader replica only.

Runs as a background task of the gateway plugin (``controller_task(options)``; every gunicorn worker of
every replica runs one, and the leader lease lets exactly one act). Each managed function with both
variants and a valid configuration is evaluated every ``interval_s``:

1. read its windows from the recorded stats (``stats.py``: merged over all replicas), the route and pin
   from the route table;
2. ``policy.decide`` (the same code as ``gaia replay``);
3. act: a switch runs as its own task (warm-up can take seconds; other functions go on being evaluated,
   this one is not evaluated meanwhile); a release scales the old variant down.

The policy state of every function lives in Redis (``gaia:controller:state:NAME``), so a replica that
takes over the lease continues with the same back-offs and switch counts. Every action is appended to the
decision stream (``decisions.py``) and served at ``GET /gaia/v1/decisions``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from dataclasses import asdict, dataclass, fields

from aiohttp import web

from gaia_faas.gateway_plugin import policy, snapshot
from gaia_faas.gateway_plugin.actuator import DEFAULT_WARMUP_PATH, Actuator
from gaia_faas.gateway_plugin.controller_config import ConfigError, ControllerConfig
from gaia_faas.gateway_plugin.decisions import DecisionLog, DecisionRecord
from gaia_faas.gateway_plugin.leader import LeaderLease
from gaia_faas.gateway_plugin.registry import FunctionSpec
from gaia_faas.gateway_plugin.routes import RoutePinned
from gaia_faas.gateway_plugin import hybrid

STATE_KEY_PREFIX = "gaia:controller:state:"

log = logging.getLogger("gaia.controller")


@dataclass(frozen=True)
class ControllerOptions:
    leader_ttl_s: float = 5.0
    tick_s: float = 0.25  # how often the loop looks for functions due for evaluation
    flush_lag_s: float = 0.3  # a second is read once it ended this long ago (the recorder flushes every 250 ms)
    warmup_path: str = DEFAULT_WARMUP_PATH


@dataclass
class _Function:
    state: policy.PolicyState
    next_eval: float = 0.0
    fresh_from_s: int | None = None  # first whole second not yet counted as fresh
    hybrid_retry_at: float = 0.0  # after a failed warm-up of the standby for hybrid dispatch, not before this
    standby: hybrid.Standby = hybrid.Standby()  # its learn_until (the held standby itself is read from Redis)
    busy: asyncio.Task | None = None


def state_to_json(state: policy.PolicyState) -> str:
    return json.dumps(asdict(state))


def _known(cls, data: dict) -> dict:
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in data.items() if k in names}


def _memory_from_json(data: dict) -> policy.VariantMemory:
    values = _known(policy.VariantMemory, data)
    values["bands"] = tuple(policy.Band(**_known(policy.Band, band)) for band in values.get("bands", ()))
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
        self._functions: dict[str, _Function] = {}
        self._config_errors: dict[str, str] = {}

    async def run(self) -> None:
        lease_task = asyncio.create_task(self.lease.run(), name="gaia-leader-lease")
        try:
            while True:
                if self.lease.is_leader:
                    await self.tick(time.time())
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

    async def tick(self, now: float) -> None:
        for name in self.gateway.registry.names():
            spec = self.gateway.registry.get(name)
            if spec is None or set(spec.variants) != {policy.CPU, policy.GPU}:
                continue
            config = self._config(spec)
            if config is None:
                continue
            try:
                entry = self._functions.get(name)
                if entry is None:
                    entry = self._functions[name] = _Function(state=await self._load_state(name))
                if (entry.busy is not None and not entry.busy.done()) or now < entry.next_eval:
                    continue
                entry.next_eval = now + config.interval_s
                await self.evaluate(spec, config, entry, now)
            except Exception as exc:  # Redis away or a bug in one function must not stop the others
                log.warning("controller: %s not evaluated: %s: %s", name, type(exc).__name__, exc)

    def _config(self, spec: FunctionSpec) -> ControllerConfig | None:
        try:
            config = ControllerConfig.from_annotations(spec.annotations)
        except ConfigError as exc:
            if self._config_errors.get(spec.name) != str(exc):
                log.error("controller: %s is not managed until its annotations are fixed: %s", spec.name, exc)
                self._config_errors[spec.name] = str(exc)
            return None
        self._config_errors.pop(spec.name, None)
        return config

    async def _load_state(self, name: str) -> policy.PolicyState:
        return state_from_json(await self.gateway.redis.get(STATE_KEY_PREFIX + name))

    async def _save_state(self, name: str, state: policy.PolicyState) -> None:
        await self.gateway.redis.set(STATE_KEY_PREFIX + name, state_to_json(state))

    async def snapshot(self, spec: FunctionSpec, config: ControllerConfig, entry: _Function, now: float) -> policy.Snapshot:
        route = self.gateway.routes.current(spec.name)
        end_s = snapshot.readable_end_s(now, self.options.flush_lag_s)
        start_s = min(snapshot.horizon_start_s(entry.state, config, now), end_s - 1)
        if entry.fresh_from_s is not None:
            start_s = min(start_s, entry.fresh_from_s)
        fetched = await self.gateway.stats.fetch(spec.name, (policy.CPU, policy.GPU), start_s, end_s)
        taken = snapshot.build_snapshot(
            route=route.variant, variants=frozenset(spec.variants), pinned=route.pinned,
            series={variant: snapshot.BucketSeries(buckets) for variant, buckets in fetched.items()},
            state=entry.state, config=config, now=now, end_s=end_s, fresh_from_s=entry.fresh_from_s)
        entry.fresh_from_s = end_s
        return taken

    async def evaluate(self, spec: FunctionSpec, config: ControllerConfig, entry: _Function, now: float) -> None:
        snapshot = await self.snapshot(spec, config, entry, now)
        decision, new_state = policy.decide(snapshot, config, entry.state, now)
        if new_state != entry.state:
            entry.state = new_state
            await self._save_state(spec.name, new_state)
        plan = self.gateway.sizing.plans.get(spec.name)
        if plan is not None:
            decision = await self._hybrid_standby(spec, config, entry, plan, snapshot.route, decision)
        if decision.action == policy.SWITCH:
            entry.busy = asyncio.create_task(self._switch(spec, config, entry, decision, snapshot),
                                             name=f"gaia-switch-{spec.name}")
        elif decision.action == policy.SCALE_DOWN:
            outcome = await self.actuator.release(spec, decision.target)
            await self._record(spec.name, "scale_down", decision.target, None, decision.reason,
                               {**decision.numbers, "detail": outcome.detail})

    async def _hybrid_standby(self, spec: FunctionSpec, config: ControllerConfig, entry: _Function, plan: hybrid.Plan,
                              route: str, decision: policy.Decision) -> policy.Decision:
        """Hold the standby variant up while hybrid dispatch is worth it or still learning
        (hybrid.standby_action), and give it back when not; returns the policy's decision with a release of
        a held standby taken out."""
        redis, name = self.gateway.redis, spec.name
        held = await hybrid.held_standby(redis, name)
        now = time.time()
        action, entry.standby = hybrid.standby_action(plan, route, hybrid.Standby(held, entry.standby.learn_until),
                                                      entry.state.standby_released, now)
        standby = policy.other(route)
        ttl_s = max(5.0, 3 * config.interval_s)  # outlives a missed evaluation, not a lost leader
        if action == hybrid.KEEP:
            await hybrid.set_warm(redis, name, standby, ttl_s)
            if held is None:
                await self._record(name, "hybrid_on", route, standby, _hybrid_reason(plan),
                                   {"crossover_size": plan.model.crossover_size()})
            return hybrid.keep_standby(decision, standby)
        if action == hybrid.WARM_UP and decision.action == policy.HOLD and now >= entry.hybrid_retry_at:
            entry.busy = asyncio.create_task(self._hybrid_warm_up(spec, config, entry, plan, standby, ttl_s),
                                             name=f"gaia-hybrid-{name}")
        elif action in (hybrid.RELEASE_HELD, hybrid.FORGET):
            await hybrid.clear_warm(redis, name)
            detail = "the route is on it now"
            if action == hybrid.RELEASE_HELD:
                detail = (await self.actuator.release(spec, held)).detail
            await self._record(name, "hybrid_off", held, None, "sizes-not-split" if plan.model.complete else "not-learned",
                               {"detail": detail})
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
            if not warm.ok:
                await self.actuator.release(spec, target)
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
