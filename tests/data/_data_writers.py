"""Writers of tiny fixture files in the real on-disk formats (IDX, CIFAR pickles, AEDAT 3.1/2.0, ATIS)
and the check every user-error test shares."""

from __future__ import annotations

import gzip
import pickle
import struct
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pytest

from snnas.errors import SnnasError

AEDAT31_HEADER = (b"#!AER-DAT3.1\r\n#Format: RAW\r\n#Source 1: DVS128\r\n#Start-Time: 2017-01-01\r\n"
                  b"#!END-HEADER\r\n")
AEDAT20_HEADER = (b"#!AER-DAT2.0\r\n# This is a raw AE data file - do not edit\r\n"
                  b"# Data format is int32 address, int32 timestamp (8 bytes total), "
                  b"repeated for each event\r\n"
                  b"# Timestamps tick is 1 us\r\n")


def one_line(err: pytest.ExceptionInfo) -> str:
    """The message of a user error: a :class:`SnnasError`, one non-empty line, no chained traceback."""
    exc = err.value
    msg = str(exc)
    assert isinstance(exc, SnnasError) and msg and "\n" not in msg
    assert exc.__cause__ is None and (exc.__context__ is None or exc.__suppress_context__)
    return msg


def idx_bytes(arr: np.ndarray) -> bytes:
    arr = np.asarray(arr, dtype=np.uint8)
    magic = 0x0800 | arr.ndim  # unsigned byte data
    return magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in arr.shape) + arr.tobytes()


def write_idx_set(folder: Path, images: dict[str, np.ndarray], labels: dict[str, np.ndarray],
                  gz: bool) -> None:
    """MNIST-style files: {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]."""
    folder.mkdir(parents=True, exist_ok=True)
    for prefix in ("train", "t10k"):
        for kind, arr in (("images-idx3", images[prefix]), ("labels-idx1", labels[prefix])):
            data = idx_bytes(arr)
            name = f"{prefix}-{kind}-ubyte"
            if gz:
                (folder / f"{name}.gz").write_bytes(gzip.compress(data, mtime=0))
            else:
                (folder / name).write_bytes(data)


def write_pickle(path: Path, obj: object, protocol: int = 2) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=protocol)


def cifar_batch(data: np.ndarray, labels: Sequence[int], label_key: str = "labels") -> dict:
    """The dict structure of a CIFAR batch as the original files hold it (bytes keys)."""
    return {b"batch_label": b"testing batch", label_key.encode(): list(labels),
            b"data": np.asarray(data, dtype=np.uint8), b"filenames": [b"x.png"] * len(labels)}


def aedat31_packet(events: Iterable[tuple[int, int, int, int, int]], overflow: int = 0, etype: int = 1,
                   size: int = 8) -> bytes:
    """One packet; ``events`` are (x, y, p, ts, valid). Non-polarity packets get ``size`` zero bytes each."""
    events = list(events)
    head = struct.pack("<hhiiiiii", etype, 1, size, 4, overflow, len(events), len(events), len(events))
    if etype != 1:
        return head + bytes(size * len(events))
    body = b"".join(struct.pack("<Ii", (x << 17) | (y << 2) | (p << 1) | v, ts) for x, y, p, ts, v in events)
    return head + body


def write_aedat31(path: Path, packets: Sequence[bytes]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(AEDAT31_HEADER + b"".join(packets))


def write_aedat20(path: Path, events: Iterable[tuple[int, int, int, int]]) -> None:
    """jAER DVS128 records; ``events`` are camera (x, y, polarity, t)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    body = b"".join(struct.pack(">II", (y << 8) | (x << 1) | p, t) for x, y, p, t in events)
    path.write_bytes(AEDAT20_HEADER + body)


def write_atis(path: Path, events: Iterable[tuple[int, int, int, int]]) -> None:
    """N-MNIST 40-bit records; ``events`` are (x, y, p, t) with a 23-bit t."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(bytes([x, y, (p << 7) | ((t >> 16) & 0x7F), (t >> 8) & 0xFF, t & 0xFF])
                              for x, y, p, t in events))
