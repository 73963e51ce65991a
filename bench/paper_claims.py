"""The paper's claims, re-checked at a scale a 2-core CPU can run (``docs/paper_claims.md``).

Every model is trained in full with ``snnas train``'s code path and one recipe: edge_small's default
full-training recipe (``snnas.export.default_recipe``: 20 epochs on the whole training part of fashion-mini,
AdamW at a third of the proxy's learning rate, cosine schedule, augmentation), a seed per run.

* ``hand``: the hand-designed models at the ``attn_compare`` space's settings (T=4, depth 2, width 32,
  2 heads, MLP ratio 2, SPS tokenizer, 16x16 input, 16 tokens): SSSA-V2 (the paper's, threshold saccades),
  SSA (Spikformer), SDSA (Spike-driven), SSSA-V1 and SSSA with M_w fixed to the identity; claims 1, 2, 3, 5.
* ``search``: a fresh main job (``snnas search --space edge_small --budget 200 --workers 2``); then
  ``front``: its most accurate front trial, the default export pick (near-best) and the cheapest front trial
  (the front holds only trials clearly above chance), each trained in full with its own seed and the next
  ones; claim 6.
* ``block``: forward time of one whole transformer block (mixer, projections, MLP) as N grows; claim 4.

Each finished job appends a row to ``reports/bench/paper_claims.jsonl`` (resumable: a re-run skips the jobs
that have a row, and a training cut short resumes from its checkpoint in ``--workdir``). ``report`` prints
the tables and writes ``reports/bench/paper_claims.json`` and the accuracy-vs-energy plot
``reports/bench/paper_claims_front.html``.

    python bench/paper_claims.py run [--seeds 3 --front-seeds 2 --epochs 20 --procs 2 --workdir DIR]
    python bench/paper_claims.py report
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import _common

ROWS = _common.OUT_DIR / "paper_claims.jsonl"
BASE = dict(T=4, depth=2, embed_dim=32, num_heads=2, mlp_ratio=2.0, tokenizer="sps", img_size=16, patch_size=4,
            in_channels=1, num_classes=10, saccades="threshold")
HAND = {  # name -> fields over BASE
    "sssa": {"attention": "sssa", "sssa_version": "v2"},
    "ssa": {"attention": "ssa"},
    "sdsa": {"attention": "sdsa"},
    "sssa_v1": {"attention": "sssa", "sssa_version": "v1"},
    "sssa_identity_mw": {"attention": "sssa", "sssa_version": "v2", "temporal_mixing": "identity"},
}
CIFAR = {"img_size": 32, "in_channels": 3}  # the same models on CIFAR-10's 32x32 RGB images (8x8 = 64 tokens)
# the front's most accurate trial, the default export pick, its cheapest (the front holds only trials clearly above
# chance), and the most accurate at the hand-designed models' energy (1.39-1.42 uJ): the comparison at equal cost
PICKS = ("max-accuracy", "near-best", "min-energy", "energy<=1.4")
BLOCK_TOKENS = (64, 256, 1024)


# ------------------------------------------------------------------------------------------------ jobs
def _recipe(space: str, seed: int, epochs: int, dataset: str = "fashion-mini") -> dict[str, Any]:
    from snnas.export._export import default_recipe
    from snnas.search import load_space

    r = default_recipe(load_space(space).describe(), dataset, seed=seed, data_seed=0)
    return {**r, "epochs": epochs}


def _train(doc: dict[str, Any], path: Path, threads: int, data_dir: str | None = None) -> dict[str, Any]:
    """Train the export document ``doc`` (written to ``path``) in full; the row's measured part."""
    from snnas.energy import list_profiles
    from snnas.energy._report import EnergyReport
    from snnas.export import train

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1))
    t0 = time.perf_counter()
    res = train(path, out_dir=path.with_suffix(".train"), quiet=True, threads=threads, data_dir=data_dir)
    report = EnergyReport.from_dict(res["energy_report"])
    return {"arch_id": res["arch_id"], "config": res["arch"], "params": res["params"], "epochs": res["epochs"],
            "val_accuracy": res["val_accuracy"], "test_accuracy": res["test_accuracy"],
            "energy_uj": res["energy_uj"], "ann_energy_uj": report.to_dict().get("ann_energy_uj"),
            "energy_by_profile": {p: report.with_profile(p).total_uj for p in list_profiles()},
            "history": [h.get("val_accuracy") for h in res.get("history", [])],
            "seconds": time.perf_counter() - t0}


