import torch

SIZE = 1024
STEPS = 50


def handle(req):
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    state = torch.rand((SIZE, SIZE), device=dev)
    kernel = torch.rand((SIZE, SIZE), device=dev) / SIZE
    for _ in range(STEPS):
        state = torch.tanh(torch.matmul(state, kernel))
    return str(state.mean().item())
