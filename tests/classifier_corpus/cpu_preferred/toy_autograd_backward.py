"""Teaching endpoint: shows the gradient of a tiny quadratic form."""
import json

import torch


def handle(req):
    scale = float(json.loads(req or "{}").get("scale", 1.0))
    w = torch.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    x = torch.ones(2, 2)
    loss = (scale * w * x).pow(2).sum()
    loss.backward()
    return json.dumps({"loss": loss.item(), "grad": w.grad.tolist()})
