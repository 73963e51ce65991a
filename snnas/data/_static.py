"""Static image datasets: embedded ``fashion-mini``, MNIST/Fashion-MNIST (IDX), CIFAR-10/100 (pickles).

Importing this module registers the datasets; numpy and the file readers load inside the loaders, so that
``snnas datasets`` (which only locates files) answers without them.
"""

from __future__ import annotations

import io
import json
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from snnas.data._registry import Location, RawSplit, files_locator, register_dataset
from snnas.errors import DatasetError

if TYPE_CHECKING:
    import numpy as np

__all__ = ["FASHION_CLASSES", "DIGITS", "CIFAR10_CLASSES", "CIFAR100_CLASSES", "DEBIAN_FASHION_MNIST",
           "load_fashion_mini_manifest"]

FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot")
DIGITS = tuple(str(d) for d in range(10))
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
CIFAR100_CLASSES = tuple("""
apple aquarium_fish baby bear beaver bed bee beetle bicycle bottle bowl boy bridge bus butterfly
camel can castle caterpillar cattle chair chimpanzee clock cloud cockroach couch crab crocodile cup
dinosaur dolphin elephant flatfish forest fox girl hamster house kangaroo keyboard lamp lawn_mower
leopard lion lizard lobster man maple_tree motorcycle mountain mouse mushroom oak_tree orange orchid
otter palm_tree pear pickup_truck pine_tree plain plate poppy porcupine possum rabbit raccoon ray
road rocket rose sea seal shark shrew skunk skyscraper snail snake spider squirrel streetcar
sunflower sweet_pepper table tank telephone television tiger tractor train trout tulip turtle
wardrobe whale willow_tree wolf woman worm""".split())

# Documented fallback for Fashion-MNIST when no root is given: Debian's `dataset-fashion-mnist` package.
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
# Per-channel statistics of the full training sets (pixel values scaled to [0, 1]).
_FASHION_STATS = ((0.2860,), (0.3530,))
_MNIST_STATS = ((0.1307,), (0.3081,))
_CIFAR10_STATS = ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))
_CIFAR100_STATS = ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762))

_MINI_NPZ = "fashion_mini.npz"
_MINI_MANIFEST = "fashion_mini.json"


# ------------------------------------------------------------------------------------------ fashion-mini
def _asset(name: str) -> Any:
    # importlib.resources, not __file__: the data must load from a wheel or a zip as from a checkout.
    return resources.files("snnas.data") / "assets" / name


def _locate_mini(root: Path | None) -> Location:
    res = _asset(_MINI_NPZ)
    ok = res.is_file()
    return Location(ok, (str(res),), f"{_MINI_NPZ} (package data)", Path(str(res)) if ok else None)


def load_fashion_mini_manifest() -> dict[str, Any]:
    """The JSON manifest recording how ``fashion_mini.npz`` was built from Debian's Fashion-MNIST."""
    return json.loads(_asset(_MINI_MANIFEST).read_text(encoding="utf-8"))


@register_dataset("fashion-mini", locate=_locate_mini, shape=(1, 28, 28), classes=FASHION_CLASSES,
                  mean=_FASHION_STATS[0], std=_FASHION_STATS[1])
def _fashion_mini(loc: Location, split: str) -> RawSplit:
    """Embedded seeded, stratified Fashion-MNIST subset: 5,000 train / 1,000 test (500 / 100 per class)."""
    import numpy as np

    blob = _asset(_MINI_NPZ).read_bytes()
    with np.load(io.BytesIO(blob), allow_pickle=False) as f:
        return RawSplit(f[f"x_{split}"][:, None], f[f"y_{split}"])


# ------------------------------------------------------------------------------------------ IDX sets
def _idx_files(prefix: str) -> list[tuple[str, str]]:
    return [(f"{prefix}-{kind}-ubyte", f"{prefix}-{kind}-ubyte.gz")
            for kind in ("images-idx3", "labels-idx1")]


_IDX_REQUIRED = _idx_files("train") + _idx_files("t10k")


def _load_idx(loc: Location, split: str) -> RawSplit:
    from snnas.data._idx import IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC, read_idx

    assert loc.path is not None
    found = [next(loc.path / f for f in alts if (loc.path / f).exists())
             for alts in _idx_files("train" if split == "train" else "t10k")]
    images = read_idx(found[0], IDX_IMAGES_MAGIC)
    labels = read_idx(found[1], IDX_LABELS_MAGIC)
    if images.ndim != 3 or labels.ndim != 1:
        raise DatasetError(f"{found[0]}: expected images N x rows x cols and labels N, got {images.shape} "
                           f"and {labels.shape}")
    if images.shape[0] != labels.shape[0]:
        raise DatasetError(f"{loc.path}: {images.shape[0]} images but {labels.shape[0]} labels in the "
                           f"{split} split")
    if labels.size and labels.max() > 9:
        raise DatasetError(f"{found[1]}: label {int(labels.max())} out of range 0..9")
    return RawSplit(images[:, None], labels)


