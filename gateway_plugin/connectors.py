"""Event connectors see each Gaia function once, as its logical name, so an event goes through routing once.

OpenFaaS connectors (connector-sdk's FunctionLookupBuilder, the cron-connector) list `GET /system/functions`
and invoke every function whose annotations carry `topic` (cron: `topic: cron-function` plus `schedule`), at
`/function/NAME.NAMESPACE` of their gateway URL. `gaia stack` writes those annotations on the variants as
`com.gaia.topic` / `com.gaia.schedule`, which no connector reads. When the listing passes through the
plugin, `with_logical_functions` adds one entry per logical function that has them, named like the function
clients call and carrying the plain annotations back, so a connector whose gateway URL is the plugin calls
`/function/NAME.NAMESPACE` once and the plugin routes it to NAME-cpu or NAME-gpu.
"""

from __future__ import annotations

import json

from aiohttp import ClientError, web

LABEL_FUNCTION = "com.gaia.function"
LABEL_LOGICAL = "com.gaia.logical"  # marks the entries the plugin adds; nothing is deployed under that name
EVENT_ANNOTATIONS = {"com.gaia.topic": "topic", "com.gaia.schedule": "schedule"}
SUMMED = ("replicas", "availableReplicas", "invocationCount")


def lists_functions(method: str, raw_path: str) -> bool:
    return method == "GET" and raw_path.split("?", 1)[0].rstrip("/") == "/system/functions"


def with_logical_functions(listing) -> list:
    """``listing`` (the gateway's JSON list) plus one entry per logical function with event annotations (pure)."""
    if not isinstance(listing, list):
        return listing
    names = {entry.get("name") for entry in listing if isinstance(entry, dict)}
    groups: dict[tuple[str, str], list[dict]] = {}
    for entry in listing:
        if not isinstance(entry, dict):
            continue
        logical = (entry.get("labels") or {}).get(LABEL_FUNCTION)
        annotations = entry.get("annotations") or {}
        if logical and logical not in names and any(key in annotations for key in EVENT_ANNOTATIONS):
            groups.setdefault((logical, entry.get("namespace") or ""), []).append(entry)
    added = []
    for (logical, namespace), variants in groups.items():
        first = variants[0]
        annotations = {k: v for k, v in (first.get("annotations") or {}).items() if k.startswith("com.gaia.")}
        annotations.update({plain: annotations[key] for key, plain in EVENT_ANNOTATIONS.items() if key in annotations})
        entry = {"name": logical, "image": first.get("image", ""), "namespace": namespace,
                 "labels": {LABEL_FUNCTION: logical, LABEL_LOGICAL: "true"}, "annotations": annotations}
        for key in SUMMED:
            entry[key] = sum(int(v.get(key) or 0) for v in variants)
        if not namespace:
            del entry["namespace"]
        added.append(entry)
    return listing + added


async def listing_response(upstream, headers) -> web.Response:
    """The upstream's answer (an `upstream.UpstreamResponse`) to GET /system/functions, with the logical entries
    added when it is a listing."""
    try:
        body = await upstream.read()
    except ClientError as exc:
        return web.Response(status=502, text=f"gaia: upstream broke off /system/functions: {exc}\n")
    finally:
        upstream.release()
    if upstream.status == 200:
        try:
            body = json.dumps(with_logical_functions(json.loads(body))).encode()
        except ValueError:
            pass  # not JSON: passed on as it came
    headers.pop("Content-Length", None)
    headers.pop("Content-Encoding", None)
    return web.Response(status=upstream.status, headers=headers, body=body)
