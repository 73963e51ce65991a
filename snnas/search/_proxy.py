"""The proxy trainer: a search space's fidelity rungs run over the training engine, scored on a held-out split.

One trainer per worker process holds the dataset in memory; ``run`` trains one architecture through the
space's rungs (AdamW, one warm-up-then-cosine schedule over every rung's steps) and hands each rung's result
(validation accuracy, energy per image) to a callback, which may stop the trial by raising (the trial's
gate does). A non-finite loss, an exceeded time limit or an allocator's refusal fails the trial with the
reason, as a :class:`TrialFailure`.
"""

from __future__ import annotations

import gc
import math
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass

import torch

from snnas.config import ArchConfig
from snnas.data import SnnasDataset, get_entry
from snnas.energy import EnergyReport, estimate
from snnas.errors import SnnasError, first_line
from snnas.models import compile_neurons as _compile_neurons
from snnas.models import create_model
from snnas.search.space import SearchSpace
from snnas.train import (
    Engine,
    EpochStats,
    NonFiniteLoss,
    TimeLimitExceeded,
    TrainingData,
    TrainingFailure,
    out_of_memory,
    warmup_cosine,
)

__all__ = ["RUNG_SUMMARY_KEYS", "RungResult", "TrialFailure", "ProxyTrainer"]


class TrialFailure(TrainingFailure):
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


class ProxyTrainer:
    """Trains architectures of one search space on one dataset (loaded once per worker).

    Example:
        >>> from snnas.search import load_space
        >>> trainer = ProxyTrainer(load_space("edge_tiny"), device="cpu", threads=1)
        >>> trainer.n_val
        500
    """

    def __init__(self, space: SearchSpace, dataset: str | None = None, data_dir: str | None = None,
                 device: str | None = None, threads: int | None = None, data_seed: int = 0,
                 compile_neurons: bool = False) -> None:
        self.space = space
        self.dataset = dataset or space.dataset
        per_rung_T = [i for i, r in enumerate(space.rungs) if r.T is not None]
        if per_rung_T and get_entry(self.dataset).kind == "event":
            raise SnnasError(f"{space.source}: fidelity.rungs[{per_rung_T[0]}].T: per-rung timesteps need static "
                             f"images; {self.dataset}'s frames are integrated for the trial's own T")
        self.engine = Engine(device, threads)
        probe = space.config_from_params({k.name: _first(k) for k in space.knobs}, self.dataset)
        self.img_size, self._probe_T = probe.img_size, probe.T
        s = space.train
        self.data = TrainingData(self.dataset, data_dir, img_size=probe.img_size, val_fraction=s.val_fraction,
                                 max_train_images=s.max_train_images, data_seed=data_seed)
        self.data.load(probe.T)  # now: a missing dataset fails the search before any trial starts
        _compile_neurons(compile_neurons)
        gc.collect()
        gc.freeze()  # the dataset, modules and imports stay: the per-trial collection skips them

    @property
    def device(self) -> torch.device:
        return self.engine.device

    @property
    def neurons(self) -> str:
        """How the LIF neurons run: ``compiled`` (fused CPU kernels) or ``eager`` (spikingjelly's own path)."""
        return "compiled" if _compile_neurons() and self.device.type == "cpu" else "eager"

    @property
    def n_val(self) -> int:
        return len(self.data.validation(self._probe_T))  # the split loaded at start (event data: per T)

    def train_subset(self, fraction: float, T: int | None = None, augment: bool = True) -> SnnasDataset:
        """The first ``fraction`` of every class of the training part: rungs see nested, stratified data."""
        return self.data.train_part(fraction, T, augment)

    def run(self, cfg: ArchConfig, seed: int,
            on_rung: Callable[[RungResult], None] | None = None) -> RungResult:
        """Train ``cfg`` through every rung (or until ``on_rung`` raises); the last rung's result."""
        if cfg.img_size != self.img_size:
            raise SnnasError(f"trainer holds {self.img_size}px images, config wants {cfg.img_size}")
        s, engine = self.space.train, self.engine
        torch.manual_seed(seed)
        g = torch.Generator().manual_seed(seed)
        net = create_model(cfg).to(self.device)
        opt = torch.optim.AdamW(net.parameters(), lr=s.lr, weight_decay=s.weight_decay)
        val = self.data.validation(cfg.T)
        plan, prev = [], 0
        for r in self.space.rungs:  # rung epochs are cumulative: each rung trains the epochs it adds
            plan.append((r, self.train_subset(r.fraction, cfg.T), r.epochs - prev))
            prev = r.epochs
        steps_per = [math.ceil(len(ds) / s.batch_size) for _, ds, _ in plan]
        total = sum(n * e for n, (_, _, e) in zip(steps_per, plan, strict=True))
        sched = warmup_cosine(opt, round(s.warmup_epochs * steps_per[0]), total)  # over every rung's steps
        deadline = time.perf_counter() + s.time_limit_s
        result = None
        try:
            if plan and plan[0][0].timesteps(cfg.T) < cfg.T:
                # a first rung at fewer timesteps: calibrate the salience of every timestep on the batch a full-T
                # training would start with (the same draw of the same generator), as that training would
                first = torch.Generator().set_state(g.get_state())
                x, _ = next(engine.batches(plan[0][1], s.batch_size, shuffle=True, generator=first))
                with engine.autocast():
                    net.calibrate(x)
            for k, (rung, ds, epochs) in enumerate(plan):
                steps = rung.timesteps(cfg.T)  # a cheaper rung may run fewer timesteps (not a prefix in training: BN)
                t0 = time.perf_counter()
                seen = EpochStats()  # the rung's epochs, summed step by step
                for epoch in range(epochs):
                    try:
                        engine.train_epoch(net, opt, sched, ds, batch_size=s.batch_size, generator=g, T=steps,
                                           epoch=epoch, deadline=deadline, stats=seen)
                    except NonFiniteLoss as e:
                        raise TrialFailure(f"non-finite loss ({e.value}) at rung {k} epoch {e.epoch} "
                                           f"step {e.step}") from None
                    except TimeLimitExceeded as e:
                        raise TrialFailure(f"time limit of {s.time_limit_s} s exceeded at rung {k} "
                                           f"epoch {e.epoch}") from None
                engine.recalibrate_batchnorm(net, self.train_subset(rung.fraction, cfg.T, augment=False), steps,
                                             batch_size=s.batch_size)
                acc = engine.evaluate(net, val, steps)
                calib = next(engine.batches(val, self.space.calibration_images))[0]
                report = estimate(net, calib, self.space.profile, data=f"{self.dataset} validation split", T=steps)
                result = RungResult(k, rung.epochs, rung.fraction, len(ds), seen.loss, acc,
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
            engine.release()
        return result


def _first(knob):  # noqa: ANN001, ANN202
    return knob.choices[0] if knob.choices is not None else knob.low
