"""The ``search`` and ``trial`` commands (registered on the app in :mod:`snnas.cli`): search, then report."""

from __future__ import annotations

import json

import typer
from rich.console import Console

from snnas._text import plural
from snnas.errors import SnnasError

MAX_SEED = 2**31 - 1  # worker w samples with seed + w; numpy's generators take seeds below 2**32


def search_command(
    space: str = typer.Option(..., "--space", help="a shipped space name (`snnas spaces`) or a .toml file"),
    budget: int = typer.Option(20, "--budget", min=1, help="trials that finish (complete, pruned or failed)"),
    dataset: str | None = typer.Option(None, "--dataset", help="default: the space's dataset"),
    data_dir: str | None = typer.Option(None, "--data-dir", help="folder holding the datasets"),
    sampler: str | None = typer.Option(None, "--sampler",
                                       help="tpe, nsga2, gp or random (default: the space's, else tpe)"),
    storage: str | None = typer.Option(None, "--storage", help="Optuna storage URL (default sqlite:///studies/<study>.db)"),
    study: str | None = typer.Option(None, "--study", help="study name (default <space>-<dataset>)"),
    workers: int = typer.Option(1, "--workers", min=1, help="worker processes on the same study"),
    seed: int = typer.Option(0, "--seed", min=0, max=MAX_SEED,
                             help="seed of the sampler, the data split and the trials"),
    timeout: float | None = typer.Option(None, "--timeout", help="stop starting trials after this many seconds"),
    device: str | None = typer.Option(None, "--device", help="cpu or cuda (default: cuda when present)"),
    no_prune: bool = typer.Option(False, "--no-prune", help="train every trial through every rung"),
    gate: str = typer.Option("predicted", "--gate",
                             help="pruning compares predicted final accuracy (predicted) or the rung's own (raw)"),
    prescreen: int | None = typer.Option(None, "--prescreen", min=0,
                                         help="candidates scored without training to queue the promising first "
                                              "(0: off; default: the space's [search] prescreen)"),
    duplicates: str = typer.Option("skip", "--duplicates",
                                   help="skip: an architecture already trained takes its stored result (not "
                                        "counted); train: train it again with the trial's own seed"),
    threads: int | None = typer.Option(None, "--threads", min=1,
                                       help="torch threads per worker (default: CPU cores / workers)"),
    quiet: bool = typer.Option(False, "--quiet", help="one line per finished trial, for logs"),
    backend: str = typer.Option("optuna", "--backend", help="optuna (local worker processes) or ray (Ray Tune)"),
    address: str | None = typer.Option(None, "--address",
                                       help="ray: an existing cluster (auto or its GCS host:port); "
                                            "default: start a local Ray instance for this search"),
    cpus_per_trial: float = typer.Option(1.0, "--cpus-per-trial", min=0.01, help="ray: CPUs each trial reserves"),
    gpus_per_trial: float | None = typer.Option(None, "--gpus-per-trial", min=0.0,
                                                help="ray: GPU share per trial, e.g. 0.25 = four per GPU "
                                                     "(default 0.25 when the cluster has GPUs, else 0)"),
    max_concurrent: int | None = typer.Option(None, "--max-concurrent", min=1,
                                              help="ray: trials at once (default: what the resources fit)"),
    compile_neurons: str = typer.Option("off", "--compile-neurons",
                                        help="on: fuse the CPU neuron loops with torch.compile (needs a C++ "
                                             "compiler; ~1-2 min of compiling per worker; docs/benchmarks.md)"),
) -> None:
    """Multi-objective architecture search (accuracy vs energy) with Pareto successive-halving pruning."""
    from snnas.cli._notes import note_data_dir
    from snnas.search import RayOptions, SearchOptions, load_space, search
    from snnas.search._storage import default_url

    ray = RayOptions(address=address, gpus_per_trial=gpus_per_trial, max_concurrent=max_concurrent,
                     cpus_per_trial=cpus_per_trial)
    opts = SearchOptions(space=space, budget=budget, dataset=dataset, data_dir=data_dir, sampler=sampler,
                         storage=storage, study=study, workers=workers, seed=seed, timeout=timeout, device=device,
                         prune=not no_prune, threads=threads, backend=backend, compile_neurons=compile_neurons,
                         gate=gate, prescreen=prescreen, duplicates=duplicates, ray=ray).check()
    note_data_dir(dataset or load_space(space).dataset, data_dir)
    study = search(opts, quiet=quiet).study_name
    # The report comes after the search, from the study it left (the search never calls the report).
    line = report_line(study, opts.storage or default_url(opts.studies_dir, study))
    Console().print(line, highlight=False, soft_wrap=True)  # one line, however wide, in a terminal or a log


