"""The GPU pool after Redis and every plugin restarted at once (routes, holdings and the leader's memory gone,
the GPU deployments still up): the new leader counts a GPU variant the provider reports replicas of, so it
never grants that GPU a second time; scales down a GPU left up with the route on its CPU; and gives the GPU
on once that is done. A real Redis, the real controller and discovery against an
OpenFaaS-like gateway on loopback (`GET /system/functions` with replicas, the scale API, health)."""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
import pytest
import redis.asyncio as aioredis
from aiohttp import web

from gaia_faas.gateway_plugin import pool
from gaia_faas.gateway_plugin.app import GatewayConfig, GatewayState, refresh_registry
from gaia_faas.gateway_plugin.controller import BY_REPLICAS, GPU_NOT_ROUTED, Controller, ControllerOptions
from gaia_faas.gateway_plugin.holdings import STATUS_KEY, Holding, Holdings
from gaia_faas.gateway_plugin.metrics import Metrics
from gaia_faas.gateway_plugin.proxy import Rotation
from gaia_faas.gateway_plugin.registry import Registry, Replicas, parse_openfaas_functions
from gaia_faas.gateway_plugin.routes import RouteTable
from gaia_faas.gateway_plugin.stats import StatsReader, StatsRecorder
from tests.loopback_app import LoopbackApp

FUNCTIONS = ("left", "slow")  # left: its GPU left up by the previous leader; slow: misses its SLO on the CPU


class Provider(LoopbackApp):
    """An OpenFaaS gateway's system API: the functions with their replicas, the scale API, and every
    variant's health check. A scale to zero shows at once in both counts, as faas-netes reports a Deployment
    (`availableReplicas` leaves out a pod being deleted). ``refuses_zero``: the scale API refuses zero, as
    CE does, whatever the functions' annotations say (default: on CE)."""

    def __init__(self, platform: str, refuses_zero: bool | None = None, modes: dict[str, str] | None = None):
        super().__init__()
        self.platform = platform
        self.refuses_zero = platform == "ce" if refuses_zero is None else refuses_zero
        self.modes = modes or dict.fromkeys(FUNCTIONS, "cpu_preferred")  # function -> com.gaia.mode
        self.replicas = {f"{name}-{variant}": [1, 1] for name in self.modes for variant in ("cpu", "gpu")}
        if "slow" in self.modes:
            self.replicas["slow-gpu"] = [0, 0]
        self.scale_calls: list[tuple[str, int]] = []
        self.runner = None

    async def functions(self, request: web.Request) -> web.Response:
        return web.json_response([
            {"name": service, "namespace": "openfaas-fn", "replicas": desired, "availableReplicas": available,
             "labels": {"com.gaia.function": service.rsplit("-", 1)[0], "com.gaia.variant": service.rsplit("-", 1)[1]},
             "annotations": {"com.gaia.mode": self.modes[service.rsplit("-", 1)[0]], "com.gaia.slo-ms": "200",
                             "com.gaia.platform": self.platform}}
            for service, (desired, available) in sorted(self.replicas.items())])

    async def scale(self, request: web.Request) -> web.Response:
        service, replicas = request.match_info["name"], (await request.json())["replicas"]
        self.scale_calls.append((service, replicas))
        if replicas == 0 and self.refuses_zero:
            return web.Response(status=400, text="replicas must be at least 1")
        self.replicas[service] = [replicas, replicas]
        return web.Response(status=202)

    async def health(self, request: web.Request) -> web.Response:
        return web.Response(text="OK")

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/system/functions", self.functions)
        app.router.add_post("/system/scale-function/{name}", self.scale)
        app.router.add_get("/function/{name}/_/health", self.health)


