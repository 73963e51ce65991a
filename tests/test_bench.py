"""Every bench script runs from the installed package with one command and writes its JSON record.

Tiny arguments (edge_tiny, a few trials, one seed) so that the scripts cannot rot unnoticed; the numbers
themselves are measured by running the scripts with their defaults (docs/benchmarks.md), never asserted
here. ``slow``-marked: ``.ci/run`` runs them in its second pytest call.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"


def _run(tmp_path: Path, script: str, *args: str) -> dict:
    env = {**os.environ, "SNNAS_BENCH_DIR": str(tmp_path / "out")}
    r = subprocess.run([sys.executable, str(BENCH / script), *args], cwd=tmp_path, env=env, capture_output=True,
                       text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    assert "summary: " in r.stdout
    return r


def _record(tmp_path: Path, name: str) -> dict:
    data = json.loads((tmp_path / "out" / f"{name}.json").read_text())
    assert data["bench"] == name and data["rows"] and data["summary"]
    assert data["machine"]["cores"] >= 1 and data["machine"]["torch"]
    return data


def _record_analysis(tmp_path: Path) -> dict:
    data = json.loads((tmp_path / "out" / "reference_table.json").read_text())
    assert data["bench"] == "reference_table" and data["summary"]
    lines = (tmp_path / "out" / "reference_table.jsonl").read_text().splitlines()
    assert len(lines) == 2 * data["analysis"]["n"]  # a train and a scores row per architecture
    return data["analysis"]


@pytest.mark.slow
def test_throughput_and_mixer_scaling(tmp_path: Path) -> None:
    _run(tmp_path, "throughput.py", "--rounds", "1", "--steps", "2", "--dim", "16", "--no-fused")
    data = _record(tmp_path, "throughput")
    assert [r["model"] for r in data["rows"]] == ["snnas sssa", "snnas ssa", "spikingjelly Spikformer"]
    assert all(r["train_img_s"] > 0 for r in data["rows"]) and data["rows"][2]["train_ratio"] == 1
    assert data["rows"][1]["params"] == data["rows"][2]["params"]  # our SSA model is Spikformer's size exactly
    _run(tmp_path, "mixer_scaling.py", "--tokens", "16", "64", "--min-time", "0.01", "--dim", "32")
    assert {r["mixer"] for r in _record(tmp_path, "mixer_scaling")["rows"]} == {"sssa-v2", "sssa-v1", "ssa", "sdsa"}


@pytest.mark.slow
def test_search_benchmarks_on_edge_tiny(tmp_path: Path) -> None:
    _run(tmp_path, "search_efficiency.py", "--space", "edge_tiny", "--budget", "3", "--seeds", "0", "--workers", "1",
         "--methods", "default", "random")
    eff = _record(tmp_path, "search_efficiency")
    assert [r["method"] for r in eff["rows"]] == ["default", "random"]
    assert next(r for r in eff["rows"] if r["method"] == "random")["hv_vs_random"] == pytest.approx(1.0)
    assert set(eff["goals"]) == {"default_fraction_to_random_final_every_seed",
                                 "default_final_hv_at_least_random_every_seed"}
    runs = (tmp_path / "out" / "search_efficiency_runs.jsonl").read_text().splitlines()
    assert len(runs) == 2  # one line per finished run: a re-run resumes instead of starting over
    _run(tmp_path, "search_efficiency.py", "--space", "edge_tiny", "--budget", "3", "--seeds", "0", "--workers", "1",
         "--methods", "default", "random")
    assert (tmp_path / "out" / "search_efficiency_runs.jsonl").read_text().splitlines() == runs
    rescore = ["--rescore", "1", "--ref-epochs", "1", "--procs", "1"]
    _run(tmp_path, "search_efficiency.py", "--space", "edge_tiny", "--budget", "3", "--seeds", "0", "--workers", "1",
         "--methods", "default", "random", *rescore)
    rescored = (tmp_path / "out" / "search_efficiency_rescored.jsonl").read_text().splitlines()
    assert len(rescored) == 2  # each run's most accurate front point, trained again at the reference fidelity
    for row in _record(tmp_path, "search_efficiency")["rows"]:
        top = row["reference_hv_top_points"]
        assert top["points"] == 1 and top["epochs"] == 1 and 0 < top["best_reference_accuracy_per_seed"][0] <= 1
        assert top["per_seed"][0] > 0
    _run(tmp_path, "search_efficiency.py", "--space", "edge_tiny", "--budget", "3", "--seeds", "0", "--workers", "1",
         "--methods", "default", "random", *rescore)
    assert (tmp_path / "out" / "search_efficiency_rescored.jsonl").read_text().splitlines() == rescored  # resumed
    _run(tmp_path, "main_job.py", "--space", "edge_tiny", "--budget", "3", "--workers", "1", "--workdir",
         str(tmp_path / "mj"))
    job = _record(tmp_path, "main_job")["rows"][0]
    assert sum(job["states"].values()) == 3 and job["command"].startswith("snnas search --space edge_tiny")
    _run(tmp_path, "memory.py", "--study-db", job["study_db"])
    mem = _record(tmp_path, "memory")["rows"]
    assert sum(r["trials"] for r in mem) >= 2 and all(r["peak_mb"] > 50 for r in mem)


@pytest.mark.slow
def test_trial_benchmarks_on_edge_tiny(tmp_path: Path) -> None:
    _run(tmp_path, "energy_overhead.py", "--space", "edge_tiny", "--archs", "1")
    row = _record(tmp_path, "energy_overhead")["rows"][0]
    assert 0 < row["energy_s"] < row["trial_s"]
    _run(tmp_path, "proxy_fidelity.py", "--space", "edge_tiny", "--archs", "3", "--ref-scale", "1", "--procs", "1")
    pf = _record(tmp_path, "proxy_fidelity")
    assert len(pf["rows"]) == 3 and len({r["arch_id"] for r in pf["rows"]}) == 3
    assert all(-1 <= t <= 1 for t in pf["taus"])
    for stage in ("train", "scores"):
        _run(tmp_path, "reference_table.py", "--space", "edge_tiny", "--archs", "4", "--ref-scale", "1", "--procs", "1",
             "--stage", stage, "--report")
    table = _record_analysis(tmp_path)
    assert table["n"] == 4 and {s["score"] for s in table["scores"]} >= {"rung 0 val accuracy", "sahd at init"}
    _run(tmp_path, "fused_neurons.py", "--space", "edge_tiny", "--archs", "1")
    fused = _record(tmp_path, "fused_neurons")["rows"][0]
    assert fused["eager_s"] > 0 and fused["fused_s"] > 0 and len(fused["eager_val"]) == len(fused["fused_val"])


@pytest.mark.slow
def test_cli_startup(tmp_path: Path) -> None:
    _run(tmp_path, "cli_startup.py", "--runs", "1", "--commands", "help", "spaces", "models")
    rows = {r["command"]: r for r in _record(tmp_path, "cli_startup")["rows"]}
    assert list(rows) == ["snnas --help", "snnas spaces", "snnas models"]
    assert all(r["median_s"] > 0 for r in rows.values())
    assert "torch" not in rows["snnas spaces"]["heavy_imports"] and "torch" in rows["snnas models"]["heavy_imports"]


@pytest.mark.slow
def test_mlp_ratio(tmp_path: Path) -> None:
    from snnas.models import count_params, get_entry

    _run(tmp_path, "mlp_ratio.py", "--models", "snnvit_cifar10_dvs", "--images", "1", "--no-convention")
    registered, lineage = _record(tmp_path, "mlp_ratio")["rows"]
    assert (registered["mlp_ratio"], lineage["mlp_ratio"]) == (9.4, 4.0)
    assert registered["params"] == count_params(get_entry("snnvit_cifar10_dvs").config)  # the registered model
    assert lineage["params"] < registered["params"] and 0 < lineage["energy_uj"] < registered["energy_uj"]
    assert lineage["ann_energy_uj"] < registered["ann_energy_uj"] and registered["convention_uj"] is None


def test_kendall_tau() -> None:
    sys.path.insert(0, str(BENCH))
    try:
        from proxy_fidelity import kendall_tau
    finally:
        sys.path.remove(str(BENCH))
    assert kendall_tau([1, 2, 3, 4], [10, 20, 30, 40]) == 1
    assert kendall_tau([1, 2, 3, 4], [4, 3, 2, 1]) == -1
    assert kendall_tau([1, 2, 3], [1, 3, 2]) == pytest.approx(1 / 3)
    assert kendall_tau([1, 1, 2], [1, 2, 3]) == pytest.approx(2 / (3 * 2) ** 0.5)  # tau-b with a tie


@pytest.mark.slow
def test_paper_claims(tmp_path: Path) -> None:
    env = {**os.environ, "SNNAS_BENCH_DIR": str(tmp_path / "out")}
    run = subprocess.run([sys.executable, str(BENCH / "paper_claims.py"), "run", "--space", "edge_tiny",
                          "--budget", "3", "--models", "sssa", "sssa_v1", "--seeds", "2", "--front-seeds", "1",
                          "--epochs", "1", "--tokens", "16", "64", "--min-time", "0.01",
                          "--workdir", str(tmp_path / "w")],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1200)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    rows = [json.loads(line) for line in (tmp_path / "out" / "paper_claims.jsonl").read_text().splitlines()]
    assert not [r for r in rows if "error" in r]
    assert sorted(r["id"].split(":")[0] for r in rows) == ["block", *["front"] * 4, *["hand"] * 4, "search"]
    _run(tmp_path, "paper_claims.py", "report")
    claims = _record(tmp_path, "paper_claims")["claims"]
    assert claims["2_v1_v2"]["v2_minus_other"]["n"] == 2  # paired over both seeds
    assert {p["kind"] for p in claims["6_search_vs_hand"]["points"]} == {"hand", "searched"}
    trained = [r for r in rows if r["kind"] == "front" and "skipped" not in r]  # energy<=1.4 may match no trial
    assert len(claims["6_search_vs_hand"]["verdicts"]) == len(trained) >= 3  # each pick vs the one hand model
    assert (tmp_path / "out" / "paper_claims_front.html").stat().st_size > 1000