def job_hand(spec: dict[str, Any]) -> dict[str, Any]:
    from snnas.config import ArchConfig
    from snnas.export._export import EXPORT_FORMAT

    dataset = spec.get("dataset", "fashion-mini")
    cfg = ArchConfig(**{**BASE, **HAND[spec["model"]], **(CIFAR if dataset == "cifar10" else {})})
    doc = {"format": EXPORT_FORMAT, "arch_id": cfg.id, "arch": cfg.to_dict(),
           "recipe": _recipe(spec["space"], spec["seed"], spec["epochs"], dataset)}
    name = f"{spec['model']}-s{spec['seed']}-e{spec['epochs']}" + ("" if dataset == "fashion-mini" else f"-{dataset}")
    return {"dataset": dataset, **_train(doc, Path(spec["workdir"]) / "hand" / f"{name}.json", threads=1,
                                         data_dir=spec.get("data_dir"))}


def job_search(spec: dict[str, Any]) -> dict[str, Any]:
    work = Path(spec["workdir"])
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    cmd = [sys.executable, "-m", "snnas", "search", "--space", spec["space"], "--budget", str(spec["budget"]),
           "--workers", "2", "--seed", str(spec["seed"]), "--quiet"]
    p = subprocess.run(cmd, cwd=work, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"search failed ({p.returncode}): {p.stderr[-2000:]}")
    import optuna

    from snnas.search import front_of

    name = f"{spec['space']}-fashion-mini"
    study = optuna.load_study(study_name=name, storage=f"sqlite:///{work}/studies/{name}.db")
    trials = study.get_trials(deepcopy=False)
    front = front_of(trials).trials
    states = [t.state.name for t in trials]
    return {"command": " ".join(["snnas", *cmd[3:]]), "seconds": time.perf_counter() - t0,
            "states": {s: states.count(s) for s in set(states)}, "front": len(front),
            "front_points": [{"trial": t.number, "val_accuracy": t.values[0], "energy_uj": t.values[1]}
                             for t in front]}


def job_front(spec: dict[str, Any]) -> dict[str, Any]:
    from snnas.export import export_trial

    work = Path(spec["workdir"])
    out = work / "front" / f"{spec['pick']}.json"
    if not out.exists():
        from snnas.errors import SnnasError

        try:
            export_trial(f"{spec['space']}-fashion-mini", pick=spec["pick"], out=out, studies_dir=work / "studies")
        except SnnasError as e:  # e.g. no front trial within the energy: recorded, not a failure of the run
            return {"skipped": str(e)}
    doc = json.loads(out.read_text())
    seed = int(doc["recipe"]["seed"]) + spec["seed_offset"]  # the trial's own seed, then the next ones
    doc["recipe"] = {**doc["recipe"], "seed": seed, "epochs": spec["epochs"]}
    row = _train(doc, work / "front" / f"{spec['pick']}-s{seed}-e{spec['epochs']}.json", threads=1)
    return {**row, "trial": doc["provenance"]["trial"], "seed": seed,
            "proxy_val_accuracy": doc["search"]["val_accuracy"], "proxy_energy_uj": doc["search"]["energy_uj"]}


def job_block(spec: dict[str, Any]) -> dict[str, Any]:
    import torch
    from spikingjelly.activation_based import functional
    from torch.utils import benchmark

    from snnas.config import ArchConfig
    from snnas.models._mixers import attention_layer
    from snnas.models.snn_vit import Block

    torch.set_num_threads(1)
    ms = {}
    for name, fields in {"sssa-v2": HAND["sssa"], "sssa-v1": HAND["sssa_v1"], "ssa": HAND["ssa"],
                         "sdsa": HAND["sdsa"]}.items():
        ms[name] = {}
        for n in spec["tokens"]:
            side = int(n**0.5) * 4
            cfg = ArchConfig(**{**BASE, "embed_dim": 128, "num_heads": 4, "mlp_ratio": 4.0, "img_size": side,
                                **fields})
            block = Block(cfg, attention_layer(cfg.attention)).eval()
            x = (torch.rand(cfg.T, 8, n, cfg.embed_dim, generator=torch.Generator().manual_seed(0)) < 0.15).float()
            block.train()(x)  # SSSA's calibration, then timed in eval
            block.eval()

            def step(block: torch.nn.Module = block, x: torch.Tensor = x) -> None:
                functional.reset_net(block)
                with torch.no_grad():
                    block(x)

            t = benchmark.Timer(stmt="step()", globals={"step": step}, num_threads=1)
            ms[name][n] = t.blocked_autorange(min_run_time=spec["min_time"]).median * 1e3
    return {"ms": ms, "D": 128, "heads": 4, "mlp_ratio": 4.0, "T": BASE["T"], "batch": 8, "threads": 1}


