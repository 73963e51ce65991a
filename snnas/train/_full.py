"""``snnas train``: full training of an exported architecture, checkpointed every epoch and resumable.

The loop is the proxy trainer's (:class:`~snnas.search.ProxyTrainer` supplies the data, the validation
split, the batches, BatchNorm recalibration, evaluation and bf16 autocast on CUDA) with the recipe's
settings on the whole training part: AdamW, linear warm-up then cosine to zero, seeded and deterministic on
CPU. Every epoch ends with an atomic checkpoint holding everything the next epoch depends on (weights,
optimiser and schedule state, both random generators, the history), so a killed run resumes to the same
weights as an uninterrupted one. Checkpoints are read with ``torch.load(weights_only=True)``.
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
import torch.nn.functional as F
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from snnas._atomic import write_atomic
from snnas._versions import package_versions
from snnas.config import ArchConfig
from snnas.data import create_dataset, get_entry
from snnas.energy import adapt_config, calibration_batch, estimate
from snnas.errors import SnnasError
from snnas.models import count_params, create_model
from snnas.search._trainer import ProxyTrainer
from snnas.search.space import Rung, SearchSpace, TrainSettings
from snnas.train._export import load_export, validate_recipe

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


def _one_point_space(cfg: ArchConfig, recipe: dict[str, Any], source: str) -> SearchSpace:
    """A search space holding exactly ``cfg`` with one full-data rung: what ProxyTrainer needs to serve it."""
    return SearchSpace(
        name=f"export-{cfg.id}", description="one exported architecture", source=source, dataset=recipe["dataset"],
        fixed=cfg.to_dict(), knobs=(), rungs=(Rung(epochs=recipe["epochs"], fraction=1.0),),
        train=TrainSettings(batch_size=recipe["batch_size"], lr=recipe["lr"], weight_decay=recipe["weight_decay"],
                            warmup_epochs=recipe["warmup_epochs"], val_fraction=recipe["val_fraction"],
                            max_train_images=recipe["max_train_images"], time_limit_s=math.inf),
        profile=recipe["energy_profile"], calibration_images=recipe["calibration_images"],
    )


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


class _Log:
    """Plain lines (``--quiet``) or a rich progress bar over the steps of every epoch."""

    def __init__(self, console: Console | None, quiet: bool, total: int, done: int) -> None:
        self.quiet = quiet
        # piped output (logs) is not a terminal: rich would wrap at 80 columns
        self.console = console or Console(width=None if sys.stdout.isatty() else 160)
        self.progress = None
        if not quiet:
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
        if self.progress is not None:
            self.progress.stop()

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
    ckpt_path, result_path = out / "checkpoint.pt", out / "result.json"

    space = _one_point_space(cfg, recipe, str(config_path))
    trainer = ProxyTrainer(space, ds_name, data_dir, device, threads, data_seed=recipe["data_seed"])
    with _exclusive(out):
        return _train(config_path, cfg, recipe, doc, trainer, out, ckpt_path, result_path, data_dir, console,
                      quiet, stop_after_epoch)


@contextmanager
def _exclusive(out: Path) -> Iterator[None]:
    """One training per folder: a second process on the same folder is refused (the lock dies with its holder)."""
    out.mkdir(parents=True, exist_ok=True)
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


def _train(config_path: str | Path, cfg: ArchConfig, recipe: dict[str, Any], doc: dict[str, Any],
           trainer: ProxyTrainer, out: Path, ckpt_path: Path, result_path: Path, data_dir: str | None,
           console: Console | None, quiet: bool, stop_after_epoch: int | None) -> dict[str, Any]:
    ds_name = recipe["dataset"]
    rhash = recipe_hash(recipe)
    val = trainer._splits(cfg.T)[1]
    train_ds = trainer.train_subset(1.0, cfg.T, augment=recipe["augment"])
    recal_ds = trainer.train_subset(1.0, cfg.T, augment=False)
    bs, n_epochs = recipe["batch_size"], recipe["epochs"]
    steps_per = math.ceil(len(train_ds) / bs)
    total = n_epochs * steps_per
    # at most half the run warms up: a short run (--epochs 1) still ends with the learning rate at zero
    warm = max(1, min(round(recipe["warmup_epochs"] * steps_per), total // 2))

    def lr_factor(i: int) -> float:  # the proxy's shape: linear warm-up, then cosine to zero
        return (i + 1) / warm if i < warm else 0.5 * (1 + math.cos(math.pi * (i - warm) / max(1, total - warm)))

    torch.manual_seed(recipe["seed"])
    g = torch.Generator().manual_seed(recipe["seed"])
    net = create_model(cfg).to(trainer.device)
    opt = torch.optim.AdamW(net.parameters(), lr=recipe["lr"], weight_decay=recipe["weight_decay"])
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_factor)
    history: list[dict[str, Any]] = []
    start = 0
    resumed = None
    if ckpt_path.exists():
        ckpt = _read_checkpoint(ckpt_path, cfg.id, recipe, out)
        try:
            net.load_state_dict(ckpt["model"])
            opt.load_state_dict(ckpt["optimizer"])
            sched.load_state_dict(ckpt["scheduler"])
            torch.set_rng_state(ckpt["rng"]["torch"])
            g.set_state(ckpt["rng"]["batches"])
            if trainer.device.type == "cuda" and ckpt["rng"].get("cuda"):
                torch.cuda.set_rng_state_all(ckpt["rng"]["cuda"])
            start, history = int(ckpt["epoch"]), list(ckpt["history"])
        except (RuntimeError, KeyError, ValueError, TypeError) as e:
            first = str(e).strip().splitlines()[0][:160] if str(e).strip() else ""
            raise SnnasError(f"{ckpt_path}: checkpoint does not fit this model ({type(e).__name__}: {first}); "
                             f"delete {out} to train from scratch") from None
        resumed = start

    search = doc.get("search") or {}
    n_params = count_params(cfg)
    t_run = time.perf_counter()
    with _Log(console, quiet, total, start * steps_per) as log:
        plural = "s" * (n_epochs != 1)
        log.line(f"training arch {cfg.id} ({n_params:,} parameters, T={cfg.T}) on {ds_name}: {len(train_ds)} "
                 f"training / {len(val)} validation images, {n_epochs} epoch{plural} of {steps_per} steps, device "
                 f"{trainer.device}; checkpoints in {out}")
        if resumed is not None:
            log.line(f"resuming from epoch {resumed} ({ckpt_path})")
        for epoch in range(start, n_epochs):
            t0 = time.perf_counter()
            loss_sum, hits, seen = 0.0, 0, 0
            net.train()
            for step, (x, y) in enumerate(trainer._batches(train_ds, bs, shuffle=True, g=g)):
                with trainer._autocast():
                    logits = net(x, T=cfg.T)
                    loss = F.cross_entropy(logits, y, label_smoothing=recipe["label_smoothing"])
                if not torch.isfinite(loss):
                    kept = f"the checkpoint of epoch {epoch} is kept in {ckpt_path}" if epoch else "no checkpoint yet"
                    raise SnnasError(f"non-finite loss ({loss.item()}) at epoch {epoch + 1} step {step + 1}; "
                                     f"{kept}; lower the recipe's lr or check the data")
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                loss_sum += loss.item() * len(y)
                hits += int((logits.argmax(1) == y).sum())
                seen += len(y)
                log.step(f"epoch {epoch + 1}/{n_epochs} loss {loss_sum / seen:.3f}"
                         + (f" val {history[-1]['val_accuracy']:.3f}" if history else ""))
            trainer.recalibrate_batchnorm(net, recal_ds, cfg.T)
            val_acc = trainer.evaluate(net, val, cfg.T)
            history.append({"epoch": epoch + 1, "train_loss": loss_sum / seen, "train_accuracy": hits / seen,
                            "val_accuracy": val_acc, "lr_end": sched.get_last_lr()[0],
                            "seconds": time.perf_counter() - t0})
            rng = {"torch": torch.get_rng_state(), "batches": g.get_state()}
            if trainer.device.type == "cuda":
                rng["cuda"] = torch.cuda.get_rng_state_all()
            state = {"format": CHECKPOINT_FORMAT, "arch_id": cfg.id, "recipe_hash": rhash, "epoch": epoch + 1,
                     "model": net.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                     "rng": rng, "history": history, "recipe": recipe}
            write_atomic(ckpt_path, lambda tmp, state=state: torch.save(state, tmp), site="export")
            h = history[-1]
            log.line(f"epoch {epoch + 1}/{n_epochs}: loss {h['train_loss']:.4f}, train acc {h['train_accuracy']:.4f}, "
                     f"val acc {val_acc:.4f}, {h['seconds']:.1f} s")
            if stop_after_epoch is not None and epoch + 1 >= stop_after_epoch and epoch + 1 < n_epochs:
                log.line(f"stopped after epoch {epoch + 1}; run the same command again to resume")
                return {"stopped_after_epoch": epoch + 1, "epochs": n_epochs, "checkpoint": str(ckpt_path)}

        # the last checkpoint's BatchNorm statistics were recalibrated before its validation score
        test = create_dataset(ds_name, root=data_dir, split="test", T=cfg.T, img_size=cfg.img_size)
        test_acc = trainer.evaluate(net, test, cfg.T)
        x, described = calibration_batch(cfg, ds_name, recipe["calibration_images"], data_dir)
        report = estimate(net, x.to(trainer.device), recipe["energy_profile"], data=described, T=cfg.T)
        final = history[-1]
        result = {
            "format": RESULT_FORMAT,
            "config": str(config_path),
            "arch_id": cfg.id,
            "arch": cfg.to_dict(),
            "recipe": recipe,
            "recipe_hash": rhash,
            "params": n_params,
            "epochs": n_epochs,
            "val_accuracy": final["val_accuracy"],
            "test_accuracy": test_acc,
            "energy_uj": report.total_uj,
            "train_loss": final["train_loss"],
            "images": {"train": len(train_ds), "val": len(val), "test": len(test)},
            "search": {"val_accuracy": search.get("val_accuracy"), "energy_uj": search.get("energy_uj")},
            "history": history,
            "energy_report": report.to_dict(),
            "resumed_from_epoch": resumed,
            "device": str(trainer.device),
            "threads": torch.get_num_threads(),
            "seconds_this_run": time.perf_counter() - t_run,
            "seconds_training": sum(h["seconds"] for h in history),
            "checkpoint": str(ckpt_path),
            "versions": package_versions(),
        }
        write_atomic(result_path, json.dumps(result, indent=2) + "\n", site="export")
        proxy = search.get("val_accuracy")
        log.line(f"done: val accuracy {final['val_accuracy']:.4f}"
                 + (f" (search proxy {proxy:.4f})" if isinstance(proxy, int | float) else "")
                 + f", test accuracy {test_acc:.4f}, energy {report.total_uj:.4f} uJ/image; wrote {result_path}")
    return result
