"""Event-camera datasets: DVS128 Gesture, CIFAR10-DVS and N-MNIST, integrated into ``[T, 2, H, W]`` frames.

Frames are cached under the dataset root in spikingjelly 2.0's layout, so either tool can reuse the other's
cache: ``root/frames_number_{T}_split_by_{number|time}/{train,test}/<label>/<sample>.npz`` (CIFAR10-DVS,
which has no official split, keeps spikingjelly's ``.../<class>/<sample>.npz`` and is split when loaded).
Each file is written with ``np.savez_compressed`` under the key ``frames`` and read with
``allow_pickle=False``. A cache folder is built under a temporary name and renamed when complete, so an
interrupted build is never mistaken for a finished one.

Importing this module registers the datasets; numpy and the event readers load inside the loaders, so that
``snnas datasets`` (which only locates files) answers without them.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from snnas.data._registry import Location, RawSplit, files_locator, register_dataset
from snnas.data._static import CIFAR10_CLASSES, DIGITS
from snnas.errors import DatasetError

if TYPE_CHECKING:
    import numpy as np

    from snnas.data._events import Events

__all__ = ["GESTURE_CLASSES", "frames_dir"]

GESTURE_CLASSES = ("hand_clapping", "right_hand_wave", "left_hand_wave", "right_arm_clockwise",
                   "right_arm_counter_clockwise", "left_arm_clockwise", "left_arm_counter_clockwise",
                   "arm_roll", "air_drums", "air_guitar", "other_gestures")


def frames_dir(root: Path, T: int, split_by: str) -> Path:
    """The spikingjelly-compatible cache folder for ``T`` frames split by ``split_by``."""
    from snnas.data._events import SPLIT_MODES

    if not isinstance(T, int) or isinstance(T, bool) or T < 1:
        raise DatasetError(f"T must be a positive integer number of frames (got {T!r})")
    if split_by not in SPLIT_MODES:
        raise DatasetError(f"split_by must be one of {', '.join(SPLIT_MODES)} (got {split_by!r})")
    return root / f"frames_number_{T}_split_by_{split_by}"


def _save_frames(path: Path, frames: np.ndarray) -> None:
    import numpy as np

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:  # a file object: np.savez_compressed would append ".npz" to a bare name
        np.savez_compressed(f, frames=frames)


def _build_once(final: Path, build: Callable[[Path], None]) -> None:
    """Run ``build(tmp)`` into a temporary sibling folder, then rename it to ``final``."""
    if final.is_dir():
        return
    tmp = final.parent / f".{final.name}.partial-{os.getpid()}"
    try:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        build(tmp)
        if final.is_dir():  # another process finished first; its copy is as good as ours
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.rename(final)
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise DatasetError(f"cannot write the frame cache {final} ({e.strerror or e})") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _run(jobs: Iterable[Callable[[], None]], workers: int | None) -> None:
    # Decoding and zlib release the GIL for most of their time, so threads give a real speed-up here.
    jobs = list(jobs)
    n = workers if workers is not None else min(8, os.cpu_count() or 1)
    if n <= 1 or len(jobs) <= 1:
        for job in jobs:
            job()
        return
    with ThreadPoolExecutor(max_workers=n) as pool:
        for fut in [pool.submit(job) for job in jobs]:
            fut.result()


def _labelled_files(folder: Path, classes: tuple[str, ...]) -> tuple[list[Path], np.ndarray]:
    """Cached samples of ``folder/<class>/*.npz``, in class order then file name order."""
    import numpy as np

    files: list[Path] = []
    labels: list[int] = []
    for label, cls in enumerate(classes):
        found = sorted((folder / cls).glob("*.npz")) if (folder / cls).is_dir() else []
        files += found
        labels += [label] * len(found)
    if not files:
        raise DatasetError(f"{folder}: no samples found (expected <label>/*.npz); delete it to rebuild it")
    return files, np.asarray(labels, dtype=np.int64)


def _subset(sub: Events, mask: np.ndarray) -> Events:
    return {k: v[mask] for k, v in sub.items()}


# ------------------------------------------------------------------------------------------ DVS128 Gesture
_GESTURE_DIRS = tuple(str(i) for i in range(11))


def _gesture_labels(path: Path) -> np.ndarray:
    import numpy as np

    try:
        rows = np.loadtxt(path, dtype=np.int64, delimiter=",", skiprows=1, ndmin=2)
    except (OSError, ValueError) as e:
        raise DatasetError(f"{path}: not a DVS128 Gesture label file (class,startTime_usec,endTime_usec): "
                           f"{e}".replace("\n", " ")) from None
    if rows.size and (rows.shape[1] != 3 or rows[:, 0].min() < 1 or rows[:, 0].max() > 11):
        raise DatasetError(f"{path}: expected rows 'class,startTime_usec,endTime_usec' with class 1..11")
    return rows


def _gesture_trial(aedat: Path, csv: Path, out: Path, T: int, split_by: str) -> None:
    from snnas.data._events import events_to_frames, read_aedat31

    events = read_aedat31(aedat)
    per_label = [0] * 11  # a trial may hold a class twice (user26_fluorescent): number the segments
    for cls, start, end in _gesture_labels(csv):
        label = int(cls) - 1
        seg = _subset(events, (events["t"] >= start) & (events["t"] < end))
        frames = events_to_frames(seg, T, split_by, 128, 128, source=str(aedat))
        _save_frames(out / str(label) / f"{aedat.stem}_{per_label[label]}.npz", frames)
        per_label[label] += 1


@register_dataset("dvs128-gesture", kind="event", shape=(2, 128, 128), classes=GESTURE_CLASSES, hflip=False,
                  default_T=16, options={"workers": None},
                  locate=files_locator("dvs128-gesture", ["trials_to_train.txt", "trials_to_test.txt"],
                                       ("", "DvsGesture", "extract/DvsGesture")))
def _dvs128_gesture(loc: Location, split: str, *, T: int, split_by: str, workers: int | None) -> RawSplit:
    """IBM DVS128 Gesture (AEDAT 3.1), 11 classes; spikingjelly's 1,176 train / 288 test samples.

    Sample convention (spikingjelly's, also snnTorch's): every row of ``userNN_<lighting>_labels.csv`` is
    one sample, the events with ``startTime_usec <= t < endTime_usec`` of that trial, with label
    ``class - 1``; trials are assigned to train/test by ``trials_to_train.txt`` / ``trials_to_test.txt``.
    Horizontal flips are off: they would swap the left- and right-hand gestures.
    """
    assert loc.path is not None and loc.root is not None
    cache = frames_dir(loc.root, T, split_by) / split
    if not cache.is_dir():
        listing = loc.path / f"trials_to_{split}.txt"
        trials = [ln.strip() for ln in listing.read_text(encoding="utf-8", errors="replace").splitlines()
                  if ln.strip()]
        pairs = [(loc.path / t, loc.path / f"{Path(t).stem}_labels.csv") for t in trials]
        missing = [p.name for pair in pairs for p in pair if not p.is_file()]
        if missing:
            more = f" and {len(missing) - 4} more" if len(missing) > 4 else ""
            raise DatasetError(f"dvs128-gesture: {listing.name} lists files missing from {loc.path}: "
                               f"{', '.join(missing[:4])}{more}")
        def build(tmp: Path) -> None:
            _run([lambda a=a, c=c: _gesture_trial(a, c, tmp, T, split_by) for a, c in pairs], workers)

        _build_once(cache, build)
    files, labels = _labelled_files(cache, _GESTURE_DIRS)
    return RawSplit(files, labels, (T, 2, 128, 128))


# ------------------------------------------------------------------------------------------ CIFAR10-DVS
def _cifar10_dvs_file(aedat: Path, out: Path, T: int, split_by: str) -> None:
    from snnas.data._events import events_to_frames, read_aedat20

    frames = events_to_frames(read_aedat20(aedat), T, split_by, 128, 128, source=str(aedat))
    _save_frames(out / aedat.parent.name / f"{aedat.stem}.npz", frames)


@register_dataset("cifar10-dvs", kind="event", shape=(2, 128, 128), classes=CIFAR10_CLASSES, default_T=10,
                  options={"split_seed": 0, "train_ratio": 0.9, "workers": None},
                  locate=files_locator("cifar10-dvs", CIFAR10_CLASSES, ("", "extract"),
                                       expected="10 class folders (airplane, ..., truck) of *.aedat files"))
def _cifar10_dvs(loc: Location, split: str, *, T: int, split_by: str, split_seed: int, train_ratio: float,
                 workers: int | None) -> RawSplit:
    """CIFAR10-DVS (jAER AEDAT 2.0), 10 classes; seeded 9:1 train/test split of every class.

    Events are decoded as spikingjelly does (``x = 127 - y_cam``, ``y = 127 - x_cam``, ``p = 1 - pol``).
    The dataset has no official split: ``split_seed`` picks a random ``train_ratio`` of each class's files
    for training (the test split is the rest), independently of the ``fraction`` subset's ``seed``.
    """
    import numpy as np

    assert loc.path is not None and loc.root is not None
    if not 0.0 < train_ratio < 1.0:
        raise DatasetError(f"cifar10-dvs: train_ratio must be in (0, 1) (got {train_ratio!r})")
    cache = frames_dir(loc.root, T, split_by)
    if not cache.is_dir():
        sources = [f for c in CIFAR10_CLASSES for f in sorted((loc.path / c).glob("*.aedat"))]
        if not sources:
            raise DatasetError(f"cifar10-dvs: no *.aedat files in the class folders under {loc.path}")

        def build(tmp: Path) -> None:
            for c in CIFAR10_CLASSES:
                (tmp / c).mkdir()
            _run([lambda f=f: _cifar10_dvs_file(f, tmp, T, split_by) for f in sources], workers)

        _build_once(cache, build)
    files, labels = _labelled_files(cache, CIFAR10_CLASSES)
    rng = np.random.default_rng(split_seed)
    keep: list[int] = []
    for c in range(len(CIFAR10_CLASSES)):
        members = np.flatnonzero(labels == c)
        perm = members[rng.permutation(members.size)]
        n_test = max(1, round(members.size * (1 - train_ratio))) if members.size > 1 else 0
        keep += sorted((perm[n_test:] if split == "train" else perm[:n_test]).tolist())
    return RawSplit([files[i] for i in keep], labels[keep], (T, 2, 128, 128))


# ------------------------------------------------------------------------------------------ N-MNIST
def _nmnist_file(src: Path, out: Path, T: int, split_by: str) -> None:
    from snnas.data._events import events_to_frames, read_atis_bin

    frames = events_to_frames(read_atis_bin(src), T, split_by, 34, 34, source=str(src))
    _save_frames(out / src.parent.name / f"{src.stem}.npz", frames)


@register_dataset("n-mnist", kind="event", shape=(2, 34, 34), classes=DIGITS, hflip=False, default_T=10,
                  options={"workers": None},
                  locate=files_locator("n-mnist", ["Train", "Test"], ("", "extract"),
                                       expected="Train/<digit>/*.bin and Test/<digit>/*.bin"))
def _n_mnist(loc: Location, split: str, *, T: int, split_by: str, workers: int | None) -> RawSplit:
    """N-MNIST (ATIS .bin, 34x34 saccades over MNIST digits), 60,000 train / 10,000 test."""
    assert loc.path is not None and loc.root is not None
    cache = frames_dir(loc.root, T, split_by) / split
    if not cache.is_dir():
        src_dir = loc.path / ("Train" if split == "train" else "Test")
        sources = [f for d in DIGITS for f in sorted((src_dir / d).glob("*.bin"))]
        if not sources:
            raise DatasetError(f"n-mnist: no .bin files in {src_dir}/<digit>/ (expected folders 0..9)")
        def build(tmp: Path) -> None:
            _run([lambda f=f: _nmnist_file(f, tmp, T, split_by) for f in sources], workers)

        _build_once(cache, build)
    files, labels = _labelled_files(cache, DIGITS)
    return RawSplit(files, labels, (T, 2, 34, 34))
