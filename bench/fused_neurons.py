"""What ``--compile-neurons on`` buys inside real proxy trials: the same architectures, eager vs fused.

Samples ``--archs`` feasible architectures from the space (seeded RandomSampler) and trains each through
every rung (no pruning) with the search's ``ProxyTrainer``, once in a process with spikingjelly's eager LIF
and once in a process with the fused (``torch.compile``) LIF. Prints each trial's seconds both ways; the fused
process's first trials include compiling (one graph per T, tensor rank and grad mode), so the table also
gives the total with and without them.

    python bench/fused_neurons.py [--space edge_small --archs 8 --threads 2 --seed 3]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import _common

CHILD = """
import json, sys, time, logging
logging.getLogger("torch._library.triton").setLevel(logging.ERROR)
import optuna
optuna.logging.set_verbosity(optuna.logging.WARNING)
from snnas.models import count_params
from snnas.search import ProxyTrainer
from snnas.search import load_space
space, n, threads, seed, on = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5] == "1"
sp = load_space(space)
t0 = time.perf_counter()
tr = ProxyTrainer(sp, device="cpu", threads=threads, compile_neurons=on)
st = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
out = []
while len(out) < n:
    t = st.ask(); cfg = sp.suggest(t, None); st.tell(t, 0.0)
    if sp.max_params is not None and count_params(cfg) > sp.max_params:
        continue
    a = time.perf_counter(); rs = []
    tr.run(cfg, seed, rs.append)
    out.append({"arch": f"T={cfg.T} D={cfg.embed_dim} depth={cfg.depth} {cfg.tokenizer}", "s": time.perf_counter() - a,
                "val": [r.val_accuracy for r in rs]})
print(json.dumps({"trials": out, "total_s": time.perf_counter() - t0}))
"""


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--space", default="edge_small")
    p.add_argument("--archs", type=int, default=8)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=3)
    a = p.parse_args()
    res = {}
    for on in (False, True):
        t0 = time.perf_counter()
        r = subprocess.run([sys.executable, "-c", CHILD, a.space, str(a.archs), str(a.threads), str(a.seed),
                            "1" if on else "0"], capture_output=True, text=True)
        if r.returncode:
            sys.exit(r.stderr[-3000:])
        res[on] = json.loads(r.stdout.strip().splitlines()[-1])
        res[on]["wall_s"] = time.perf_counter() - t0
    rows = [{"arch": e["arch"], "eager_s": e["s"], "fused_s": f["s"], "eager_val": e["val"], "fused_val": f["val"]}
            for e, f in zip(res[False]["trials"], res[True]["trials"], strict=True)]
    first_t = {}
    for i, r in enumerate(rows):  # the first trial at each T pays that T's compilation
        first_t.setdefault(r["arch"].split()[0], i)
    warm = [r for i, r in enumerate(rows) if i not in first_t.values()]
    _common.table(f"{a.space}: proxy trials (every rung), eager vs fused neurons, {a.threads} threads",
                  ["arch", "eager s", "fused s", "eager val acc (rungs)", "fused val acc (rungs)"],
                  [[r["arch"], r["eager_s"], r["fused_s"], " ".join(f"{v:.3f}" for v in r["eager_val"]),
                    " ".join(f"{v:.3f}" for v in r["fused_val"])] for r in rows])
    e_all, f_all = sum(r["eager_s"] for r in rows), sum(r["fused_s"] for r in rows)
    e_w, f_w = sum(r["eager_s"] for r in warm), sum(r["fused_s"] for r in warm)
    speedup = e_w / f_w if warm else None  # every trial was the first at its T: nothing ran compiled-and-warm
    _common.record("fused_neurons", a, rows,
                   f"all {len(rows)} trials: eager {e_all:.0f} s, fused {f_all:.0f} s (compiling included); the "
                   f"{len(warm)} trials after each T's first: eager {e_w:.0f} s, fused {f_w:.0f} s"
                   + (f" ({speedup:.2f}x)" if speedup else ""), eager_total_s=e_all, fused_total_s=f_all,
                   warm_speedup=speedup)


if __name__ == "__main__":
    main()
