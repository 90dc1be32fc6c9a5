"""The plugin's own HTTP API under /gaia/v1, plus /metrics.

To add a route elsewhere (the controller's `GET /gaia/v1/decisions`), build a ``web.RouteTableDef`` and pass
it as ``create_app(..., api_routes=...)``; handlers reach the state with ``request.app[STATE]`` and guard
writers with ``require_token(request)``.
"""

from __future__ import annotations

import asyncio
import hmac
import json

from aiohttp import web

from gaia_faas.gateway_plugin.registry import FUNCTION_NAME_RE
from gaia_faas.gateway_plugin.routes import VARIANTS

routes = web.RouteTableDef()
MAX_WINDOW_S = 3600


def _state(request: web.Request):
    from gaia_faas.gateway_plugin.app import STATE

    return request.app[STATE]


def json_error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def require_token(request: web.Request) -> web.Response | None:
    """None when the request carries the configured bearer token, else the error response to return."""
    token = _state(request).config.api_token
    if not token:
        return json_error(403, "this API is disabled: start the gateway with an API token (--api-token or GAIA_API_TOKEN)")
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
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


async def _describe(state, spec, window_s: int) -> dict:
    route = state.routes.current(spec.name)
    doc = spec.to_json()
    doc["route"] = route.to_json()
    doc["out_of_rotation"] = [v for v in sorted(spec.variants) if state.rotation.is_out(spec.name, v)]
    try:
        windows = await asyncio.gather(*(state.stats.recent(spec.name, v, window_s) for v in sorted(spec.variants)))
        doc["stats"] = {w.variant: w.summary() for w in windows}
    except Exception as exc:  # Redis unreachable: the API still answers, saying so
        state.metrics.redis_errors.labels("stats_read").inc()
        doc["stats"] = None
        doc["stats_error"] = f"Redis unreachable: {exc}"
    return doc


def _window(request: web.Request) -> int:
    raw = request.query.get("window", "60")
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_WINDOW_S:
        raise web.HTTPBadRequest(text=json.dumps({"error": f"window must be 1..{MAX_WINDOW_S} seconds"}),
                                 content_type="application/json")
    return int(raw)


@routes.get("/gaia/v1/health")
async def health(request: web.Request) -> web.Response:
    state = _state(request)
    return web.json_response({
        "status": "ok", "mode": state.config.mode, "functions": len(state.registry),
        "redis": "connected" if state.routes.connected else "unreachable (routing from cache)",
        "registry_error": state.registry_error,
        "records_buffered": state.recorder.buffered, "records_dropped": state.recorder.dropped,
    })


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
    docs = [await _describe(state, state.registry.get(name), window_s) for name in state.registry.names()]
    return web.json_response({"mode": state.config.mode, "window_s": window_s, "functions": docs})


@routes.get("/gaia/v1/functions/{name}")
async def get_function(request: web.Request) -> web.Response:
    spec, error = _function(request)
    if error:
        return error
    return web.json_response(await _describe(_state(request), spec, _window(request)))


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
