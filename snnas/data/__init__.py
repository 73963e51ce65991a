"""Datasets for snnas: a registry of local-folder loaders plus the embedded default ``fashion-mini``.

Nothing is ever downloaded. ``fashion-mini`` ships inside the package; every other dataset is read from a
folder the user provides (``root=``, the CLI's ``--data-dir``), which may be the dataset's own folder or a
folder holding one subfolder per dataset name. Without a root, ``$SNNAS_DATA_DIR`` (else ``./data``) is
searched, and for Fashion-MNIST also Debian's ``/usr/share/datasets/fashion-mnist``
(``apt-get install dataset-fashion-mnist``).

Static images come out as ``[C, H, W]`` float tensors (the model repeats them over T); event sets as
``[T, 2, H, W]`` frames of event counts, integrated and cached in spikingjelly's layout.

Example:
    >>> from snnas.data import create_dataset
    >>> ds = create_dataset("fashion-mini", split="train", fraction=0.1, augment=True)
    >>> x, y = next(ds.batches(64, shuffle=True))
    >>> tuple(x.shape), len(ds)
    ((64, 1, 28, 28), 500)
"""

from __future__ import annotations

from snnas.data import _neuromorphic as _neuromorphic  # noqa: F401  (registers the event datasets)
from snnas.data import _static as _static  # noqa: F401  (registers the image datasets)
from snnas.data._adapt import adapt_config, calibration_batch
from snnas.data._events import events_to_frames, read_aedat20, read_aedat31, read_atis_bin
from snnas.data._idx import read_idx
from snnas.data._registry import (
    DEFAULT_DATASET,
    DatasetEntry,
    Location,
    RawSplit,
    create_dataset,
    dataset_info,
    default_data_dir,
    files_locator,
    get_entry,
    list_datasets,
    register_dataset,
)
from snnas.data._safe_pickle import SafeUnpickler, safe_load
from snnas.data._static import load_fashion_mini_manifest
from snnas.data._tensor import (
    BatchTransform,
    FrameFileDataset,
    SnnasDataset,
    TensorDataset,
    nested_split,
    stratified_indices,
)

__all__ = [
    "adapt_config", "calibration_batch",
    "DEFAULT_DATASET", "DatasetEntry", "Location", "RawSplit", "create_dataset", "dataset_info",
    "default_data_dir", "files_locator", "get_entry", "list_datasets", "register_dataset",
    "BatchTransform", "SnnasDataset", "TensorDataset", "FrameFileDataset", "nested_split", "stratified_indices",
    "SafeUnpickler", "safe_load", "read_idx", "read_aedat31", "read_aedat20", "read_atis_bin",
    "events_to_frames", "load_fashion_mini_manifest",
]
