"""A long piece of work that gives the event loop back now and then.

The leader evaluates every function in the event loop of one plugin worker, which proxies requests too: an
evaluation of 1,000 functions is ~100 ms of Python (benchmarks/controller_scale.py), and run in one go it
would hold every request of that worker for as long. `LoopShare.pause()` between functions lets the loop
run whatever is ready once ``slice_s`` of work has passed since the loop's last turn began, so a proxied
request waits at most about one slice for the leader, and the evaluation itself pays one loop iteration per
slice. Several tasks may share one (the evaluation and its reads in flight): the slice is the loop turn's,
not each task's, so a turn that runs them all is still about one slice long.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator

DEFAULT_SLICE_S = 0.002


class _Done:
    """An awaitable that is done at once: awaiting it runs nothing and never gives the loop a turn."""

    __slots__ = ()

    def __await__(self) -> Iterator[None]:
        return iter(())


_DONE = _Done()


class LoopShare:
    def __init__(self, slice_s: float = DEFAULT_SLICE_S, clock: Callable[[], float] = time.perf_counter):
        self.slice_s = slice_s
        self._clock = clock
        self._since = clock()
        self._turn_asked = False

    def pause(self) -> Awaitable[None]:
        """Let the event loop run once, if the work sharing this held it for ``slice_s`` since its last turn
        (``await share.pause()``). Not a coroutine: within the slice it returns one that is done already,
        since the leader pauses ten times per function and a coroutine each time cost it 3 % of a tick."""
        if self._clock() - self._since < self.slice_s:
            return _DONE
        if not self._turn_asked:
            # Runs first in the loop's next turn, before the tasks that pause now resume: the slice is
            # counted from there for all of them (each counting from its own resumption, the tasks of
            # one turn would hold the loop a slice each).
            self._turn_asked = True
            asyncio.get_running_loop().call_soon(self._turn)
        return asyncio.sleep(0)

    def _turn(self) -> None:
        self._turn_asked = False
        self._since = self._clock()
