"""What energy counting costs next to a proxy-training epoch on fashion-mini (target: <= 5 %).

    python bench/energy_overhead.py [--batch 32] [--threads 2]
"""

from __future__ import annotations

import argparse
import logging
import time

import torch
import torch.nn.functional as F

from snnas import ArchConfig, create_model
from snnas.data import create_dataset
from snnas.energy import calibration_batch, estimate

logging.getLogger("torch._library.triton").setLevel(logging.ERROR)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=32, help="calibration images for the energy count")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    cfg = ArchConfig(T=4, depth=2, embed_dim=64, num_heads=4, mlp_ratio=2.0, img_size=28, patch_size=4,
                     in_channels=1, num_classes=10)
    net = create_model(cfg)
    train = create_dataset("fashion-mini", split="train", augment=True)
    opt = torch.optim.AdamW(net.parameters(), lr=3e-3)
    t0 = time.perf_counter()
    for x, y in train.batches(64, shuffle=True):
        loss = F.cross_entropy(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    epoch = time.perf_counter() - t0
    x, described = calibration_batch(cfg, "fashion-mini", args.batch)
    t0 = time.perf_counter()
    report = estimate(net, x, data=described)
    count = time.perf_counter() - t0
    print(f"model: SSSA T={cfg.T} depth={cfg.depth} D={cfg.embed_dim} N={cfg.num_tokens}, "
          f"{sum(q.numel() for q in net.parameters())} params")
    print(f"proxy epoch on fashion-mini ({len(train)} images, batch 64): {epoch:.1f} s")
    print(f"energy count ({args.batch} calibration images, incl. thop ANN equivalent): {count:.2f} s "
          f"= {100 * count / epoch:.1f} % of the epoch")
    print(f"energy {report.total_uj:.4f} uJ/image, SNN/ANN {report.snn_to_ann:.3f}")


if __name__ == "__main__":
    main()
