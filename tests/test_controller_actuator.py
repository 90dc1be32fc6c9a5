"""The actuator against real HTTP servers on loopback: an OpenFaaS-like API and variants that start slowly."""

from __future__ import annotations

import asyncio
import base64
import time

import aiohttp
from aiohttp import web

from gaia_faas.gateway_plugin.actuator import Actuator
from gaia_faas.gateway_plugin.registry import BasicAuth, FunctionSpec, VariantTarget
from gaia_faas.processes import free_port
from tests.loopback_app import LoopbackApp


class Platform(LoopbackApp):
    """Scale API with basic auth (CE rules: 0 replicas refused) and variants answering /_/health."""

    def __init__(self, ready_after_polls: int = 0, refuse_zero: bool = True):
        super().__init__()
        self.scale_calls: list[dict] = []
        self.health_polls = 0
        self.ready_after_polls = ready_after_polls
        self.refuse_zero = refuse_zero

    async def scale(self, request: web.Request) -> web.Response:
        expected = "Basic " + base64.b64encode(b"admin:s3cret").decode()
        if request.headers.get("Authorization") != expected:
            return web.Response(status=401, headers={"WWW-Authenticate": 'Basic realm="Restricted"'})
        body = await request.json()
        self.scale_calls.append({"path": request.match_info["name"], **body})
        if body["replicas"] == 0 and self.refuse_zero:
            return web.Response(status=400, text="replicas must be at least 1")
        return web.Response(status=202)

    async def health(self, request: web.Request) -> web.Response:
        self.health_polls += 1
        if self.health_polls <= self.ready_after_polls:
            return web.Response(status=503, text="no endpoints available")
        return web.Response(text="OK")

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/system/scale-function/{name}", self.scale)
        app.router.add_get("/function/{name}/_/health", self.health)


def spec(base: str) -> FunctionSpec:
    return FunctionSpec("matmul", {
        "cpu": VariantTarget("cpu", f"{base}/function/matmul-cpu", service="matmul-cpu"),
        "gpu": VariantTarget("gpu", f"{base}/function/matmul-gpu", service="matmul-gpu")})


def run(coro):
    return asyncio.run(coro)


def test_openfaas_scale_up_then_wait_until_the_variant_answers():
    async def scenario():
        async with Platform(ready_after_polls=3) as platform, aiohttp.ClientSession() as client:
            actuator = Actuator(client, upstream_url=platform.url, basic_auth=BasicAuth("admin", "s3cret"),
                                static_mode=False, poll_interval_s=0.05)
            outcome = await actuator.warm_up(spec(platform.url), "gpu", timeout_s=5)
            assert outcome.ok and "answered 200" in outcome.detail
            assert platform.scale_calls == [{"path": "matmul-gpu", "serviceName": "matmul-gpu", "replicas": 1}]
            assert platform.health_polls == 4  # three 503s while it starts, then ready

    run(scenario())


def test_a_variant_that_never_answers_is_given_up_within_the_timeout():
    async def scenario():
        async with Platform(ready_after_polls=10_000) as platform, aiohttp.ClientSession() as client:
            actuator = Actuator(client, upstream_url=platform.url, basic_auth=BasicAuth("admin", "s3cret"),
                                static_mode=False, poll_interval_s=0.05)
            started = time.monotonic()
            outcome = await actuator.warm_up(spec(platform.url), "gpu", timeout_s=0.5)
            assert not outcome.ok and "did not answer within 0.5 s (status 503)" in outcome.detail
            assert time.monotonic() - started < 1.5

    run(scenario())


def test_wrong_credentials_are_reported():
    async def scenario():
        async with Platform() as platform, aiohttp.ClientSession() as client:
            actuator = Actuator(client, upstream_url=platform.url, basic_auth=BasicAuth("admin", "wrong"),
                                static_mode=False)
            outcome = await actuator.warm_up(spec(platform.url), "gpu", timeout_s=2)
            assert not outcome.ok and "401" in outcome.detail and platform.health_polls == 0

    run(scenario())


def test_release_on_ce_is_refused_and_reported_as_the_platform_keeping_one_replica():
    async def scenario():
        async with Platform(refuse_zero=True) as platform, aiohttp.ClientSession() as client:
            actuator = Actuator(client, upstream_url=platform.url, basic_auth=BasicAuth("admin", "s3cret"),
                                static_mode=False)
            outcome = await actuator.release(spec(platform.url), "cpu")
            assert outcome.ok and "keeps matmul-cpu at one replica" in outcome.detail
            assert platform.scale_calls[-1]["replicas"] == 0
        async with Platform(refuse_zero=False) as platform, aiohttp.ClientSession() as client:
            actuator = Actuator(client, upstream_url=platform.url, basic_auth=BasicAuth("admin", "s3cret"),
                                static_mode=False)
            outcome = await actuator.release(spec(platform.url), "cpu")
            assert outcome.ok and outcome.detail == "matmul-cpu scaled to 0"

    run(scenario())


def test_static_mode_warms_up_with_a_request_and_scales_nothing():
    async def scenario():
        async with Platform(ready_after_polls=1) as platform, aiohttp.ClientSession() as client:
            actuator = Actuator(client, upstream_url=None, basic_auth=None, static_mode=True, poll_interval_s=0.05)
            assert (await actuator.warm_up(spec(platform.url), "gpu", timeout_s=5)).ok
            assert platform.scale_calls == [] and platform.health_polls == 2
            assert (await actuator.release(spec(platform.url), "cpu")).detail == "static mode: nothing to scale down"

    run(scenario())


def test_a_refused_connection_is_a_failed_warm_up_not_an_exception():
    async def scenario():
        async with aiohttp.ClientSession() as client:
            actuator = Actuator(client, upstream_url=None, basic_auth=None, static_mode=True, poll_interval_s=0.05)
            outcome = await actuator.warm_up(spec(f"http://127.0.0.1:{free_port()}"), "gpu", timeout_s=0.3)
            assert not outcome.ok and "ClientConnectorError" in outcome.detail

    run(scenario())
