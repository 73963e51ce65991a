"""Dataset registry: ``register_dataset`` / ``create_dataset`` / ``list_datasets`` / ``dataset_info``.

A loader is registered with what the CLI and a search need to know without loading anything: the sample
shape, the classes, how to find the files (a *locator*) and the per-dataset transform settings. Loaders
receive a :class:`Location` that says where the files are, and return a :class:`RawSplit`.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from snnas._lookup import lookup
from snnas.errors import DatasetError

if TYPE_CHECKING:  # numpy and torch load in create_dataset: listing the datasets needs neither
    import numpy as np
    import torch

    from snnas.data._tensor import SnnasDataset

__all__ = ["DatasetEntry", "Location", "RawSplit", "register_dataset", "get_entry", "list_datasets",
           "dataset_info", "create_dataset", "default_data_dir", "files_locator", "DEFAULT_DATASET"]

DEFAULT_DATASET = "fashion-mini"
SPLITS = ("train", "test")
_MEMORY_LIMIT = 2 << 30  # event frames above this many bytes stay on disk and are read batch by batch


def default_data_dir() -> Path:
    """Where datasets are looked for when no ``root`` is given: ``$SNNAS_DATA_DIR``, else ``./data``."""
    return Path(os.environ.get("SNNAS_DATA_DIR") or "data")


@dataclass(frozen=True)
class Location:
    """Result of looking for a dataset's files.

    ``path`` is the folder holding the files and ``root`` the dataset root above it, where frame caches
    go (they differ when the files sit in a conventional subfolder such as ``extract/DvsGesture``).

    Example:
        >>> loc = get_entry("mnist").locate(Path("/nonexistent"))
        >>> loc.available, loc.looked[0]
        (False, '/nonexistent')
    """

    available: bool
    looked: tuple[str, ...]
    expected: str
    path: Path | None = None
    root: Path | None = None
    missing: tuple[str, ...] = ()  # what the closest existing candidate folder lacks

    def require(self, name: str) -> Location:
        """This location, or a one-line :class:`DatasetError` naming the expected files and where."""
        if self.available:
            return self
        detail = f"; an incomplete copy lacks {', '.join(self.missing)}" if self.missing else ""
        raise DatasetError(f"{name}: dataset files not found: expected {self.expected} in one of "
                           f"{', '.join(self.looked)}{detail}")


@dataclass
class RawSplit:
    """What a loader returns: stored samples (an array, or frame files read lazily) and integer labels.

    Example:
        >>> import numpy as np
        >>> raw = RawSplit(np.zeros((2, 1, 4, 4), np.uint8), np.array([0, 1]))
        >>> raw.data.shape, raw.labels.tolist()
        ((2, 1, 4, 4), [0, 1])
    """

    data: np.ndarray | torch.Tensor | Sequence[Path]
    labels: np.ndarray
    sample_shape: tuple[int, ...] = ()  # needed for lazily read frame files only


@dataclass(frozen=True)
class DatasetEntry:
    """A registered dataset and what is known about it without loading it.

    Example:
        >>> e = get_entry("dvs128-gesture")
        >>> e.kind, e.shape, e.default_T, len(e.classes)
        ('event', (2, 128, 128), 16, 11)
    """

    name: str
    loader: Callable[..., RawSplit]
    locate: Callable[[Path | None], Location]
    kind: str  # "static" (one image, the model repeats it over T) or "event" ([T, 2, H, W] frames)
    shape: tuple[int, int, int]  # C, H, W of one image or one frame
    classes: tuple[str, ...]
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    hflip: bool = True  # False where a mirror image changes the label (digits, left/right-hand gestures)
    default_T: int | None = None
    description: str = ""
    options: dict[str, Any] = field(default_factory=dict)  # extra keyword arguments the loader accepts


_DATASETS: dict[str, DatasetEntry] = {}


def register_dataset(name: str, *, locate: Callable[[Path | None], Location], shape: tuple[int, int, int],
                     classes: Sequence[str], kind: str = "static", mean: Sequence[float] | None = None,
                     std: Sequence[float] | None = None, hflip: bool = True, default_T: int | None = None,
                     description: str = "", options: dict[str, Any] | None = None
                     ) -> Callable[[Callable[..., RawSplit]], Callable[..., RawSplit]]:
    """Decorator registering ``loader(location, split, **kwargs) -> RawSplit`` under ``name``.

    Event loaders also receive ``T`` and ``split_by``; ``options`` lists further keyword arguments with
    their defaults (they are passed through from :func:`create_dataset`).
    """
    if kind not in ("static", "event"):
        raise ValueError(f"dataset kind must be 'static' or 'event', not {kind!r}")

    def deco(fn: Callable[..., RawSplit]) -> Callable[..., RawSplit]:
        if name in _DATASETS:
            raise ValueError(f"dataset {name!r} registered twice")
        _DATASETS[name] = DatasetEntry(
            name, fn, locate, kind, tuple(shape), tuple(classes), tuple(mean) if mean else None,
            tuple(std) if std else None, hflip, default_T,
            description or (fn.__doc__ or "").strip().split("\n")[0], dict(options or {}))
        return fn

    return deco


def get_entry(name: str) -> DatasetEntry:
    return lookup(_DATASETS, name, "dataset")


def list_datasets(pattern: str = "*") -> list[str]:
    """Registered dataset names matching a shell-style ``pattern``, the default first, then sorted."""
    names = sorted(n for n in _DATASETS if fnmatch.fnmatch(n, pattern))
    return sorted(names, key=lambda n: n != DEFAULT_DATASET)


def dataset_info(name: str, root: str | Path | None = None) -> dict[str, Any]:
    """Shape, classes, availability and where the files were looked for, as a JSON-ready dict.

    Example:
        >>> info = dataset_info("fashion-mini")
        >>> info["available"], info["shape"], info["num_classes"]
        (True, [1, 28, 28], 10)
    """
    e = get_entry(name)
    loc = e.locate(Path(root) if root is not None else None)
    return {
        "name": e.name, "kind": e.kind, "default": e.name == DEFAULT_DATASET, "shape": list(e.shape),
        "T": e.default_T, "num_classes": len(e.classes), "classes": list(e.classes),
        "available": loc.available, "location": str(loc.path) if loc.path else None,
        "looked": list(loc.looked), "expected": loc.expected, "missing": list(loc.missing),
        "description": e.description,
    }


def create_dataset(name: str = DEFAULT_DATASET, root: str | Path | None = None, split: str = "train",
                   T: int | None = None, fraction: float = 1.0, seed: int = 0, augment: bool = False, *,
                   split_by: str = "number", img_size: int | None = None, normalize: bool = True,
                   in_memory: bool | None = None, **options: Any) -> SnnasDataset:
    """Load a registered dataset split as a batch-iterable tensor dataset.

    Args:
        name: a name from :func:`list_datasets`.
        root: the dataset folder, or a folder holding one subfolder per dataset; ``None`` means
            :func:`default_data_dir` (and, for Fashion-MNIST only, Debian's
            /usr/share/datasets/fashion-mnist).
        split: ``"train"`` or ``"test"``.
        T: frames per event sample (event sets; default: the dataset's ``default_T``). Static images are
            returned once as ``[C, H, W]`` and ``T`` is ignored: the model repeats them over time.
        fraction: keep a seeded, stratified ``fraction`` of every class of the *training* split (a search
            fidelity); the test split is always whole so every fidelity is scored on the same data.
        seed: seed of that subset.
        augment: random crop (zero padding of 1/8 of the side) and, where it keeps the label, horizontal
            flip, applied per batch.
        split_by: event integration, ``"number"`` (equal event counts) or ``"time"`` (equal durations).
        img_size: resize every image or frame to ``img_size x img_size`` (bilinear).
        normalize: subtract the dataset's per-channel mean and divide by its std (static sets only).
        in_memory: hold event frames in memory (default: when they fit in 2 GiB); static sets always are.
        **options: dataset-specific options (see ``dataset_info(name)`` / ``DatasetEntry.options``).

    Example:
        >>> ds = create_dataset("fashion-mini", split="test", fraction=0.5, img_size=32)
        >>> len(ds), ds[0][0].shape
        (1000, torch.Size([1, 32, 32]))
    """
    import numpy as np
    import torch

    from snnas.data._tensor import BatchTransform, FrameFileDataset, TensorDataset, stratified_indices

    e = get_entry(name)
    if split not in SPLITS:
        raise DatasetError(f"{name}: split must be one of {', '.join(SPLITS)} (got {split!r})")
    unknown = sorted(set(options) - set(e.options))
    if unknown:
        known = ", ".join(sorted(e.options)) or "none"
        raise DatasetError(f"{name}: unknown option(s) {', '.join(unknown)}; this dataset accepts: {known}")
    if img_size is not None and (not isinstance(img_size, int) or isinstance(img_size, bool) or img_size < 1):
        raise DatasetError(f"img_size must be a positive integer (got {img_size!r})")
    if not 0.0 < fraction <= 1.0:
        raise DatasetError(f"fraction must be in (0, 1] (got {fraction!r})")
    kwargs = {**e.options, **options}
    if e.kind == "event":
        kwargs.update(T=e.default_T if T is None else T, split_by=split_by)
    loc = e.locate(Path(root) if root is not None else None).require(name)
    raw = e.loader(loc, split, **kwargs)

    labels = np.asarray(raw.labels, dtype=np.int64)
    if split == "train" and fraction < 1.0:
        keep = stratified_indices(labels, fraction, seed)
        labels = labels[keep]
        raw.data = raw.data[keep] if not isinstance(raw.data, list) else [raw.data[i] for i in keep]
    side = img_size or e.shape[-1]
    transform = BatchTransform(size=img_size, mean=e.mean if normalize else None,
                               std=e.std if normalize else None, augment=augment, pad=max(1, side // 8),
                               hflip=e.hflip)
    common = {"name": name, "classes": e.classes, "transform": transform}
    if not isinstance(raw.data, list):
        return TensorDataset(raw.data, labels, **common)
    nbytes = len(raw.data) * int(np.prod(raw.sample_shape)) * 4
    if in_memory or (in_memory is None and nbytes <= _MEMORY_LIMIT):
        eager = FrameFileDataset(raw.data, labels, shape=raw.sample_shape, **common)
        data = eager._load(torch.arange(len(eager))) if len(eager) else torch.zeros(0, *raw.sample_shape)
        return TensorDataset(data, labels, **common)
    return FrameFileDataset(raw.data, labels, shape=raw.sample_shape, **common)


def files_locator(name: str, required: Sequence[str | tuple[str, ...]], subdirs: Sequence[str] = ("",), *,
                  fallback: Path | None = None, expected: str | None = None
                  ) -> Callable[[Path | None], Location]:
    """A locator that looks for ``required`` files or folders (a tuple means any one of them will do).

    Candidate folders are ``<base>/<subdir>`` for ``base`` in ``root`` and ``root/<name>`` (``root``
    defaults to :func:`default_data_dir`), then ``fallback`` when no ``root`` was given.
    """
    alts = [(r,) if isinstance(r, str) else tuple(r) for r in required]

    def describe(a: tuple[str, ...]) -> str:
        if len(a) == 2 and a[1] == a[0] + ".gz":
            return f"{a[0]}[.gz]"
        return " or ".join(a)

    described = expected or ", ".join(describe(a) for a in alts)

    def locate(root: Path | None) -> Location:
        base_root = (root if root is not None else default_data_dir()).absolute()
        candidates = [(b / s if s else b, b) for b in (base_root, base_root / name) for s in subdirs]
        if root is None and fallback is not None:
            candidates.append((fallback, fallback))
        looked: list[str] = []
        nearest: tuple[str, ...] = ()
        for path, base in candidates:
            looked.append(str(path))
            missing = tuple(describe(a) for a in alts if not any((path / f).exists() for f in a))
            if not missing:
                return Location(True, tuple(looked), described, path, base)
            if path.is_dir() and not nearest and len(missing) < len(alts):
                nearest = tuple(f"{path}/{m}" for m in missing)
        return Location(False, tuple(looked), described, missing=nearest)

    return locate
