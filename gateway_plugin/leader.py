"""Exactly one controller acts at a time across plugin replicas: a leader lease in Redis.

The lease is one key holding the holder's identity with a TTL. The holder renews it every ``ttl_s / 3``;
every other replica tries to take it at the same pace, so when the leader dies its lease expires within
``ttl_s`` and another replica holds it within ``ttl_s + ttl_s / 3`` (under the two TTLs promised). A
replica that cannot renew (Redis away) stops acting as soon as its last successful renewal is ``ttl_s``
old, so two replicas never both believe they lead for longer than clock drift allows.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid

LEADER_KEY = "gaia:controller:leader"

log = logging.getLogger("gaia.controller")

# KEYS[1] lease key; ARGV: identity, ttl in ms. 1 when the caller holds the lease afterwards.
_ACQUIRE_LUA = """
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""

# KEYS[1] lease key; ARGV[1] identity. Deletes the lease only if the caller holds it.
_RELEASE_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


def make_identity() -> str:
    """host:pid:random, unique per worker process and restart."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class LeaderLease:
    def __init__(self, redis, identity: str | None = None, ttl_s: float = 5.0, key: str = LEADER_KEY,
                 clock=time.monotonic):
        if ttl_s <= 0:
            raise ValueError("the leader lease TTL must be positive")
        self.redis = redis
        self.identity = identity or make_identity()
        self.ttl_s = ttl_s
        self.key = key
        self._clock = clock
        self._acquire = redis.register_script(_ACQUIRE_LUA)
        self._release = redis.register_script(_RELEASE_LUA)
        self._valid_until = 0.0  # local monotonic time until which our last renewal holds

    @property
    def is_leader(self) -> bool:
        return self._clock() < self._valid_until

    async def try_acquire(self) -> bool:
        """Take or renew the lease; False if another replica holds it or Redis cannot be reached."""
        started = self._clock()
        try:
            held = bool(await self._acquire(keys=[self.key], args=[self.identity, int(self.ttl_s * 1000)]))
        except Exception as exc:  # Redis away: we cannot prove we lead
            if self.is_leader:
                log.warning("leader lease not renewed (%s: %s); stepping down when it lapses", type(exc).__name__, exc)
            return self.is_leader
        if held and not self.is_leader:
            log.info("controller leader: %s", self.identity)
        # Count from before the call: the key may have been set with its TTL any time after `started`.
        self._valid_until = started + self.ttl_s if held else 0.0
        return held

    async def holder(self) -> str | None:
        value = await self.redis.get(self.key)
        return value.decode() if isinstance(value, bytes) else value

    async def release(self) -> None:
        self._valid_until = 0.0
        try:
            await self._release(keys=[self.key], args=[self.identity])
        except Exception as exc:  # shutting down with Redis away: the lease simply expires
            log.debug("could not release the leader lease: %s", exc)

    async def run(self) -> None:
        """Keep trying to take or renew the lease every ttl/3 until cancelled; release it on the way out."""
        try:
            while True:
                await self.try_acquire()
                await asyncio.sleep(self.ttl_s / 3)
        except asyncio.CancelledError:
            await asyncio.shield(self.release())
            raise
