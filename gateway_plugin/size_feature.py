"""The size of a request, read at the proxy without running user code (`com.gaia.size-from`).

A function declares where its requests carry their size:

- ``body-bytes``: the request's Content-Length (a chunked body, whose length is not known up front, has no size);
- ``header:NAME``: a number in request header NAME;
- ``query:NAME``: a number in query parameter NAME;
- ``json:FIELD``: a top-level numeric field of a JSON object body. At most `JSON_PREFIX_BYTES` of the body are
  read before the call goes out; those bytes are then sent first and the rest streams as usual, so the
  upstream gets the body intact. A body that does not parse up to the field, or lacks it, has no size.

Parsing the annotation and finding a size in headers, query or a prefix are pure; `read_prefix` is the I/O.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
from dataclasses import dataclass
from urllib.parse import parse_qsl

SIZE_FROM = "com.gaia.size-from"
JSON_PREFIX_BYTES = 64 * 1024  # enough for a field near the top of any request object; never more is buffered
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # an HTTP header name (RFC 9110 token)
_FIELD = re.compile(r"^[^\s\"\\]{1,128}$")
_DECODER = json.JSONDecoder()
_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][-+]?\d+)?")
_SPACE = " \t\n\r"


class SizeFromError(ValueError):
    """The com.gaia.size-from annotation cannot be used; the message says what it accepts."""


@dataclass(frozen=True)
class SizeSource:
    kind: str  # "body-bytes", "header", "query" or "json"
    name: str = ""  # header, query parameter or JSON field name ("" for body-bytes)


def parse_size_from(raw: str) -> SizeSource:
    """`body-bytes` | `header:NAME` | `query:NAME` | `json:FIELD` (pure); raises SizeFromError."""
    text = raw.strip()
    if text == "body-bytes":
        return SizeSource("body-bytes")
    kind, sep, name = text.partition(":")
    if not sep or kind not in ("header", "query", "json") or not name:
        raise SizeFromError(f"{SIZE_FROM}: {raw!r} is not one of body-bytes, header:NAME, query:NAME, json:FIELD")
    if kind == "header" and not _TOKEN.match(name):
        raise SizeFromError(f"{SIZE_FROM}: {name!r} is not an HTTP header name")
    if kind != "header" and not _FIELD.match(name):
        raise SizeFromError(f"{SIZE_FROM}: {kind} name {name!r} must be 1-128 characters without spaces, quotes or backslashes")
    return SizeSource(kind, name)


def number(text) -> float | None:
    """A finite, non-negative number, or None (pure)."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) and value >= 0 else None


def size_from_head(source: SizeSource, headers, query: str) -> float | None:
    """The size for the kinds that need no body (pure): body-bytes, header, query."""
    if source.kind == "body-bytes":
        return number(headers.get("Content-Length"))
    if source.kind == "header":
        return number(headers.get(source.name))
    if source.kind == "query":
        for key, value in parse_qsl(query, keep_blank_values=True):
            if key == source.name:
                return number(value)
    return None


def size_from_json_prefix(field: str, prefix: bytes, complete: bool) -> float | None:
    """The top-level numeric ``field`` of the JSON object whose first bytes are ``prefix`` (pure).

    Members are read in order up to the field; every value before it must parse whole within the prefix.
    When ``complete`` (the prefix is the whole body), the whole body must be one valid JSON object.
    """
    try:
        text = prefix.decode("utf-8")
    except UnicodeDecodeError as exc:
        if complete or exc.start < len(prefix) - 3:  # only a character cut at the prefix's end is forgiven
            return None
        text = prefix[:exc.start].decode("utf-8")
    if complete:
        try:
            document = json.loads(text)
        except (ValueError, RecursionError):
            return None
        value = document.get(field) if isinstance(document, dict) else None
        return number(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    at = _skip(text, 0)
    if not text.startswith("{", at):
        return None
    at += 1
    try:
        while True:
            at = _skip(text, at)
            if not text.startswith('"', at):
                return None
            key, at = json.decoder.scanstring(text, at + 1)
            at = _skip(text, at)
            if not text.startswith(":", at):
                return None
            at = _skip(text, at + 1)
            if key == field:
                match = _NUMBER.match(text, at)
                if match is None or match.end() == len(text):  # no number, or one the prefix may have cut short
                    return None
                return number(match.group())
            _, at = _DECODER.raw_decode(text, at)
            at = _skip(text, at)
            if not text.startswith(",", at):
                return None
            at += 1
    except (ValueError, RecursionError):
        return None


def _skip(text: str, at: int) -> int:
    while at < len(text) and text[at] in _SPACE:
        at += 1
    return at


class PrefixedContent:
    """The request body for the upstream: the bytes already read, then the rest of the client's stream.

    Stands in for aiohttp's StreamReader where the proxy reads the body (`readany`), so the prefix read for
    the size reaches the upstream first, and a retry that never started sending still has it.
    """

    __slots__ = ("prefix", "content")

    def __init__(self, prefix: bytes, content):
        self.prefix, self.content = prefix, content

    async def readany(self) -> bytes:
        if self.prefix:
            chunk, self.prefix = self.prefix, b""
            return chunk
        return await self.content.readany()


async def read_prefix(content, limit: int, idle_s: float, min_rate: float = 0.0) -> tuple[bytes, bool]:
    """Read up to ``limit`` bytes of a request body; returns (bytes, whether that is the whole body). Never
    holds more than ``limit`` bytes. Raises TimeoutError when the client stalls as proxy.ClientBody defines
    it (no bytes for ``idle_s``, or under ``min_rate`` bytes/s on average after the first ``idle_s``)."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    chunks, size = [], 0
    while size < limit:
        deadline = loop.time() + idle_s
        if min_rate > 0:
            deadline = min(deadline, start + idle_s + size / min_rate)
        async with asyncio.timeout_at(deadline):
            chunk = await content.read(limit - size)
        if not chunk:
            return b"".join(chunks), True
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks), content.at_eof()
