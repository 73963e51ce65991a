"""``snnas train`` on fashion-mini: end to end, exact resume (after a stop and after SIGKILL), one-line errors."""

from __future__ import annotations

import fcntl
import io
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from snnas.errors import SnnasError
from snnas.export import CHECKPOINT_FORMAT, export_trial, load_export, train
from snnas.export._full import recipe_data
from snnas.search import ProxyTrainer, load_space
from tests.export import STUDY, searched, snnas

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
TIMING = ("seconds", "seconds_this_run", "seconds_training", "resumed_from_epoch", "checkpoint", "config")


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> dict:
    """The cheapest front trial of a real edge_tiny search, exported, with its recipe cut to 1000 images."""
    root = searched(tmp_path_factory)
    path = export_trial(STUDY, pick="min-energy", studies_dir=root / "studies",
                        out=tmp_path_factory.mktemp("export") / "cheapest.json")
    doc = json.loads(path.read_text())
    doc["recipe"]["max_train_images"] = 1000  # an edit the format allows: keeps every epoch about a second
    return doc


def variant(doc: dict, folder: Path, name: str, **recipe) -> Path:
    d = json.loads(json.dumps(doc))
    d["recipe"].update(recipe)
    path = folder / name
    path.write_text(json.dumps(d, indent=2))
    return path


def same_run(a: dict, b: dict) -> None:
    """Two results of the same recipe agree exactly (timings aside)."""
    strip = lambda r: {k: v for k, v in r.items() if k not in TIMING}  # noqa: E731
    hist = lambda r: [{k: v for k, v in h.items() if k != "seconds"} for h in r["history"]]  # noqa: E731
    assert hist(a) == hist(b)
    assert {k: v for k, v in strip(a).items() if k != "history"} == {k: v for k, v in strip(b).items()
                                                                     if k != "history"}


def same_weights(a: Path, b: Path) -> None:
    ca, cb = (torch.load(p, map_location="cpu", weights_only=True) for p in (a, b))
    assert ca["model"].keys() == cb["model"].keys()
    for k in ca["model"]:
        assert torch.equal(ca["model"][k], cb["model"][k]), k
    for i, s in ca["optimizer"]["state"].items():
        for k, v in s.items():
            assert torch.equal(v, cb["optimizer"]["state"][i][k]), (i, k)


def one_line(e: pytest.ExceptionInfo) -> str:
    text = str(e.value)
    assert text and "\n" not in text
    return text


def test_cli_trains_one_epoch_end_to_end(tmp_path, exported):
    cfg = variant(exported, tmp_path, "run.json")
    r = snnas(tmp_path, "train", "run.json", "--epochs", "1", "--quiet", "--threads", "1")
    assert r.returncode == 0, r.stderr[-3000:]
    out = tmp_path / "run.train"  # default: next to the config
    res = json.loads((out / "result.json").read_text())
    arch, recipe, _ = load_export(cfg)
    assert res["arch_id"] == arch.id == exported["arch_id"]
    assert res["epochs"] == 1 and res["recipe"] == {**recipe, "epochs": 1}
    assert res["images"]["train"] + res["images"]["val"] == 1000 and res["images"]["test"] == 1000
    assert len(res["history"]) == 1 and res["history"][0]["lr_end"] == pytest.approx(0.0, abs=1e-12)  # cosine end
    assert 0 <= res["val_accuracy"] <= 1 and 0 <= res["test_accuracy"] <= 1
    assert res["energy_uj"] == res["energy_report"]["total_uj"] > 0
    assert "test" in res["energy_report"]["provenance"]["data"]
    assert res["search"]["val_accuracy"] == exported["search"]["val_accuracy"]
    assert "epoch 1/1:" in r.stdout and f"test accuracy {res['test_accuracy']:.4f}" in r.stdout
    ckpt = torch.load(out / "checkpoint.pt", map_location="cpu", weights_only=True)
    assert ckpt["format"] == CHECKPOINT_FORMAT and ckpt["epoch"] == 1 and ckpt["arch_id"] == arch.id
    # another recipe on the same folder is refused with one line naming the difference, not a traceback
    r = snnas(tmp_path, "train", "run.json", "--epochs", "3", "--quiet")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "belongs to another run" in r.stderr and "epochs 1 -> 3" in r.stderr and "delete" in r.stderr


def test_stop_and_resume_gives_the_uninterrupted_result(tmp_path, exported, capsys):
    cfg = variant(exported, tmp_path, "two.json", epochs=2)
    straight = train(cfg, out_dir=tmp_path / "a", quiet=True, threads=1)
    stopped = train(cfg, out_dir=tmp_path / "b", quiet=True, threads=1, stop_after_epoch=1)
    assert stopped["stopped_after_epoch"] == 1 and not (tmp_path / "b" / "result.json").exists()
    assert torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=True)["epoch"] == 1
    capsys.readouterr()
    resumed = train(cfg, out_dir=tmp_path / "b", quiet=True, threads=1)
    assert "resuming from epoch 1" in capsys.readouterr().out
    assert resumed["resumed_from_epoch"] == 1 and straight["resumed_from_epoch"] is None
    same_run(straight, resumed)
    same_weights(tmp_path / "a" / "checkpoint.pt", tmp_path / "b" / "checkpoint.pt")
    # a finished run re-run trains nothing and reports the same
    again = train(cfg, out_dir=tmp_path / "a", quiet=True, threads=1)
    assert again["resumed_from_epoch"] == 2
    same_run(straight, again)


