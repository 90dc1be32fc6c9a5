"""idle-wait: sleep for the requested time and do nothing else.

The workload a GPU cannot speed up: its latency is the same on either variant, so a GPU replica serving it
only costs money. No torch import, no compute.
"""

import json
import time

# of-watchdog's default exec_timeout is 30 s; a wait must finish well inside it to come back as a 200.
MAX_WAIT_SECONDS = 20.0


class BadRequest(ValueError):
    """The request cannot be served as sent; the message tells the caller what to change."""


def parse_wait_time(body: bytes) -> float:
    try:
        request = json.loads(body or b"")
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadRequest(f"body must be JSON like {{\"wait_time\": 0.5}} ({exc})") from None
    if not isinstance(request, dict):
        raise BadRequest('body must be a JSON object like {"wait_time": 0.5}')
    if "wait_time" not in request:
        raise BadRequest('missing field "wait_time" (seconds to wait, a number)')
    wait_time = request["wait_time"]
    if isinstance(wait_time, bool) or not isinstance(wait_time, (int, float)):
        raise BadRequest(f'"wait_time" must be a number of seconds, got {json.dumps(wait_time)}')
    if not 0 <= wait_time <= MAX_WAIT_SECONDS:
        raise BadRequest(f'"wait_time" must be between 0 and {MAX_WAIT_SECONDS:g} seconds, got {wait_time:g}')
    return float(wait_time)


def handle(event, context):
    try:
        wait_time = parse_wait_time(event.body)
    except BadRequest as exc:
        return {"statusCode": 400, "body": {"error": str(exc)}}
    started = time.perf_counter()
    time.sleep(wait_time)
    return {"statusCode": 200, "body": {"wait_time": wait_time, "waited_seconds": time.perf_counter() - started}}
