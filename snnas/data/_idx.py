"""A numpy reader for the IDX files of MNIST and Fashion-MNIST (gzip'd or raw)."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from snnas.errors import DatasetError

__all__ = ["read_idx", "IDX_IMAGES_MAGIC", "IDX_LABELS_MAGIC"]

IDX_IMAGES_MAGIC = 2051  # 0x00000803: unsigned bytes, 3 dimensions
IDX_LABELS_MAGIC = 2049  # 0x00000801: unsigned bytes, 1 dimension
_GZIP_MAGIC = b"\x1f\x8b"


def _read_bytes(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise DatasetError(f"{path}: cannot read ({e.strerror or e})") from None
    # Trust the content, not the suffix: some mirrors ship un-gzipped files named *.gz and vice versa.
    if raw[:2] != _GZIP_MAGIC:
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as e:
        raise DatasetError(f"{path}: corrupt or truncated gzip data ({e})") from None


def read_idx(path: str | Path, expected_magic: int) -> np.ndarray:
    """Read one IDX file into a uint8 array, checking its magic number and its length.

    Args:
        path: an ``*-ubyte`` or ``*-ubyte.gz`` file.
        expected_magic: :data:`IDX_IMAGES_MAGIC` (2051) or :data:`IDX_LABELS_MAGIC` (2049).

    Returns:
        ``(N, rows, cols)`` for images, ``(N,)`` for labels.
    """
    path = Path(path)
    raw = _read_bytes(path)
    if len(raw) < 4:
        raise DatasetError(f"{path}: truncated IDX file ({len(raw)} bytes, no header)")
    magic = int.from_bytes(raw[:4], "big")
    if magic != expected_magic:
        raise DatasetError(f"{path}: wrong IDX magic number {magic} (expected {expected_magic}); "
                           "not an MNIST-style IDX file")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DatasetError(f"{path}: truncated IDX header")
    dims = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    n = int(np.prod(dims, dtype=np.int64))
    if len(raw) - header != n:
        what = "truncated" if len(raw) - header < n else "has trailing bytes"
        raise DatasetError(f"{path}: IDX file {what}: header says {'x'.join(map(str, dims))} = {n} bytes "
                           f"of data, found {len(raw) - header}")
    return np.frombuffer(raw, dtype=np.uint8, count=n, offset=header).reshape(dims).copy()