@register_dataset("fashion-mnist", shape=(1, 28, 28), classes=FASHION_CLASSES, mean=_FASHION_STATS[0],
                  std=_FASHION_STATS[1],
                  locate=files_locator("fashion-mnist", _IDX_REQUIRED, ("", "FashionMNIST/raw"),
                                       fallback=DEBIAN_FASHION_MNIST))
def _fashion_mnist(loc: Location, split: str) -> RawSplit:
    """Fashion-MNIST from IDX files (gz or raw); falls back to Debian's dataset-fashion-mnist when no root."""
    return _load_idx(loc, split)


@register_dataset("mnist", shape=(1, 28, 28), classes=DIGITS, mean=_MNIST_STATS[0], std=_MNIST_STATS[1],
                  hflip=False, locate=files_locator("mnist", _IDX_REQUIRED, ("", "MNIST/raw")))
def _mnist(loc: Location, split: str) -> RawSplit:
    """MNIST handwritten digits from IDX files (gz or raw) in a local folder."""
    return _load_idx(loc, split)


# ------------------------------------------------------------------------------------------ CIFAR
def _str_keys(obj: Any, path: Path) -> dict[str, Any]:
    # Python 2 pickles read with latin1 give str keys; Python 3 re-dumps of the same dict often keep bytes.
    if not isinstance(obj, dict):
        raise DatasetError(f"{path}: expected a pickled dict, got {type(obj).__name__}")
    return {k.decode("latin-1") if isinstance(k, bytes) else str(k): v for k, v in obj.items()}


def _cifar_batch(path: Path, label_key: str, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    import numpy as np

    from snnas.data._safe_pickle import safe_load

    d = _str_keys(safe_load(path), path)
    if "data" not in d or label_key not in d:
        raise DatasetError(f"{path}: not a CIFAR batch: keys {sorted(d)} lack 'data' or {label_key!r}")
    data, labels = d["data"], np.asarray(d[label_key])
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        shape = getattr(data, "shape", None)
        raise DatasetError(f"{path}: 'data' must be an N x 3072 uint8 array "
                           f"(got {type(data).__name__} {shape})")
    if labels.shape != (data.shape[0],) or not np.issubdtype(labels.dtype, np.integer):
        raise DatasetError(f"{path}: {label_key!r} must hold {data.shape[0]} integer labels")
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise DatasetError(f"{path}: label {int(labels.max())} out of range 0..{num_classes - 1}")
    # Rows are the R, G, B planes of a 32x32 image, each row-major.
    return data.reshape(-1, 3, 32, 32), labels.astype(np.int64)


def _check_meta(path: Path, key: str, n: int) -> None:
    from snnas.data._safe_pickle import safe_load

    names = _str_keys(safe_load(path), path).get(key)
    if not isinstance(names, list) or len(names) != n:
        raise DatasetError(f"{path}: expected {key!r} listing {n} class names")


_C10 = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch", "batches.meta"]


@register_dataset("cifar10", shape=(3, 32, 32), classes=CIFAR10_CLASSES, mean=_CIFAR10_STATS[0],
                  std=_CIFAR10_STATS[1],
                  locate=files_locator("cifar10", _C10, ("cifar-10-batches-py", ""),
                                       expected="cifar-10-batches-py/{data_batch_1..5,test_batch,batches.meta}"))
def _cifar10(loc: Location, split: str) -> RawSplit:
    """CIFAR-10, python-version batches, read with a restricted unpickler."""
    import numpy as np

    assert loc.path is not None
    _check_meta(loc.path / "batches.meta", "label_names", 10)
    names = _C10[:5] if split == "train" else ["test_batch"]
    parts = [_cifar_batch(loc.path / n, "labels", 10) for n in names]
    return RawSplit(np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))


@register_dataset("cifar100", shape=(3, 32, 32), classes=CIFAR100_CLASSES, mean=_CIFAR100_STATS[0],
                  std=_CIFAR100_STATS[1],
                  locate=files_locator("cifar100", ["train", "test", "meta"], ("cifar-100-python", ""),
                                       expected="cifar-100-python/{train,test,meta}"))
def _cifar100(loc: Location, split: str) -> RawSplit:
    """CIFAR-100 (fine labels), python-version files, read with a restricted unpickler."""
    assert loc.path is not None
    _check_meta(loc.path / "meta", "fine_label_names", 100)
    return RawSplit(*_cifar_batch(loc.path / split, "fine_labels", 100))
