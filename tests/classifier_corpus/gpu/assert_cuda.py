import torch

assert torch.cuda.is_available(), "this function must be scheduled on a GPU node"

weights = torch.load("embedding.pt", map_location="cpu")


def handle(req):
    ids = torch.tensor([int(t) for t in req.split()])
    return str(weights[ids].mean(dim=0).tolist())
