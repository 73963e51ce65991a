"""The training engine: epochs of seeded AdamW steps, evaluation and BatchNorm recalibration on one device.

It knows nothing of search spaces, rungs or export files: callers hand it a network, an optimiser and
schedule, a dataset and plain settings. The search's proxy trainer runs its rungs over it
(:mod:`snnas.search._proxy`) and ``snnas train`` its full trainings (:mod:`snnas.export._full`), so both
train with exactly the same step. Training is deterministic on CPU for a given seed; on CUDA it runs under
bf16 autocast. A non-finite loss or a passed deadline stops training with a :class:`TrainingFailure`.
"""

from __future__ import annotations

import ctypes
import gc
import math
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from snnas import _faults
from snnas.data import SnnasDataset
from snnas.errors import SnnasError
from snnas.models import exact_batchnorm_statistics

__all__ = ["Engine", "EpochStats", "NonFiniteLoss", "TimeLimitExceeded", "TrainingFailure", "out_of_memory",
           "pick_device", "warmup_cosine"]


class TrainingFailure(SnnasError):
    """Training that failed on its own (non-finite loss, time limit, out of memory), with the reason."""


class NonFiniteLoss(TrainingFailure):
    """The loss became NaN or infinite at ``step`` (0-based) of ``epoch`` (as the caller numbered it)."""

    def __init__(self, value: float, epoch: int, step: int) -> None:
        super().__init__(f"non-finite loss ({value}) at epoch {epoch} step {step}")
        self.value, self.epoch, self.step = value, epoch, step


class TimeLimitExceeded(TrainingFailure):
    """The deadline passed during ``epoch`` (as the caller numbered it)."""

    def __init__(self, epoch: int) -> None:
        super().__init__(f"time limit exceeded at epoch {epoch}")
        self.epoch = epoch


def pick_device(device: str | None = None) -> torch.device:
    """``cuda`` when asked for or available, else ``cpu``; asking for an absent GPU is a user error."""
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise SnnasError("--device cuda: no CUDA device is available here")
    if device not in ("cpu", "cuda"):
        raise SnnasError(f"--device must be cpu or cuda (got {device!r})")
    return torch.device(device)


def out_of_memory(e: BaseException) -> bool:
    """Whether ``e`` is an allocator's refusal: CUDA's ``OutOfMemoryError``, the CPU allocator's, or Python's."""
    return isinstance(e, (torch.OutOfMemoryError, MemoryError)) or (
        isinstance(e, RuntimeError) and "can't allocate memory" in str(e))


