"""The ``export`` and ``train`` commands (registered on the app in :mod:`snnas.cli`)."""

from __future__ import annotations

import shlex

import typer
from rich.console import Console

from snnas._text import plural


def export_command(
    study: str = typer.Argument(..., help="study name (as `snnas search` made it, e.g. edge_small-fashion-mini)"),
    storage: str | None = typer.Option(None, "--storage", help="Optuna storage URL (default sqlite:///studies/<study>.db)"),
    trial: int | None = typer.Option(None, "--trial", min=0, help="export this COMPLETE trial instead of a pick"),
    pick: str | None = typer.Option(None, "--pick", help="on the Pareto front (completed, feasible, clearly above "
                                    "chance): near-best (default: the cheapest trial within 2 standard errors of "
                                    "the most accurate one's val accuracy), knee, max-accuracy, min-energy or "
                                    "energy<=X (most accurate with at most X uJ per image) or accuracy>=X (cheapest "
                                    "with val accuracy at least X)"),
    out: str | None = typer.Option(None, "--out", help="file to write (default exports/<study>-trial<N>.json)"),
) -> None:
    """Write one searched architecture with a full-training recipe as a JSON file for `snnas train`."""
    from snnas.cli._notes import note
    from snnas.export import export_trial, load_export

    path = export_trial(study, storage=storage, trial=trial, pick=pick, out=out)
    cfg, recipe, doc = load_export(path)
    if doc["provenance"].get("off_front"):
        note(f"trial {doc['provenance']['trial']} is not on the Pareto front: {doc['provenance']['off_front']}; "
             "exported as asked")
    s = doc["search"]
    params = f", {s['params']:,} parameters" if isinstance(s.get("params"), int) else ""
    Console().print(f"trial {doc['provenance']['trial']} (arch {cfg.id}): val accuracy {s['val_accuracy']:.4f}, "
                    f"{s['energy_uj']:.4g} uJ/image{params} -> {path}\n"
                    f"train it: `snnas train {shlex.quote(str(path))}` ({plural(recipe['epochs'], 'epoch')}; edit "
                    "the recipe to change)",
                    highlight=False, soft_wrap=True)


def train_command(
    config: str = typer.Argument(..., help="an export file written by `snnas export`"),
    dataset: str | None = typer.Option(None, "--dataset", help="override the recipe's dataset"),
    data_dir: str | None = typer.Option(None, "--data-dir", help="folder holding the datasets"),
    epochs: int | None = typer.Option(None, "--epochs", min=1, help="override the recipe's epochs"),
    device: str | None = typer.Option(None, "--device", help="cpu or cuda (default: cuda when present)"),
    out_dir: str | None = typer.Option(None, "--out-dir", help="checkpoint and result folder "
                                       "(default <config stem>.train/ next to the config)"),
    threads: int | None = typer.Option(None, "--threads", min=1, help="CPU threads (default: torch's)"),
    quiet: bool = typer.Option(False, "--quiet", help="one line per epoch instead of a progress bar"),
) -> None:
    """Train an exported architecture with its recipe; checkpoints every epoch, re-running resumes."""
    from snnas.cli._notes import note_data_dir
    from snnas.export import load_export, train

    if data_dir is not None:
        note_data_dir(dataset or load_export(config)[1]["dataset"], data_dir)
    train(config, dataset=dataset, data_dir=data_dir, epochs=epochs, device=device, out_dir=out_dir,
          quiet=quiet, threads=threads)
