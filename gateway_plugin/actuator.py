"""The actuator: carries out the policy's switches on the platform and in the route state.

A switch is: ask the platform for the target variant (OpenFaaS: ``POST /system/scale-function/NAME-gpu``
with basic auth), wait until it answers a warm-up request (bounded), then write the route (which every
replica learns over pub/sub). Clients therefore never wait for a variant to start. Releasing a variant asks
the platform to scale it to zero; OpenFaaS CE refuses zero replicas (both variants always keep one), which
is reported, not treated as an error. In static mode (Knative, local runs) the platform scales by itself:
the warm-up request wakes the variant and there is nothing to release.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

import aiohttp

from gaia_faas.gateway_plugin.registry import BasicAuth, FunctionSpec

log = logging.getLogger("gaia.controller")

DEFAULT_WARMUP_PATH = "/_/health"  # the gaia-python runtime answers 200 once its model is loaded


@dataclass(frozen=True)
class Outcome:
    ok: bool
    detail: str
    waited_s: float = 0.0
    kept: bool = False  # a release the platform refused to carry out (OpenFaaS CE keeps one replica)


class Actuator:
    def __init__(self, client: aiohttp.ClientSession, *, upstream_url: str | None, basic_auth: BasicAuth | None,
                 static_mode: bool, warmup_path: str = DEFAULT_WARMUP_PATH, poll_interval_s: float = 0.25,
                 request_timeout_s: float = 5.0):
        self.client = client
        self.upstream_url = upstream_url.rstrip("/") if upstream_url else None
        self.basic_auth = basic_auth
        self.static_mode = static_mode
        self.warmup_path = warmup_path if warmup_path.startswith("/") else "/" + warmup_path
        self.poll_interval_s = poll_interval_s
        self.request_timeout_s = request_timeout_s

    async def scale(self, spec: FunctionSpec, variant: str, replicas: int) -> Outcome:
        """OpenFaaS: set the variant's replica count."""
        target = spec.variants[variant]
        if self.static_mode or not self.upstream_url:
            return Outcome(True, "static mode: the platform scales by itself")
        url = f"{self.upstream_url}/system/scale-function/{target.service}"
        headers = {"Authorization": self.basic_auth.header()} if self.basic_auth else {}
        try:
            async with self.client.post(url, json={"serviceName": target.service, "replicas": replicas},
                                        headers=headers,
                                        timeout=aiohttp.ClientTimeout(total=self.request_timeout_s)) as response:
                body = (await response.text())[:200].strip()
                if response.status in (200, 202):
                    return Outcome(True, f"{target.service} scaled to {replicas}")
                if response.status == 401:
                    return Outcome(False, f"{url} answered 401: check the gateway credentials")
                return Outcome(False, f"{url} answered {response.status}: {body or 'no body'}")
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            return Outcome(False, f"cannot reach {url}: {type(exc).__name__}: {exc}")

    async def warm_up(self, spec: FunctionSpec, variant: str, timeout_s: float) -> Outcome:
        """Scale the variant up and wait until it answers (any status below 500) within ``timeout_s``."""
        started = time.monotonic()
        scaled = await self.scale(spec, variant, 1)
        if not scaled.ok:
            return Outcome(False, f"scale-up failed: {scaled.detail}", time.monotonic() - started)
        url = spec.variants[variant].sync_url + self.warmup_path
        deadline = started + timeout_s
        last = "no answer yet"
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return Outcome(False, f"{url} did not answer within {timeout_s:g} s ({last})", time.monotonic() - started)
            try:
                async with self.client.get(url, timeout=aiohttp.ClientTimeout(total=min(remaining, self.request_timeout_s))) as response:
                    await response.read()
                    if response.status < 500:
                        return Outcome(True, f"{url} answered {response.status}", time.monotonic() - started)
                    last = f"status {response.status}"
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                last = f"{type(exc).__name__}: {exc}"
            await asyncio.sleep(min(self.poll_interval_s, max(0.0, deadline - time.monotonic())))

    async def release(self, spec: FunctionSpec, variant: str) -> Outcome:
        """Ask the platform to scale the variant to zero (refused by OpenFaaS CE, which keeps one)."""
        if self.static_mode or not self.upstream_url:
            return Outcome(True, "static mode: nothing to scale down")
        outcome = await self.scale(spec, variant, 0)
        if not outcome.ok and " answered 400" in outcome.detail:
            return Outcome(True, f"the platform keeps {spec.variants[variant].service} at one replica "
                                 f"(OpenFaaS CE refuses zero): {outcome.detail}", kept=True)
        return outcome
