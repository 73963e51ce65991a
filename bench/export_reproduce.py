"""Search -> export the knee -> full training: does the proxy's ranking point at a network that trains well?

Runs (or reuses) a search, exports the front's knee (or another ``--pick``) with its recipe, trains it with
``snnas train``'s code path and prints the search's proxy validation accuracy and energy for that trial next
to the full training's validation accuracy (same validation images), test accuracy and energy, with wall
times. Everything lands in ``--workdir`` (studies/, exports/, the training folder).

    python bench/export_reproduce.py --space edge_tiny --budget 6 [--epochs 20] [--threads 2]
    python bench/export_reproduce.py --study edge_small-fashion-mini --studies-dir studies --epochs 10
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
import time
from pathlib import Path

logging.getLogger("torch._library.triton").setLevel(logging.ERROR)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--space", default="edge_tiny", help="space to search when no --study is given")
    p.add_argument("--budget", type=int, default=6, help="search trials (when searching)")
    p.add_argument("--seed", type=int, default=0, help="search seed (when searching)")
    p.add_argument("--study", default=None, help="reuse this existing study instead of searching")
    p.add_argument("--studies-dir", default=None, help="folder of the study's .db (default <workdir>/studies)")
    p.add_argument("--pick", default="knee", help="knee, max-accuracy, min-energy or energy<=X")
    p.add_argument("--epochs", type=int, default=None, help="override the recipe's epochs")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for search and training")
    p.add_argument("--device", default=None, help="cpu or cuda")
    p.add_argument("--workdir", default=None, help="default: $TMPDIR/snnas-export_reproduce-<space or study>")
    args = p.parse_args()

    from snnas.export import export_trial, load_export, train
    from snnas.search import SearchOptions, search

    name = args.study or args.space
    work = Path(args.workdir or Path(tempfile.gettempdir()) / f"snnas-export_reproduce-{name}").resolve()
    work.mkdir(parents=True, exist_ok=True)
    studies = Path(args.studies_dir).resolve() if args.studies_dir else work / "studies"
    os.chdir(work)
    t0 = time.perf_counter()
    if args.study is None:
        opts = SearchOptions(space=args.space, budget=args.budget, seed=args.seed, device=args.device,
                             threads=args.threads, studies_dir=str(studies))
        study = search(opts, quiet=True).study_name
    else:
        study = args.study
    t_search = time.perf_counter() - t0

    path = export_trial(study, pick=args.pick, studies_dir=studies, out=work / "exports" / f"{study}-{args.pick}.json")
    cfg, recipe, doc = load_export(path)
    out_dir = work / f"{study}-{args.pick}-e{args.epochs or recipe['epochs']}.train"
    t1 = time.perf_counter()
    res = train(path, epochs=args.epochs, device=args.device, out_dir=out_dir, quiet=True, threads=args.threads)
    t_train = time.perf_counter() - t1

    s = doc["search"]
    a = doc["arch"]
    rows = [
        ("trial", f"{doc['provenance']['trial']} ({args.pick})", ""),
        ("arch", f"{cfg.id}: T={a['T']} depth={a['depth']} D={a['embed_dim']} heads={a['num_heads']} "
                 f"saccades={a['saccades']} tokenizer={a['tokenizer']}", f"{s['params']:,} params"),
        ("search (proxy)", f"val acc {s['val_accuracy']:.4f}", f"{s['energy_uj']:.4f} uJ/image "
                                                                f"({s['rungs'][-1]['epochs']} epochs on "
                                                                f"{s['rungs'][-1]['train_images']} images)"),
        ("full training", f"val acc {res['val_accuracy']:.4f}, test acc {res['test_accuracy']:.4f}",
         f"{res['energy_uj']:.4f} uJ/image ({res['epochs']} epochs on {res['images']['train']} images)"),
        ("wall", f"search {t_search:.0f} s" if args.study is None else "search reused",
         f"training {t_train:.0f} s ({res['threads']} threads, {res['device']})"),
    ]
    for k, v, w in rows:
        print(f"{k:>15}  {v:<58} {w}")
    summary = {"study": study, "trial": doc["provenance"]["trial"], "pick": args.pick, "arch_id": cfg.id,
               "proxy_val_accuracy": s["val_accuracy"], "proxy_energy_uj": s["energy_uj"],
               "full_val_accuracy": res["val_accuracy"], "full_test_accuracy": res["test_accuracy"],
               "full_energy_uj": res["energy_uj"], "epochs": res["epochs"], "search_s": t_search,
               "train_s": t_train, "val_by_epoch": [round(h["val_accuracy"], 4) for h in res["history"]]}
    (out_dir / "bench_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