def report_line(study: str, storage: str) -> str:
    """Write or refresh the study's report page after a search (:func:`snnas.search._results.report_dir`); a
    report failure never costs the search its results (it is said in the line instead). Its hints carry the
    storage, so they work as printed."""
    from snnas.report import build_report
    from snnas.search._storage import study_args

    ref = study_args(study, storage)
    try:
        page = build_report(study, storage, csv=False)
    except Exception as e:  # noqa: BLE001 - the study is saved; say why the page is missing
        return f"report not written ({type(e).__name__}: {e}); the study is intact: `snnas report {ref}`"
    return f"report: {page} (or `snnas dashboard {ref}` for a live view; `snnas export {ref}` to export the pick)"


def trial_command(
    space: str = typer.Option(..., "--space", help="space name or .toml file"),
    params: str = typer.Option(..., "--params", help='the parameters as JSON: knob values by knob name, e.g. '
                               '{"T": 4}, or as a study records them (an ordered knob\'s index as "T.index": 2)'),
    seed: int = typer.Option(0, "--seed", min=0, max=2**32 - 1, help="the trial's training seed"),
    data_seed: int = typer.Option(0, "--data-seed", min=0, max=MAX_SEED,
                                  help="the search's --seed (it fixes the validation split)"),
    dataset: str | None = typer.Option(None, "--dataset"),
    data_dir: str | None = typer.Option(None, "--data-dir"),
    device: str | None = typer.Option(None, "--device"),
    compile_neurons: str = typer.Option("off", "--compile-neurons", help="on or off (as the search ran it)"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Re-run one trial (every rung, no pruning) from its recorded parameters and seed."""
    from snnas.cli._notes import note_data_dir
    from snnas.search import load_space

    sp = load_space(space)  # before the trainer's import (torch): a mistyped space is a quick one-line error
    note_data_dir(dataset or sp.dataset, data_dir)
    try:
        values = json.loads(params)
    except json.JSONDecodeError as e:
        raise SnnasError(f"--params is not valid JSON ({e})") from None
    if not isinstance(values, dict):
        raise SnnasError("--params must be a JSON object of knob values (or a study's recorded parameters)")
    cfg = sp.config_from_params(values, dataset)
    if compile_neurons not in ("on", "off"):
        raise SnnasError(f"--compile-neurons must be on or off (got {compile_neurons!r})")
    from snnas.search import ProxyTrainer

    trainer = ProxyTrainer(sp, dataset, data_dir, device, data_seed=data_seed, compile_neurons=compile_neurons == "on")
    rungs = []
    result = trainer.run(cfg, seed, lambda r: rungs.append(r.summary()))
    out = {"arch_id": cfg.id, "config": cfg.to_dict(), "seed": seed, "rungs": rungs,
           "val_accuracy": result.val_accuracy, "energy_uj": result.energy_uj}
    if as_json:
        print(json.dumps(out))
    else:
        Console().print(f"arch {cfg.id}: val accuracy {result.val_accuracy:.4f}, {result.energy_uj:.4f} uJ/image "
                        f"after {plural(len(rungs), 'rung')} (seed {seed})")
