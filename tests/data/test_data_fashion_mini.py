"""The embedded ``fashion-mini`` matches its manifest, and the manifest matches Debian's source files."""

from __future__ import annotations

import hashlib
import importlib.util
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
import torch

from snnas.data import create_dataset, dataset_info, load_fashion_mini_manifest, read_idx
from snnas.data._idx import IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC
from snnas.data._static import DEBIAN_FASHION_MNIST

ASSETS = resources.files("snnas.data") / "assets"
REPO = Path(__file__).resolve().parents[2]


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_npz_matches_manifest():
    m = load_fashion_mini_manifest()
    blob = (ASSETS / "fashion_mini.npz").read_bytes()
    assert _sha(blob) == m["npz"]["sha256"] and len(blob) == m["npz"]["bytes"]
    assert m["source"]["package"] == "dataset-fashion-mnist" and m["source"]["version"]
    assert m["per_class"] == {"train": 500, "test": 100}
    assert m["counts"] == {"train": [500] * 10, "test": [100] * 10}
    assert len(m["indices"]["train"]) == 5000 and len(m["indices"]["test"]) == 1000
    assert len(set(m["indices"]["train"])) == 5000
    with np.load(ASSETS / "fashion_mini.npz", allow_pickle=False) as f:
        for key, meta in m["npz"]["arrays"].items():
            assert list(f[key].shape) == meta["shape"] and str(f[key].dtype) == meta["dtype"]
            assert _sha(f[key].tobytes()) == meta["sha256"]


def test_licence_ships_beside_the_data():
    text = (ASSETS / "LICENSE.fashion-mnist").read_text(encoding="utf-8")
    assert "Copyright © 2017 Zalando SE, https://tech.zalando.com" in text and "MIT" in text


def test_loads_as_default_dataset():
    info = dataset_info("fashion-mini")
    assert info["available"] and info["default"] and info["shape"] == [1, 28, 28]
    train, test = create_dataset(), create_dataset(split="test")
    assert len(train) == 5000 and len(test) == 1000
    assert torch.bincount(train.targets).tolist() == [500] * 10
    assert torch.bincount(test.targets).tolist() == [100] * 10
    assert train.data.dtype == torch.uint8 and train[0][0].shape == (1, 28, 28)


@pytest.mark.skipif(not DEBIAN_FASHION_MNIST.is_dir(), reason="Debian dataset-fashion-mnist not installed")
def test_subset_is_the_recorded_source_images():
    m = load_fashion_mini_manifest()
    for name, sha in m["source"]["sha256"].items():
        if name.startswith("t10k"):  # the 26 MB training file is covered by the --check test below
            assert _sha((DEBIAN_FASHION_MNIST / name).read_bytes()) == sha
    images = read_idx(DEBIAN_FASHION_MNIST / "t10k-images-idx3-ubyte.gz", IDX_IMAGES_MAGIC)
    labels = read_idx(DEBIAN_FASHION_MNIST / "t10k-labels-idx1-ubyte.gz", IDX_LABELS_MAGIC)
    idx = np.array(m["indices"]["test"])
    with np.load(ASSETS / "fashion_mini.npz", allow_pickle=False) as f:
        assert np.array_equal(f["x_test"], images[idx]) and np.array_equal(f["y_test"], labels[idx])


@pytest.mark.skipif(not DEBIAN_FASHION_MNIST.is_dir(), reason="Debian dataset-fashion-mnist not installed")
def test_build_script_check_mode(capsys):
    script = REPO / "scripts" / "build_fashion_mini.py"
    spec = importlib.util.spec_from_file_location("build_fashion_mini", script)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.main(["--check"]) == 0, capsys.readouterr().out
