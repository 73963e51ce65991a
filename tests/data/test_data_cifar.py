"""CIFAR-10/100 python-version pickles, read only through the restricted unpickler."""

from __future__ import annotations

import io
import os
import pickle

import numpy as np
import pytest
import torch

from snnas.data import create_dataset, dataset_info, safe_load
from snnas.errors import DatasetError
from tests.data._data_writers import cifar_batch, one_line, write_pickle


def _cifar10(folder, protocol=2, n=2):
    rng = np.random.default_rng(0)
    batches = {}
    for i, name in enumerate([f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]):
        data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        labels = [(i + j) % 10 for j in range(n)]
        batches[name] = (data, labels)
        write_pickle(folder / name, cifar_batch(data, labels), protocol)
    write_pickle(folder / "batches.meta", {b"label_names": [b"airplane"] * 10, b"num_vis": 3072}, protocol)
    return batches


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_cifar10_decodes_planes_and_labels(tmp_path, protocol):
    batches = _cifar10(tmp_path / "cifar-10-batches-py", protocol)
    ds = create_dataset("cifar10", root=tmp_path, normalize=False)
    assert len(ds) == 10
    data = np.concatenate([batches[f"data_batch_{k}"][0] for k in range(1, 6)])
    labels = sum((batches[f"data_batch_{k}"][1] for k in range(1, 6)), [])
    assert ds.targets.tolist() == labels
    x, _ = next(ds.batches(10))
    x = torch.round(x * 255).to(torch.uint8).numpy()
    # Row layout: 1024 red, then 1024 green, then 1024 blue values, each plane row-major.
    assert x[3, 1, 2, 5] == data[3, 1024 + 2 * 32 + 5]
    assert x[7, 2, 31, 0] == data[7, 2048 + 31 * 32]
    assert np.array_equal(x.reshape(10, -1), data)
    test = create_dataset("cifar10", root=tmp_path, split="test")
    assert test.targets.tolist() == batches["test_batch"][1] and test[0][0].shape == (3, 32, 32)


def test_cifar_numpy1_spelling_and_str_keys(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    _cifar10(folder)
    # Rewrite one batch as numpy 1 (and the original Python 2 files) spell the reconstructor, with str keys.
    data = np.arange(3072 * 2, dtype=np.int64).astype(np.uint8).reshape(2, 3072)
    blob = pickle.dumps({"data": data, "labels": [4, 5]}, protocol=2)
    assert b"numpy._core.multiarray" in blob
    (folder / "data_batch_3").write_bytes(blob.replace(b"numpy._core.multiarray", b"numpy.core.multiarray"))
    ds = create_dataset("cifar10", root=folder, normalize=False)
    assert ds.targets[4:6].tolist() == [4, 5]


def test_cifar100_fine_labels(tmp_path):
    folder = tmp_path / "cifar-100-python"
    data = np.full((3, 3072), 7, dtype=np.uint8)
    for split in ("train", "test"):
        batch = {b"data": data, b"fine_labels": [0, 99, 42], b"coarse_labels": [0, 19, 3],
                 b"filenames": [b"a"] * 3}
        write_pickle(folder / split, batch)
    write_pickle(folder / "meta", {b"fine_label_names": [b"x"] * 100, b"coarse_label_names": [b"y"] * 20})
    ds = create_dataset("cifar100", root=tmp_path, split="test")
    assert ds.targets.tolist() == [0, 99, 42] and ds.num_classes == 100
    assert dataset_info("cifar100", tmp_path)["available"]


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_forbidden_global_is_refused_without_running(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    _cifar10(folder)
    marker = tmp_path / "pwned"
    write_pickle(folder / "data_batch_2", {b"data": _Evil(marker), b"labels": [1]})
    with pytest.raises(DatasetError) as err:
        create_dataset("cifar10", root=tmp_path)
    msg = one_line(err)
    assert "forbidden global" in msg and ".system" in msg and "data_batch_2" in msg
    assert not marker.exists()


@pytest.mark.parametrize("target", ["builtins.eval", "builtins.getattr", "numpy.load", "_codecs.decode"])
def test_other_globals_refused(tmp_path, target):
    module, name = target.rsplit(".", 1)
    p = tmp_path / "blob"
    p.write_bytes(b"\x80\x02c" + module.encode() + b"\n" + name.encode() + b"\nX\x01\x00\x00\x00x\x85R.")
    with pytest.raises(DatasetError) as err:
        safe_load(p)
    assert target in one_line(err)


def test_codecs_encode_only_latin1(tmp_path):
    p = tmp_path / "blob"
    # _codecs.encode("x", "rot13"): an allowed name with a refused argument
    p.write_bytes(b"\x80\x02c_codecs\nencode\nX\x01\x00\x00\x00xX\x05\x00\x00\x00rot13\x86R.")
    with pytest.raises(DatasetError):
        safe_load(p)
    q = tmp_path / "ok"
    q.write_bytes(pickle.dumps(b"\xff\x00", protocol=2))
    assert safe_load(q) == b"\xff\x00"


def test_truncated_pickle(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    _cifar10(folder)
    raw = (folder / "test_batch").read_bytes()
    (folder / "test_batch").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DatasetError) as err:
        create_dataset("cifar10", root=tmp_path, split="test")
    assert "test_batch" in one_line(err)


def test_not_a_cifar_dict(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    _cifar10(folder)
    write_pickle(folder / "test_batch", {b"data": np.zeros((2, 10), np.uint8), b"labels": [0, 1]})
    with pytest.raises(DatasetError) as err:
        create_dataset("cifar10", root=tmp_path, split="test")
    assert "3072" in one_line(err)


def test_missing_batch_named(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    _cifar10(folder)
    (folder / "data_batch_3").unlink()
    with pytest.raises(DatasetError) as err:
        create_dataset("cifar10", root=tmp_path)
    msg = one_line(err)
    assert "data_batch_3" in msg and "cifar-10-batches-py/{data_batch_1..5,test_batch,batches.meta}" in msg


def test_safe_unpickler_handles_plain_containers():
    from snnas.data import SafeUnpickler

    blob = pickle.dumps({"a": [1, 2.5, "s", b"b", (None, True)]}, protocol=5)
    assert SafeUnpickler(io.BytesIO(blob)).load() == {"a": [1, 2.5, "s", b"b", (None, True)]}
