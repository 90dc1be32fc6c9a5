import os

import redis

client = redis.Redis(host=os.getenv("REDIS_HOST", "redis"), port=6379)


def handle(req):
    count = client.incr(f"visits:{req.strip() or 'anonymous'}")
    return str(count)
