"""A registered tiny SNN-ViT learns on the embedded default dataset (Core + Data together)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from snnas import create_model
from snnas.data import create_dataset


def test_tiny_sssa_learns_on_fashion_mini():
    train = create_dataset("fashion-mini", split="train", fraction=0.1, img_size=16, seed=0)  # 500 images
    net = create_model("test_sssa_v2", in_channels=1, num_classes=10)
    opt = torch.optim.AdamW(net.parameters(), lr=5e-3)
    g = torch.Generator().manual_seed(0)

    def mean_loss() -> float:
        with torch.no_grad():
            return sum(F.cross_entropy(net(x), y, reduction="sum").item() for x, y in train.batches(250)) / len(train)

    before = mean_loss()
    for _ in range(3):
        for x, y in train.batches(50, shuffle=True, generator=g):
            loss = F.cross_entropy(net(x), y)
            assert torch.isfinite(loss)
            opt.zero_grad()
            loss.backward()
            opt.step()
    after = mean_loss()
    with torch.no_grad():
        acc = sum((net(x).argmax(1) == y).sum().item() for x, y in train.batches(250)) / len(train)
    assert after < 0.8 * before, (before, after)
    assert acc > 0.35, acc  # chance is 0.10
    assert 0 < min(net.fixation_rates().values())
