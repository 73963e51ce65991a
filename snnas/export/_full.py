"""``snnas train``: full training of an exported architecture, checkpointed every epoch and resumable.

Another use of the training engine the search's proxy trainer runs on (:mod:`snnas.train`: the same step,
schedule shape, BatchNorm recalibration, evaluation and bf16 autocast on CUDA, and the same validation split
for the same data seed), with the recipe's settings on the whole training part: AdamW, linear warm-up then
cosine to zero, seeded and deterministic on CPU. Every epoch ends with an atomic checkpoint holding
everything the next epoch depends on (weights, optimiser and schedule state, both random generators, the
history), so a killed run resumes to the same weights as an uninterrupted one. Checkpoints are read with
``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import math
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from snnas._atomic import ensure_dir, write_atomic
from snnas._versions import package_versions
from snnas.config import ArchConfig
from snnas.data import adapt_config, calibration_batch, get_entry
from snnas.energy import estimate
from snnas.errors import SnnasError
from snnas.export._export import load_export, validate_recipe
from snnas.models import compile_neurons, count_params, create_model
from snnas.train import Engine, NonFiniteLoss, TrainingData, warmup_cosine

__all__ = ["CHECKPOINT_FORMAT", "RESULT_FORMAT", "recipe_hash", "train", "default_out_dir"]

CHECKPOINT_FORMAT = "snnas-checkpoint/1"
RESULT_FORMAT = "snnas-train-result/1"
_CKPT_KEYS = ("format", "arch_id", "recipe_hash", "epoch", "model", "optimizer", "scheduler", "rng", "history")


def recipe_hash(recipe: dict[str, Any]) -> str:
    """12 hex digits of the canonical JSON of an (effective) recipe: a checkpoint belongs to one recipe."""
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:12]


def default_out_dir(config_path: str | Path) -> Path:
    """``<config stem>.train/`` next to the export file."""
    p = Path(config_path)
    return p.with_name(p.stem + ".train")


def _read_checkpoint(path: Path, arch_id: str, recipe: dict[str, Any], out_dir: Path) -> dict[str, Any]:
    """The checkpoint's content, checked against this run; corrupt or foreign files are one-line errors."""
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - truncated zip, garbage, a pickle weights_only refuses
        raise SnnasError(f"{path}: unreadable checkpoint ({type(e).__name__}: not a torch file, truncated, or "
                         f"holding objects that weights_only loading refuses); delete {out_dir} to train from "
                         "scratch") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT or not set(_CKPT_KEYS) <= set(ckpt):
        raise SnnasError(f"{path}: not an snnas training checkpoint; delete {out_dir} to train from scratch")
    rhash = recipe_hash(recipe)
    if ckpt["arch_id"] != arch_id or ckpt["recipe_hash"] != rhash:
        if ckpt["arch_id"] != arch_id:
            why = f"arch {ckpt['arch_id']}, this config's is {arch_id}"
        else:
            old = ckpt.get("recipe") if isinstance(ckpt.get("recipe"), dict) else {}
            diff = [f"{k} {old.get(k)!r} -> {v!r}" for k, v in recipe.items() if old.get(k) != v]
            why = "recipe " + (", ".join(diff) if diff else f"{ckpt['recipe_hash']}, this one's is {rhash}")
        raise SnnasError(f"{path} belongs to another run ({why}); delete {out_dir} to start over, or pass "
                         "another --out-dir")
    return ckpt


def _check_optimizer_state(net: torch.nn.Module, opt: torch.optim.Optimizer) -> None:
    """A ``ValueError`` naming the first parameter whose saved optimizer state has another shape (torch does not
    check: the first step would fail mid-training). A checkpoint of snnas 0.1.0 before M_w was packed stored the whole
    T x T M_w: its weights convert on load, its AdamW moments cannot be resumed."""
    names = {p: n for n, p in net.named_parameters()}
    for p, state in opt.state.items():
        for key, v in state.items():
            if torch.is_tensor(v) and v.ndim and v.shape != p.shape:
                raise ValueError(f"optimizer state {key!r} of {names.get(p, '?')} has shape {list(v.shape)}, the "
                                 f"parameter {list(p.shape)} (saved by an older snnas)")


