"""The plugin's own HTTP API under /gaia/v1, plus /metrics.

To add a route elsewhere (the controller's `GET /gaia/v1/decisions`), build a ``web.RouteTableDef`` and pass
it as ``create_app(..., api_routes=...)``; handlers reach the state with ``request.app[STATE]`` and guard
writers with ``require_token(request)``.
"""

from __future__ import annotations

import hmac
import json

from aiohttp import web

from gaia_faas.gateway_plugin.registry import FUNCTION_NAME_RE
from gaia_faas.gateway_plugin.routes import VARIANTS
from gaia_faas.gateway_plugin.summaries import Busy

routes = web.RouteTableDef()


def _state(request: web.Request):
    from gaia_faas.gateway_plugin.app import STATE

    return request.app[STATE]


def json_error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def require_token(request: web.Request) -> web.Response | None:
    """None when the request carries the configured bearer token, else the error response to return."""
    token = _state(request).config.api_token
    if not token:
        return json_error(403, "this API is disabled: start the gateway with an API token "
                               "(--api-token-file, or GAIA_API_TOKEN_FILE / GAIA_API_TOKEN)")
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    # Header bytes that are not UTF-8 arrive surrogate-escaped: compare bytes, never fail on them.
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode("utf-8", "surrogateescape"),
                                                             token.encode("utf-8", "surrogateescape")):
        return web.json_response({"error": "missing or wrong bearer token"}, status=401,
                                 headers={"WWW-Authenticate": 'Bearer realm="gaia"'})
    return None


def _function(request: web.Request):
    name = request.match_info["name"]
    if len(name) > 63 or not FUNCTION_NAME_RE.match(name):
        return None, json_error(400, "function names are DNS labels: a-z, 0-9 and '-', at most 63 characters")
    spec = _state(request).registry.get(name)
    if spec is None:
        return None, json_error(404, f"{name} is not a managed function")
    return spec, None


async def _describe(state, specs: list, window_s: int) -> list[dict]:
    """Specs as JSON with route, rotation and the stats of the last ``window_s`` seconds (summaries.py bounds
    the cost). With Redis away the answer still comes, within one Redis timeout, saying so."""
    docs = []
    for spec in specs:
        doc = spec.to_json()
        doc["route"] = state.routes.current(spec.name).to_json()
        doc["out_of_rotation"] = [v for v in sorted(spec.variants) if state.rotation.is_out(spec.name, v)]
        doc["hybrid"] = state.sizing.describe(spec.name)  # None unless it declares com.gaia.size-from
        docs.append(doc)
    keys = [(spec.name, v) for spec in specs for v in sorted(spec.variants)]
    error = None
    if state.redis_error is not None:
        error = f"Redis unreachable: {state.redis_error}"
    else:
        try:
            windows = await state.summaries.windows(keys, window_s)
        except Busy as exc:
            state.metrics.api_throttled.inc()
            raise web.HTTPTooManyRequests(text=json.dumps({"error": f"busy: {exc}; retry in a second"}),
                                          content_type="application/json", headers={"Retry-After": "1"})
        except Exception as exc:  # Redis unreachable or too slow: the API still answers, saying so
            state.metrics.redis_errors.labels("stats_read").inc()
            error = f"Redis unreachable: {type(exc).__name__}: {exc}"
    for spec, doc in zip(specs, docs):
        if error is None:
            doc["stats"] = {v: windows[(spec.name, v)].summary() for v in sorted(spec.variants)}
        else:
            doc["stats"], doc["stats_error"] = None, error
    return docs


def _window(request: web.Request) -> int:
    raw = request.query.get("window", "60")
    most = _state(request).config.api_max_window_s
    if not raw.isdigit() or not 1 <= int(raw) <= most:
        raise web.HTTPBadRequest(text=json.dumps({"error": f"window must be 1..{most} seconds"}),
                                 content_type="application/json")
    return int(raw)


