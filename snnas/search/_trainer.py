"""The proxy trainer: a few rungs of AdamW training with a cosine schedule, scored on a held-out split.

One trainer per worker process holds the dataset in memory; ``run`` trains one architecture through the
space's rungs and hands each rung's result (validation accuracy, energy per image) to a callback, which may
stop the trial by raising (the search's pruner does). Training is seeded and deterministic on CPU; on CUDA
it runs under bf16 autocast. A non-finite loss or an exceeded time limit fails the trial with the reason.
"""

from __future__ import annotations

import ctypes
import gc
import math
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import torch
import torch.nn.functional as F

from snnas import _faults
from snnas.config import ArchConfig
from snnas.data import TensorDataset, create_dataset, get_entry
from snnas.data._tensor import FrameFileDataset, SnnasDataset
from snnas.energy import EnergyReport, estimate
from snnas.errors import SnnasError, first_line
from snnas.models import compile_neurons as _compile_neurons
from snnas.models import create_model

__all__ = ["RungResult", "TrialFailure", "ProxyTrainer", "pick_device", "out_of_memory"]


class TrialFailure(SnnasError):
    """A trial that failed on its own (non-finite loss, time limit, out of memory): recorded with the reason."""


RUNG_SUMMARY_KEYS = ("rung", "epochs", "fraction", "T", "train_images", "train_loss", "val_accuracy", "energy_uj",
                     "seconds")  # what a trial records per rung (``rung<k>`` attribute), whichever backend ran it


@dataclass
class RungResult:
    """What one rung produced."""

    rung: int
    epochs: int
    fraction: float
    train_images: int
    train_loss: float
    val_accuracy: float
    energy_uj: float
    seconds: float
    report: EnergyReport
    T: int | None = None  # timesteps this rung ran (the trial's own T unless the rung sets fewer)

    def summary(self) -> dict[str, float | int]:
        return {k: getattr(self, k) for k in RUNG_SUMMARY_KEYS}


def pick_device(device: str | None = None) -> torch.device:
    """``cuda`` when asked for or available, else ``cpu``; asking for an absent GPU is a user error."""
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise SnnasError("--device cuda: no CUDA device is available here")
    if device not in ("cpu", "cuda"):
        raise SnnasError(f"--device must be cpu or cuda (got {device!r})")
    return torch.device(device)