class _Log:
    """Plain lines (``--quiet``) or a rich progress bar over the steps of every epoch."""

    def __init__(self, console: Console | None, quiet: bool, total: int, done: int) -> None:
        self.quiet = quiet
        # piped output (logs) is not a terminal: rich would wrap at 80 columns
        self.console = console or Console(width=None if sys.stdout.isatty() else 160)
        self.progress = None
        if not quiet and (self.console.is_terminal or self.console.is_jupyter):  # a log file gets the lines only
            self.progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                     TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                                     console=self.console)
            self.task = self.progress.add_task("training", total=total, completed=done)

    def line(self, text: str) -> None:
        if self.quiet:
            print(text, flush=True)
        else:
            self.console.print(text, highlight=False, soft_wrap=True)

    def __enter__(self) -> _Log:
        if self.progress is not None:
            self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """End the progress bar, so what is printed next comes after it (the final ``done:`` line)."""
        if self.progress is not None:
            self.progress.stop()
            self.progress = None

    def step(self, description: str) -> None:
        if self.progress is not None:
            self.progress.update(self.task, advance=1, description=description)


def train(config_path: str | Path, dataset: str | None = None, data_dir: str | None = None,
          epochs: int | None = None, device: str | None = None, out_dir: str | Path | None = None,
          console: Console | None = None, *, quiet: bool = False, threads: int | None = None,
          stop_after_epoch: int | None = None) -> dict[str, Any]:
    """Train the architecture of an export file with its recipe; the result (also ``<out_dir>/result.json``).

    ``dataset`` and ``epochs`` override the recipe (and so belong to the run's identity: a checkpoint made
    with other values is refused). Re-running resumes from ``<out_dir>/checkpoint.pt``. ``stop_after_epoch``
    stops, as if interrupted, once that epoch's checkpoint is written (for time-sliced jobs and tests); the
    return value then says so and holds no accuracies.
    """
    arch, recipe, doc = load_export(config_path)
    recipe = dict(recipe)
    if dataset is not None:
        recipe["dataset"] = dataset
    if epochs is not None:
        recipe["epochs"] = epochs
    recipe = validate_recipe(recipe, "recipe (with command-line overrides)")
    ds_name = recipe["dataset"]
    get_entry(ds_name)  # an unknown name is a one-line error listing close ones
    cfg = adapt_config(arch, ds_name)
    out = Path(out_dir) if out_dir is not None else default_out_dir(config_path)
    if out.exists() and not out.is_dir():
        raise SnnasError(f"--out-dir {out} is a file, not a folder; give a folder for the checkpoint and result")
    engine = Engine(device, threads)
    data = recipe_data(cfg, recipe, data_dir)
    data.load(cfg.T)  # a missing or corrupt dataset fails here, before the output folder is made
    compile_neurons(False)  # full training runs spikingjelly's own neuron kernels
    with _exclusive(out):
        return _FullRun(config_path, cfg, recipe, doc, engine, data, out, data_dir).run(console, quiet,
                                                                                       stop_after_epoch)


def recipe_data(cfg: ArchConfig, recipe: dict[str, Any], data_dir: str | None = None) -> TrainingData:
    """The data of a full training: the recipe's dataset, split exactly as the search split it for the same
    ``data_seed``, ``val_fraction`` and ``max_train_images``."""
    return TrainingData(recipe["dataset"], data_dir, img_size=cfg.img_size, val_fraction=recipe["val_fraction"],
                        max_train_images=recipe["max_train_images"], data_seed=recipe["data_seed"])


