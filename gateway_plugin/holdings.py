"""Who holds the GPU pool, in Redis, so that a new leader starts from it and the pool is never over capacity.

Redis layout (prefix ``gaia:pool:``):

- ``gaia:pool:holdings`` hash: function -> JSON ``Holding``; plus the field ``:epoch`` (not a function
  name) set when the hash was first written, so that a hash that Redis lost (FLUSHALL, a restart without
  persistence) is told apart from an empty pool.
- ``gaia:pool:status`` string: the leader's last allocation as JSON (capacity, holders, waiting), what
  ``GET /gaia/v1/functions`` and ``gaia status`` show.

A holding is written *before* the GPU variant is scaled up, by one Lua script that checks in the same step
that the writer holds the leader lease and that the pool has room (``grant``); once the release is done it
is marked ``released_at`` (``mark_released``) and deleted only after the pool's release grace, while the
pod terminates and still holds its GPU. So a GPU counts from its scale-up until its pod is gone, warm-ups
included, and two leaders overlapping for a moment still cannot grant more than the capacity.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields

from gaia_faas.gateway_plugin.leader import LEADER_KEY

HOLDINGS_KEY = "gaia:pool:holdings"
STATUS_KEY = "gaia:pool:status"
EPOCH_FIELD = ":epoch"


@dataclass(frozen=True)
class Holding:
    since: float  # when the scale-up was decided
    reserved: bool = False
    cpu_slow_share: float | None = None  # share of the CPU's requests over the SLO when it was granted
    warmup_s: float | None = None  # how long its last warm-up took
    by: str = ""  # the leader that wrote it ("rebuilt" after Redis lost the holdings)
    granted_at: float | None = None  # when the pool last granted it (a re-grant keeps ``since``, the dwell's start)
    released_at: float | None = None  # its release was done; its pod holds the GPU for the release grace still

    def terminating(self, now: float, grace_s: float) -> bool:
        """Released, its pod still within the grace: the GPU is not the pool's to give yet."""
        return self.released_at is not None and now < self.released_at + grace_s

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: bytes | str) -> "Holding":
        """A stored holding; a damaged one still holds (conservative), from now on unknown terms."""
        try:
            data = json.loads(text)
            known = {f.name for f in fields(cls)}
            return cls(**{k: v for k, v in data.items() if k in known})
        except (ValueError, TypeError, AttributeError):
            return cls(since=0.0, by="damaged")


# KEYS[1] holdings, KEYS[2] leader lease; ARGV: function, holding JSON, capacity (-1: unlimited), identity, epoch.
# 1: written (or already held); 0: the pool is full; -1: the caller does not hold the lease.
_GRANT_LUA = """
if redis.call('GET', KEYS[2]) ~= ARGV[4] then return -1 end
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  return 1
end
local held = redis.call('HLEN', KEYS[1]) - redis.call('HEXISTS', KEYS[1], '%(epoch)s')
if tonumber(ARGV[3]) >= 0 and held >= tonumber(ARGV[3]) then return 0 end
redis.call('HSETNX', KEYS[1], '%(epoch)s', ARGV[5])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
""" % {"epoch": EPOCH_FIELD}

# KEYS[1] holdings; ARGV: epoch, then function, holding JSON pairs. Adds holdings that are observed (a GPU
# route, a leader's memory) but missing, without a capacity check: they are facts, not grants.
_RECORD_LUA = """
redis.call('HSETNX', KEYS[1], '%(epoch)s', ARGV[1])
local added = 0
for i = 2, #ARGV, 2 do
  added = added + redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[i + 1])
end
return added
""" % {"epoch": EPOCH_FIELD}


class Holdings:
    def __init__(self, redis, key: str = HOLDINGS_KEY, leader_key: str = LEADER_KEY):
        self.redis, self.key, self.leader_key = redis, key, leader_key
        self._grant = redis.register_script(_GRANT_LUA)
        self._record = redis.register_script(_RECORD_LUA)

    async def load(self) -> tuple[dict[str, Holding], bool]:
        """The holdings, and whether Redis has them at all (False: lost, to be rebuilt)."""
        raw = await self.redis.hgetall(self.key)
        found = {(k.decode() if isinstance(k, bytes) else k): v for k, v in raw.items()}
        known = EPOCH_FIELD in found
        return {name: Holding.from_json(value) for name, value in found.items() if name != EPOCH_FIELD}, known

    async def grant(self, function: str, holding: Holding, capacity: int | None, identity: str, now: float) -> int:
        """Take a GPU for ``function`` if the pool has room and we lead: 1 taken, 0 full, -1 not the leader."""
        return int(await self._grant(keys=[self.key, self.leader_key],
                                     args=[function, holding.to_json(), -1 if capacity is None else capacity,
                                           identity, repr(now)]))

    async def record(self, observed: dict[str, Holding], now: float) -> int:
        """Add observed holdings that Redis lacks (never replaces one); returns how many were added."""
        args: list = [repr(now)]
        for name, holding in sorted(observed.items()):
            args += [name, holding.to_json()]
        return int(await self._record(keys=[self.key], args=args))

    async def mark_released(self, function: str, holding: Holding) -> None:
        """The GPU's release is done; ``holding`` (with ``released_at``) holds it while its pod terminates."""
        await self.redis.hset(self.key, function, holding.to_json())

    async def release(self, function: str) -> None:
        await self.redis.hdel(self.key, function)
