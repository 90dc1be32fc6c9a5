"""Route state: which variant each function currently runs on, shared by all replicas through Redis.

Redis layout:
- ``gaia:route:{function}`` hash: ``variant``, ``pinned`` ("1"/"0"), ``reason``, ``changed_at`` (unix s), ``by``.
- ``gaia:routes:changed`` pub/sub channel: one JSON message per change (the hash's fields plus ``function``).

Writers go through one Lua script so that a check ("is it pinned?"), the write and the publish are atomic.
Each replica keeps a `RouteTable` cache: filled by a full load at start, updated from the channel (so a change
is applied in milliseconds) and reloaded after every reconnect and every ``reload_interval_s``. With Redis down,
routing continues from the cache; a function with no stored route uses its start variant (`default_variant`),
on every replica (a route that disappears from Redis leaves the caches at the next reload).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import asdict, dataclass

ROUTE_KEY_PREFIX = "gaia:route:"
ROUTES_CHANNEL = "gaia:routes:changed"
VARIANTS = ("cpu", "gpu")

log = logging.getLogger(__name__)
_STARTS_KEPT = 50_000  # start-variant routes kept (`RouteTable.current`): more than any cluster has functions


@dataclass(frozen=True)
class RouteState:
    function: str
    variant: str
    pinned: bool = False
    reason: str = ""
    changed_at: float = 0.0
    by: str = ""

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_fields(cls, function: str, fields: dict) -> "RouteState":
        def text(name: str, default: str = "") -> str:
            value = fields.get(name, fields.get(name.encode(), default))
            return value.decode() if isinstance(value, bytes) else str(value)

        return cls(function=function, variant=text("variant"), pinned=text("pinned", "0") in ("1", "True", "true"),
                   reason=text("reason"), changed_at=float(text("changed_at", "0") or 0), by=text("by"))


class RoutePinned(Exception):
    """The controller tried to switch a function that an operator pinned."""


def default_variant(variants: list[str] | tuple[str, ...], mode: str | None) -> str:
    """The start variant: the one the execution mode leans to, if the function has it (pure)."""
    if not variants:
        raise ValueError("a function needs at least one variant")
    leaning = "gpu" if mode in ("gpu", "gpu_preferred") else "cpu"
    return leaning if leaning in variants else sorted(variants)[0]


# KEYS[1] route hash; ARGV: function, variant, pin ("1" pin, "0" unpin, "" keep), reason, changed_at, by,
# respect_pin ("1": refuse when pinned). Returns the JSON published, or "pinned" when refused.
_SET_ROUTE_LUA = """
local pinned = redis.call('HGET', KEYS[1], 'pinned')
if ARGV[7] == '1' and pinned == '1' then return 'pinned' end
local new_pinned = ARGV[3]
if new_pinned == '' then new_pinned = pinned or '0' end
local variant = ARGV[2]
if variant == '' then variant = redis.call('HGET', KEYS[1], 'variant') or '' end
redis.call('HSET', KEYS[1], 'variant', variant, 'pinned', new_pinned, 'reason', ARGV[4],
           'changed_at', ARGV[5], 'by', ARGV[6])
local message = cjson.encode({['function']=ARGV[1], variant=variant, pinned=new_pinned, reason=ARGV[4],
                              changed_at=ARGV[5], by=ARGV[6]})
