from torch import nn


class TabularNet(nn.Module):
    def __init__(self, n_features, n_classes=3):
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(n_features, 256), nn.ReLU(), nn.Linear(256, n_classes))

    def forward(self, x):
        return self.layers(x)
