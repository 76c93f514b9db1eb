"""Convolutional autoencoder; saves a checkpoint through an open file and loads it back with
``weights_only=True`` into a fresh model, which must reconstruct exactly as the trained one."""

import os
import tempfile

import torch
import torch.nn as nn
from torch.utils.data import DataLoader

from digits_data import digits_dataset


class Autoencoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Conv2d(1, 8, 3, stride=2, padding=1),  # 8 x 4 x 4
            nn.ReLU(),
            nn.Conv2d(8, 16, 3, stride=2, padding=1),  # 16 x 2 x 2
            nn.ReLU(),
        )
        self.decoder = nn.Sequential(
            nn.ConvTranspose2d(16, 8, 3, stride=2, padding=1, output_padding=1),
            nn.ReLU(),
            nn.ConvTranspose2d(8, 1, 3, stride=2, padding=1, output_padding=1),
            nn.Sigmoid(),
        )

    def forward(self, x):
        return self.decoder(self.encoder(x))


torch.manual_seed(3)
device = "cuda" if torch.cuda.is_available() else "cpu"
loader = DataLoader(digits_dataset(), batch_size=100, shuffle=True)
model = Autoencoder().to(device)
criterion = nn.MSELoss()
optimizer = torch.optim.Adam(model.parameters(), lr=1e-2, weight_decay=1e-5)

losses = []
for epoch in range(4):
    for img, _ in loader:
        img = img.to(device)
        output = model(img)
        loss = criterion(output, img)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    print("epoch [{}/{}], loss:{:.4f}".format(epoch + 1, 4, loss.item()))

with tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, "autoencoder.pth")
    torch.save({"epoch": 4, "model_state_dict": model.state_dict(),
                "optimizer_state_dict": optimizer.state_dict(), "loss": loss.item()},
               open(path, "wb"))
    checkpoint = torch.load(open(path, "rb"), weights_only=True, map_location="cpu")

restored = Autoencoder()
restored.load_state_dict(checkpoint["model_state_dict"])
restored.to(device).eval()
model.eval()
batch = next(iter(loader))[0].to(device)
with torch.no_grad():
    same = torch.equal(model(batch), restored(batch))
print("restored epoch", checkpoint["epoch"], "identical reconstruction:", same)
assert same, "the reloaded model must reconstruct as the trained one"