JOBS = {"hand": job_hand, "search": job_search, "front": job_front, "block": job_block}


def cifar10_missing(data_dir: str | None) -> str | None:
    """Why CIFAR-10 cannot be run here (None when its files are found)."""
    from snnas.data import dataset_info

    info = dataset_info("cifar10", data_dir)
    return None if info["available"] else "not found; looked in " + ", ".join(map(str, info["looked"]))


def plan(a: argparse.Namespace) -> list[dict[str, Any]]:
    """Every job, in the order they start. The search and the front's trainings that follow it are the longest
    chain, so the search starts after the first seed of the hand-designed models; a front training takes the
    next free slot once the search is done; claim 1's models get their seeds before claims 2 and 3's."""
    w = str(Path(a.workdir).resolve())
    recipe = "" if a.space == "edge_small" else f":{a.space}"  # the recipe's space, named when not the default

    def hand(model: str, seed: int, dataset: str = "fashion-mini") -> dict[str, Any]:
        tail = "" if dataset == "fashion-mini" else f":{dataset}"
        return {"kind": "hand", "id": f"hand:{model}:s{seed}:e{a.epochs}{recipe}{tail}", "model": model, "seed": seed,
                "epochs": a.epochs, "space": a.space, "dataset": dataset, "data_dir": a.data_dir, "workdir": w,
                "slots": 1}

    search_id = f"search:{a.space}:b{a.budget}:s{a.search_seed}"
    first = [m for m in a.models if m in ("sssa", "ssa", "sdsa")]
    later = sorted((m for m in a.models if m not in first), key=lambda m: m != "sssa_identity_mw")  # claim 3 first
    jobs = [hand(m, 0) for m in first]
    # the search runs two workers but takes one slot: it overlaps a training rather than wait for two free slots
    jobs.append({"kind": "search", "id": search_id, "budget": a.budget, "seed": a.search_seed, "space": a.space,
                 "workdir": w, "slots": 1})
    jobs.append({"kind": "block", "id": "block:" + ",".join(map(str, a.tokens)), "tokens": a.tokens,
                 "min_time": a.min_time, "workdir": w, "slots": 1})
    jobs += [hand(m, 0) for m in later]
    for k in range(max(a.seeds, a.front_seeds)):
        if k < a.front_seeds:
            jobs += [{"kind": "front", "id": f"front:{pick}:k{k}:e{a.epochs}:{search_id}", "pick": pick,
                      "seed_offset": k, "epochs": a.epochs, "space": a.space, "workdir": w, "after": search_id,
                      "slots": 1} for pick in PICKS]
        if k + 1 < a.seeds:
            jobs += [hand(m, k + 1) for m in first]
    jobs += [hand(m, k) for k in range(1, a.seeds) for m in later]
    if cifar10_missing(a.data_dir) is None:  # CIFAR-10 from a local folder: the hand-designed models again
        jobs += [hand(m, k, "cifar10") for k in range(a.seeds) for m in ("sssa", "ssa", "sdsa")]
    else:
        _common.console.print(f"CIFAR-10 skipped: {cifar10_missing(a.data_dir)}")
    return jobs


def _running_elsewhere() -> set[str]:
    """Ids of the jobs that other processes are running now (a scheduler restarted while its jobs go on)."""
    ids = set()
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().rstrip(b"\0").split(b"\0")
        except OSError:
            continue
        if len(args) > 3 and args[-3].endswith(b"paper_claims.py") and args[-2] == b"job":
            try:
                ids.add(json.loads(args[-1])["id"])
            except (ValueError, KeyError):
                continue
    return ids