@contextmanager
def _exclusive(out: Path) -> Iterator[None]:
    """One training per folder: a second process on the same folder is refused (the lock dies with its holder)."""
    ensure_dir(out, "the training folder")
    with open(out / ".lock", "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SnnasError(f"another `snnas train` is using {out}; wait for it or pass another --out-dir") from None
        for stale in out.glob(".checkpoint.pt.*.tmp"):  # left by a process killed while saving
            stale.unlink(missing_ok=True)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


class _FullRun:
    """One full training: the network, optimiser and schedule, resumed from a checkpoint when there is one."""

    def __init__(self, config_path: str | Path, cfg: ArchConfig, recipe: dict[str, Any], doc: dict[str, Any],
                 engine: Engine, data: TrainingData, out: Path, data_dir: str | None) -> None:
        self.config_path, self.cfg, self.recipe, self.doc = config_path, cfg, recipe, doc
        self.engine, self.data, self.out, self.data_dir = engine, data, out, data_dir
        self.ckpt_path, self.result_path = out / "checkpoint.pt", out / "result.json"
        self.rhash = recipe_hash(recipe)
        self.val = data.validation(cfg.T)
        self.train_ds = data.train_part(1.0, cfg.T, augment=recipe["augment"])
        self.recal_ds = data.train_part(1.0, cfg.T, augment=False)
        bs, n_epochs = recipe["batch_size"], recipe["epochs"]
        self.steps_per = math.ceil(len(self.train_ds) / bs)
        total = n_epochs * self.steps_per
        # at most half the run warms up: a short run (--epochs 1) still ends with the learning rate at zero
        warm = max(1, min(round(recipe["warmup_epochs"] * self.steps_per), total // 2))
        torch.manual_seed(recipe["seed"])
        self.g = torch.Generator().manual_seed(recipe["seed"])
        self.net = create_model(cfg).to(engine.device)
        self.opt = torch.optim.AdamW(self.net.parameters(), lr=recipe["lr"], weight_decay=recipe["weight_decay"])
        self.sched = warmup_cosine(self.opt, warm, total)
        self.history: list[dict[str, Any]] = []
        self.start = 0
        self.resumed: int | None = None
        if self.ckpt_path.exists():
            self._resume()

    def _resume(self) -> None:
        ckpt = _read_checkpoint(self.ckpt_path, self.cfg.id, self.recipe, self.out)
        try:
            self.net.load_state_dict(ckpt["model"])  # an older layout of a module converts on load (M_w)
            self.opt.load_state_dict(ckpt["optimizer"])
            _check_optimizer_state(self.net, self.opt)
            self.sched.load_state_dict(ckpt["scheduler"])
            torch.set_rng_state(ckpt["rng"]["torch"])
            self.g.set_state(ckpt["rng"]["batches"])
            if self.engine.device.type == "cuda" and ckpt["rng"].get("cuda"):
                torch.cuda.set_rng_state_all(ckpt["rng"]["cuda"])
            self.start, self.history = int(ckpt["epoch"]), list(ckpt["history"])
        except (RuntimeError, KeyError, ValueError, TypeError) as e:
            first = str(e).strip().splitlines()[0][:160] if str(e).strip() else ""
            raise SnnasError(f"{self.ckpt_path}: checkpoint does not fit this model ({type(e).__name__}: {first}); "
                             f"delete {self.out} to train from scratch") from None
        self.resumed = self.start

    def run(self, console: Console | None, quiet: bool, stop_after_epoch: int | None) -> dict[str, Any]:
        cfg, recipe, n_epochs = self.cfg, self.recipe, self.recipe["epochs"]
        n_params = count_params(cfg)
        t_run = time.perf_counter()
        with _Log(console, quiet, n_epochs * self.steps_per, self.start * self.steps_per) as log:
            plural = "s" * (n_epochs != 1)
            log.line(f"training arch {cfg.id} ({n_params:,} parameters, T={cfg.T}) on {recipe['dataset']}: "
                     f"{len(self.train_ds)} training / {len(self.val)} validation images, {n_epochs} epoch{plural} of "
                     f"{self.steps_per} steps, device {self.engine.device}; checkpoints in {self.out}")
            if self.resumed is not None:
                log.line(f"resuming from epoch {self.resumed} ({self.ckpt_path})")
            for epoch in range(self.start, n_epochs):
                self._epoch(epoch, log)
                if stop_after_epoch is not None and epoch + 1 >= stop_after_epoch and epoch + 1 < n_epochs:
                    log.line(f"stopped after epoch {epoch + 1}; run the same command again to resume")
                    return {"stopped_after_epoch": epoch + 1, "epochs": n_epochs, "checkpoint": str(self.ckpt_path)}
            return self._finish(log, n_params, t_run)

    def _epoch(self, epoch: int, log: _Log) -> None:
        n_epochs, engine = self.recipe["epochs"], self.engine
        t0 = time.perf_counter()
        last_val = f" val {self.history[-1]['val_accuracy']:.3f}" if self.history else ""

        def on_step(st: Any) -> None:
            log.step(f"epoch {epoch + 1}/{n_epochs} loss {st.loss_sum / st.seen:.3f}" + last_val)

        try:
            st = engine.train_epoch(self.net, self.opt, self.sched, self.train_ds, batch_size=self.recipe["batch_size"],
                                    generator=self.g, T=self.cfg.T, epoch=epoch,
                                    label_smoothing=self.recipe["label_smoothing"], on_step=on_step)
        except NonFiniteLoss as e:
            kept = f"the checkpoint of epoch {epoch} is kept in {self.ckpt_path}" if epoch else "no checkpoint yet"
            raise SnnasError(f"non-finite loss ({e.value}) at epoch {epoch + 1} step {e.step + 1}; {kept}; lower the "
                             "recipe's lr or check the data") from None
        engine.recalibrate_batchnorm(self.net, self.recal_ds, self.cfg.T, batch_size=self.recipe["batch_size"])
        val_acc = engine.evaluate(self.net, self.val, self.cfg.T)
        self.history.append({"epoch": epoch + 1, "train_loss": st.loss_sum / st.seen,
                             "train_accuracy": st.hits / st.seen, "val_accuracy": val_acc,
                             "lr_end": self.sched.get_last_lr()[0], "seconds": time.perf_counter() - t0})
        rng = {"torch": torch.get_rng_state(), "batches": self.g.get_state()}
        if engine.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state_all()
        state = {"format": CHECKPOINT_FORMAT, "arch_id": self.cfg.id, "recipe_hash": self.rhash, "epoch": epoch + 1,
                 "model": self.net.state_dict(), "optimizer": self.opt.state_dict(),
                 "scheduler": self.sched.state_dict(), "rng": rng, "history": self.history, "recipe": self.recipe}
        write_atomic(self.ckpt_path, lambda tmp, state=state: torch.save(state, tmp), site="export")
        h = self.history[-1]
        log.line(f"epoch {epoch + 1}/{n_epochs}: loss {h['train_loss']:.4f}, train acc {h['train_accuracy']:.4f}, "
                 f"val acc {val_acc:.4f}, {h['seconds']:.1f} s")

    def _finish(self, log: _Log, n_params: int, t_run: float) -> dict[str, Any]:
        cfg, recipe, engine = self.cfg, self.recipe, self.engine
        ds_name = recipe["dataset"]
        # the last checkpoint's BatchNorm statistics were recalibrated before its validation score
        test = self.data.test(cfg.T)
        test_acc = engine.evaluate(self.net, test, cfg.T)
        x, described = calibration_batch(cfg, ds_name, recipe["calibration_images"], self.data_dir)
        report = estimate(self.net, x.to(engine.device), recipe["energy_profile"], data=described, T=cfg.T)
        final, search = self.history[-1], self.doc.get("search") or {}
        result = {
            "format": RESULT_FORMAT,
            "config": str(self.config_path),
            "arch_id": cfg.id,
            "arch": cfg.to_dict(),
            "recipe": recipe,
            "recipe_hash": self.rhash,
            "params": n_params,
            "epochs": recipe["epochs"],
            "val_accuracy": final["val_accuracy"],
            "test_accuracy": test_acc,
            "energy_uj": report.total_uj,
            "train_loss": final["train_loss"],
            "images": {"train": len(self.train_ds), "val": len(self.val), "test": len(test)},
            "search": {"val_accuracy": search.get("val_accuracy"), "energy_uj": search.get("energy_uj")},
            "history": self.history,
            "energy_report": report.to_dict(),
            "resumed_from_epoch": self.resumed,
            "device": str(engine.device),
            "threads": torch.get_num_threads(),
            "seconds_this_run": time.perf_counter() - t_run,
            "seconds_training": sum(h["seconds"] for h in self.history),
            "checkpoint": str(self.ckpt_path),
            "versions": package_versions(),
        }
        write_atomic(self.result_path, json.dumps(result, indent=2) + "\n", site="export")
        proxy = search.get("val_accuracy")
        log.close()
        log.line(f"done: val accuracy {final['val_accuracy']:.4f}"
                 + (f" (search proxy {proxy:.4f})" if isinstance(proxy, int | float) else "")
                 + f", test accuracy {test_acc:.4f}, energy {report.total_uj:.4f} uJ/image; wrote {self.result_path}")
        return result
