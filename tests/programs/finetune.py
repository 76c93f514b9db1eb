"""Transfer-learning style fine-tune: pretrain a small CNN on the digits 0-4, freeze its
feature extractor with ``requires_grad_(False)``, replace the head, and fine-tune on 5-9 with
two parameter groups (a small rate for the unfrozen last block, a larger one for the new
head), SGD with momentum and CosineAnnealingWarmRestarts."""

import copy

import torch
import torch.nn as nn
import torch.optim as optim
from torch.optim import lr_scheduler
from torch.utils.data import DataLoader, Subset

from digits_data import digits_dataset

torch.manual_seed(7)
device = torch.device("cuda:0" if torch.cuda.is_available() else "cpu")

data = digits_dataset()
labels = data.tensors[1]
low = Subset(data, (labels < 5).nonzero().view(-1).tolist())
high = Subset(data, (labels >= 5).nonzero().view(-1).tolist())


class SmallNet(nn.Module):
    def __init__(self, num_classes=5):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16),
                                      nn.ReLU(inplace=True), nn.MaxPool2d(2))
        self.layer2 = nn.Sequential(nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(inplace=True),
                                    nn.AdaptiveAvgPool2d((2, 2)))
        self.fc = nn.Linear(16 * 2 * 2, num_classes)

    def forward(self, x):
        x = self.layer2(self.features(x))
        return self.fc(torch.flatten(x, 1))


def train_model(model, criterion, optimizer, scheduler, loader, num_epochs, losses):
    best_model_wts = copy.deepcopy(model.state_dict())
    best_acc = 0.0
    for epoch in range(num_epochs):
        model.train()
        running_loss, running_corrects = 0.0, 0
        for i, (inputs, labels) in enumerate(loader):
            inputs = inputs.to(device)
            labels = labels.to(device) % 5
            optimizer.zero_grad()
            with torch.set_grad_enabled(True):
                outputs = model(inputs)
                _, preds = torch.max(outputs, 1)
                loss = criterion(outputs, labels)
                loss.backward()
                optimizer.step()
            scheduler.step(epoch + i / len(loader))
            losses.append(loss.item())
            running_loss += loss.item() * inputs.size(0)
            running_corrects += torch.sum(preds == labels.data)
        epoch_loss = running_loss / len(loader.dataset)
        epoch_acc = running_corrects.double() / len(loader.dataset)
        print(f"epoch {epoch}: loss {epoch_loss:.4f} acc {epoch_acc:.4f}")
        if epoch_acc > best_acc:
            best_acc = epoch_acc
            best_model_wts = copy.deepcopy(model.state_dict())
    model.load_state_dict(best_model_wts)
    return model


criterion = nn.CrossEntropyLoss()

# 1. "pretrained" backbone on the digits 0-4
model = SmallNet().to(device)
pre_opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
pre_sched = lr_scheduler.CosineAnnealingWarmRestarts(pre_opt, T_0=1, T_mult=2)
pretrain_losses = []
model = train_model(model, criterion, pre_opt, pre_sched,
                    DataLoader(low, batch_size=64, shuffle=True), 2, pretrain_losses)

# 2. freeze the features, new head for the digits 5-9
model.features.requires_grad_(False)
num_ftrs = model.fc.in_features
model.fc = nn.Linear(num_ftrs, 5).to(device)
frozen = [n for n, p in model.named_parameters() if not p.requires_grad]
print("frozen:", frozen)
optimizer_ft = optim.SGD([
    {"params": model.layer2.parameters(), "lr": 0.005},
    {"params": model.fc.parameters()},
], lr=0.05, momentum=0.9)
exp_lr_scheduler = lr_scheduler.CosineAnnealingWarmRestarts(optimizer_ft, T_0=1, T_mult=2)
before = model.features[0].weight.detach().clone()
losses = []
model = train_model(model, criterion, optimizer_ft, exp_lr_scheduler,
                    DataLoader(high, batch_size=64, shuffle=True), 3, losses)
assert torch.equal(before, model.features[0].weight), "frozen weights must not change"
print("lrs per group:", [g["lr"] for g in optimizer_ft.param_groups])
