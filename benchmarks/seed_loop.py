"""The original experiment's loop, re-implemented as it ran (../shared/reference/000_*: the notebook).

What makes it the reference, kept on purpose: a DataLoader over a TensorDataset (per-sample
indexing and collation in Python), ``loss.item()`` after every batch (a host synchronisation),
the model frozen through ``requires_grad`` flags, the optimizer rebuilt whenever the frozen half
changes (issue #5: the original experiment rebuilt it at each switch, which also throws away
Adam's moments), and the notebook's evaluation (``torch.max(outputs.data, 1)``, ``.item()`` per
batch). The network is the notebook's SimpleNN: four Linear layers, halves [fc1 fc2] [fc3 fc4].

Only the training part of an epoch is timed, as for our loop; evaluation runs after it, untimed.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.optim as optim
from torch.utils.data import DataLoader, TensorDataset

from .floor import clock


class SimpleNN(nn.Module):
    def __init__(self, input_size=784, hidden_size=256, num_classes=10):
        super().__init__()
        self.fc1 = nn.Linear(input_size, hidden_size)
        self.relu1 = nn.ReLU()
        self.fc2 = nn.Linear(hidden_size, hidden_size)
        self.relu2 = nn.ReLU()
        self.fc3 = nn.Linear(hidden_size, hidden_size)
        self.relu3 = nn.ReLU()
        self.fc4 = nn.Linear(hidden_size, num_classes)
        self.first_half = [self.fc1, self.fc2]
        self.second_half = [self.fc3, self.fc4]

    def forward(self, x):
        x = self.relu1(self.fc1(x))
        x = self.relu2(self.fc2(x))
        x = self.relu3(self.fc3(x))
        return self.fc4(x)

    def freeze_first_half(self):
        for layer in self.first_half:
            for param in layer.parameters():
                param.requires_grad = False

    def freeze_second_half(self):
        for layer in self.second_half:
            for param in layer.parameters():
                param.requires_grad = False

    def unfreeze_all(self):
        for param in self.parameters():
            param.requires_grad = True


def evaluate_model(model, test_loader, device):
    model.eval()
    correct = 0
    total = 0
    with torch.no_grad():
        for inputs, labels in test_loader:
            inputs, labels = inputs.to(device), labels.to(device)
            outputs = model(inputs)
            _, predicted = torch.max(outputs.data, 1)
            total += labels.size(0)
            correct += (predicted == labels).sum().item()
    return 100 * correct / total


class SeedLoop:
    """One run of the notebook's ``train_standard`` / ``train_alternating_freeze``, one epoch per call.

    Data stays on the host as in the notebook; on a GPU each batch is copied over, as a port of
    the notebook would do. Epoch ``e`` trains the first half when ``e`` is even (notebook order).
    """

    def __init__(
        self, data, alternating: bool, batch_size: int, lr: float, width: int, device: torch.device, seed: int
    ):
        torch.manual_seed(seed)
        self.alternating, self.lr, self.device, self.epoch_idx = alternating, lr, device, 0
        self.model = SimpleNN(data.input_dim, width, data.num_classes).to(device)
        cpu = lambda t: t.detach().to("cpu")  # noqa: E731
        self.train_loader = DataLoader(
            TensorDataset(cpu(data.x_train), cpu(data.y_train)), batch_size=batch_size, shuffle=True
        )
        self.test_loader = DataLoader(
            TensorDataset(cpu(data.x_test), cpu(data.y_test)), batch_size=batch_size, shuffle=False
        )
        self.criterion = nn.CrossEntropyLoss()
        self.optimizer = optim.Adam(self.model.parameters(), lr=lr)

    def epoch(self) -> dict:
        model, device = self.model, self.device
        model.train()
        t0 = clock(device)
        phase = "all"
        if self.alternating:
            model.unfreeze_all()
            if self.epoch_idx % 2 == 0:
                model.freeze_second_half()
                phase = "first"
            else:
                model.freeze_first_half()
                phase = "second"
            self.optimizer = optim.Adam(model.parameters(), lr=self.lr)  # rebuilt at each switch
        epoch_loss = 0
        for inputs, labels in self.train_loader:
            inputs, labels = inputs.to(device), labels.to(device)  # no-op on the CPU
            self.optimizer.zero_grad()
            outputs = model(inputs)
            loss = self.criterion(outputs, labels)
            loss.backward()
            self.optimizer.step()
            epoch_loss += loss.item()
        train_s = clock(device) - t0
        evaluate_model(model, self.test_loader, device)
        eval_s = clock(device) - t0 - train_s
        self.epoch_idx += 1
        return {"train_s": train_s, "eval_s": eval_s, "phase": phase}
