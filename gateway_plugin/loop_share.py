"""A long piece of work that gives the event loop back now and then.

The leader evaluates every function in the event loop of one plugin worker, which proxies requests too: an
evaluation of 1,000 functions is ~150-200 ms of Python (benchmarks/controller_scale.py), and run in one go
it would hold every request of that worker for as long. `LoopShare.pause()` between functions lets the loop
run whatever is ready once ``slice_s`` of work has passed since it last did, so a proxied request waits at
most about one slice for the leader, and the evaluation itself pays one loop iteration per slice.
"""

from __future__ import annotations

import asyncio
import time

DEFAULT_SLICE_S = 0.002


class LoopShare:
    def __init__(self, slice_s: float = DEFAULT_SLICE_S):
        self.slice_s = slice_s
        self._since = time.perf_counter()

    async def pause(self) -> None:
        """Let the event loop run once, if this work held it for ``slice_s`` since it last did."""
        if time.perf_counter() - self._since >= self.slice_s:
            await asyncio.sleep(0)
            self._since = time.perf_counter()
