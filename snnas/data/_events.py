"""Numpy readers for event-camera files and their integration into two-polarity frames.

Each reader returns a dict of equal-length arrays ``t`` (µs, int64), ``x``, ``y`` (int64) and ``p`` (0/1,
int8), the same keys spikingjelly uses, and every reader follows spikingjelly 2.0's conventions so that
frame caches built by either tool hold the same numbers.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from snnas.errors import DatasetError

__all__ = ["read_aedat31", "read_aedat20", "read_atis_bin", "events_to_frames", "SPLIT_MODES"]

Events = dict[str, np.ndarray]
SPLIT_MODES = ("number", "time")

_AEDAT31_END = b"#!END-HEADER\r\n"
# type, source, size, TS offset, TS overflow, capacity, number, valid
_PACKET_HEADER = struct.Struct("<hhiiiiii")
_POLARITY_EVENT = 1


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        raise DatasetError(f"{path}: cannot read ({e.strerror or e})") from None


def _events(t: np.ndarray, x: np.ndarray, y: np.ndarray, p: np.ndarray) -> Events:
    return {"t": t.astype(np.int64), "x": x.astype(np.int64), "y": y.astype(np.int64), "p": p.astype(np.int8)}


def read_aedat31(path: str | Path) -> Events:
    """Polarity events of an AEDAT 3.1 file (DVS128 Gesture).

    Layout: ``#`` text header lines up to ``#!END-HEADER\\r\\n``, then packets of a 28-byte little-endian
    header followed by ``eventNumber * eventSize`` bytes (files always store ``eventCapacity ==
    eventNumber``). A polarity event (type 1) is a uint32 (bit 0 valid, bit 1 polarity, bits 2-16 y, bits
    17-31 x) and an int32 timestamp; the full timestamp is ``(eventTSOverflow << 31) | ts``. Events whose
    valid bit is clear are dropped, as the format asks; other event types are skipped.
    """
    path = Path(path)
    raw = _read(path)
    if not raw.startswith(b"#!AER-DAT3"):
        raise DatasetError(f"{path}: wrong magic: an AEDAT 3.1 file starts with '#!AER-DAT3.1', "
                           f"found {raw[:12]!r}")
    end = raw.find(_AEDAT31_END)
    if end < 0:
        raise DatasetError(f"{path}: truncated AEDAT 3.1 header (no '#!END-HEADER' line)")
    pos = end + len(_AEDAT31_END)
    parts: list[tuple[np.ndarray, np.ndarray]] = []
    while pos < len(raw):
        if pos + _PACKET_HEADER.size > len(raw):
            raise DatasetError(f"{path}: truncated AEDAT 3.1 file (partial packet header at byte {pos})")
        etype, _src, esize, _tsoff, overflow, _cap, number, _valid = _PACKET_HEADER.unpack_from(raw, pos)
        pos += _PACKET_HEADER.size
        if esize <= 0 or number < 0:
            raise DatasetError(f"{path}: corrupt AEDAT 3.1 packet header at byte {pos - 28} "
                               f"(eventSize={esize}, eventNumber={number})")
        nbytes = number * esize
        if pos + nbytes > len(raw):
            raise DatasetError(f"{path}: truncated AEDAT 3.1 file (packet at byte {pos - 28} needs {nbytes} "
                               f"bytes, {len(raw) - pos} left)")
        if etype == _POLARITY_EVENT and number:
            if esize < 8:
                raise DatasetError(f"{path}: corrupt polarity packet (eventSize={esize}, expected 8)")
            # A strided view reads the (data, ts) pair of each event even if eventSize pads it beyond 8 bytes.
            rec = np.ndarray((number,), dtype=np.dtype([("data", "<u4"), ("ts", "<i4")]), buffer=raw,
                             offset=pos, strides=(esize,))
            keep = (rec["data"] & 1).astype(bool)
            ts = (np.int64(overflow) << 31) | rec["ts"][keep].astype(np.int64)
            parts.append((rec["data"][keep], ts))
        pos += nbytes
    data = np.concatenate([d for d, _ in parts]) if parts else np.zeros(0, np.uint32)
    t = np.concatenate([ts for _, ts in parts]) if parts else np.zeros(0, np.int64)
    return _events(t, (data >> 17) & 0x7FFF, (data >> 2) & 0x7FFF, (data >> 1) & 1)


def read_aedat20(path: str | Path, *, cifar10_dvs: bool = True) -> Events:
    """Events of a jAER AEDAT 2.0 file from a DVS128 camera (CIFAR10-DVS).

    Layout: ``#`` text header lines (the first is ``#!AER-DAT2.0``), then big-endian records of a uint32
    address and a uint32 timestamp (µs). For the DVS128 the camera's own coordinates are
    ``x = (addr >> 1) & 0x7F``, ``y = (addr >> 8) & 0x7F``, ``polarity = addr & 1``.

    With ``cifar10_dvs=True`` (the default) the result follows spikingjelly's CIFAR10-DVS reader exactly:
    ``x = 127 - y_cam``, ``y = 127 - x_cam`` and ``p = 1 - polarity``, which turns the recordings upright
    (they were filmed off a monitor with the sensor rotated). With ``False`` the camera coordinates are
    returned unchanged.
    """
    path = Path(path)
    raw = _read(path)
    if not raw.startswith(b"#!AER-DAT2"):
        raise DatasetError(f"{path}: wrong magic: a jAER AEDAT 2.0 file starts with '#!AER-DAT2.0', "
                           f"found {raw[:12]!r}")
    pos = 0
    while raw.startswith(b"#", pos):  # the binary part never starts with '#': DVS128 addresses are < 2**15
        nl = raw.find(b"\n", pos)
        if nl < 0:
            raise DatasetError(f"{path}: truncated AEDAT 2.0 header (no end of line)")
        pos = nl + 1
    body = len(raw) - pos
    if body % 8:
        raise DatasetError(f"{path}: truncated AEDAT 2.0 file ({body} bytes of events is not a whole number "
                           "of 8-byte records)")
    rec = np.frombuffer(raw, dtype=">u4", offset=pos).reshape(-1, 2)
    addr, t = rec[:, 0], rec[:, 1]
    x_cam, y_cam, pol = (addr >> 1) & 0x7F, (addr >> 8) & 0x7F, addr & 1
    if cifar10_dvs:
        x_cam, y_cam, pol = x_cam.astype(np.int64), y_cam.astype(np.int64), pol.astype(np.int64)
        return _events(t, 127 - y_cam, 127 - x_cam, 1 - pol)
    return _events(t, x_cam, y_cam, pol)


def read_atis_bin(path: str | Path) -> Events:
    """Events of an N-MNIST ATIS ``.bin`` file.

    Each event is 5 bytes: x, y, then a byte whose bit 7 is the polarity and whose bits 0-6 are the top of
    a 23-bit timestamp completed by the last two bytes, ``((b2 & 0x7F) << 16) | (b3 << 8) | b4`` (µs).
    """
    path = Path(path)
    raw = _read(path)
    if len(raw) % 5:
        raise DatasetError(f"{path}: truncated ATIS file ({len(raw)} bytes is not a whole number of 5-byte "
                           "events)")
    b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 5).astype(np.int64)
    t = ((b[:, 2] & 0x7F) << 16) | (b[:, 3] << 8) | b[:, 4]
    return _events(t, b[:, 0], b[:, 1], b[:, 2] >> 7)


def _frame_of_each_event(t: np.ndarray, T: int, split_by: str) -> np.ndarray:
    n = t.size
    if split_by == "number":
        # Frames j < T-1 hold events [j*(n//T), (j+1)*(n//T)); the last frame also takes the remainder.
        di = n // T
        frame = np.full(n, T - 1, dtype=np.int64)
        if di:
            frame[: di * (T - 1)] = np.arange(di * (T - 1)) // di
        return frame
    if split_by == "time":
        # Frames j < T-1 hold t in [t0 + j*dt, t0 + (j+1)*dt) with dt = (t_last - t0) // T; the last frame
        # takes the rest, as in spikingjelly (which fails on an empty window, where we leave the frame empty).
        dt = (t[-1] - t[0]) // T
        edges = t[0] + dt * np.arange(1, T, dtype=np.int64)
        return np.searchsorted(edges, t, side="right")
    raise AssertionError(split_by)  # events_to_frames validated it


def events_to_frames(events: Events, T: int, split_by: str, H: int, W: int, *,
                     source: str = "events") -> np.ndarray:
    """Integrate events into ``[T, 2, H, W]`` float32 frames of event counts.

    Channel 0 counts polarity-0 (OFF) events and channel 1 polarity-1 (ON) events; rows are ``y`` and
    columns ``x``. ``split_by="number"`` gives each frame an equal number of events, ``split_by="time"``
    an equal duration; both match spikingjelly's ``integrate_events_by_fixed_frames_number`` on
    time-ordered events. Two deliberate differences: with ``"time"``, out-of-order events are sorted by
    time first, and a window holding no events gives an empty frame (spikingjelly raises an IndexError).

    Example:
        >>> ev = {"t": np.array([0, 1, 2, 3]), "x": np.array([0, 1, 0, 1]), "y": np.array([0, 0, 1, 1]),
        ...       "p": np.array([1, 0, 1, 1])}
        >>> events_to_frames(ev, 2, "number", 2, 2)[1, 1].tolist()
        [[0.0, 0.0], [1.0, 1.0]]
    """
    if not isinstance(T, int) or isinstance(T, bool) or T < 1:
        raise DatasetError(f"T must be a positive integer number of frames (got {T!r})")
    if split_by not in SPLIT_MODES:
        raise DatasetError(f"split_by must be one of {', '.join(SPLIT_MODES)} (got {split_by!r})")
    t, x, y, p = (np.asarray(events[k]) for k in ("t", "x", "y", "p"))
    frames = np.zeros((T, 2, H, W), dtype=np.float32)
    if t.size == 0:
        return frames
    if split_by == "time" and np.any(np.diff(t) < 0):
        order = np.argsort(t, kind="stable")  # equal-duration windows need time order
        t, x, y, p = t[order], x[order], y[order], p[order]
    if x.min() < 0 or y.min() < 0 or x.max() >= W or y.max() >= H:
        raise DatasetError(f"{source}: event coordinates out of range (x in {x.min()}..{x.max()}, y in "
                           f"{y.min()}..{y.max()}; the sensor is {W}x{H}); wrong file format?")
    frame = _frame_of_each_event(t, T, split_by)
    flat = ((frame * 2 + (p != 0)) * H + y) * W + x
    # bincount accumulates repeated pixels, which a fancy-indexed += would silently drop.
    frames.reshape(-1)[:] = np.bincount(flat, minlength=T * 2 * H * W)
    return frames
