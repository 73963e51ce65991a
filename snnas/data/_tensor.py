"""Datasets as tensors: batch transforms, an in-memory dataset, a lazy frame-file dataset, stratified subsets.

Transforms run on whole batches in plain torch, so an epoch over an in-memory dataset costs a handful of
tensor ops per batch and no Python work per sample. Samples are stored compactly (uint8 images, float32
event counts) and turned into normalised float tensors batch by batch.
"""

from __future__ import annotations

import zipfile
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from snnas.errors import DatasetError

__all__ = ["BatchTransform", "SnnasDataset", "TensorDataset", "FrameFileDataset", "nested_split", "stratified_indices"]


@dataclass(frozen=True)
class BatchTransform:
    """Turns a stored batch ``[B, C, H, W]`` (static) or ``[B, T, 2, H, W]`` (events) into model input.

    Steps, in order: to float (uint8 is scaled to [0, 1]), bilinear resize to ``size``, and when
    ``augment`` a random crop after zero padding by ``pad`` pixels plus a random horizontal flip when
    ``hflip``; finally ``(x - mean) / std`` per channel when ``mean`` is set. Augmenting before
    normalising pads with black, as torchvision's pipelines do.

    Example:
        >>> tf = BatchTransform(size=4, mean=(0.5,), std=(0.5,))
        >>> tf(torch.full((2, 1, 2, 2), 255, dtype=torch.uint8)).shape
        torch.Size([2, 1, 4, 4])
    """

    size: int | None = None
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    augment: bool = False
    pad: int = 4
    hflip: bool = True

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        x = x.to(torch.float32) / 255 if x.dtype == torch.uint8 else x.to(torch.float32)
        events = x.dim() == 5
        if events:  # [B, T, 2, H, W]: fold T into channels so one crop/flip covers every time step
            b, steps = x.shape[:2]
            x = x.reshape(b, -1, *x.shape[-2:])
        if self.size is not None and tuple(x.shape[-2:]) != (self.size, self.size):
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False)
        if self.augment:
            x = _random_crop(x, self.pad, generator) if self.pad > 0 else x
            if self.hflip:
                flip = torch.rand(x.shape[0], generator=generator) < 0.5
                x = torch.where(flip[:, None, None, None], x.flip(-1), x)
        if events:
            x = x.reshape(b, steps, -1, *x.shape[-2:])
        if self.mean is not None and self.std is not None:
            shape = (len(self.mean), 1, 1)
            x = (x - torch.tensor(self.mean).view(shape)) / torch.tensor(self.std).view(shape)
        return x


def _random_crop(x: torch.Tensor, pad: int, generator: torch.Generator | None) -> torch.Tensor:
    """A random ``H x W`` window per sample of the zero-padded batch: a row gather, then a column gather."""
    b, c, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad))
    oy = torch.randint(0, 2 * pad + 1, (b,), generator=generator)
    ox = torch.randint(0, 2 * pad + 1, (b,), generator=generator)
    rows = (oy[:, None] + torch.arange(h)).view(b, 1, h, 1).expand(b, c, h, w + 2 * pad)
    cols = (ox[:, None] + torch.arange(w)).view(b, 1, 1, w).expand(b, c, h, w)
    return padded.gather(2, rows).gather(3, cols)


