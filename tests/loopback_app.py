"""An aiohttp application served on a free loopback port for the duration of an ``async with``: the
OpenFaaS-like gateways and platforms the tests talk to over real HTTP."""

from __future__ import annotations

from aiohttp import web

from gaia_faas.processes import free_port


class LoopbackApp:
    """Subclasses add their handlers in `routes`; ``url`` is where they answer."""

    def __init__(self):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.runner: web.AppRunner | None = None

    def routes(self, app: web.Application) -> None:
        raise NotImplementedError

    async def __aenter__(self):
        app = web.Application()
        self.routes(app)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.runner.cleanup()
