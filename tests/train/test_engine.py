"""The training engine on real fashion-mini images and real spikingjelly neurons: determinism, failures, BN."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
import torch

from snnas import ArchConfig, create_model
from snnas.train import Engine, EpochStats, NonFiniteLoss, TimeLimitExceeded, TrainingData, warmup_cosine

CFG = ArchConfig(T=2, depth=1, embed_dim=16, num_heads=2, img_size=16, patch_size=4, in_channels=1,
                 tokenizer="sps", saccades=4)


@pytest.fixture(scope="module")
def data() -> TrainingData:
    return TrainingData("fashion-mini", img_size=16, val_fraction=0.1, data_seed=0)


def _fit(data: TrainingData, seed: int, epochs: int = 2, **kwargs) -> tuple[torch.nn.Module, list[EpochStats]]:
    engine = Engine("cpu")
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    net = create_model(CFG)
    opt = torch.optim.AdamW(net.parameters(), lr=3e-3)
    ds = data.train_part(0.05)
    sched = warmup_cosine(opt, 2, epochs * math.ceil(len(ds) / 64))
    stats = [engine.train_epoch(net, opt, sched, ds, batch_size=64, generator=g, epoch=e, **kwargs)
             for e in range(epochs)]
    return net, stats


def test_training_is_deterministic_for_a_seed_and_differs_across_seeds(data):
    a, sa = _fit(data, 1)
    b, sb = _fit(data, 1)
    c, _ = _fit(data, 2)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True))
    assert [s.loss_sum for s in sa] == [s.loss_sum for s in sb]
    assert not all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), c.state_dict().values(), strict=True))
    assert sa[0].seen == len(data.train_part(0.05)) and 0 <= sa[0].accuracy <= 1


def test_stats_accumulate_over_epochs_step_by_step(data):
    _, per_epoch = _fit(data, 3)
    engine = Engine("cpu")
    torch.manual_seed(3)
    g = torch.Generator().manual_seed(3)
    net = create_model(CFG)
    opt = torch.optim.AdamW(net.parameters(), lr=3e-3)
    ds = data.train_part(0.05)
    sched = warmup_cosine(opt, 2, 2 * math.ceil(len(ds) / 64))
    total = EpochStats()
    for e in range(2):
        engine.train_epoch(net, opt, sched, ds, batch_size=64, generator=g, epoch=e, stats=total)
    assert total.seen == sum(s.seen for s in per_epoch)
    assert total.hits == sum(s.hits for s in per_epoch)
    assert total.loss_sum == pytest.approx(sum(s.loss_sum for s in per_epoch), rel=1e-12)


def test_a_non_finite_loss_stops_with_where_it_happened(data):
    net = create_model(CFG)
    with torch.no_grad():
        net.head.weight.fill_(float("nan"))
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
    with pytest.raises(NonFiniteLoss) as e:
        Engine("cpu").train_epoch(net, opt, warmup_cosine(opt, 1, 10), data.train_part(0.02), batch_size=32,
                                  generator=torch.Generator().manual_seed(0), epoch=4)
    assert math.isnan(e.value.value) and e.value.epoch == 4 and e.value.step == 0
    assert "non-finite loss (nan) at epoch 4 step 0" in str(e.value)


def test_a_passed_deadline_stops_after_one_step(data):
    steps = []
    net = create_model(CFG)
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
    with pytest.raises(TimeLimitExceeded) as e:
        Engine("cpu").train_epoch(net, opt, warmup_cosine(opt, 1, 10), data.train_part(0.05), batch_size=32,
                                  generator=torch.Generator().manual_seed(0), epoch=2,
                                  deadline=time.perf_counter() - 1, on_step=lambda s: steps.append(s.seen))
    assert e.value.epoch == 2 and steps == [32]


def test_recalibration_gives_exact_batch_statistics_and_restores_the_network(data):
    net = create_model(CFG).eval()
    bns = [m for m in net.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    Engine("cpu").recalibrate_batchnorm(net, data.train_part(0.02, augment=False), batch_size=50, batches=1)
    assert not net.training and all(m.momentum == 0.1 for m in bns)
    moved = [m for m in bns if not torch.allclose(m.running_mean, torch.zeros_like(m.running_mean))]
    assert moved, "recalibration left every BN at its initial statistics"


def test_evaluate_scores_in_eval_mode_and_leaves_training_mode(data):
    net = create_model(CFG)
    acc = Engine("cpu").evaluate(net, data.validation())
    assert 0.0 <= acc <= 1.0 and net.training
    assert acc * len(data.validation()) == pytest.approx(round(acc * len(data.validation())))


def test_training_data_splits_are_disjoint_stratified_nested_and_seeded(data):
    val, small, big = data.validation(), data.train_part(0.1, augment=False), data.train_part(0.5, augment=False)
    full = data.train_part(1.0, augment=False)
    assert len(val) + len(full) == 5000
    as_set = lambda ds: {tuple(x.flatten().tolist()) for x in ds.data}  # noqa: E731
    assert not as_set(val) & as_set(full)
    assert as_set(small) <= as_set(big) <= as_set(full)
    counts = np.bincount(small.targets.numpy(), minlength=10)
    assert counts.min() == counts.max() == 45
    assert data.train_part(1.0).transform.augment is True  # training parts augment unless told not to
    other = TrainingData("fashion-mini", img_size=16, val_fraction=0.1, data_seed=1).validation()
    again = TrainingData("fashion-mini", img_size=16, val_fraction=0.1, data_seed=0).validation()
    assert torch.equal(again.targets, val.targets) and torch.equal(again.data, val.data)
    assert not torch.equal(other.data, val.data)
    capped = TrainingData("fashion-mini", img_size=16, val_fraction=0.1, max_train_images=1000)
    assert len(capped.validation()) + len(capped.train_part(1.0)) == 1000
