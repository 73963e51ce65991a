"""MNIST / Fashion-MNIST: IDX files (gz and raw) written by the tests, and Debian's files when present."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
import torch

from snnas.data import create_dataset, dataset_info, read_idx
from snnas.data._idx import IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC
from snnas.data._static import DEBIAN_FASHION_MNIST
from snnas.errors import DatasetError
from tests.data._data_writers import idx_bytes, one_line, write_idx_set


@pytest.fixture
def idx_arrays():
    rng = np.random.default_rng(1)
    images = {"train": rng.integers(0, 256, (12, 28, 28), dtype=np.uint8),
              "t10k": rng.integers(0, 256, (5, 28, 28), dtype=np.uint8)}
    labels = {"train": np.arange(12, dtype=np.uint8) % 10, "t10k": np.array([9, 0, 3, 3, 1], dtype=np.uint8)}
    return images, labels


@pytest.mark.parametrize("gz", [True, False])
@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_idx_loader_decodes_values_and_labels(tmp_path, idx_arrays, gz, name):
    images, labels = idx_arrays
    write_idx_set(tmp_path, images, labels, gz=gz)
    for split, prefix in (("train", "train"), ("test", "t10k")):
        ds = create_dataset(name, root=tmp_path, split=split, normalize=False)
        assert len(ds) == len(labels[prefix])
        assert ds.targets.tolist() == labels[prefix].tolist()
        x, y = next(ds.batches(len(ds)))
        assert x.shape == (len(ds), 1, 28, 28) and x.dtype == torch.float32
        assert torch.equal(torch.round(x[:, 0] * 255).to(torch.uint8), torch.from_numpy(images[prefix]))
        assert dataset_info(name, tmp_path)["available"]


def test_idx_subfolder_and_normalisation(tmp_path, idx_arrays):
    images, labels = idx_arrays
    write_idx_set(tmp_path / "mnist", images, labels, gz=True)  # a data dir with one folder per dataset
    ds = create_dataset("mnist", root=tmp_path, split="test")
    x, _ = ds[0]
    expected = (torch.from_numpy(images["t10k"][0]).float() / 255 - 0.1307) / 0.3081
    assert torch.allclose(x[0], expected, atol=1e-6)


def test_read_idx_shapes(tmp_path):
    p = tmp_path / "labels"
    p.write_bytes(idx_bytes(np.array([1, 2, 3], dtype=np.uint8)))
    assert read_idx(p, IDX_LABELS_MAGIC).tolist() == [1, 2, 3]


def test_wrong_magic(tmp_path):
    p = tmp_path / "train-images-idx3-ubyte"
    p.write_bytes(idx_bytes(np.zeros(3, dtype=np.uint8)))  # a labels file where images are expected
    with pytest.raises(DatasetError) as err:
        read_idx(p, IDX_IMAGES_MAGIC)
    assert "magic number 2049" in one_line(err) and "2051" in str(err.value)


@pytest.mark.parametrize("gz", [True, False])
def test_truncated(tmp_path, gz):
    data = idx_bytes(np.zeros((4, 28, 28), dtype=np.uint8))
    p = tmp_path / ("t.gz" if gz else "t")
    p.write_bytes(gzip.compress(data)[:-30] if gz else data[:-10])
    with pytest.raises(DatasetError) as err:
        read_idx(p, IDX_IMAGES_MAGIC)
    assert "truncated" in one_line(err) and str(p) in str(err.value)


def test_missing_folder_names_expected_files(tmp_path):
    with pytest.raises(DatasetError) as err:
        create_dataset("mnist", root=tmp_path / "nowhere")
    msg = one_line(err)
    assert "train-images-idx3-ubyte[.gz]" in msg and "t10k-labels-idx1-ubyte[.gz]" in msg
    assert str(tmp_path / "nowhere") in msg


def test_incomplete_folder_names_missing_file(tmp_path, idx_arrays):
    images, labels = idx_arrays
    write_idx_set(tmp_path, images, labels, gz=False)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DatasetError) as err:
        create_dataset("fashion-mnist", root=tmp_path)
    assert f"{tmp_path}/t10k-labels-idx1-ubyte[.gz]" in one_line(err)


def test_given_root_never_falls_back_to_debian(tmp_path):
    info = dataset_info("fashion-mnist", tmp_path)
    assert not info["available"] and str(DEBIAN_FASHION_MNIST) not in info["looked"]


@pytest.mark.skipif(not DEBIAN_FASHION_MNIST.is_dir(), reason="Debian dataset-fashion-mnist not installed")
def test_debian_fashion_mnist_real_files(monkeypatch, tmp_path):
    monkeypatch.setenv("SNNAS_DATA_DIR", str(tmp_path))  # nothing there: the Debian fallback must be used
    info = dataset_info("fashion-mnist")
    assert info["available"] and info["location"] == str(DEBIAN_FASHION_MNIST)
    ds = create_dataset("fashion-mnist", split="test")
    assert len(ds) == 10_000 and torch.bincount(ds.targets).tolist() == [1000] * 10
