"""A model config adapted to a dataset (its channels and classes), and a calibration batch of its real data."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from snnas.config import ArchConfig
from snnas.data._registry import create_dataset, get_entry

if TYPE_CHECKING:
    import torch

__all__ = ["adapt_config", "calibration_batch"]


def adapt_config(cfg: ArchConfig, dataset: str) -> ArchConfig:
    """``cfg`` with the dataset's channels and classes (images are resized to ``cfg.img_size``)."""
    e = get_entry(dataset)
    return cfg.replace(in_channels=e.shape[0], num_classes=len(e.classes))


def calibration_batch(cfg: ArchConfig, dataset: str = "fashion-mini", batch: int = 32,
                      data_dir: str | Path | None = None) -> tuple[torch.Tensor, str]:
    """The first ``batch`` test images of ``dataset`` as model input for ``cfg``, and a description.

    Static images come as ``[B, C, H, W]``, event frames as ``[T, B, 2, H, W]``. The test split is used
    so calibration never touches what a search trains or validates on.
    """
    ds = create_dataset(dataset, root=data_dir, split="test", T=cfg.T, img_size=cfg.img_size)
    x, _ = next(ds.batches(batch))
    if x.ndim == 5:  # [B, T, 2, H, W] -> [T, B, 2, H, W]
        x = x.transpose(0, 1).contiguous()
    return x, f"{dataset} test[:{x.shape[-4]}] resized to {cfg.img_size}x{cfg.img_size}"
