"""Siamese network: one shared embedding net, trained with a contrastive loss on pairs and
nn.TripletMarginLoss on (anchor, positive, negative) triplets of digits."""

import random

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
from torch.utils.data import DataLoader, Dataset

from digits_data import digits_dataset


class TripletDigits(Dataset):
    """For each digit: another of its class (positive) and one of another class (negative)."""

    def __init__(self, base, seed=0):
        self.images, self.labels = base.tensors
        self.rng = random.Random(seed)
        self.by_class = {}
        for i, y in enumerate(self.labels.tolist()):
            self.by_class.setdefault(y, []).append(i)

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, index):
        y = int(self.labels[index])
        pos = self.rng.choice(self.by_class[y])
        neg_class = self.rng.choice([c for c in self.by_class if c != y])
        neg = self.rng.choice(self.by_class[neg_class])
        return self.images[index], self.images[pos], self.images[neg]


class EmbeddingNet(nn.Module):
    def __init__(self, dim=8):
        super().__init__()
        self.convnet = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1), nn.PReLU(), nn.MaxPool2d(2, stride=2),
            nn.Conv2d(8, 16, 3, padding=1), nn.PReLU(), nn.MaxPool2d(2, stride=2))
        self.fc = nn.Sequential(nn.Linear(16 * 2 * 2, 32), nn.PReLU(), nn.Linear(32, dim))

    def forward(self, x):
        output = self.convnet(x)
        output = output.view(output.size()[0], -1)
        return self.fc(output)


class SiameseNet(nn.Module):
    def __init__(self, embedding_net):
        super(SiameseNet, self).__init__()
        self.embedding_net = embedding_net

    def forward(self, x1, x2):
        return self.embedding_net(x1), self.embedding_net(x2)

    def get_embedding(self, x):
        return self.embedding_net(x)


class ContrastiveLoss(nn.Module):
    """Hadsell, Chopra and LeCun (2006): pull similar pairs together, push others past
    a margin."""

    def __init__(self, margin=1.0):
        super(ContrastiveLoss, self).__init__()
        self.margin = margin
        self.eps = 1e-9

    def forward(self, output1, output2, target, size_average=True):
        distances = (output2 - output1).pow(2).sum(1)
        losses = 0.5 * (target.float() * distances +
                        (1 + -1 * target).float() * F.relu(self.margin - (distances + self.eps)
                                                           .sqrt()).pow(2))
        return losses.mean() if size_average else losses.sum()


torch.manual_seed(0)
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
train_set = TripletDigits(digits_dataset(train=True))
loader = DataLoader(train_set, batch_size=64, shuffle=True)
model = SiameseNet(EmbeddingNet()).to(device)
contrastive = ContrastiveLoss(margin=1.0)
triplet = nn.TripletMarginLoss(margin=1.0, p=2)
optimizer = optim.Adam(model.parameters(), lr=3e-3)

losses = []
for epoch in range(2):
    model.train()
    for batch_idx, (anchor, positive, negative) in enumerate(loader):
        anchor, positive, negative = anchor.to(device), positive.to(device), negative.to(device)
        optimizer.zero_grad()
        # contrastive: anchor with positive (target 1) and with negative (target 0)
        e_a, e_p = model(anchor, positive)
        e_n = model.get_embedding(negative)
        ones = torch.ones(len(anchor), device=device)
        loss_c = contrastive(e_a, e_p, ones) + contrastive(e_a, e_n, torch.zeros_like(ones))
        loss_t = triplet(e_a, e_p, e_n)
        loss = loss_c + loss_t
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        if batch_idx % 10 == 0:
            print(f"epoch {epoch} batch {batch_idx}: loss {loss.item():.4f}")

# nearest-neighbour accuracy of the embedding on held-out digits
model.eval()
test_images, test_labels = digits_dataset(train=False).tensors
train_images, train_labels = digits_dataset(train=True).tensors
with torch.no_grad():
    e_test = model.get_embedding(test_images.to(device))
    e_train = model.get_embedding(train_images.to(device))
    nearest = torch.cdist(e_test, e_train).argmin(dim=1).cpu()
accuracy = (train_labels[nearest] == test_labels).float().mean().item()
print(f"1-NN accuracy in embedding space: {accuracy:.3f}")
