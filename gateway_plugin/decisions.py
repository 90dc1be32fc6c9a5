"""The decision log: every controller action appended to a capped Redis stream.

Stream ``gaia:decisions``, trimmed to about ``maxlen`` entries. Each entry has the fields ``time`` (unix
seconds), ``function``, ``action`` (switch, scale_down, warmup_failed, switch_refused, denied: a promotion the
GPU pool could not serve, reason ``gpu-pool-full``), ``from``, ``to``,
``reason``, ``numbers`` (JSON object) and ``by`` (the controller's identity).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

DECISIONS_KEY = "gaia:decisions"
DEFAULT_MAXLEN = 10_000


@dataclass(frozen=True)
class DecisionRecord:
    time: float
    function: str
    action: str
    from_variant: str | None
    to_variant: str | None
    reason: str
    numbers: dict = field(default_factory=dict)
    by: str = ""
    id: str = ""  # the stream entry id, once stored

    def fields(self) -> dict[str, str]:
        return {"time": repr(self.time), "function": self.function, "action": self.action,
                "from": self.from_variant or "", "to": self.to_variant or "", "reason": self.reason,
                "numbers": json.dumps(self.numbers, sort_keys=True), "by": self.by}

    @classmethod
    def from_entry(cls, entry_id, fields) -> "DecisionRecord":
        def text(name: str) -> str:
            value = fields.get(name, fields.get(name.encode(), b""))
            return value.decode() if isinstance(value, bytes) else str(value)

        try:
            numbers = json.loads(text("numbers") or "{}")
        except ValueError:
            numbers = {}
        return cls(time=float(text("time") or 0), function=text("function"), action=text("action"),
                   from_variant=text("from") or None, to_variant=text("to") or None, reason=text("reason"),
                   numbers=numbers, by=text("by"),
                   id=entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id))

    def to_json(self) -> dict:
        doc = asdict(self)
        doc["from"] = doc.pop("from_variant")
        doc["to"] = doc.pop("to_variant")
        return doc


class DecisionLog:
    def __init__(self, redis, key: str = DECISIONS_KEY, maxlen: int = DEFAULT_MAXLEN):
        self.redis = redis
        self.key = key
        self.maxlen = maxlen

    async def append(self, record: DecisionRecord) -> str:
        entry_id = await self.redis.xadd(self.key, record.fields(), maxlen=self.maxlen, approximate=True)
        return entry_id.decode() if isinstance(entry_id, bytes) else entry_id

    async def recent(self, limit: int = 100, function: str | None = None) -> list[DecisionRecord]:
        """Newest first; with ``function``, only that function's (scanning at most ``maxlen`` entries)."""
        if function is None:
            entries = await self.redis.xrevrange(self.key, count=limit)
            return [DecisionRecord.from_entry(i, f) for i, f in entries]
        found: list[DecisionRecord] = []
        upper, scanned = "+", 0
        while len(found) < limit and scanned < self.maxlen:
            entries = await self.redis.xrevrange(self.key, max=upper, count=500)
            if upper != "+":
                entries = entries[1:]  # the boundary entry was seen in the previous page
            if not entries:
                break
            scanned += len(entries)
            for entry_id, fields in entries:
                record = DecisionRecord.from_entry(entry_id, fields)
                if record.function == function:
                    found.append(record)
            last = entries[-1][0]
            upper = last.decode() if isinstance(last, bytes) else last
        return found[:limit]