def test_discovery_reads_each_variants_replicas_and_ignores_what_is_not_a_count():
    def service(name, variant, **counts):
        return {"name": f"{name}-{variant}", "labels": {"com.gaia.function": name, "com.gaia.variant": variant},
                "annotations": {}, **counts}

    found = parse_openfaas_functions([
        service("a", "cpu", replicas=1, availableReplicas=1), service("a", "gpu", replicas=0, availableReplicas=1),
        service("b", "cpu", replicas="2", availableReplicas=True), service("b", "gpu"),
        service("c", "gpu", replicas=3)], "http://g")
    assert found.replicas == {"a": {"cpu": Replicas(1, 1), "gpu": Replicas(0, 1)}, "c": {"gpu": Replicas(3, 0)}}
    assert found.replicas["a"]["gpu"].up and not Replicas(0, 0).up


class Cluster:
    """One plugin's controller, as after a restart of everything: a fresh Redis, no routes, no memory.
    ``pool_config``: the default's, but a release grace of 0 (the loopback provider's pods are gone at once)."""

    def __init__(self, provider: Provider, redis_url: str, release_grace_s: float = 0.0, capacity: int = 1,
                 min_dwell_s: float = pool.PoolConfig().min_dwell_s):
        self.provider, self.redis_url, self.capacity = provider, redis_url, capacity
        self.pool_config = pool.PoolConfig(release_grace_s=release_grace_s, min_dwell_s=min_dwell_s)

    async def __aenter__(self) -> "Cluster":
        self.client = aiohttp.ClientSession()
        self.redis = aioredis.Redis.from_url(self.redis_url)
        await self.redis.flushall()
        config = GatewayConfig(redis_url=self.redis_url, upstream_url=self.provider.url, gpu_capacity=self.capacity,
                               gpu_capacity_from_cluster=False, pool=self.pool_config)
        registry = Registry()
        self.state = GatewayState(config=config, metrics=Metrics(), registry=registry, rotation=Rotation(),
                                  redis=self.redis, client=self.client)
        self.state.stats = StatsReader(self.redis)
        self.state.routes = RouteTable(self.redis, registry.start_variant)
        self.recorder = StatsRecorder(self.redis)
        self.controller = Controller(self.state, ControllerOptions(), identity="new-leader")
        self.controller.actuator.poll_interval_s = 0.05
        assert await self.controller.lease.try_acquire()
        await refresh_registry(self.state)
        assert self.state.registry_error is None and self.state.registry.names() == sorted(self.provider.modes)
        return self

    async def __aexit__(self, *exc) -> None:
        await self.controller.lease.release()
        await self.redis.aclose()
        await self.client.close()

    async def traffic(self, seconds: range) -> None:
        """Five calls a second of each function on its route: slow misses its 200 ms SLO on the CPU."""
        for second in seconds:
            self.recorder._clock = lambda second=second: second + 0.5
            for name in self.provider.modes:
                variant = self.state.routes.current(name).variant
                latency = 400.0 if name == "slow" and variant == "cpu" else 50.0
                for _ in range(5):
                    self.recorder.record(name, variant, latency, 200)
        await self.recorder.flush()

    async def evaluate(self, discover: bool = True) -> None:
        """A second later: its calls, a discovery (as every 10 s), one evaluation, its switches done."""
        await asyncio.sleep(1.05)
        now = time.time()
        await self.traffic(range(int(now) - 2, int(now)))
        if discover:
            await refresh_registry(self.state)
        assert await self.controller.lease.try_acquire()  # renewed, as the controller's loop does
        await self.controller.tick(now)
        busy = [e.busy for e in self.controller._functions.values() if e.busy is not None]
        await asyncio.gather(*busy, return_exceptions=True)

    async def holders(self) -> dict[str, str]:
        held, _ = await Holdings(self.redis).load()
        return {name: holding.by for name, holding in held.items()}

    async def decisions(self, name: str) -> list[tuple[str, str]]:
        return [(d.action, d.reason) for d in reversed(await self.controller.decisions.recent(50, name))]


