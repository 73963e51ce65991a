"""Event readers (AEDAT 3.1, AEDAT 2.0, ATIS .bin), frame integration and the three event datasets."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from snnas.data import (
    FrameFileDataset,
    TensorDataset,
    create_dataset,
    dataset_info,
    events_to_frames,
    read_aedat20,
    read_aedat31,
    read_atis_bin,
)
from snnas.data._static import CIFAR10_CLASSES
from snnas.errors import DatasetError
from tests.data._data_writers import aedat31_packet, one_line, write_aedat20, write_aedat31, write_atis


def _nonzero(frames: np.ndarray) -> dict[tuple[int, ...], float]:
    return {tuple(int(i) for i in idx): float(frames[tuple(idx)]) for idx in np.argwhere(frames)}


# ------------------------------------------------------------------------------------------ readers
def test_aedat31_decodes_packets(tmp_path):
    p = tmp_path / "a.aedat"
    write_aedat31(p, [
        aedat31_packet([(5, 7, 1, 100, 1), (127, 0, 0, 200, 1), (3, 3, 1, 250, 0)]),  # last one invalid
        aedat31_packet([(0, 0, 0, 0, 1)] * 2, etype=2, size=12),  # another event type: skipped
        aedat31_packet([(0, 127, 1, 5, 1)], overflow=1),
    ])
    ev = read_aedat31(p)
    assert ev["t"].tolist() == [100, 200, 2**31 + 5]
    assert ev["x"].tolist() == [5, 127, 0]
    assert ev["y"].tolist() == [7, 0, 127]
    assert ev["p"].tolist() == [1, 0, 1]


def test_aedat31_bad_input(tmp_path):
    p = tmp_path / "a.aedat"
    write_aedat31(p, [aedat31_packet([(1, 2, 1, 10, 1)] * 3)])
    p.write_bytes(p.read_bytes()[:-3])
    with pytest.raises(DatasetError) as err:
        read_aedat31(p)
    assert "truncated" in one_line(err)
    write_aedat20(p, [(1, 2, 1, 10)])  # an AEDAT 2.0 file where 3.1 is expected
    with pytest.raises(DatasetError) as err:
        read_aedat31(p)
    assert "wrong magic" in one_line(err)
    p.write_bytes(b"#!AER-DAT3.1\r\n#no end\r\n")
    with pytest.raises(DatasetError, match="END-HEADER"):
        read_aedat31(p)


def test_aedat20_cifar10_dvs_orientation(tmp_path):
    p = tmp_path / "c.aedat"
    write_aedat20(p, [(10, 20, 1, 5), (0, 127, 0, 9), (127, 0, 1, 2**32 - 1)])
    ev = read_aedat20(p)  # spikingjelly: x = 127 - y_cam, y = 127 - x_cam, p = 1 - pol
    assert ev["x"].tolist() == [107, 0, 127]
    assert ev["y"].tolist() == [117, 127, 0]
    assert ev["p"].tolist() == [0, 1, 0]
    assert ev["t"].tolist() == [5, 9, 2**32 - 1]
    raw = read_aedat20(p, cifar10_dvs=False)
    assert raw["x"].tolist() == [10, 0, 127] and raw["y"].tolist() == [20, 127, 0]
    assert raw["p"].tolist() == [1, 0, 1]


def test_aedat20_bad_input(tmp_path):
    p = tmp_path / "c.aedat"
    write_aedat20(p, [(1, 1, 1, 1), (2, 2, 0, 2)])
    p.write_bytes(p.read_bytes()[:-3])
    with pytest.raises(DatasetError) as err:
        read_aedat20(p)
    assert "truncated" in one_line(err)
    p.write_bytes(b"\x00\x00\x01\x02" * 4)
    with pytest.raises(DatasetError) as err:
        read_aedat20(p)
    assert "wrong magic" in one_line(err)


def test_atis_bin(tmp_path):
    p = tmp_path / "0.bin"
    write_atis(p, [(3, 4, 1, 0x7FFFFF), (33, 0, 0, 0x012345)])
    assert p.read_bytes()[:5] == bytes([3, 4, 0xFF, 0xFF, 0xFF])
    ev = read_atis_bin(p)
    assert ev["x"].tolist() == [3, 33] and ev["y"].tolist() == [4, 0]
    assert ev["p"].tolist() == [1, 0] and ev["t"].tolist() == [0x7FFFFF, 0x012345]
    p.write_bytes(p.read_bytes()[:-1])
    with pytest.raises(DatasetError) as err:
        read_atis_bin(p)
    assert "truncated" in one_line(err)


# ------------------------------------------------------------------------------------------ integration
EV = {"t": np.array([0, 1, 2, 3, 4, 5, 6, 10]), "x": np.array([0, 1, 2, 3, 0, 1, 2, 2]),
      "y": np.array([0, 0, 0, 0, 1, 1, 1, 1]), "p": np.array([1, 0, 1, 1, 0, 0, 1, 1])}


def test_frames_split_by_number():
    f = events_to_frames(EV, 3, "number", 4, 4)  # 8 // 3 = 2 events per frame, the last takes the rest
    assert f.shape == (3, 2, 4, 4) and f.dtype == np.float32
    assert _nonzero(f) == {(0, 1, 0, 0): 1, (0, 0, 0, 1): 1, (1, 1, 0, 2): 1, (1, 1, 0, 3): 1,
                           (2, 0, 1, 0): 1, (2, 0, 1, 1): 1, (2, 1, 1, 2): 2}


def test_frames_split_by_time():
    f = events_to_frames(EV, 3, "time", 4, 4)  # dt = 10 // 3 = 3: [0, 3), [3, 6), [6, ...)
    assert _nonzero(f) == {(0, 1, 0, 0): 1, (0, 0, 0, 1): 1, (0, 1, 0, 2): 1, (1, 1, 0, 3): 1,
                           (1, 0, 1, 0): 1, (1, 0, 1, 1): 1, (2, 1, 1, 2): 2}


def test_frames_edge_cases():
    few = {k: v[:2] for k, v in EV.items()}
    assert _nonzero(events_to_frames(few, 4, "number", 4, 4)) == {(3, 1, 0, 0): 1, (3, 0, 0, 1): 1}
    gap = {"t": np.array([0, 1, 100]), "x": np.array([0, 1, 2]), "y": np.zeros(3, int), "p": np.ones(3, int)}
    f = events_to_frames(gap, 4, "time", 4, 4)  # dt = 25: frames 1 and 2 are empty
    assert [f[i].sum() for i in range(4)] == [2, 0, 0, 1]
    empty = {k: v[:0] for k, v in EV.items()}
    assert events_to_frames(empty, 2, "time", 4, 4).sum() == 0
    with pytest.raises(DatasetError, match="out of range"):
        events_to_frames(EV, 2, "number", 4, 3)
    with pytest.raises(DatasetError, match="split_by"):
        events_to_frames(EV, 2, "bogus", 4, 4)


# ------------------------------------------------------------------------------------------ DVS128 Gesture
def _gesture_root(root):
    d = root / "DvsGesture"
    d.mkdir(parents=True)
    (d / "trials_to_train.txt").write_text("user01_fluorescent.aedat\n")
    (d / "trials_to_test.txt").write_text("user24_led.aedat\n\n")
    ts = [50, 100, 150, 199, 200, 250, 399, 400, 500, 550]
    write_aedat31(d / "user01_fluorescent.aedat", [
        aedat31_packet([(i, 2 * i, i % 2, t, 1) for i, t in enumerate(ts[:5])]),
        aedat31_packet([(i + 5, 2 * i + 10, (i + 5) % 2, t, 1) for i, t in enumerate(ts[5:])]),
    ])
    (d / "user01_fluorescent_labels.csv").write_text(
        "class,startTime_usec,endTime_usec\n1,100,200\n3,200,400\n1,500,600\n")
    write_aedat31(d / "user24_led.aedat", [aedat31_packet([(64, 64, 1, 10, 1), (65, 64, 0, 20, 1)])])
    (d / "user24_led_labels.csv").write_text("class,startTime_usec,endTime_usec\n11,0,100\n")
    return d


def test_dvs128_gesture_segments_frames_and_cache(tmp_path):
    d = _gesture_root(tmp_path)
    ds = create_dataset("dvs128-gesture", root=tmp_path, T=2)
    assert isinstance(ds, TensorDataset) and len(ds) == 3
    assert ds.targets.tolist() == [0, 0, 2]  # label dir 0: user01_fluorescent_0, _1; dir 2: _0
    cache = tmp_path / "frames_number_2_split_by_number" / "train"
    assert sorted(p.relative_to(cache).as_posix() for p in cache.rglob("*.npz")) == [
        "0/user01_fluorescent_0.npz", "0/user01_fluorescent_1.npz", "2/user01_fluorescent_0.npz"]
    with np.load(cache / "0" / "user01_fluorescent_0.npz", allow_pickle=False) as f:
        frames = f["frames"]
    # segment [100, 200): events 1, 2, 3 (x=i, y=2i, p=i%2); 3 // 2 = 1 event in frame 0, the rest in frame 1
    assert _nonzero(frames) == {(0, 1, 2, 1): 1, (1, 0, 4, 2): 1, (1, 1, 6, 3): 1}
    x, y = next(ds.batches(3))
    assert x.shape == (3, 2, 2, 128, 128) and torch.equal(x[0], torch.from_numpy(frames))
    test = create_dataset("dvs128-gesture", root=tmp_path, split="test", T=2)
    assert test.targets.tolist() == [10] and test[0][0].sum() == 2
    # The cache is reused: the source files are no longer needed for that T and split mode.
    (d / "user01_fluorescent.aedat").unlink()
    assert len(create_dataset("dvs128-gesture", root=tmp_path, T=2)) == 3
    assert dataset_info("dvs128-gesture", tmp_path)["available"]


def test_dvs128_gesture_missing_trial_files(tmp_path):
    d = _gesture_root(tmp_path)
    (d / "trials_to_train.txt").write_text("user01_fluorescent.aedat\nuser02_lab.aedat\n")
    with pytest.raises(DatasetError) as err:
        create_dataset("dvs128-gesture", root=tmp_path, T=2)
    msg = one_line(err)
    assert "user02_lab.aedat" in msg and "user02_lab_labels.csv" in msg and str(d) in msg


def test_dvs128_gesture_corrupt_file_leaves_no_cache(tmp_path):
    d = _gesture_root(tmp_path)
    raw = (d / "user01_fluorescent.aedat").read_bytes()
    (d / "user01_fluorescent.aedat").write_bytes(raw[:-5])
    with pytest.raises(DatasetError) as err:
        create_dataset("dvs128-gesture", root=tmp_path, T=2)
    assert "truncated" in one_line(err)
    assert not any((tmp_path / "frames_number_2_split_by_number").iterdir())


# ------------------------------------------------------------------------------------------ CIFAR10-DVS
def _cifar10_dvs_root(root, per_class=3):
    for c, name in enumerate(CIFAR10_CLASSES):
        for i in range(per_class):
            events = [(c, i, 1, 5), (c, i, 1, 6), (0, 0, 0, 9)]
            write_aedat20(root / name / f"cifar10_{name}_{i}.aedat", events)


def test_cifar10_dvs_split_and_frames(tmp_path):
    _cifar10_dvs_root(tmp_path)
    train = create_dataset("cifar10-dvs", root=tmp_path, T=1)
    test = create_dataset("cifar10-dvs", root=tmp_path, split="test", T=1)
    assert len(train) == 20 and len(test) == 10  # 9:1 of 3 files rounds to 2 train / 1 test per class
    assert torch.bincount(train.targets).tolist() == [2] * 10
    assert torch.bincount(test.targets).tolist() == [1] * 10
    k = int((train.targets == 3).nonzero()[0])
    x, y = train[k]
    assert y == 3 and x.shape == (1, 2, 128, 128)
    # camera (x=3, y=i, pol=1) twice -> x = 127 - i, y = 127 - 3, p = 0; camera (0, 0, 0) -> (127, 127), p = 1
    (row, col), = x[0, 0].nonzero().tolist()
    assert row == 124 and col in (125, 126, 127) and x[0, 0, row, col] == 2
    assert x[0, 1, 127, 127] == 1 and x.sum() == 3
    cache = tmp_path / "frames_number_1_split_by_number"
    names = sorted(p.name for p in (cache / "airplane").iterdir())
    assert names == [f"cifar10_airplane_{i}.npz" for i in range(3)]
    other = create_dataset("cifar10-dvs", root=tmp_path, split="test", T=1, split_seed=1)
    assert len(other) == 10
    again = create_dataset("cifar10-dvs", root=tmp_path, split="test", T=1)
    assert torch.equal(next(again.batches(10))[0], next(test.batches(10))[0])
    assert len(create_dataset("cifar10-dvs", root=tmp_path, T=1, fraction=0.5)) == 10


def test_cifar10_dvs_disjoint_split(tmp_path):
    _cifar10_dvs_root(tmp_path, per_class=4)
    tr = create_dataset("cifar10-dvs", root=tmp_path, T=1, split_seed=3, in_memory=False)
    te = create_dataset("cifar10-dvs", root=tmp_path, split="test", T=1, split_seed=3, in_memory=False)
    assert isinstance(tr, FrameFileDataset)
    assert not set(tr.files) & set(te.files) and len(tr.files) + len(te.files) == 40


def test_cifar10_dvs_missing_class_folder(tmp_path):
    _cifar10_dvs_root(tmp_path, per_class=1)
    for f in (tmp_path / "truck").iterdir():
        f.unlink()
    (tmp_path / "truck").rmdir()
    with pytest.raises(DatasetError) as err:
        create_dataset("cifar10-dvs", root=tmp_path, T=1)
    assert "truck" in one_line(err)


# ------------------------------------------------------------------------------------------ N-MNIST
def _nmnist_root(root):
    for split in ("Train", "Test"):
        for d in range(10):
            events = [(d, 0, 1, 0), (33, 33, 0, 1000), (d, 1, 1, 3000)]
            write_atis(root / split / str(d) / "00001.bin", events)


@pytest.mark.parametrize("split_by,expected", [("number", [1, 2]), ("time", [2, 1])])
def test_nmnist_frames(tmp_path, split_by, expected):
    _nmnist_root(tmp_path)
    ds = create_dataset("n-mnist", root=tmp_path, T=2, split_by=split_by)
    assert len(ds) == 10 and ds.targets.tolist() == list(range(10))
    x, y = ds[7]
    assert x.shape == (2, 2, 34, 34) and y == 7
    assert [int(x[t].sum()) for t in range(2)] == expected
    assert x[0, 1, 0, 7] == 1 and x[1, 1, 1, 7] == 1 and x[:, 0, 33, 33].sum() == 1
    assert (tmp_path / f"frames_number_2_split_by_{split_by}" / "train" / "7" / "00001.npz").is_file()
    lazy = create_dataset("n-mnist", root=tmp_path, T=2, split_by=split_by, in_memory=False)
    assert isinstance(lazy, FrameFileDataset)
    assert torch.equal(next(lazy.batches(10))[0], next(ds.batches(10))[0])


def test_nmnist_out_of_range_coordinates(tmp_path):
    _nmnist_root(tmp_path)
    write_atis(tmp_path / "Test" / "3" / "00002.bin", [(40, 0, 1, 0)])
    with pytest.raises(DatasetError) as err:
        create_dataset("n-mnist", root=tmp_path, split="test", T=2)
    assert "out of range" in one_line(err) and "00002.bin" in str(err.value)


def test_event_args_validated(tmp_path):
    _nmnist_root(tmp_path)
    with pytest.raises(DatasetError, match="split_by"):
        create_dataset("n-mnist", root=tmp_path, T=2, split_by="duration")
    with pytest.raises(DatasetError, match="T must be"):
        create_dataset("n-mnist", root=tmp_path, T=0)