def warmup_cosine(optimizer: torch.optim.Optimizer, warmup_steps: int, total_steps: int
                  ) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up over ``warmup_steps`` (at least 1), then cosine to zero at ``total_steps``.

    Example:
        >>> opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
        >>> sched = warmup_cosine(opt, 2, 6)
        >>> [round(sched.lr_lambdas[0](i), 3) for i in range(6)]
        [0.5, 1.0, 1.0, 0.854, 0.5, 0.146]
    """
    warm = max(1, warmup_steps)

    def factor(i: int) -> float:
        return (i + 1) / warm if i < warm else 0.5 * (1 + math.cos(math.pi * (i - warm) / max(1, total_steps - warm)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


@dataclass
class EpochStats:
    """What one epoch of training saw: summed loss, correct predictions and images."""

    loss_sum: float = 0.0
    hits: int = 0
    seen: int = 0

    @property
    def loss(self) -> float:
        return self.loss_sum / max(1, self.seen)

    @property
    def accuracy(self) -> float:
        return self.hits / max(1, self.seen)


class Engine:
    """Trains, evaluates and recalibrates networks on one device.

    Example:
        >>> from snnas import ArchConfig, create_model
        >>> from snnas.data import create_dataset
        >>> engine = Engine("cpu")
        >>> ds = create_dataset("fashion-mini", split="train", fraction=0.02, img_size=16)
        >>> net = create_model(ArchConfig(T=2, depth=1, embed_dim=16, num_heads=2, img_size=16, in_channels=1))
        >>> opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
        >>> stats = engine.train_epoch(net, opt, warmup_cosine(opt, 1, 2), ds, batch_size=64,
        ...                            generator=torch.Generator().manual_seed(0))
        >>> stats.seen, 0.0 <= engine.evaluate(net, ds) <= 1.0
        (100, True)
    """

    def __init__(self, device: str | None = None, threads: int | None = None) -> None:
        self.device = pick_device(device)
        if threads:
            torch.set_num_threads(threads)

    def autocast(self) -> torch.autocast:
        """bf16 autocast on CUDA; a no-op context on CPU."""
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.device.type == "cuda")

    def batches(self, ds: SnnasDataset, batch_size: int, shuffle: bool = False,
                generator: torch.Generator | None = None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """``(x, y)`` on the device; event frames come time-first, ``[T, B, 2, H, W]``."""
        for x, y in ds.batches(batch_size, shuffle=shuffle, generator=generator):
            if x.ndim == 5:  # event frames [B, T, 2, H, W] -> [T, B, 2, H, W]
                x = x.transpose(0, 1)
            yield x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)

    def train_epoch(self, net: nn.Module, optimizer: torch.optim.Optimizer,
                    scheduler: torch.optim.lr_scheduler.LRScheduler, ds: SnnasDataset, *, batch_size: int,
                    generator: torch.Generator, T: int | None = None, epoch: int = 0, label_smoothing: float = 0.0,
                    deadline: float | None = None, on_step: Callable[[EpochStats], None] | None = None,
                    stats: EpochStats | None = None) -> EpochStats:
        """One shuffled pass over ``ds``: cross-entropy, AdamW step, schedule step, for every batch.

        ``generator`` drives the shuffle and the augmentation; ``T`` runs fewer timesteps than the network
        was built for; ``deadline`` (a ``time.perf_counter()`` value) stops with :class:`TimeLimitExceeded`
        after the step that passes it; ``epoch`` only numbers the failures. ``stats`` accumulates several
        epochs into one record (a rung's), in the order of their steps.
        """
        stats = EpochStats() if stats is None else stats
        net.train()
        for step, (x, y) in enumerate(self.batches(ds, batch_size, shuffle=True, generator=generator)):
            with self.autocast():
                logits = net(x, T=T)
                loss = _faults.value("loss", F.cross_entropy(logits, y, label_smoothing=label_smoothing))
            if not torch.isfinite(loss):
                raise NonFiniteLoss(loss.item(), epoch, step)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            _faults.point("step")
            stats.loss_sum += loss.item() * len(y)
            stats.hits += int((logits.argmax(1) == y).sum())
            stats.seen += len(y)
            if on_step is not None:
                on_step(stats)
            if deadline is not None and time.perf_counter() > deadline:
                raise TimeLimitExceeded(epoch)
        return stats

    def evaluate(self, net: nn.Module, ds: SnnasDataset, T: int | None = None) -> float:
        """Accuracy of ``net`` in eval mode on ``ds`` (left in training mode after)."""
        net.eval()
        hits = 0
        with torch.no_grad(), self.autocast():
            for x, y in self.batches(ds, 256):
                hits += int((net(x, T=T).argmax(1) == y).sum())
        net.train()
        return hits / len(ds)

    def recalibrate_batchnorm(self, net: nn.Module, ds: SnnasDataset, T: int | None = None, *, batch_size: int,
                              batches: int = 8) -> None:
        """Exact BatchNorm statistics of the first ``batches`` batches of ``ds`` before scoring.

        A proxy trains for a handful of steps, far too few for BN's running averages (momentum 0.1) to leave
        their initial identity; an eval-mode SNN with such statistics barely spikes and scores chance.
        """
        with exact_batchnorm_statistics(net), torch.no_grad(), self.autocast():
            for _, (x, _) in zip(range(batches), self.batches(ds, batch_size), strict=False):
                net(x, T=T)

    def release(self) -> None:
        """Free what a finished training left: Python garbage, the CUDA cache, glibc's fragmented heap."""
        gc.collect()
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
        _trim_heap()


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
