"""Reference table: ground truth for the search's fidelity, pre-screen and pruning decisions.

Samples ``--archs`` distinct feasible architectures of a space uniformly (Optuna's RandomSampler, seeded;
the first 20 of seed 0 are ``proxy_fidelity``'s). Two stages, each resumable, rows appended to
``reports/bench/reference_table.jsonl`` as they finish (an interrupted run loses at most the rows in
flight):

* ``train``: every proxy rung of the space (no pruning; the search's own ``ProxyTrainer``) with its
  validation accuracy, training loss and energy; then a reference training from scratch of ``--ref-scale``
  times rung 1's images (6 epochs on the whole training part for edge_small) with the validation accuracy
  after every epoch of that one schedule, and its energy after training. ``--reuse FILE`` takes the
  reference of an architecture already trained by ``proxy_fidelity`` (same trainer, same seed) instead of
  training it again; its proxy rungs are still re-run, and are checked against the stored ones.
* ``scores``: training-free scores at initialisation (``snnas.search._prescreen``): parameters, energy at
  initialisation, SAHD and the others registered there.
* ``schedule``: optional, ``--rungs`` trains every architecture through another rung schedule (to choose
  a space's fidelity rungs), stored under its label.

``--report`` prints Kendall's tau-b (with a bootstrap 95 % interval) of every score against the reference
and writes ``reports/bench/reference_table.json``.

    python bench/reference_table.py --stage train [--archs 100 --procs 2 --reuse reports/bench/proxy_fidelity.json]
    python bench/reference_table.py --stage scores
    python bench/reference_table.py --report
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import _common
import optuna

TABLE = _common.OUT_DIR / "reference_table.jsonl"


def sample(space_name: str, n: int, seed: int) -> list[dict]:
    """``n`` distinct feasible architectures, drawn uniformly (the same draws as ``proxy_fidelity``)."""
    from snnas.models import count_params
    from snnas.search import load_space

    sp = load_space(space_name)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    out: list[dict] = []
    seen: set[str] = set()
    while len(out) < n:
        t = study.ask()
        cfg = sp.suggest(t, None)
        if (sp.max_params is None or count_params(cfg) <= sp.max_params) and cfg.id not in seen:
            seen.add(cfg.id)
            out.append(dict(t.params))
        study.tell(t, 0.0)
    return out


def _rung_row(r) -> dict:  # noqa: ANN001
    return {"epochs": r.epochs, "fraction": r.fraction, "T": r.T, "val_accuracy": r.val_accuracy,
            "train_loss": r.train_loss, "energy_uj": r.energy_uj, "seconds": r.seconds}


def train_job(job: tuple) -> dict:
    import torch

    from snnas.search import ProxyTrainer, load_space
    from snnas.search.space import Rung

    i, params, space_name, ref_scale, seed, reused = job
    torch.set_num_threads(1)
    sp = load_space(space_name)
    cfg = sp.config_from_params(params, None)
    t0 = time.perf_counter()
    proxy: list = []
    ProxyTrainer(sp, device="cpu").run(cfg, seed + i, proxy.append)
    row = {"arch": i, "stage": "train", "params": params, "arch_id": cfg.id, "config": cfg.to_dict(),
           "rungs": [_rung_row(r) for r in proxy], "proxy_s": time.perf_counter() - t0}
    if reused is not None:
        same = [round(r.val_accuracy, 6) for r in proxy] == [round(v, 6) for v in reused["rungs"]]
        row.update(reference=reused["reference"], reference_energy_uj=reused["reference_energy_uj"],
                   reference_epochs=reused["reference_epochs"], reference_curve=None, reference_s=reused["reference_s"],
                   reference_reused=True, proxy_matches_reused=same)
        return row
    r1 = sp.rungs[min(1, len(sp.rungs) - 1)]
    ref_epochs = max(1, round(ref_scale * r1.epochs * r1.fraction))
    # One schedule over ref_epochs epochs, evaluated after each (a rung per epoch: rung epochs are cumulative
    # and the schedule spans every rung's steps, so the last rung is the plain ref_epochs-epoch training).
    ref_space = dataclasses.replace(sp, rungs=tuple(Rung(epochs=e, fraction=1.0) for e in range(1, ref_epochs + 1)))
    t1 = time.perf_counter()
    curve: list = []
    ProxyTrainer(ref_space, device="cpu").run(cfg, seed + i, curve.append)
    row.update(reference=curve[-1].val_accuracy, reference_energy_uj=curve[-1].energy_uj, reference_epochs=ref_epochs,
               reference_curve=[_rung_row(r) for r in curve], reference_s=time.perf_counter() - t1,
               reference_reused=False)
    return row


_SCORERS: dict = {}


def scores_job(job: tuple) -> dict:
    import torch

    from snnas.search import ProxyTrainer, load_space
    from snnas.search._prescreen import ZeroCostScorer

    i, params, space_name, seed = job
    torch.set_num_threads(1)
    if space_name not in _SCORERS:  # one trainer (the dataset) per process
        _SCORERS[space_name] = ZeroCostScorer(ProxyTrainer(load_space(space_name), device="cpu"))
    scorer = _SCORERS[space_name]
    cfg = scorer.trainer.space.config_from_params(params, None)
    return {"arch": i, "stage": "scores", "arch_id": cfg.id, **scorer.score(cfg, seed + i)}


def schedule_job(job: tuple) -> dict:
    import torch

    from snnas.search import ProxyTrainer, load_space
    from snnas.search.space import Rung

    i, params, space_name, seed, label, rungs = job
    torch.set_num_threads(1)
    sp = load_space(space_name)
    sp = dataclasses.replace(sp, rungs=tuple(Rung(**r) for r in rungs))
    cfg = sp.config_from_params(params, None)
    t0 = time.perf_counter()
    out: list = []
    ProxyTrainer(sp, device="cpu").run(cfg, seed + i, out.append)
    return {"arch": i, "stage": f"schedule:{label}", "arch_id": cfg.id, "rungs": [_rung_row(r) for r in out],
            "seconds": time.perf_counter() - t0}


def load_rows(path: Path = TABLE) -> dict[int, dict]:
    """Rows by architecture, every stage merged (the last row of a stage wins)."""
    rows: dict[int, dict] = {}
    for r in _common.read_jsonl(path):
        stage = r.pop("stage")
        if stage == "scores":  # "params" is the knob dict in a train row: the count is n_params
            r["n_params"] = r.pop("params")
        merged = rows.setdefault(r["arch"], {"stages": []})
        if stage.startswith("schedule:"):
            merged.setdefault("schedules", {})[stage.split(":", 1)[1]] = r["rungs"]
        else:
            merged.update(r)
        merged["stages"].append(stage)
    return rows


def _describe(row: dict) -> str:
    what = " ".join(f"{r['val_accuracy']:.3f}" for r in row.get("rungs", [])) or ""
    ref = f" reference {row['reference']:.3f}" if "reference" in row else ""
    return f"arch {row['arch']:3d} {row['stage']}: {what}{ref}"


def _run(jobs: list, fn, procs: int) -> None:  # noqa: ANN001
    if not jobs:
        _common.console.print("nothing to do: every row of this stage is in the table")
        return
    for _ in _common.run_appending(jobs, fn, procs, TABLE, _describe):
        pass


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--space", default="edge_small")
    p.add_argument("--archs", type=int, default=100)
    p.add_argument("--stage", choices=["train", "scores", "schedule"])
    p.add_argument("--ref-scale", type=float, default=10.0, help="reference = this many times rung 1's images")
    p.add_argument("--procs", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--reuse", type=Path, help="a proxy_fidelity.json whose references are taken, not re-trained")
    p.add_argument("--order", choices=["index", "new-first"], default="new-first",
                   help="new-first: architectures without a reusable reference train first")
    p.add_argument("--rungs", type=json.loads, help='schedule stage: JSON list like [{"epochs": 1, "fraction": 0.3}]')
    p.add_argument("--label", help="schedule stage: the name the schedule is stored under")
    p.add_argument("--min-T", type=int, default=1, help="schedule stage: only the architectures with T at least this")
    p.add_argument("--report", action="store_true", help="print the taus and write reference_table.json")
    p.add_argument("--compare", nargs=2, metavar="LABEL", help="report: two schedules' taus on the same architectures")
    a = p.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    archs = sample(a.space, a.archs, a.seed)
    done = load_rows()
    if a.stage == "train":
        reused = {}
        if a.reuse:
            reused = {r["arch_id"]: r for r in json.loads(a.reuse.read_text())["rows"]}
        from snnas.search import load_space

        sp = load_space(a.space)
        jobs = []
        for i, prm in enumerate(archs):
            if "train" in done.get(i, {}).get("stages", []):
                continue
            jobs.append((i, prm, a.space, a.ref_scale, a.seed, reused.get(sp.config_from_params(prm).id)))
        if a.order == "new-first":
            jobs.sort(key=lambda j: (j[5] is not None, j[0]))
        _run(jobs, train_job, a.procs)
    elif a.stage == "scores":
        jobs = [(i, prm, a.space, a.seed) for i, prm in enumerate(archs)
                if "scores" not in done.get(i, {}).get("stages", [])]
        _run(jobs, scores_job, a.procs)
    elif a.stage == "schedule":
        if not a.rungs or not a.label:
            p.error("--stage schedule needs --rungs and --label")
        jobs = [(i, prm, a.space, a.seed, a.label, a.rungs) for i, prm in enumerate(archs)
                if f"schedule:{a.label}" not in done.get(i, {}).get("stages", []) and prm.get("T", a.min_T) >= a.min_T]
        _run(jobs, schedule_job, a.procs)
    if a.report:
        import _reference_report

        _reference_report.report(a, load_rows())


if __name__ == "__main__":
    main()
