"""Train a tiny SNN-ViT on the embedded ``fashion-mini`` for a few epochs and print test accuracy per epoch.

A plain loop (AdamW, cosine LR) to show the model family learns on the default dataset; the search's proxy
trainer is separate. Prints one line per epoch: loss, train accuracy, test accuracy, images/s.

    python bench/train_fashion_mini.py [--model test_sssa_v2] [--epochs 5] [--batch 64] [--threads 2]
"""

from __future__ import annotations

import argparse
import logging
import time

import torch
import torch.nn.functional as F

from snnas import ArchConfig, create_model
from snnas.data import create_dataset

logging.getLogger("torch._library.triton").setLevel(logging.ERROR)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--attention", default="sssa", choices=["sssa", "ssa", "sdsa"])
    p.add_argument("--T", type=int, default=4)
    p.add_argument("--depth", type=int, default=2)
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)

    train = create_dataset("fashion-mini", split="train", augment=True)
    test = create_dataset("fashion-mini", split="test")
    cfg = ArchConfig(T=args.T, depth=args.depth, embed_dim=args.dim, num_heads=4, mlp_ratio=2.0, img_size=28,
                     patch_size=4, in_channels=1, num_classes=10, attention=args.attention)
    net = create_model(cfg)
    print(f"model {cfg.attention} T={cfg.T} depth={cfg.depth} D={cfg.embed_dim} N={cfg.num_tokens} "
          f"params={sum(q.numel() for q in net.parameters())}; train {len(train)} / test {len(test)} images")
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=0.01)
    steps = args.epochs * -(-len(train) // args.batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=steps, pct_start=0.1)
    g = torch.Generator().manual_seed(args.seed)
    for epoch in range(1, args.epochs + 1):
        net.train()
        t0, seen, correct, loss_sum = time.perf_counter(), 0, 0, 0.0
        for x, y in train.batches(args.batch, shuffle=True, generator=g):
            out = net(x)
            loss = F.cross_entropy(out, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            seen += len(y)
            correct += (out.argmax(1) == y).sum().item()
            loss_sum += loss.item() * len(y)
        rate = seen / (time.perf_counter() - t0)
        net.eval()
        with torch.no_grad():
            hits = sum((net(x).argmax(1) == y).sum().item() for x, y in test.batches(256))
        print(f"epoch {epoch}: loss {loss_sum / seen:.3f}  train acc {correct / seen:.3f}  "
              f"test acc {hits / len(test):.3f}  {rate:.0f} img/s", flush=True)
    print("fixation rates:", {k: round(v, 3) for k, v in net.fixation_rates().items()})


if __name__ == "__main__":
    main()
