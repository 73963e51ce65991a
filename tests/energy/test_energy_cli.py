from __future__ import annotations

import json
import math
import subprocess
import sys


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "snnas", "energy", *args], capture_output=True, text=True,
                          timeout=300)


def test_energy_json_on_fashion_mini_rows_sum_to_total():
    r = run("--model", "test_sssa_v2", "--dataset", "fashion-mini", "--batch", "8", "--json")
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert math.isclose(sum(row["energy_pj"] for row in rep["layers"]) * 1e-6, rep["total_uj"], rel_tol=1e-12)
    p = rep["provenance"]
    assert p["data"].startswith("fashion-mini test[:8]") and p["profile"]["name"] == "cmos45"
    assert p["config"]["in_channels"] == 1  # adapted to the dataset
    assert p["versions"]["spikingjelly"].startswith("2.")


def test_energy_table_and_profile(tmp_path):
    r = run("--model", "test_ssa", "--batch", "4", "--profile", "loihi")
    assert r.returncode == 0, r.stderr
    assert "blocks.0.attn" in r.stdout and "total" in r.stdout and "profile loihi" in r.stdout


def test_energy_from_config_file(tmp_path):
    from snnas.models import get_config

    f = tmp_path / "arch.json"
    f.write_text(get_config("test_sdsa").to_json())
    r = run("--config", str(f), "--batch", "4", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["provenance"]["config"]["attention"] == "sdsa"


def test_energy_bad_input_is_one_line():
    for args in (("--model", "nope"), ("--model", "test_ssa", "--config", "x.json"), ("--config", "missing.json"),
                 ("--model", "test_ssa", "--profile", "cmos99"), ("--model", "test_ssa", "--dataset", "cifar10",
                                                                  "--data-dir", "/nonexistent")):
        r = run(*args)
        assert r.returncode == 2, (args, r.stderr)
        assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, (args, r.stderr)
