"""Training-free scores at initialisation, and the pre-screen that spends a search's budget on the promising first.

**Scores** (:class:`ZeroCostScorer`), each from one freshly initialised network and one batch of images, no
training: ``params``; ``energy_init_uj``, the energy per image of the untrained network (the energy model
of the search, with BatchNorm statistics of the batch); ``sahd``, SNASNet's spike-pattern diversity (Kim
et al., ECCV 2022): for every spiking layer, the binary pattern of each image (all its neurons and
timesteps) gives the kernel ``K[i, j] = units - Hamming(i, j)``; the kernels of all layers are summed and
the score is ``log |det K|``. A network whose layers answer different images with different spike patterns
scores high; one that is silent or saturated scores low.

**Pre-screen** (:func:`prescreen`): sample many distinct feasible candidates uniformly, score them all, and
queue the promising ones in the study (non-dominated on SAHD up and energy at initialisation down, in
order of non-domination rank) so the first trials train them; once the queue is used up the study's sampler
proposes as usual, having seen their results. Each queued trial records its scores (``prescreen``).
"""

from __future__ import annotations

import math
import time
from typing import Any

import optuna
import torch
from spikingjelly.activation_based import functional
from spikingjelly.activation_based.neuron import BaseNode

from snnas.config import ArchConfig
from snnas.energy import estimate
from snnas.models import count_params, create_model
from snnas.search._proxy import ProxyTrainer
from snnas.search._pruner import nondominated_ranks
from snnas.search._record import Attr
from snnas.search.space import SearchSpace

__all__ = ["PRESCREEN_SHARE", "SCORES", "ZeroCostScorer", "prescreen", "sahd_kernel"]

SCORES = ("params", "energy_init_uj", "sahd")
PRESCREEN_SHARE = 0.25  # of the budget: how many pre-screened candidates train before the sampler's own


def _spiking_layers(net: torch.nn.Module) -> list[torch.nn.Module]:
    return [m for m in net.modules() if isinstance(m, BaseNode) or getattr(type(m), "spiking_neuron", False)]


def sahd_kernel(patterns: list[torch.Tensor]) -> torch.Tensor:
    """The summed Hamming-distance kernel of per-layer binary patterns ``[B, units]``.

    Example:
        >>> k = sahd_kernel([torch.tensor([[1., 0., 1.], [1., 1., 0.]])])
        >>> k.tolist()  # 3 units: identical to itself (3), one agreement with the other (3 - 2)
        [[3.0, 1.0], [1.0, 3.0]]
    """
    k = None
    for c in patterns:
        c = c.double()
        part = c @ c.T + (1 - c) @ (1 - c).T  # agreements = units - Hamming distance
        k = part if k is None else k + part
    return k


class ZeroCostScorer:
    """Scores architectures at initialisation on a fixed batch of the trainer's training images."""

    def __init__(self, trainer: ProxyTrainer, batch_images: int = 64) -> None:
        self.trainer = trainer
        self.batch_images = batch_images

    def _batch(self, T: int) -> torch.Tensor:
        ds = self.trainer.train_subset(1.0, T, augment=False)
        return next(self.trainer.engine.batches(ds, self.batch_images))[0]

    def score(self, cfg: ArchConfig, seed: int) -> dict[str, float]:
        """``params``, ``energy_init_uj`` and ``sahd`` of ``cfg`` initialised with ``seed``."""
        space = self.trainer.space
        t0 = time.perf_counter()
        torch.manual_seed(seed)
        net = create_model(cfg).to(self.trainer.device)
        x = self._batch(cfg.T)
        calib = x[..., : space.calibration_images, :, :, :] if x.ndim == 5 else x[: space.calibration_images]
        energy = estimate(net, calib, space.profile, data="training images at initialisation").total_uj
        patterns: list[torch.Tensor] = []
        hooks = [m.register_forward_hook(lambda _m, _i, out: patterns.append(_flat(out)))
                 for m in _spiking_layers(net)]
        net.eval()
        try:
            functional.reset_net(net)
            with torch.no_grad():
                net(x)
        finally:
            for h in hooks:
                h.remove()
            functional.reset_net(net)
        sign, logdet = torch.linalg.slogdet(sahd_kernel(patterns))
        sahd = float(logdet) if float(sign) != 0 and math.isfinite(float(logdet)) else -1e9
        return {"params": count_params(cfg), "energy_init_uj": energy, "sahd": sahd,
                "seconds": time.perf_counter() - t0}


def _flat(out: torch.Tensor) -> torch.Tensor:
    """A spiking layer's output ``[T, B, ...]`` as binary patterns ``[B, T * units]``."""
    return (out.detach().transpose(0, 1).reshape(out.shape[1], -1) > 0).float()


def prescreen(study: optuna.Study, space: SearchSpace, trainer: ProxyTrainer, candidates: int, pool: int,
              seed: int, dataset: str | None = None) -> dict[str, Any]:
    """Score ``candidates`` uniform draws and queue the best ``pool`` of them in ``study``; what was done.

    Candidates are distinct, feasible (``max_params``) and not already in the study. The queue order is the
    non-domination rank on (SAHD, energy at initialisation), then SAHD; each queued trial carries its
    scores and rank as the ``prescreen`` attribute.
    """
    t0 = time.perf_counter()
    known = {t.user_attrs.get(Attr.ARCH_ID) for t in study.get_trials(deepcopy=False)}
    draws = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    scorer = ZeroCostScorer(trainer)
    found: list[tuple[dict[str, Any], dict[str, float]]] = []
    seen: set[str] = set()
    for _ in range(candidates * 20):  # a small space runs out of new candidates: stop there
        if len(found) >= candidates:
            break
        t = draws.ask()
        cfg = space.suggest(t, dataset)
        draws.tell(t, state=optuna.trial.TrialState.PRUNED)
        if cfg.id in seen or cfg.id in known or (space.max_params is not None and count_params(cfg) > space.max_params):
            continue
        seen.add(cfg.id)
        found.append((dict(t.params), scorer.score(cfg, seed + len(found))))
    points = [(s["sahd"], s["energy_init_uj"]) for _, s in found]
    ranks = nondominated_ranks(points)
    order = sorted(range(len(found)), key=lambda i: (ranks[i], -points[i][0]))[:pool]
    for place, i in enumerate(order):
        params, scores = found[i]
        study.enqueue_trial(params, user_attrs={Attr.PRESCREEN: {**{k: scores[k] for k in SCORES},
                                                                 "rank": ranks[i], "place": place,
                                                                 "of": len(found)}})
    return {"candidates": len(found), "queued": len(order), "seconds": round(time.perf_counter() - t0, 1),
            "order": "non-domination rank on (sahd up, energy_init_uj down), then sahd"}
