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

from snnas._lazy import lazy_exports
from snnas.data import _neuromorphic as _neuromorphic  # noqa: F401  (registers the event datasets)
from snnas.data import _static as _static  # noqa: F401  (registers the image datasets)

# Registering and listing the datasets is light; the readers and tensor datasets (numpy, torch) load on first
# use, so `snnas datasets` answers without them.
__all__, __getattr__, __dir__ = lazy_exports(__name__, {
    "snnas.data._adapt": ["adapt_config", "calibration_batch"],
    "snnas.data._registry": ["DEFAULT_DATASET", "DatasetEntry", "Location", "RawSplit", "create_dataset",
                             "dataset_info", "default_data_dir", "files_locator", "get_entry", "list_datasets",
                             "register_dataset"],
    "snnas.data._tensor": ["BatchTransform", "SnnasDataset", "TensorDataset", "FrameFileDataset", "nested_split",
                           "stratified_indices"],
    "snnas.data._safe_pickle": ["SafeUnpickler", "safe_load"],
    "snnas.data._idx": ["read_idx"],
    "snnas.data._events": ["read_aedat31", "read_aedat20", "read_atis_bin", "events_to_frames"],
    "snnas.data._static": ["load_fashion_mini_manifest"],
})
