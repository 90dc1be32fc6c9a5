import json

import jax
import jax.numpy as jnp

assert jax.default_backend() == "gpu", "deployed on GPU nodes only"


@jax.jit
def pairwise(x):
    return jnp.sqrt(((x[:, None, :] - x[None, :, :]) ** 2).sum(-1))


def handle(req):
    points = jnp.asarray(json.loads(req)["points"], dtype=jnp.float32)
    return json.dumps({"max_distance": float(pairwise(points).max())})
