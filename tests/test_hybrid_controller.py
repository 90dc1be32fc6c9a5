"""The controller's side of hybrid dispatch in OpenFaaS mode: a real Redis, the real actuator against an
OpenFaaS-like scale API on loopback. The standby (CPU) is kept from the policy's release while hybrid dispatch
is worth it, released when it is not, warmed up again when it comes back, and every step is a decision."""

from __future__ import annotations

import asyncio

import aiohttp
import redis.asyncio as aioredis

from gaia_faas.gateway_plugin import hybrid, policy
from gaia_faas.gateway_plugin.app import GatewayConfig, GatewayState
from gaia_faas.gateway_plugin.controller import Controller, ControllerOptions, _Function
from gaia_faas.gateway_plugin.controller_config import ControllerConfig
from gaia_faas.gateway_plugin.metrics import Metrics
from gaia_faas.gateway_plugin.proxy import Rotation
from gaia_faas.gateway_plugin.registry import BasicAuth, Registry
from gaia_faas.gateway_plugin.size_feature import SizeSource
from gaia_faas.gateway_plugin.size_model import CPU, GPU

from tests.test_controller_actuator import Platform, spec
from tests.test_size_model import SIZES, STEEP_CPU, histograms


def test_the_standby_is_held_released_and_warmed_up_again(redis_url):
    config = ControllerConfig(price_cpu=1.0, price_gpu=1.0, warmup_timeout_s=5.0)
    source = SizeSource("json", "n")
    split = hybrid.make_plan(source, config, histograms(STEEP_CPU, SIZES), False, 0.0)
    one_sided = hybrid.make_plan(source, config, histograms({CPU: lambda s: 20.0, GPU: lambda s: 60.0}, SIZES), False, 0.0)
    # The same split over 10 minutes: its calls save far less GPU time than a CPU replica costs at price 1.
    costly = hybrid.make_plan(source, config, histograms(STEEP_CPU, SIZES), False, 0.0, span_s=600.0)

    async def scenario():
        async with Platform(refuse_zero=False) as platform, aiohttp.ClientSession() as client:
            redis = aioredis.Redis.from_url(redis_url)
            state = GatewayState(config=GatewayConfig(redis_url=redis_url, upstream_url=platform.url,
                                                      basic_auth=BasicAuth("admin", "s3cret")),
                                 metrics=Metrics(), registry=Registry(), rotation=Rotation(), redis=redis, client=client)
            controller = Controller(state, ControllerOptions(hybrid_drain_s=0.2), identity="test")
            controller.actuator.poll_interval_s = 0.05
            assert await controller.lease.try_acquire()  # a warm-up counts only while this replica leads
            function = spec(platform.url)
            entry = _Function(state=policy.PolicyState())
            hold = policy.Decision(policy.HOLD, "gpu-meets-slo")
            try:
                # On the GPU after its probation: the policy releases the CPU; hybrid dispatch keeps it.
                release = policy.Decision(policy.SCALE_DOWN, "gpu-verified", target=CPU)
                kept = await controller._hybrid_standby(function, config, entry, split, GPU, release)
                flag = await hybrid.standby_flag(redis, "matmul")
                flag_ms = await redis.pttl(hybrid.WARM_KEY_PREFIX + "matmul")
                # Sizes no longer split: the held CPU drains first (the workers stop sending it calls; the
                # policy's release of it waits too), then goes.
                draining = await controller._hybrid_standby(function, config, entry, one_sided, GPU, release)
                flag_draining = await hybrid.standby_flag(redis, "matmul")
                still_up = list(platform.scale_calls)
                await asyncio.sleep(0.25)
                await controller._hybrid_standby(function, config, entry, one_sided, GPU, hold)
                flag_after = await hybrid.standby_flag(redis, "matmul")
                released = list(platform.scale_calls)
                # Split again, the CPU released by now: it is warmed up, then held.
                entry.state = policy.PolicyState(standby_released=True)
                await controller._hybrid_standby(function, config, entry, split, GPU, hold)
                await asyncio.wait_for(entry.busy, 5)
                flag_warm = await hybrid.standby_flag(redis, "matmul")
                # The leader is lost; its successor (nothing in memory) finds the standby held. Split, but not
                # worth its standby: it drains. Lost again: the next leader finds the drain in Redis, drains
                # from then and releases it, the function's size plan gone meanwhile (size-from removed).
                successor = _Function(state=entry.state)
                await controller._hybrid_standby(function, config, successor, costly, GPU, hold)
                drain_ms = await redis.pttl(hybrid.WARM_KEY_PREFIX + "matmul")
                third = _Function(state=entry.state)
                await controller._hybrid_standby(function, config, third, None, GPU, hold)
                before_drained = len(platform.scale_calls)
                await asyncio.sleep(0.25)
                await controller._hybrid_standby(function, config, third, None, GPU, hold)
                flag_costly = await hybrid.standby_flag(redis, "matmul")
                decisions = await controller.decisions.recent(10, "matmul")
            finally:
                await controller.lease.release()
                await redis.aclose()
            return (kept, flag, draining, flag_draining, still_up, flag_after, released, list(platform.scale_calls),
                    flag_warm, before_drained, flag_costly, decisions, flag_ms, drain_ms)

    (kept, flag, draining, flag_draining, still_up, flag_after, released, scale_calls, flag_warm, before_drained,
     flag_costly, decisions, flag_ms, drain_ms) = asyncio.run(scenario())
    assert kept.action == policy.HOLD and "kept for hybrid dispatch" in kept.reason and flag == CPU
    # Both flags outlive a lost leader: its lease expires in leader_ttl_s, and a successor takes over then.
    leader_ttl_ms = ControllerOptions().leader_ttl_s * 1000
    assert flag_ms > 2 * leader_ttl_ms and drain_ms > 2 * leader_ttl_ms
    assert draining.action == policy.HOLD and flag_draining == hybrid.DRAINING and still_up == []
    to_zero = {"path": "matmul-cpu", "serviceName": "matmul-cpu", "replicas": 0}
    assert released == [to_zero] and flag_after is None
    assert scale_calls[1:] == [{"path": "matmul-cpu", "serviceName": "matmul-cpu", "replicas": 1}, to_zero]
    assert before_drained == 2  # the third leader's first look only restarted the drain
    assert flag_warm == CPU and flag_costly is None
    assert [(d.action, d.reason) for d in reversed(decisions)] == [
        ("hybrid_on", "sizes-split-between-variants"), ("hybrid_off", "sizes-not-split"),
        ("scale_down", "hybrid-standby-drained"), ("hybrid_on", "sizes-split-between-variants"),
        ("hybrid_off", "standby-does-not-pay"), ("scale_down", "hybrid-standby-drained")]
    assert decisions[-1].numbers["crossover_size"] > 0