def test_a_gpu_left_up_counts_in_the_pool_is_scaled_down_and_its_gpu_granted_once_released(redis_url):
    async def scenario():
        async with Provider("pro") as provider, Cluster(provider, redis_url) as cluster:
            now = time.time()
            await cluster.traffic(range(int(now) - 11, int(now)))
            await cluster.controller.tick(now)
            first = (await cluster.holders(), list(provider.scale_calls), await cluster.decisions("slow"),
                     await cluster.decisions("left"))
            for _ in range(3):
                await cluster.evaluate()
            routes = {name: cluster.state.routes.current(name).variant for name in FUNCTIONS}
            return first, await cluster.holders(), list(provider.scale_calls), routes

    first, holders, scale_calls, routes = asyncio.run(scenario())
    held_first, calls_first, slow_first, left_first = first
    # The first evaluation: left's GPU counted (the one GPU of the pool), slow's promotion denied, and the
    # GPU left up with the route on its CPU scaled down, its holding given back once that was done.
    assert ("denied", pool.GPU_POOL_FULL) in slow_first and ("switch", "cpu-violates-slo") not in slow_first
    assert left_first == [("scale_down", GPU_NOT_ROUTED)]
    assert calls_first == [("left-gpu", 0)] and held_first == {}
    # Scaled down once; the GPU then goes to slow.
    assert holders == {"slow": "new-leader"} and routes == {"left": "cpu", "slow": "gpu"}
    assert scale_calls == [("left-gpu", 0), ("slow-gpu", 1)]


def test_a_released_gpu_is_granted_again_only_once_its_pod_is_gone(redis_url):
    """faas-netes reports 0 replicas as soon as a scale to zero is done, but the pod terminates for up to its
    grace and holds its GPU meanwhile: the released GPU stays in the holdings (``released_at``, state
    ``terminating`` in the pool's status) for the release grace, the waiting function is denied until then,
    and gets the GPU after."""
    grace_s = 2.5

    async def scenario():
        async with Provider("pro") as provider, Cluster(provider, redis_url, release_grace_s=grace_s) as cluster:
            now = time.time()
            await cluster.traffic(range(int(now) - 11, int(now)))
            await cluster.controller.tick(now)
            released, _ = await Holdings(cluster.redis).load()
            within = []
            for _ in range(4):  # one evaluation a second: two within the grace, two after
                await cluster.evaluate()
                within.append((time.time() - released["left"].released_at < grace_s, await cluster.holders(),
                               cluster.state.routes.current("slow").variant))
            status = json.loads(await cluster.redis.get(STATUS_KEY))
            return released, within, list(provider.scale_calls), await cluster.decisions("slow"), status

    released, within, scale_calls, slow, status = asyncio.run(scenario())
    assert set(released) == {"left"} and released["left"].released_at is not None
    for inside, holders, route in within:
        if inside:  # left's pod still terminating: its GPU is not the pool's to give
            assert holders == {"left": BY_REPLICAS} and route == "cpu"
    assert within[-1][1:] == ({"slow": "new-leader"}, "gpu")
    assert any(inside for inside, _, _ in within)
    assert scale_calls == [("left-gpu", 0), ("slow-gpu", 1)]
    assert ("denied", pool.GPU_POOL_FULL) in slow
    assert status["release_grace_s"] == grace_s


def test_a_terminating_gpu_shows_in_the_pools_status(redis_url):
    async def scenario():
        async with Provider("pro") as provider, Cluster(provider, redis_url, release_grace_s=60.0) as cluster:
            now = time.time()
            await cluster.traffic(range(int(now) - 11, int(now)))
            await cluster.controller.tick(now)
            await cluster.evaluate()
            return json.loads(await cluster.redis.get(STATUS_KEY))

    status = asyncio.run(scenario())
    (left,) = status["holders"]
    assert left["function"] == "left" and left["state"] == "terminating"
    assert 55.0 < left["free_at"] - time.time() <= 60.0
    assert [w["function"] for w in status["waiting"]] == ["slow"]