redis.call('PUBLISH', '%s', message)
return message
""" % ROUTES_CHANNEL


class RouteTable:
    """Per-replica cache of route state plus the writers (`switch`, `pin`, `unpin`).

    ``start_variant(function)`` must return the variant to use when Redis holds no route for it (the
    gateway wires it to the registry). ``on_change(old, new)`` is called for every applied change.
    """

    def __init__(self, redis, start_variant, *, on_change=None, on_redis_error=None, reload_interval_s: float = 5.0):
        self.redis = redis
        self._start_variant = start_variant
        self._cache: dict[str, RouteState] = {}
        # The start-variant route of each function Redis holds none for (most never switch), made once: the
        # proxy asks for a route per request, the leader four times per function per evaluation.
        self._starts: dict[str, RouteState] = {}
        self._on_change = on_change
        self._on_redis_error = on_redis_error
        self.reload_interval_s = reload_interval_s
        self._script = redis.register_script(_SET_ROUTE_LUA)
        self.connected = False
        self._changes = 0  # routes applied so far, and the last functions they were for
        self._recent: list[str] = []

    # -- reading (hot path: dictionary lookups only) --------------------------------------------------
    def current(self, function: str) -> RouteState:
        state = self._cache.get(function)
        if state is not None and state.variant:
            return state
        variant = self._start_variant(function)
        start = self._starts.get(function)
        if start is None or start.variant != variant:  # new, or its spec's mode changed
            if len(self._starts) >= _STARTS_KEPT:  # names of functions long deleted must not pile up
                self._starts.clear()
            start = self._starts[function] = RouteState(function=function, variant=variant, reason="start variant")
        return start

    def cached(self) -> dict[str, RouteState]:
        return dict(self._cache)

    def _changed_since(self, count: int) -> list[str]:
        return self._recent[count - self._changes:] if count < self._changes else []

    def _apply(self, state: RouteState) -> None:
        old = self._cache.get(state.function)
        if old == state:
            return
        self._cache[state.function] = state
        self._changes += 1
        self._recent = (self._recent + [state.function])[-64:]
        if self._on_change is not None and (old is None or old.variant != state.variant or old.pinned != state.pinned):
            self._on_change(old, state)

    # -- writing ----------------------------------------------------------------------------------------
    async def _write(self, function: str, variant: str, pin: str, reason: str, by: str, respect_pin: bool) -> RouteState:
        if variant and variant not in VARIANTS:
            raise ValueError(f"unknown variant {variant!r}: expected one of {', '.join(VARIANTS)}")
        result = await self._script(keys=[ROUTE_KEY_PREFIX + function],
                                    args=[function, variant, pin, reason, repr(time.time()), by, "1" if respect_pin else "0"])
        result = result.decode() if isinstance(result, bytes) else result
        if result == "pinned":
            raise RoutePinned(f"{function} is pinned by an operator; unpin it before switching")
        state = RouteState.from_fields(function, json.loads(result))
        self._apply(state)
        return state

    async def switch(self, function: str, variant: str, reason: str, by: str = "controller") -> RouteState:
        """Route ``function`` to ``variant`` on every replica; raises RoutePinned if an operator pinned it."""
        return await self._write(function, variant, "", reason, by, respect_pin=True)

    async def pin(self, function: str, variant: str, reason: str = "pinned by operator", by: str = "api") -> RouteState:
        """Pin ``function`` to ``variant``: the controller cannot switch it until `unpin`."""
        return await self._write(function, variant, "1", reason, by, respect_pin=False)

    async def unpin(self, function: str, reason: str = "unpinned by operator", by: str = "api") -> RouteState:
        """Release the pin; the function stays on its current variant until the controller switches it."""
        variant = self.current(function).variant
        return await self._write(function, variant, "0", reason, by, respect_pin=False)

    # -- keeping the cache in sync ----------------------------------------------------------------------
    async def load_all(self) -> None:
        """Replace the cache with every route stored in Redis. A route gone from Redis (it lost its data, or
        was flushed) is dropped here too: every replica then runs the function on its start variant, as a
        replica started afterwards does, instead of each keeping its own last pin."""
        started = self._changes
        keys = [key async for key in self.redis.scan_iter(match=ROUTE_KEY_PREFIX + "*", count=500)]
        pipe = self.redis.pipeline(transaction=False)
        for key in keys:
            pipe.hgetall(key)
        stored = set(self._changed_since(started))  # written meanwhile: newer than this scan
        for key, fields in zip(keys, await pipe.execute()):
            name = key.decode() if isinstance(key, bytes) else key
            if fields:
                function = name[len(ROUTE_KEY_PREFIX):]
                stored.add(function)
                self._apply(RouteState.from_fields(function, fields))
        for function in [f for f in self._cache if f not in stored]:
            old = self._cache.pop(function)
            log.warning("route of %s is gone from Redis: back to its start variant", function)
            if self._on_change is not None:
                self._on_change(old, self.current(function))

    def apply_message(self, data: bytes | str) -> None:
        try:
            fields = json.loads(data)
            self._apply(RouteState.from_fields(fields["function"], fields))
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("ignoring malformed route message %r: %s", data, exc)

    async def run(self) -> None:
        """Subscribe to changes forever; reconnect with backoff while Redis is away, reloading on return.

        A periodic reload also runs while connected, to heal anything a dropped message might have missed.
        """
        backoff = 0.1
        while True:
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(ROUTES_CHANNEL)
                await self.load_all()
                self.connected = True
                backoff = 0.1
                next_reload = time.monotonic() + self.reload_interval_s
                while True:
                    # Wait for a message at most until the next reload is due, so reloads keep their interval.
                    wait_s = min(1.0, max(0.0, next_reload - time.monotonic()))
                    message = await pubsub.get_message(timeout=wait_s)
                    if message is not None and message.get("type") == "message":
                        self.apply_message(message["data"])
                    if time.monotonic() >= next_reload:
                        await self.load_all()
                        next_reload = time.monotonic() + self.reload_interval_s
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis down or connection lost: keep the cache, retry
                if self.connected:
                    log.warning("route sync lost Redis, routing from cache: %s: %s", type(exc).__name__, exc)
                self.connected = False
                if self._on_redis_error is not None:
                    self._on_redis_error()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 1.0)
            finally:
                try:
                    await pubsub.aclose()
                except Exception:  # closing a broken connection may fail again; nothing left to do
                    pass
