"""``snnas datasets``: table and JSON listings, with and without a data folder."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
from typer.testing import CliRunner

from snnas.cli import app
from tests.data._data_writers import write_idx_set


def test_datasets_json_lists_fashion_mini_available(tmp_path):
    result = CliRunner().invoke(app, ["datasets", "--json", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    assert rows["fashion-mini"]["available"] and rows["fashion-mini"]["default"]
    assert not rows["mnist"]["available"] and str(tmp_path) in rows["mnist"]["looked"]
    assert rows["dvs128-gesture"]["T"] == 16 and rows["dvs128-gesture"]["shape"] == [2, 128, 128]


def test_datasets_sees_a_data_dir(tmp_path):
    arr = {"train": np.zeros((2, 28, 28), np.uint8), "t10k": np.zeros((1, 28, 28), np.uint8)}
    labels = {"train": np.array([0, 1], np.uint8), "t10k": np.array([2], np.uint8)}
    write_idx_set(tmp_path / "mnist", arr, labels, gz=True)
    result = CliRunner().invoke(app, ["datasets", "--json", "--data-dir", str(tmp_path)])
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    assert rows["mnist"]["available"] and rows["mnist"]["location"] == str(tmp_path / "mnist")


def test_datasets_table_via_console_script(tmp_path):
    out = subprocess.run([sys.executable, "-m", "snnas", "datasets", "--data-dir",
                          str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "fashion-mini" in out.stdout and "n-mnist" in out.stdout and "Traceback" not in out.stderr