def test_a_gpu_the_provider_will_not_scale_to_zero_gives_its_holding_back(redis_url):
    """A platform that refuses a scale to zero (CE, without com.gaia.platform: ce saying so) runs the GPU
    variant whatever the pool decides: its replicas count once, the refusal says they hold nothing the pool
    could give, and the waiting function gets the GPU instead of waiting for good."""
    async def scenario():
        async with Provider("pro", refuses_zero=True) as provider, Cluster(provider, redis_url) as cluster:
            now = time.time()
            await cluster.traffic(range(int(now) - 11, int(now)))
            await cluster.controller.tick(now)
            first = await cluster.holders()
            for _ in range(3):
                await cluster.evaluate()
            routes = {name: cluster.state.routes.current(name).variant for name in FUNCTIONS}
            return first, await cluster.holders(), list(provider.scale_calls), routes, await cluster.decisions("left")

    first, holders, scale_calls, routes, left = asyncio.run(scenario())
    assert first == {"left": BY_REPLICAS}
    assert holders == {"slow": "new-leader"} and routes == {"left": "cpu", "slow": "gpu"}
    assert scale_calls == [("left-gpu", 0), ("slow-gpu", 1)] and left == [("scale_down", GPU_NOT_ROUTED)]


def test_on_openfaas_ce_a_running_gpu_variant_does_not_count_and_is_not_scaled_down(redis_url):
    """CE runs every variant at one replica always (it refuses zero): a replica there says nothing the pool
    could give to another function, so replicas do not count and nothing is scaled down."""
    async def scenario():
        async with Provider("ce") as provider, Cluster(provider, redis_url) as cluster:
            now = time.time()
            await cluster.traffic(range(int(now) - 11, int(now)))
            await cluster.controller.tick(now)
            for _ in range(2):
                await cluster.evaluate()
            return await cluster.holders(), list(provider.scale_calls), await cluster.decisions("left")

    holders, scale_calls, left = asyncio.run(scenario())
    assert holders == {"slow": "new-leader"} and scale_calls == [("slow-gpu", 1)]
    assert left == []


@pytest.mark.parametrize("release_grace_s", [0.0, 2.0])
def test_a_grant_whose_gpu_never_came_up_is_given_back(redis_url, release_grace_s):
    """A leader that stopped between its grant and the scale-up leaves a holding that nothing holds: once a
    discovery asked well after it shows no GPU replica (the route on the CPU, no switch in flight), the GPU
    goes to the function that waits for it, instead of the pool staying one GPU short for good. No replica
    may also be the platform's own idle scale-down, its pod still terminating: with a release grace the
    holding goes only after it."""
    async def scenario():
        async with Provider("pro") as provider, Cluster(provider, redis_url, release_grace_s=release_grace_s) as cluster:
            provider.replicas["left-gpu"] = [0, 0]
            now = time.time()
            await Holdings(cluster.redis).record({"left": Holding(since=now - 30.0, by="old-leader")}, now)
            await refresh_registry(cluster.state)
            await cluster.traffic(range(int(now) - 11, int(now)))
            await cluster.controller.tick(now)
            first, _ = await Holdings(cluster.redis).load()
            for _ in range(4):
                await cluster.evaluate()
            routes = {name: cluster.state.routes.current(name).variant for name in FUNCTIONS}
            return first, await cluster.holders(), list(provider.scale_calls), routes

    first, holders, scale_calls, routes = asyncio.run(scenario())
    if release_grace_s:  # kept, terminating, and the pool full meanwhile
        assert set(first) == {"left"} and first["left"].released_at is not None
    else:  # given back at once, and the GPU granted in the same evaluation
        assert "left" not in first
    assert holders == {"slow": "new-leader"} and routes == {"left": "cpu", "slow": "gpu"}
    assert scale_calls == [("slow-gpu", 1)]


