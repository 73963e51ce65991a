"""Registry front door, fraction subsets, batch iteration and the batch transforms."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from snnas.data import (
    BatchTransform,
    RawSplit,
    TensorDataset,
    create_dataset,
    dataset_info,
    files_locator,
    get_entry,
    list_datasets,
    register_dataset,
    stratified_indices,
)
from snnas.data._registry import _DATASETS
from snnas.errors import DatasetError, UnknownNameError

ALL = {"fashion-mini", "fashion-mnist", "mnist", "cifar10", "cifar100", "dvs128-gesture", "cifar10-dvs",
       "n-mnist"}


def test_registry_lists_everything_default_first():
    names = list_datasets()
    assert set(names) == ALL and names[0] == "fashion-mini"
    assert list_datasets("cifar*") == ["cifar10", "cifar10-dvs", "cifar100"]


@pytest.mark.parametrize("name", sorted(ALL))
def test_info_is_cheap_and_complete(name, tmp_path):
    info = dataset_info(name, tmp_path)
    assert info["name"] == name and len(info["shape"]) == 3 and info["num_classes"] == len(info["classes"])
    assert info["looked"] and info["expected"]
    assert (info["T"] is not None) == (info["kind"] == "event")
    assert info["available"] == (name == "fashion-mini")


def test_unknown_name_suggests():
    with pytest.raises(UnknownNameError, match="did you mean mnist"):
        create_dataset("mnits")


def test_bad_arguments_are_one_line_errors():
    for kwargs in ({"split": "val"}, {"fraction": 0.0}, {"fraction": 1.5}, {"img_size": 0}, {"bogus": 1}):
        with pytest.raises(DatasetError) as err:
            create_dataset("fashion-mini", **kwargs)
        assert "\n" not in str(err.value)


def test_fraction_is_seeded_and_stratified():
    a = create_dataset("fashion-mini", fraction=0.1, seed=3)
    b = create_dataset("fashion-mini", fraction=0.1, seed=3)
    c = create_dataset("fashion-mini", fraction=0.1, seed=4)
    assert len(a) == 500 and torch.bincount(a.targets).tolist() == [50] * 10
    assert torch.equal(a.data, b.data) and not torch.equal(a.data, c.data)
    assert len(create_dataset("fashion-mini", split="test", fraction=0.1)) == 1000  # test split stays whole


def test_stratified_indices_keeps_every_class():
    labels = np.array([0] * 10 + [1] * 3 + [2])
    idx = stratified_indices(labels, 0.2, seed=0)
    assert np.bincount(labels[idx]).tolist() == [2, 1, 1] and np.all(np.diff(idx) > 0)


def test_batches_cover_epoch_and_shuffle_deterministically():
    ds = create_dataset("fashion-mini", split="test")
    ys = torch.cat([y for _, y in ds.batches(300)])
    assert torch.equal(ys, ds.targets)
    g1, g2 = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
    b1 = [y for _, y in ds.batches(256, shuffle=True, generator=g1, drop_last=True)]
    b2 = [y for _, y in ds.batches(256, shuffle=True, generator=g2, drop_last=True)]
    assert len(b1) == 3 and all(torch.equal(p, q) for p, q in zip(b1, b2, strict=True))
    assert not torch.equal(torch.cat(b1), ds.targets[:768])  # actually shuffled
    x, y = ds[5]
    xb, yb = next(ds.batches(6))
    assert torch.equal(x, xb[5]) and y == int(yb[5])


def test_resize_to_model_input():
    for size in (32, 16):
        ds = create_dataset("fashion-mini", split="test", img_size=size)
        assert ds[0][0].shape == (1, size, size)
        assert next(ds.batches(4))[0].shape == (4, 1, size, size)


def test_normalisation_uses_dataset_stats():
    raw = create_dataset("fashion-mini", split="test", normalize=False)
    norm = create_dataset("fashion-mini", split="test")
    assert torch.allclose(norm[3][0], (raw[3][0] - 0.2860) / 0.3530)
    x = next(norm.batches(1000))[0]
    assert abs(x.mean()) < 0.1 and abs(x.std() - 1) < 0.1


def test_crop_and_flip_on_batches():
    img = torch.randint(1, 256, (64, 3, 8, 8), dtype=torch.uint8)
    out = BatchTransform(augment=True, pad=2, hflip=True)(img, torch.Generator().manual_seed(0))
    # Reference: the same random draws, applied one sample at a time with slicing.
    g = torch.Generator().manual_seed(0)
    oy, ox = torch.randint(0, 5, (64,), generator=g), torch.randint(0, 5, (64,), generator=g)
    flip = torch.rand(64, generator=g) < 0.5
    padded = torch.nn.functional.pad(img.float() / 255, (2, 2, 2, 2))
    for i in range(64):
        ref = padded[i, :, oy[i]:oy[i] + 8, ox[i]:ox[i] + 8]
        assert torch.equal(out[i], ref.flip(-1) if flip[i] else ref)
    assert 0 < flip.sum() < 64 and len(set(zip(oy.tolist(), ox.tolist(), strict=True))) > 5
    no_flip = BatchTransform(augment=True, pad=2, hflip=False)(img, torch.Generator().manual_seed(0))
    g = torch.Generator().manual_seed(0)
    oy, ox = torch.randint(0, 5, (64,), generator=g), torch.randint(0, 5, (64,), generator=g)
    assert all(torch.equal(no_flip[i], padded[i, :, oy[i]:oy[i] + 8, ox[i]:ox[i] + 8]) for i in range(64))


def test_crop_identical_across_time_steps():
    frames = torch.arange(8 * 3 * 2 * 6 * 6, dtype=torch.float32).reshape(8, 3, 2, 6, 6)
    frames = frames.remainder(36) + 1  # the same picture in every frame and channel
    out = BatchTransform(augment=True, pad=2)(frames, torch.Generator().manual_seed(1))
    assert out.shape == frames.shape
    assert torch.equal(out[:, :1].expand_as(out), out)


def test_augmented_dataset_batches():
    ds = create_dataset("fashion-mini", split="test", augment=True, img_size=32)
    x, y = next(ds.batches(128, shuffle=True, generator=torch.Generator().manual_seed(0)))
    assert x.shape == (128, 1, 32, 32) and torch.isfinite(x).all()


def test_register_custom_dataset(tmp_path):
    (tmp_path / "toy.npy").write_bytes(b"")
    try:
        @register_dataset("toy-test", locate=files_locator("toy-test", ["toy.npy"]), shape=(1, 4, 4),
                          classes=("a", "b"), options={"n": 4})
        def _toy(loc, split, *, n):
            return RawSplit(np.zeros((n, 1, 4, 4), np.uint8), np.arange(n) % 2)

        assert dataset_info("toy-test", tmp_path)["available"]
        ds = create_dataset("toy-test", root=tmp_path, n=6)
        assert isinstance(ds, TensorDataset) and len(ds) == 6 and get_entry("toy-test").options == {"n": 4}
        with pytest.raises(ValueError, match="twice"):
            register_dataset("toy-test", locate=_toy, shape=(1, 1, 1), classes=("a",))(_toy)
    finally:
        _DATASETS.pop("toy-test", None)
