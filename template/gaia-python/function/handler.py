"""A gaia-python function: one handler for the CPU and the GPU image of this function."""

state = {}


def init(context):
    """Runs once in each worker before it takes traffic: load models here, onto context.device."""
    state["device"] = context.device


def handle(event, context):
    """Called per request. event: body (bytes), headers, method, query, path. Return a dict or a string."""
    return {
        "statusCode": 200,
        "body": {"device": state["device"], "length": len(event.body)},
        "headers": {"X-Gaia-Variant": context.variant},
    }
