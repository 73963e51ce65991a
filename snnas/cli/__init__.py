"""The ``snnas`` command line (typer + rich). User errors print one line and exit with code 2."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import NoReturn

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from snnas.errors import Interrupted, SnnasError

app = typer.Typer(
    add_completion=False, no_args_is_help=True, help="Architecture search over spiking vision transformers."
)
# Piped output (CI logs, `| less`) is not a terminal: rich would squeeze tables into 80 columns.
console = Console(width=None if sys.stdout.isatty() else 140)


@app.callback()
def _root() -> None:
    """snnas: NAS over spiking vision transformers with Saccadic Spike Self-Attention."""


@app.command()
def models(
    pattern: str = typer.Argument("*", help="shell-style filter on model names"),
    as_json: bool = typer.Option(False, "--json", help="print JSON instead of a table"),
) -> None:
    """List the registered SNN-ViT models with their parameter counts."""
    from snnas.models import count_params, get_entry, list_models

    names = list_models(pattern)
    if not names and not any(ch in pattern for ch in "*?["):
        get_entry(pattern)  # raises UnknownNameError with close matches
    rows = []
    for name in names:
        e = get_entry(name)
        c = e.config
        rows.append({
            "name": name, "params": count_params(c), "paper_params": e.paper_params, "T": c.T, "depth": c.depth,
            "width": c.embed_dim, "heads": c.num_heads, "attention": c.attention,
            "attention_detail": _attention_detail(c),
            "tokenizer": c.tokenizer, "input": f"{c.in_channels}x{c.img_size}x{c.img_size}", "id": c.id,
            "description": e.description,
        })
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table(title="snnas models")
    for col in ("name", "params", "paper", "T", "depth", "width", "heads", "attention", "tokenizer", "input"):
        numeric = col in ("params", "paper", "T", "depth", "width", "heads")
        table.add_column(col, justify="right" if numeric else "left", no_wrap=True)
    for r in rows:
        paper = f"{r['paper_params'] / 1e6:.2f}M" if r["paper_params"] else "-"
        table.add_row(r["name"], f"{r['params'] / 1e6:.2f}M", paper, str(r["T"]), str(r["depth"]), str(r["width"]),
                      str(r["heads"]), r["attention_detail"], r["tokenizer"], r["input"])
    console.print(table)


@app.command()
def energy(
    model: str | None = typer.Option(None, "--model", help="a registered model name (see `snnas models`)"),
    config: Path | None = typer.Option(None, "--config", help="an ArchConfig JSON file"),
    dataset: str = typer.Option("fashion-mini", "--dataset", help="calibration data (its test split)"),
    data_dir: str | None = typer.Option(None, "--data-dir", help="folder holding the datasets"),
    profile: str = typer.Option("cmos45", "--profile", help="energy profile name or TOML file"),
    batch: int = typer.Option(32, "--batch", min=1, help="calibration images"),
    as_json: bool = typer.Option(False, "--json", help="print the EnergyReport as JSON"),
) -> None:
    """Energy per image from counted synaptic operations, with a per-layer table."""
    from snnas.config import ArchConfig
    from snnas.data import adapt_config, calibration_batch
    from snnas.energy import estimate, list_profiles
    from snnas.models import create_model, get_config

    if (model is None) == (config is None):
        raise SnnasError("give exactly one of --model NAME or --config FILE")
    if config is not None:
        if not config.is_file():
            raise SnnasError(f"config file not found: {config}")
        try:
            text = config.read_text()
        except (OSError, UnicodeDecodeError) as e:
            raise SnnasError(f"cannot read config file {config}: {e}") from None
        cfg = ArchConfig.from_json(text)
    else:
        cfg = get_config(model)
    from snnas.cli._notes import note_data_dir

    note_data_dir(dataset, data_dir)
    cfg = adapt_config(cfg, dataset)
    x, described = calibration_batch(cfg, dataset, batch, data_dir)
    report = estimate(create_model(cfg), x, profile, data=described)
    if as_json:
        print(report.to_json())
        return
    from snnas.energy.render import energy_table

    console.print(energy_table(report, title=f"{model or config} on {described}"))
    console.print(f"profiles available: {', '.join(list_profiles())}", style="dim")


def _attention_detail(c) -> str:
    if c.attention != "sssa":
        return c.attention
    rule = "thr" if c.saccades == "threshold" else f"top{c.saccades}"
    return f"sssa-{c.sssa_version}/{rule}/{c.kappa}"


@app.command()
def datasets(
    as_json: bool = typer.Option(False, "--json", help="print JSON instead of a table"),
    data_dir: str | None = typer.Option(None, "--data-dir", help="folder holding the datasets (default: "
                                        "$SNNAS_DATA_DIR, else ./data)"),
) -> None:
    """List the registered datasets: shape, classes, and whether their files are available here."""
    from snnas.data import dataset_info, list_datasets

    if data_dir is not None and not Path(data_dir).is_dir():  # a typo would list every dataset as missing
        raise SnnasError(f"--data-dir {data_dir}: {'not a folder' if Path(data_dir).exists() else 'no such folder'}")
    rows = [dataset_info(name, data_dir) for name in list_datasets()]
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table(title="snnas datasets")
    for col in ("name", "kind", "shape", "classes", "available", "where"):
        table.add_column(col, justify="right" if col == "classes" else "left", no_wrap=col != "where")
    for r in rows:
        shape = "x".join(map(str, r["shape"]))
        if r["kind"] == "event":
            shape = f"Tx{shape} (T={r['T']})"
        where = r["location"] if r["available"] else "not found; looked in " + ", ".join(r["looked"])
        name = r["name"] + (" (default)" if r["default"] else "")
        table.add_row(name, r["kind"], shape, str(r["num_classes"]), "yes" if r["available"] else "no", where)
    console.print(table)


@app.command()
def spaces(
    name: str | None = typer.Argument(None, help="one space name or .toml file to show (default: every shipped "
                                      "space)"),
    as_json: bool = typer.Option(False, "--json", help="print JSON instead of a table"),
) -> None:
    """List the search spaces with their dataset, knobs and fidelity rungs."""
    from snnas.search import list_spaces, load_space

    loaded = [load_space(n) for n in ([name] if name else list_spaces())]
    if as_json:
        print(json.dumps([s.describe() for s in loaded], indent=2))
        return
    table = Table(title="snnas search spaces", show_lines=True)
    for col in ("name", "dataset", "knobs", "rungs (epochs@fraction)", "constraints"):
        table.add_column(col, no_wrap=col in ("name", "dataset"))
    for s in loaded:
        knobs = "\n".join(f"{k.name}: {k.domain()}" for k in s.knobs)
        rungs = f"{len(s.rungs)}: " + ", ".join(f"{r.epochs}@{r.fraction:g}" for r in s.rungs) + f" (eta {s.eta})"
        limits = [f"params <= {s.max_params:,}"] if s.max_params is not None else []
        limits += [f"energy <= {s.max_energy_uj:g} uJ"] if s.max_energy_uj is not None else []
        table.add_row(s.name, s.dataset, knobs, rungs, "\n".join(limits) or "-")
    console.print(table)


# Long commands live in their own modules of this package; they import only typer and rich at load time.
from snnas.cli._report import dashboard_command, report_command  # noqa: E402
from snnas.cli._search import search_command, trial_command  # noqa: E402
from snnas.cli._train import export_command, train_command  # noqa: E402

app.command("search")(search_command)
app.command("trial")(trial_command)
app.command("report")(report_command)
app.command("dashboard")(dashboard_command)
app.command("export")(export_command)
app.command("train")(train_command)


try:  # typer >= 0.2x vendors click; its usage errors derive from TyperException
    from typer import TyperException as _ClickError
except ImportError:  # pragma: no cover - older typer raises click's own
    from click.exceptions import ClickException as _ClickError


_SIGINT_EXIT = Interrupted.exit_code
_INTERRUPTED = ("interrupted; everything finished before it is saved (trials, checkpoints, reports are written "
                "whole or not at all): re-run the same command to go on")


def main() -> None:
    """Console-script entry point: one-line errors for user mistakes, tracebacks only for bugs.

    Every user error, ours (:class:`SnnasError`) or click's (a bad or missing option, an unknown command), is
    one line on stderr, ``error: <what is wrong>``, and exit code 2; ``--help`` and normal runs are unchanged.
    Ctrl-C, wherever it lands, is one line (what was kept) and exit code 130, the shell's code for SIGINT.
    """
    try:
        # Not standalone: click would print its usage errors itself, as a multi-line box.
        code = app(standalone_mode=False)
    except Interrupted as e:
        fail(str(e), e.exit_code, now=True)
    except SnnasError as e:
        fail(str(e))
    except _ClickError as e:
        if type(e).__name__ == "NoArgsIsHelpError":  # bare `snnas`: typer has printed the help; exit 2 as before
            sys.exit(2)
        message = e.format_message().strip()
        ctx = getattr(e, "ctx", None)
        if ctx is not None and ctx.command.get_help_option(ctx) is not None:  # a usage error: say where to look
            message = f"{message.rstrip('.')} (see '{ctx.command_path} --help')"
        fail(message)
    except (KeyboardInterrupt, typer.Abort):  # a Ctrl-C outside typer's command call, or at a click prompt
        fail(_INTERRUPTED, _SIGINT_EXIT, now=True)
    if code == _SIGINT_EXIT:  # typer's answer to a KeyboardInterrupt outside a search's own handling
        fail(_INTERRUPTED, _SIGINT_EXIT, now=True)
    # A finished command returns None (exit 0); --help and typer.Exit(n) return their exit code.
    sys.exit(code if isinstance(code, int) and not isinstance(code, bool) else 0)


def fail(message: str, code: int = 2, now: bool = False) -> NoReturn:
    """Print ``error: <message>`` as one line on stderr and exit with ``code``.

    ``now`` (Ctrl-C) exits at once, without Python's shutdown: a search's worker thread may be inside a torch
    kernel, and finalising the interpreter under it aborts the process (``terminate called without an active
    exception``, exit 134, seen 3 times of 3). Every result is already in the study by then.

    The message is printed as plain text: rich would read ``[with T=2]`` or ``[/path]`` in it as markup
    (dropping the first, crashing on the second). A message that spans lines is joined into one, and control
    characters (a hostile file name's terminal escapes) are shown escaped.
    """
    text = " ".join(line.strip() for line in message.splitlines() if line.strip()) or "unknown error"
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    Console(stderr=True).print(Text.assemble(("error:", "bold red"), " ", text), highlight=False, soft_wrap=True)
    if now:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    main()