@pytest.mark.parametrize("since_s, granted_s", [(1.0, None), (300.0, 1.0)], ids=["grant", "re-grant"])
def test_a_fresh_grant_keeps_its_gpu_before_its_scale_up_can_show(redis_url, since_s, granted_s):
    """Within UNUSED_GRANT_GRACE_S of a grant the provider may not show its replica yet (another leader's
    scale-up on its way): the holding stays and the waiting function waits. A holding granted again (over
    one counted for replicas, or one whose release failed) keeps ``since`` for its dwell, but its scale-up
    is as fresh as the grant: the grace counts from the grant."""
    async def scenario():
        async with Provider("pro") as provider, Cluster(provider, redis_url) as cluster:
            provider.replicas["left-gpu"] = [0, 0]
            now = time.time()
            holding = Holding(since=now - since_s, by="old-leader",
                              granted_at=None if granted_s is None else now - granted_s)
            await Holdings(cluster.redis).record({"left": holding}, now)
            await refresh_registry(cluster.state)
            await cluster.traffic(range(int(now) - 11, int(now)))
            await cluster.controller.tick(now)
            await cluster.evaluate()
            return await cluster.holders(), list(provider.scale_calls), await cluster.decisions("slow")

    holders, scale_calls, slow = asyncio.run(scenario())
    assert holders == {"left": "old-leader"} and scale_calls == []
    assert ("denied", pool.GPU_POOL_FULL) in slow


def test_a_preemptor_waits_for_the_gpu_it_freed_and_preempts_no_second_holder(redis_url):
    """Two GPUs held by two functions (on their GPUs, past their dwell), a third one missing its SLO: it
    preempts one holder and then waits for that GPU while its pod terminates, instead of preempting the other
    holder at its next evaluations too (a second GPU idle for the same function)."""
    modes = {"held-a": "gpu_preferred", "held-b": "gpu_preferred", "slow": "cpu_preferred"}

    async def scenario():
        async with Provider("pro", modes=modes) as provider, \
                Cluster(provider, redis_url, release_grace_s=4.0, capacity=2, min_dwell_s=0.0) as cluster:
            now = time.time()
            await Holdings(cluster.redis).record({name: Holding(since=now - 600, by="new-leader")
                                                  for name in ("held-a", "held-b")}, now)
            await cluster.traffic(range(int(now) - 11, int(now)))
            preempted = []
            for _ in range(7):  # the grace (4 s) and after
                await cluster.evaluate()
                preempted += [p.name for p in cluster.controller.last_allocation.preempted]
            routes = {name: cluster.state.routes.current(name).variant for name in modes}
            return preempted, routes, list(provider.scale_calls)

    preempted, routes, scale_calls = asyncio.run(scenario())
    assert len(preempted) == 1, preempted  # one holder gave its GPU up, once
    (loser,) = preempted
    assert routes[loser] == "cpu" and routes["slow"] == "gpu"
    assert [call for call in scale_calls if call[1] == 0] == [(f"{loser}-gpu", 0)]


def test_a_deleted_functions_gpu_is_held_while_its_pod_terminates(redis_url):
    """`faas-cli remove` deletes the Deployment; its pod terminates like a released one and keeps its GPU: the
    holding stays (terminating) for the grace, then goes, and the waiting function gets the GPU."""
    async def scenario():
        async with Provider("pro", modes={"slow": "cpu_preferred"}) as provider, \
                Cluster(provider, redis_url, release_grace_s=2.5) as cluster:
            now = time.time()
            await Holdings(cluster.redis).record({"removed": Holding(since=now - 600, by="new-leader")}, now)
            await cluster.traffic(range(int(now) - 11, int(now)))
            await cluster.controller.tick(now)
            marked, _ = await Holdings(cluster.redis).load()
            status = json.loads(await cluster.redis.get(STATUS_KEY))
            for _ in range(4):
                await cluster.evaluate()
            return marked, status, await cluster.holders(), cluster.state.routes.current("slow").variant

    marked, status, holders, route = asyncio.run(scenario())
    assert set(marked) == {"removed"} and marked["removed"].released_at is not None
    assert [(h["function"], h["state"]) for h in status["holders"]] == [("removed", "terminating")]
    assert [w["function"] for w in status["waiting"]] == ["slow"]
    assert holders == {"slow": "new-leader"} and route == "gpu"