def _nested_split(labels: np.ndarray, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A stratified validation split, and the rest ordered so that every prefix-per-class is stratified."""
    rng = np.random.default_rng(seed)
    val, rest = [], []
    for c in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == c))
        n_val = max(1, round(val_fraction * len(members)))
        val.append(members[:n_val])
        rest.append(members[n_val:])
    return np.sort(np.concatenate(val)), rest


def _subset(ds: SnnasDataset, idx: np.ndarray, augment: bool) -> SnnasDataset:
    tf = replace(ds.transform, augment=augment)
    t = torch.as_tensor(idx, dtype=torch.int64)
    if isinstance(ds, TensorDataset):
        return TensorDataset(ds.data[t], ds.targets[t], name=ds.name, classes=ds.classes, transform=tf)
    assert isinstance(ds, FrameFileDataset)
    return FrameFileDataset([ds.files[i] for i in idx], ds.targets[t].numpy(), name=ds.name, classes=ds.classes,
                            shape=ds.shape, transform=tf)


class ProxyTrainer:
    """Trains architectures of one search space on one dataset (loaded once per worker).

    Example:
        >>> from snnas.search.space import load_space
        >>> trainer = ProxyTrainer(load_space("edge_tiny"), device="cpu", threads=1)
        >>> trainer.n_val
        500
    """

    def __init__(self, space, dataset: str | None = None, data_dir: str | None = None,  # noqa: ANN001
                 device: str | None = None, threads: int | None = None, data_seed: int = 0,
                 compile_neurons: bool = False) -> None:
        self.space = space
        self.dataset = dataset or space.dataset
        per_rung_T = [i for i, r in enumerate(space.rungs) if r.T is not None]
        if per_rung_T and get_entry(self.dataset).kind == "event":
            raise SnnasError(f"{space.source}: fidelity.rungs[{per_rung_T[0]}].T: per-rung timesteps need static "
                             f"images; {self.dataset}'s frames are integrated for the trial's own T")
        self.data_dir = data_dir
        self.data_seed = data_seed
        self.device = pick_device(device)
        if threads:
            torch.set_num_threads(threads)
        probe = space.config_from_params({k.name: _first(k) for k in space.knobs}, self.dataset)
        self.img_size = probe.img_size
        self._cache: dict[int | None, tuple[SnnasDataset, SnnasDataset, list[np.ndarray]]] = {}
        self.event = get_entry(self.dataset).kind == "event"
        self._splits(probe.T)  # load now: a missing dataset fails the search before any trial starts
        _compile_neurons(compile_neurons)
        gc.collect()
        gc.freeze()  # the dataset, modules and imports stay: the per-trial collection below skips them

    @property
    def neurons(self) -> str:
        """How the LIF neurons run: ``compiled`` (fused CPU kernels) or ``eager`` (spikingjelly's own path)."""
        return "compiled" if _compile_neurons() and self.device.type == "cpu" else "eager"

    def _splits(self, T: int) -> tuple[SnnasDataset, SnnasDataset, list[np.ndarray]]:
        """(training part, validation split, per-class order of the training part), per T for event data."""
        key = T if self.event else None
        if key not in self._cache:
            full = create_dataset(self.dataset, root=self.data_dir, split="train", T=T, img_size=self.img_size)
            labels = full.targets.numpy()
            cap = self.space.train.max_train_images
            if cap and cap < len(labels):
                keep = np.sort(np.random.default_rng(self.data_seed).permutation(len(labels))[:cap])
                full = _subset(full, keep, augment=False)
                labels = full.targets.numpy()
            val_idx, per_class = _nested_split(labels, self.space.train.val_fraction, self.data_seed)
            self._cache[key] = (full, _subset(full, val_idx, augment=False), per_class)
        return self._cache[key]

    @property
    def n_val(self) -> int:
        return len(next(iter(self._cache.values()))[1])

    def train_subset(self, fraction: float, T: int | None = None, augment: bool = True) -> SnnasDataset:
        """The first ``fraction`` of every class of the training part: rungs see nested, stratified data."""
        full, _, per_class = self._splits(T)
        idx = np.sort(np.concatenate([m[: max(1, math.ceil(fraction * len(m)))] for m in per_class]))
        return _subset(full, idx, augment=augment)

    def recalibrate_batchnorm(self, net: torch.nn.Module, ds: SnnasDataset, T: int | None = None,
                              batches: int = 8) -> None:
        """Exact BatchNorm statistics of a few training batches before scoring.

        A proxy trains for a handful of steps, far too few for BN's running averages (momentum 0.1) to leave
        their initial identity; an eval-mode SNN with such statistics barely spikes and scores chance.
        """
        bns = [m for m in net.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
        saved = [m.momentum for m in bns]
        for m in bns:
            m.reset_running_stats()
            m.momentum = None  # cumulative average over the batches below
        net.train()
        with torch.no_grad(), self._autocast():
            for _, (x, _) in zip(range(batches), self._batches(ds, self.space.train.batch_size), strict=False):
                net(x, T=T)
        for m, mom in zip(bns, saved, strict=True):
            m.momentum = mom

    def _batches(self, ds: SnnasDataset, batch: int, shuffle: bool = False, g: torch.Generator | None = None):
        for x, y in ds.batches(batch, shuffle=shuffle, generator=g):
            if x.ndim == 5:  # event frames [B, T, 2, H, W] -> [T, B, 2, H, W]
                x = x.transpose(0, 1)
            yield x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)

    def evaluate(self, net: torch.nn.Module, val: SnnasDataset, T: int | None = None) -> float:
        net.eval()
        hits = 0
        with torch.no_grad(), self._autocast():
            for x, y in self._batches(val, 256):
                hits += int((net(x, T=T).argmax(1) == y).sum())
        net.train()
        return hits / len(val)

    def _autocast(self) -> torch.autocast:
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.device.type == "cuda")

    def run(self, cfg: ArchConfig, seed: int,
            on_rung: Callable[[RungResult], None] | None = None) -> RungResult:
        """Train ``cfg`` through every rung (or until ``on_rung`` raises); the last rung's result."""
        if cfg.img_size != self.img_size:
            raise SnnasError(f"trainer holds {self.img_size}px images, config wants {cfg.img_size}")
        s = self.space.train
        torch.manual_seed(seed)
        g = torch.Generator().manual_seed(seed)
        net = create_model(cfg).to(self.device)
        opt = torch.optim.AdamW(net.parameters(), lr=s.lr, weight_decay=s.weight_decay)
        plan = []
        prev = 0
        val = self._splits(cfg.T)[1]
        for r in self.space.rungs:
            ds = self.train_subset(r.fraction, cfg.T)
            plan.append((r, ds, r.epochs - prev))
            prev = r.epochs
        steps_per = [math.ceil(len(ds) / s.batch_size) for _, ds, _ in plan]
        total = sum(n * e for n, (_, _, e) in zip(steps_per, plan, strict=True))
        warm = max(1, round(s.warmup_epochs * steps_per[0]))

        def lr_factor(i: int) -> float:  # linear warm-up, then cosine to zero over every rung's steps
            return (i + 1) / warm if i < warm else 0.5 * (1 + math.cos(math.pi * (i - warm) / max(1, total - warm)))

        sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_factor)
        start = time.perf_counter()
        result = None
        try:
            for k, (rung, ds, epochs) in enumerate(plan):
                steps = rung.timesteps(cfg.T)  # a cheaper rung may run fewer timesteps (causal prefix)
                t0 = time.perf_counter()
                loss_sum, seen = 0.0, 0
                net.train()
                for epoch in range(epochs):
                    for step, (x, y) in enumerate(self._batches(ds, s.batch_size, shuffle=True, g=g)):
                        with self._autocast():
                            loss = _faults.value("loss", F.cross_entropy(net(x, T=steps), y))
                        if not torch.isfinite(loss):
                            raise TrialFailure(f"non-finite loss ({loss.item()}) at rung {k} epoch {epoch} step {step}")
                        opt.zero_grad(set_to_none=True)
                        loss.backward()
                        opt.step()
                        sched.step()
                        _faults.point("step")
                        loss_sum += loss.item() * len(y)
                        seen += len(y)
                        if time.perf_counter() - start > s.time_limit_s:
                            raise TrialFailure(f"time limit of {s.time_limit_s} s exceeded at rung {k} epoch {epoch}")
                self.recalibrate_batchnorm(net, self.train_subset(rung.fraction, cfg.T, augment=False), steps)
                acc = self.evaluate(net, val, steps)
                calib = next(self._batches(val, self.space.calibration_images))[0]
                report = estimate(net, calib, self.space.profile, data=f"{self.dataset} validation split", T=steps)
                result = RungResult(k, rung.epochs, rung.fraction, len(ds), loss_sum / max(1, seen), acc,
                                    report.total_uj, time.perf_counter() - t0, report, steps)
                if on_rung is not None:
                    on_rung(result)
        except BaseException as e:
            # The failed step's tensors live in the frames of the exception's traceback; clear them now, so the
            # cleanup below really frees them (found by the reliability suite: a worker's memory stayed 256 MiB
            # high until the failed trial was recorded).
            traceback.clear_frames(e.__traceback__)
            if out_of_memory(e):
                raise TrialFailure(f"out of memory on {self.device.type}: {first_line(e)}") from None
            raise
        finally:
            del net, opt, sched
            gc.collect()
            if self.device.type == "cuda":
                torch.cuda.empty_cache()
            _trim_heap()
        return result


def out_of_memory(e: BaseException) -> bool:
    """Whether ``e`` is an allocator's refusal: CUDA's ``OutOfMemoryError``, the CPU allocator's, or Python's."""
    return isinstance(e, (torch.OutOfMemoryError, MemoryError)) or (
        isinstance(e, RuntimeError) and "can't allocate memory" in str(e))


def _trim_heap() -> None:
    """Hand freed heap pages back to the OS (glibc only).

    Every trial allocates differently shaped activations; glibc keeps the freed chunks fragmented in its
    arenas, so a worker's resident memory crept up trial after trial (measured: 745 -> 889 MB over 40
    edge_small trials, 870 -> 1415 MB over 107 trials of the main job). ``malloc_trim(0)`` after each trial
    keeps it flat (419 -> 449 MB over the same 40 trials) for a few milliseconds.
    """
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def _load_libc():  # noqa: ANN202
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.malloc_trim  # noqa: B018 - musl and others lack it
    except (OSError, AttributeError):
        return None
    return libc


_LIBC = _load_libc()


def _first(knob):  # noqa: ANN001, ANN202
    return knob.choices[0] if knob.choices is not None else knob.low
