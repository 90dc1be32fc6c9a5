import torch

# gaia: mode=cpu
# Quantised int8 model: measured faster on our CPU nodes than on a shared GPU.
model = torch.jit.load("intent_int8.pt")


def handle(req):
    return str(int(model(torch.tensor([[ord(c) % 256 for c in req[:64]]])).argmax()))