class SnnasDataset(torch.utils.data.Dataset):
    """Common front of snnas datasets: ``len``, ``ds[i]`` and a fast batch iterator.

    Subclasses provide ``_load(indices)``, returning the stored samples of those indices as one tensor.

    Example:
        >>> from snnas.data import create_dataset
        >>> ds = create_dataset("fashion-mini", split="test")
        >>> x, y = ds[0]
        >>> tuple(x.shape), ds.num_classes, sum(len(yb) for _, yb in ds.batches(256))
        ((1, 28, 28), 10, 1000)
    """

    def __init__(self, targets: torch.Tensor, *, name: str, classes: Sequence[str],
                 transform: BatchTransform | None = None) -> None:
        self.targets = targets.to(torch.int64)
        self.name = name
        self.classes = tuple(classes)
        self.transform = transform or BatchTransform()

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def __len__(self) -> int:
        return int(self.targets.shape[0])

    def _load(self, indices: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def _take(self, indices: torch.Tensor, transform: BatchTransform) -> SnnasDataset:  # pragma: no cover
        raise NotImplementedError

    def subset(self, indices: np.ndarray | Sequence[int], augment: bool | None = None) -> SnnasDataset:
        """The samples at ``indices``, in that order, as a dataset of the same kind; ``augment`` switches the
        random crop and flip on or off (default: as this dataset).

        Example:
            >>> ds = TensorDataset(torch.zeros(6, 1, 8, 8, dtype=torch.uint8), torch.arange(6) % 3,
            ...                    name="toy", classes=("a", "b", "c"))
            >>> sub = ds.subset([0, 3], augment=True)
            >>> len(sub), sub.targets.tolist(), sub.transform.augment
            (2, [0, 0], True)
        """
        tf = self.transform if augment is None else replace(self.transform, augment=augment)
        return self._take(torch.as_tensor(np.asarray(indices), dtype=torch.int64), tf)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        """One sample ``([C, H, W] or [T, 2, H, W], label)``, for ``torch.utils.data.DataLoader`` users."""
        if not -len(self) <= i < len(self):
            raise IndexError(f"{self.name}: index {i} out of range for {len(self)} samples")
        idx = torch.tensor([i % len(self)])
        return self.transform(self._load(idx))[0], int(self.targets[idx[0]])

    @property
    def sample_shape(self) -> tuple[int, ...]:
        """Shape of one transformed sample."""
        return tuple(self[0][0].shape)

    def batches(self, batch_size: int, shuffle: bool = False, generator: torch.Generator | None = None,
                drop_last: bool = False) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Yield ``(x, y)`` batches; ``generator`` drives both the shuffle and the augmentation."""
        if batch_size < 1:
            raise DatasetError(f"batch_size must be a positive integer (got {batch_size})")
        n = len(self)
        order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
        stop = n - n % batch_size if drop_last else n
        for start in range(0, stop, batch_size):
            idx = order[start:start + batch_size]
            yield self.transform(self._load(idx), generator), self.targets[idx]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, n={len(self)}, classes={self.num_classes})"


class TensorDataset(SnnasDataset):
    """A dataset held in memory as one tensor (uint8 images or float32 event frames).

    Example:
        >>> ds = TensorDataset(torch.zeros(6, 1, 8, 8, dtype=torch.uint8), torch.arange(6) % 3,
        ...                    name="toy", classes=("a", "b", "c"))
        >>> x, y = next(ds.batches(4, shuffle=True, generator=torch.Generator().manual_seed(0)))
        >>> tuple(x.shape), x.dtype, len(ds)
        ((4, 1, 8, 8), torch.float32, 6)
    """

    def __init__(self, data: torch.Tensor | np.ndarray, targets: torch.Tensor | np.ndarray, *, name: str,
                 classes: Sequence[str], transform: BatchTransform | None = None) -> None:
        data = torch.as_tensor(data)
        targets = torch.as_tensor(np.asarray(targets, dtype=np.int64))
        if data.shape[0] != targets.shape[0]:
            raise DatasetError(f"{name}: {data.shape[0]} samples but {targets.shape[0]} labels")
        super().__init__(targets, name=name, classes=classes, transform=transform)
        self.data = data

    def _load(self, indices: torch.Tensor) -> torch.Tensor:
        return self.data[indices]

    def _take(self, indices: torch.Tensor, transform: BatchTransform) -> TensorDataset:
        return TensorDataset(self.data[indices], self.targets[indices], name=self.name, classes=self.classes,
                             transform=transform)


class FrameFileDataset(SnnasDataset):
    """Event frames read lazily from ``.npz`` files (key ``frames``, spikingjelly's cache format).

    For event sets too large to hold in memory; each batch reads its files.

    Example:
        >>> ds = FrameFileDataset([], [], name="empty", classes=("a",), shape=(4, 2, 8, 8))
        >>> len(ds)
        0
    """

    def __init__(self, files: Sequence[Path], targets: Sequence[int] | np.ndarray, *, name: str,
                 classes: Sequence[str], shape: tuple[int, ...],
                 transform: BatchTransform | None = None) -> None:
        super().__init__(torch.as_tensor(np.asarray(targets, dtype=np.int64)), name=name, classes=classes,
                         transform=transform)
        self.files = [Path(f) for f in files]
        self.shape = tuple(shape)

    def _load(self, indices: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(np.stack([load_frames(self.files[int(i)], self.shape) for i in indices]))

    def _take(self, indices: torch.Tensor, transform: BatchTransform) -> FrameFileDataset:
        return FrameFileDataset([self.files[int(i)] for i in indices], self.targets[indices].numpy(), name=self.name,
                                classes=self.classes, shape=self.shape, transform=transform)


def load_frames(path: Path, shape: tuple[int, ...]) -> np.ndarray:
    """One cached ``[T, 2, H, W]`` frame array, checked against the expected shape."""
    try:
        with np.load(path, allow_pickle=False) as f:
            frames = f["frames"]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error) as e:
        raise DatasetError(f"{path}: unreadable cached frames ({type(e).__name__}); delete the file's "
                           "frames_* folder to rebuild it") from None
    if frames.shape != shape:
        raise DatasetError(f"{path}: cached frames have shape {frames.shape}, expected {shape}; delete the "
                           "frames_* folder to rebuild it")
    return frames.astype(np.float32, copy=False)


def stratified_indices(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Sorted indices of a seeded subset holding ``fraction`` of every class (at least one sample each).

    Example:
        >>> stratified_indices(np.array([0, 0, 0, 0, 1, 1]), 0.5, seed=0).size
        3
    """
    if not 0.0 < fraction <= 1.0:
        raise DatasetError(f"fraction must be in (0, 1] (got {fraction!r})")
    labels = np.asarray(labels)
    if fraction == 1.0:
        return np.arange(labels.size)
    rng = np.random.default_rng(seed)
    chosen = []
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        k = max(1, int(round(fraction * members.size)))
        chosen.append(rng.choice(members, size=k, replace=False))
    return np.sort(np.concatenate(chosen))


def nested_split(labels: np.ndarray, val_fraction: float, seed: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """A seeded, stratified validation split, and the rest of every class in a seeded order.

    Returns the sorted validation indices and, per class, the remaining indices shuffled: any prefix of every
    class's list is a stratified sample, and a longer prefix contains a shorter one (nested fidelities).

    Example:
        >>> val, rest = nested_split(np.array([0, 0, 0, 0, 1, 1, 1, 1]), 0.25, seed=0)
        >>> val.size, [r.size for r in rest]
        (2, [3, 3])
    """
    rng = np.random.default_rng(seed)
    val, rest = [], []
    for c in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == c))
        n_val = max(1, round(val_fraction * len(members)))
        val.append(members[:n_val])
        rest.append(members[n_val:])
    return np.sort(np.concatenate(val)), rest
