"""Run by hand on a workstation: trains the forecast model the action may use one day."""
import torch

model = torch.nn.LSTM(8, 64, batch_first=True).cuda()
optimizer = torch.optim.Adam(model.parameters())
for epoch in range(50):
    x = torch.randn(256, 48, 8, device="cuda")
    loss = model(x)[0].pow(2).mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
torch.save(model.state_dict(), "forecast.pt")
