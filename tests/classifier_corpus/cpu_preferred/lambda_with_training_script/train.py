"""Offline training on a GPU workstation; the Lambda only loads the exported TorchScript file."""
import torch
from torch import nn

from vocab import encode


def train(texts, labels, epochs=10):
    model = nn.Sequential(nn.Embedding(20000, 128), nn.Flatten(), nn.Linear(128 * 64, 2)).cuda()
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-4)
    x = torch.tensor([encode(t) for t in texts]).cuda()
    y = torch.tensor(labels).cuda()
    for _ in range(epochs):
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
    torch.jit.script(model.cpu()).save("artifacts/textcnn.pt")
