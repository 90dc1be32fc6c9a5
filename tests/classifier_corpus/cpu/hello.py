def handle(req):
    """Echo the request."""
    return f"Hello! You said: {req}"
