"""A training run's data: a dataset's training part and validation split, loaded once, with nested subsets."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from snnas.data import SnnasDataset, create_dataset, get_entry, nested_split

__all__ = ["TrainingData"]


class TrainingData:
    """The training split of ``dataset`` cut into a seeded, stratified validation split and a training part.

    ``max_train_images`` (0 = all) caps the training split first; ``data_seed`` fixes the cap, the split and
    the order in which :meth:`train_part` takes each class's images, so every ``fraction`` is stratified
    and a larger fraction contains a smaller one. Event datasets are integrated per ``T`` (one cache each).
    The test split is never read here: searches and full trainings validate on the same images.

    Example:
        >>> data = TrainingData("fashion-mini", img_size=16, val_fraction=0.1)
        >>> len(data.validation()), len(data.train_part(0.1)), len(data.train_part(1.0))
        (500, 450, 4500)
    """

    def __init__(self, dataset: str, data_dir: str | Path | None = None, *, img_size: int, val_fraction: float,
                 max_train_images: int = 0, data_seed: int = 0) -> None:
        self.dataset, self.data_dir, self.img_size = dataset, data_dir, img_size
        self.val_fraction, self.max_train_images, self.data_seed = val_fraction, max_train_images, data_seed
        self.event = get_entry(dataset).kind == "event"
        self._cache: dict[int | None, tuple[SnnasDataset, SnnasDataset, list[np.ndarray]]] = {}

    def _splits(self, T: int | None) -> tuple[SnnasDataset, SnnasDataset, list[np.ndarray]]:
        key = T if self.event else None
        if key not in self._cache:
            full = create_dataset(self.dataset, root=self.data_dir, split="train", T=T, img_size=self.img_size)
            labels = full.targets.numpy()
            cap = self.max_train_images
            if cap and cap < len(labels):
                keep = np.sort(np.random.default_rng(self.data_seed).permutation(len(labels))[:cap])
                full = full.subset(keep, augment=False)
                labels = full.targets.numpy()
            val_idx, per_class = nested_split(labels, self.val_fraction, self.data_seed)
            self._cache[key] = (full, full.subset(val_idx, augment=False), per_class)
        return self._cache[key]

    def load(self, T: int | None = None) -> None:
        """Read the dataset now (a missing or corrupt one fails here, before any training starts)."""
        self._splits(T)

    def validation(self, T: int | None = None) -> SnnasDataset:
        """The validation split (never augmented)."""
        return self._splits(T)[1]

    def train_part(self, fraction: float = 1.0, T: int | None = None, augment: bool = True) -> SnnasDataset:
        """The first ``fraction`` of every class of the training part (at least one image of each)."""
        full, _, per_class = self._splits(T)
        idx = np.sort(np.concatenate([m[: max(1, math.ceil(fraction * len(m)))] for m in per_class]))
        return full.subset(idx, augment=augment)

    def test(self, T: int | None = None) -> SnnasDataset:
        """The dataset's test split at this run's image size (for a final score only)."""
        return create_dataset(self.dataset, root=self.data_dir, split="test", T=T, img_size=self.img_size)
