"""The CLI as a user runs it: a real subprocess, real exit codes, real output."""

from __future__ import annotations

import json
import subprocess
import sys


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "snnas", *args], capture_output=True, text=True, timeout=300)


def test_models_json_lists_family_with_params():
    r = run("models", "--json")
    assert r.returncode == 0, r.stderr
    rows = {row["name"]: row for row in json.loads(r.stdout)}
    assert {"snnvit_cifar", "snnvit_8_384", "snnvit_8_512", "snnvit_cifar10_dvs", "test_sssa_v2"} <= set(rows)
    cifar = rows["snnvit_cifar"]
    assert cifar["attention"] == "sssa" and cifar["T"] == 4 and cifar["width"] == 256 and cifar["depth"] == 3
    assert 5.0e6 < cifar["params"] < 6.5e6 and cifar["paper_params"] == 5.57e6
    assert rows["test_ssa"]["attention"] == "ssa"


def test_models_table_and_filter():
    r = run("models", "test_sssa*")
    assert r.returncode == 0, r.stderr
    assert "test_sssa_v1" in r.stdout and "snnvit_cifar" not in r.stdout


def test_unknown_model_is_one_line_exit_2():
    r = run("models", "snnvit_cifr")
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    assert r.stderr.strip().count("\n") == 0
    assert "unknown model 'snnvit_cifr'" in r.stderr and "snnvit_cifar" in r.stderr