@pytest.mark.slow  # fault injection with real processes; run by .ci/run (pytest -m slow)
def test_killed_run_resumes_to_the_uninterrupted_result(tmp_path, exported):
    cfg = variant(exported, tmp_path, "five.json", epochs=5)
    ckpt = tmp_path / "five.train" / "checkpoint.pt"
    cmd = [sys.executable, "-m", "snnas", "train", "five.json", "--quiet", "--threads", "1"]
    proc = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 300
        while not ckpt.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        _, err = proc.communicate()
    assert proc.returncode == -signal.SIGKILL, err[-2000:]
    assert not (tmp_path / "five.train" / "result.json").exists()
    k = torch.load(ckpt, map_location="cpu", weights_only=True)["epoch"]
    assert 1 <= k < 5
    r = snnas(tmp_path, "train", "five.json", "--quiet", "--threads", "1")
    assert r.returncode == 0, r.stderr[-3000:]
    assert f"resuming from epoch {k}" in r.stdout and "epoch 5/5:" in r.stdout and "epoch 1/5:" not in r.stdout
    resumed = json.loads((tmp_path / "five.train" / "result.json").read_text())
    assert resumed["resumed_from_epoch"] == k
    assert resumed["test_accuracy"] > 0.15  # it learns: chance is 0.1 (+-0.01 on 1000 test images)
    straight = train(cfg, out_dir=tmp_path / "ref", quiet=True, threads=1)
    same_run(straight, resumed)
    same_weights(tmp_path / "ref" / "checkpoint.pt", ckpt)


class _NotAllowed:  # weights_only loading refuses arbitrary classes
    pass


def test_checkpoint_problems_are_one_line_errors(tmp_path, exported):
    cfg = variant(exported, tmp_path, "c.json", epochs=2)
    out = tmp_path / "c.train"
    train(cfg, quiet=True, threads=1, stop_after_epoch=1)
    ckpt = out / "checkpoint.pt"
    good = ckpt.read_bytes()

    def fails(*needles: str, config: Path = cfg) -> None:
        with pytest.raises(SnnasError) as e:
            train(config, quiet=True, threads=1)
        msg = one_line(e)
        for n in needles:
            assert n in msg, msg
        assert not (out / "result.json").exists()

    with open(out / ".lock", "a") as f:  # a second process on the same folder (the lock of a live run)
        fcntl.flock(f, fcntl.LOCK_EX)
        fails("another `snnas train` is using")
    fails("belongs to another run", "lr 0.001 -> 0.0005", str(out),
          config=variant(exported, tmp_path, "c.json", epochs=2, lr=0.0005))
    cfg = variant(exported, tmp_path, "c.json", epochs=2)
    ckpt.write_bytes(b"not a checkpoint at all")
    fails("unreadable checkpoint", "delete")
    ckpt.write_bytes(good[: len(good) // 2])
    fails("unreadable checkpoint")
    torch.save({"format": CHECKPOINT_FORMAT, "model": _NotAllowed()}, ckpt)
    fails("unreadable checkpoint")
    torch.save({"format": CHECKPOINT_FORMAT, "epoch": 1}, ckpt)
    fails("not an snnas training checkpoint")
    # non-finite loss: stop with one line and keep the last good checkpoint untouched
    state = torch.load(io.BytesIO(good), weights_only=True)
    state["model"] = {k: v.fill_(float("nan")) if v.is_floating_point() else v for k, v in state["model"].items()}
    torch.save(state, ckpt)
    poisoned = ckpt.read_bytes()
    fails("non-finite loss", "epoch 2", "kept")
    assert ckpt.read_bytes() == poisoned


def test_validation_split_is_the_searchs(tmp_path, exported):
    """Full training validates on exactly the images the search validated on (same data seed and fraction)."""
    arch, recipe, _ = load_export(variant(exported, tmp_path, "v.json"))
    space = load_space("edge_tiny")
    searched_val = ProxyTrainer(space, device="cpu", threads=1, data_seed=0).data.validation(arch.T)
    full = {**recipe, "max_train_images": 0}
    ours = recipe_data(arch, full).validation(arch.T)
    assert full["data_seed"] == 0  # the search ran with --seed 0
    assert torch.equal(searched_val.data, ours.data) and torch.equal(searched_val.targets, ours.targets)
    other = ProxyTrainer(space, device="cpu", threads=1, data_seed=1).data.validation(arch.T)
    assert not torch.equal(other.targets, ours.targets) or not torch.equal(other.data, ours.data)


def test_dataset_override_and_missing_config(tmp_path, exported):
    with pytest.raises(SnnasError) as e:
        train(tmp_path / "nope.json", quiet=True)
    assert "export file not found" in one_line(e)
    cfg = variant(exported, tmp_path, "d.json")
    with pytest.raises(SnnasError) as e:
        train(cfg, dataset="fashion-minii", quiet=True)
    assert "fashion-mini" in one_line(e)  # the unknown name's error suggests the close one
    assert not (tmp_path / "d.train").exists()