def health_report(state) -> tuple[int, dict]:
    """Readiness: 503 until the plugin can route (a first good discovery, or the routes file); then 200,
    "ok" or "degraded" with the reasons (discovery failing, Redis away, conflicting labels)."""
    problems = []
    if state.registry_error:
        problems.append(f"discovery: {state.registry_error}")
    redis_ok = state.redis_error is None and state.routes.connected
    if not redis_ok:
        problems.append(f"redis: {state.redis_error or 'route sync disconnected'} (routing from cache)")
    if state.registry.conflicts:
        problems.append(f"registry: {len(state.registry.conflicts)} conflicting label claims")
    if not state.registry_loaded:
        status = "starting"
    else:
        status = "degraded" if problems else "ok"
    return (200 if state.registry_loaded else 503), {
        "status": status, "ready": state.registry_loaded, "problems": problems, "mode": state.config.mode,
        "functions": len(state.registry),
        "redis": "connected" if redis_ok else f"unreachable (routing from cache): {state.redis_error or 'route sync down'}",
        "registry_error": state.registry_error, "registry_conflicts": state.registry.conflicts,
        "out_of_rotation": [f"{f}/{v}" for f, v in state.rotation.out_of_rotation()],
        "records_buffered": state.recorder.buffered, "records_dropped": state.recorder.dropped,
    }


@routes.get("/gaia/v1/health")
async def health(request: web.Request) -> web.Response:
    status, report = health_report(_state(request))
    return web.json_response(report, status=status)


@routes.get("/gaia/v1/alive")
async def alive(request: web.Request) -> web.Response:
    """Liveness: the worker's event loop answers. Never depends on the gateway or Redis (restarting the
    plugin would not fix either)."""
    return web.json_response({"alive": True})


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    body, content_type = _state(request).metrics.exposition()
    response = web.Response(body=body)
    response.headers["Content-Type"] = content_type
    return response


@routes.get("/gaia/v1/functions")
async def list_functions(request: web.Request) -> web.Response:
    state = _state(request)
    window_s = _window(request)
    specs = [state.registry.get(name) for name in state.registry.names()]
    return web.json_response({"mode": state.config.mode, "window_s": window_s, "functions": await _describe(state, specs, window_s)})


@routes.get("/gaia/v1/functions/{name}")
async def get_function(request: web.Request) -> web.Response:
    spec, error = _function(request)
    if error:
        return error
    return web.json_response((await _describe(_state(request), [spec], _window(request)))[0])


@routes.put("/gaia/v1/functions/{name}/pin")
async def pin(request: web.Request) -> web.Response:
    denied = require_token(request)
    if denied:
        return denied
    spec, error = _function(request)
    if error:
        return error
    try:
        body = await request.json()
    except (ValueError, UnicodeDecodeError):
        return json_error(400, 'body must be JSON: {"variant": "cpu"|"gpu", "reason": "..."}')
    variant = body.get("variant") if isinstance(body, dict) else None
    if variant not in VARIANTS:
        return json_error(400, f'"variant" must be one of {", ".join(VARIANTS)}')
    if variant not in spec.variants:
        return json_error(409, f"{spec.name} has no {variant} variant (it has: {', '.join(sorted(spec.variants))})")
    reason = str(body.get("reason") or "pinned by operator")[:200]
    try:
        state = await _state(request).routes.pin(spec.name, variant, reason)
    except Exception as exc:
        _state(request).metrics.redis_errors.labels("route_write").inc()
        return json_error(503, f"cannot store the pin, Redis unreachable: {exc}")
    return web.json_response(state.to_json())


@routes.delete("/gaia/v1/functions/{name}/pin")
async def unpin(request: web.Request) -> web.Response:
    denied = require_token(request)
    if denied:
        return denied
    spec, error = _function(request)
    if error:
        return error
    try:
        state = await _state(request).routes.unpin(spec.name)
    except Exception as exc:
        _state(request).metrics.redis_errors.labels("route_write").inc()
        return json_error(503, f"cannot remove the pin, Redis unreachable: {exc}")
    return web.json_response(state.to_json())