def run(a: argparse.Namespace) -> None:
    """Run the planned jobs that have no row yet, in order, ``--procs`` slots at a time, each in its own
    process; a job waiting on another's result lets the next ones by. Jobs already running in other
    processes (a restarted scheduler) are waited for, not started twice."""
    jobs = plan(a)
    slots = {j["id"]: j["slots"] for j in jobs}
    done = {r["id"] for r in _common.read_jsonl(ROWS) if "error" not in r}
    todo = [j for j in jobs if j["id"] not in done]
    running: dict[str, tuple[subprocess.Popen, float]] = {}
    t0 = time.perf_counter()
    _common.console.print(f"{len(todo)} jobs to run ({len(done)} done); rows in {ROWS}")
    while todo or running:
        elsewhere = _running_elsewhere() - set(running)
        done |= {r["id"] for r in _common.read_jsonl(ROWS) if "error" not in r}
        todo = [j for j in todo if j["id"] not in done]
        free = a.procs - sum(slots[i] for i in running) - sum(slots.get(i, 1) for i in elsewhere)
        for j in [j for j in todo if j["id"] not in elsewhere]:
            if j.get("after") and j["after"] not in done:
                continue  # waits on a result: the next ones go by
            if min(j["slots"], a.procs) > free:
                break  # in order: a job needing more slots is not overtaken
            todo.remove(j)
            running[j["id"]] = (subprocess.Popen([sys.executable, __file__, "job", json.dumps(j)]), time.perf_counter())
            free -= j["slots"]
        time.sleep(5)
        for jid, (p, start) in list(running.items()):
            if p.poll() is not None:
                del running[jid]
                end = "done" if p.returncode == 0 else f"FAILED (exit {p.returncode})"
                _common.console.print(f"[{time.perf_counter() - t0:.0f} s] {jid}: {end} in "
                                      f"{time.perf_counter() - start:.0f} s")
        if todo and not running and not elsewhere and all(j.get("after") and j["after"] not in done for j in todo):
            _common.console.print(f"{len(todo)} jobs wait on a failed job; stopping")
            break


def job(spec: dict[str, Any]) -> None:
    """One job in this process; its row appended to ``ROWS`` (an error is recorded, then re-raised)."""
    import logging

    logging.getLogger("torch._library.triton").setLevel(logging.ERROR)
    row: dict[str, Any] = {"id": spec["id"], "kind": spec["kind"],
                           **{k: spec[k] for k in ("model", "seed", "pick", "seed_offset") if k in spec}}
    try:
        row.update(JOBS[spec["kind"]](spec))
    except Exception as e:
        row["error"] = f"{type(e).__name__}: {e}"
        raise
    finally:
        row["time"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        ROWS.parent.mkdir(parents=True, exist_ok=True)
        with ROWS.open("a") as f:
            f.write(json.dumps(row, default=str) + "\n")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="run the jobs that have no row yet")
    r.add_argument("--seeds", type=int, default=3, help="seeds of every hand-designed model")
    r.add_argument("--front-seeds", type=int, default=2, help="seeds of every searched model")
    r.add_argument("--epochs", type=int, default=20, help="full-training epochs (the recipe's 20)")
    r.add_argument("--budget", type=int, default=200, help="trials of the main job")
    r.add_argument("--space", default="edge_small", help="the main job's space; its default recipe trains everything")
    r.add_argument("--models", nargs="+", default=list(HAND), choices=list(HAND), help="hand-designed models")
    r.add_argument("--search-seed", type=int, default=0)
    r.add_argument("--tokens", type=int, nargs="+", default=list(BLOCK_TOKENS), help="block timing: token counts")
    r.add_argument("--min-time", type=float, default=1.0, help="block timing: seconds per cell")
    r.add_argument("--procs", type=int, default=2, help="jobs at a time (a search's two workers count as one)")
    r.add_argument("--data-dir", default=None, help="where to look for CIFAR-10 (run on it when found)")
    r.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "snnas-paper_claims"))
    sub.add_parser("report", help="print the tables; write the record and the plot")
    j = sub.add_parser("job")
    j.add_argument("spec")
    a = p.parse_args()
    if a.cmd == "run":
        run(a)
    elif a.cmd == "job":
        job(json.loads(a.spec))
    else:
        from _paper_claims_report import report

        report(_common.read_jsonl(ROWS), a, cifar10_missing(None))


if __name__ == "__main__":
    main()
