"""Read a digit row by row with a GRU (each 8x8 image is a sequence of eight 8-pixel rows) and
classify it from the last hidden state; OneCycleLR schedule, gradient clipping."""

import torch
import torch.nn as nn
from torch.utils.data import DataLoader, random_split

from digits_data import digits_dataset

torch.manual_seed(42)
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")

sequence_length, input_size, hidden_size, num_layers, num_classes = 8, 8, 32, 2, 10
batch_size, num_epochs, learning_rate = 50, 2, 0.01

full = digits_dataset(train=True)
train_dataset, val_dataset = random_split(full, [1300, 200],
                                          generator=torch.Generator().manual_seed(0))
train_loader = DataLoader(dataset=train_dataset, batch_size=batch_size, shuffle=True)
val_loader = DataLoader(dataset=val_dataset, batch_size=batch_size, shuffle=False)


class RNN(nn.Module):
    def __init__(self, input_size, hidden_size, num_layers, num_classes):
        super(RNN, self).__init__()
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.gru = nn.GRU(input_size, hidden_size, num_layers, batch_first=True)
        self.fc = nn.Linear(hidden_size, num_classes)

    def forward(self, x):
        h0 = torch.zeros(self.num_layers, x.size(0), self.hidden_size).to(x.device)
        out, _ = self.gru(x, h0)  # out: (batch, seq, hidden)
        return self.fc(out[:, -1, :])


model = RNN(input_size, hidden_size, num_layers, num_classes)
# the data-parallelism tutorial's wrapper: one device here, so it runs the module as is
model = nn.DataParallel(model)
model.to(device)
criterion = nn.CrossEntropyLoss()
optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
scheduler = torch.optim.lr_scheduler.OneCycleLR(
    optimizer, max_lr=learning_rate, steps_per_epoch=len(train_loader), epochs=num_epochs)

losses = []
total_step = len(train_loader)
for epoch in range(num_epochs):
    for i, (images, labels) in enumerate(train_loader):
        images = images.reshape(-1, sequence_length, input_size).to(device)
        labels = labels.to(device)
        outputs = model(images)
        loss = criterion(outputs, labels)
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
        optimizer.step()
        scheduler.step()
        losses.append(loss.item())
        if (i + 1) % 10 == 0:
            print("Epoch [{}/{}], Step [{}/{}], Loss: {:.4f}, lr {:.5f}".format(
                epoch + 1, num_epochs, i + 1, total_step, loss.item(),
                scheduler.get_last_lr()[0]))

model.eval()
with torch.no_grad():
    correct = 0
    total = 0
    for images, labels in val_loader:
        images = images.reshape(-1, sequence_length, input_size).to(device)
        labels = labels.to(device)
        outputs = model(images)
        _, predicted = torch.max(outputs.data, 1)
        total += labels.size(0)
        correct += (predicted == labels).sum().item()
    print("Validation accuracy: {} %".format(100 * correct / total))
