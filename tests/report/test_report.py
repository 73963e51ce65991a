"""The report of a study made by a real search: written at the end of the search, checked in real Chromium."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
import urllib.request
from html.parser import HTMLParser
from pathlib import Path

import matplotlib.image
import numpy as np
import optuna
import pytest
from optuna.trial import TrialState

from snnas.report import build_report
from snnas.search import knee_index, near_best_rule, open_existing_study
from tests.report._browser import Browser, find_chromium

STUDY = "edge_tiny-fashion-mini"
CHROMIUM = find_chromium()
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium here (Debian: apt-get install chromium; "
                                                               ".ci/run installs it)")


def snnas(cwd: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "snnas", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)


def page_data(page: Path) -> dict:
    m = re.search(r'<script id="snnas-data" type="application/json">(.*?)</script>', page.read_text(), re.S)
    return json.loads(m.group(1).replace("<\\/", "</"))


def expected_points(study: optuna.Study) -> int:
    """Trials with a result: completed ones, and pruned ones at their last rung."""
    return sum(1 for t in study.get_trials() if (t.state == TrialState.COMPLETE and t.values) or (
        t.state == TrialState.PRUNED and any(k.startswith("rung") for k in t.user_attrs)))


@pytest.fixture(scope="module")
def study_dir(tiny_search) -> Path:
    cwd, r, _ = tiny_search
    assert r.returncode == 0, r.stderr[-2000:]
    return cwd


def test_the_search_writes_the_report_when_it_ends(study_dir):
    folder = study_dir / "reports" / STUDY
    for name in ("index.html", "pareto.csv", "pareto.png", "hypervolume.png", "energy_layers.png", "firing.png"):
        assert (folder / name).stat().st_size > 1000 or name == "pareto.csv", name
    png = matplotlib.image.imread(folder / "pareto.png")
    assert png.shape[0] > 400 and png.shape[1] > 600 and png[..., :3].std() > 0.05  # a drawn figure, not blank
    external = []

    class Tags(HTMLParser):  # script contents are CDATA to the parser: plotly.js's own strings are not tags
        def handle_starttag(self, tag, attrs):
            external.extend(v for k, v in attrs if k in ("src", "href") and v and not v.startswith("#"))

    Tags().feed((folder / "index.html").read_text())
    assert external == []  # nothing loaded from elsewhere: the page works offline


def test_report_data_matches_the_study(study_dir, tmp_path):
    page = build_report(STUDY, f"sqlite:///{study_dir / 'studies' / (STUDY + '.db')}", tmp_path, png=False)
    study = open_existing_study(STUDY, studies_dir=study_dir / "studies")
    data = page_data(page)
    front = [t for t in study.best_trials if t.state == TrialState.COMPLETE and "duplicate_of" not in t.user_attrs]
    assert sorted(data["front"]) == sorted(t.number for t in front) and len(front) >= 2  # one per architecture
    k = knee_index([tuple(t.values) for t in front])
    assert data["knee"] == front[k].number
    pick, _ = near_best_rule(front)
    assert data["pick"] == pick.number and data["proxy_note"].startswith("Proxy accuracy (2 short epochs")
    assert not {r["number"] for r in data["excluded"]} & set(data["front"])
    assert len([t for t in data["trials"] if t["acc"] is not None]) == expected_points(study)
    knee = data["details"][str(data["knee"])]
    assert sum(row["total_uj"] for row in knee["layers"]) == pytest.approx(front[k].values[1], rel=1e-6)
    assert knee["firing"]["T"] == front[k].user_attrs["config"]["T"] and knee["firing"]["layers"]
    assert data["provenance"]["profile"]["name"] == "cmos45"
    assert len(data["hypervolume"]["hv"]) == sum(t.state == TrialState.COMPLETE and "duplicate_of" not in t.user_attrs
                                                 for t in study.get_trials())  # a duplicate trains nothing
    assert data["hypervolume"]["hv"] == sorted(data["hypervolume"]["hv"])  # never decreases
    assert set(data["importance"]) >= {"val_accuracy", "energy_uj"}


@needs_chromium
def test_report_page_in_headless_chromium(study_dir, tmp_path):
    page = build_report(STUDY, f"sqlite:///{study_dir / 'studies' / (STUDY + '.db')}", tmp_path, png=False)
    study = open_existing_study(STUDY, studies_dir=study_dir / "studies")
    data = page_data(page)
    b = Browser(CHROMIUM)
    try:
        b.open(page.resolve().as_uri())
        assert b.errors() == []
        count = "document.getElementById('pareto').data.filter(t => t.meta === 'trials')" \
                ".reduce((n, t) => n + t.x.length, 0)"
        assert b.js(count) == expected_points(study)
        title = "document.getElementById('layer-energy').layout.title.text"
        assert b.js(title).startswith(f"trial {data['pick']}:")  # the suggested (default export) pick is shown first
        bars = "JSON.stringify(document.getElementById('layer-energy').data.map(t => t.x))"
        before = b.js(bars)
        other = next(n for n in data["front"] if n != data["pick"])
        b.js(f"const s = document.getElementById('trial-select'); s.value = '{other}'; "
             "s.dispatchEvent(new Event('change'))")
        assert b.js(title).startswith(f"trial {other}:") and b.js(bars) != before
        assert b.js("document.getElementById('firing').layout.title.text").startswith(f"trial {other}:")
        assert b.js("document.querySelector('#front-table tr.sel td').textContent").startswith(str(other))
        # the front table's columns: every knob edge_tiny varies, no constant field (attention, depth)
        heads = b.js("[...document.querySelectorAll('#front-table th')].map(h => h.dataset.k)")
        assert heads == ["number", "acc", "energy", "params", *data["columns"], "firing_rate"]
        assert sorted(data["columns"]) == ["T", "embed_dim", "saccades"]
        # colour by a knob: one trace per value of that knob
        b.js("const c = document.getElementById('color-by'); c.value = 'T'; c.dispatchEvent(new Event('change'))")
        names = b.js("document.getElementById('pareto').data.filter(t => t.meta === 'trials').map(t => t.name)")
        assert names and all(n.startswith("T = ") for n in names)
        assert b.js(count) == expected_points(study)
        # an energy budget just below the most accurate front trial: the best within it is the next one
        front = sorted((study.trials[n] for n in data["front"]), key=lambda t: -t.values[0])
        lo, hi = (np.log10(x) for x in (min(t["energy"] for t in data["trials"] if t["energy"]),
                                        max(t["energy"] for t in data["trials"] if t["energy"])))
        cut = (front[0].values[1] + max(t.values[1] for t in front[1:] if t.values[1] < front[0].values[1])) / 2
        slider = int((np.log10(cut) - lo) / (hi - lo) * 1000)
        b.js(f"const r = document.getElementById('budget'); r.value = {slider}; r.dispatchEvent(new Event('input'))")
        expect = max((t for t in front if t.values[1] <= cut), key=lambda t: t.values[0])
        assert b.js("document.getElementById('best').textContent").startswith(f"trial {expect.number}:")
        assert b.errors() == []
        shot = tmp_path / "report.png"
        shot.write_bytes(b.screenshot())
    finally:
        b.close()
    img = matplotlib.image.imread(shot)
    assert img.shape[0] > 1500 and img.shape[1] >= 1200
    red = (np.abs(img[..., 0] - 0xd6 / 255) < 0.04) & (np.abs(img[..., 1] - 0x27 / 255) < 0.04) & (
        np.abs(img[..., 2] - 0x28 / 255) < 0.04)
    assert red.sum() > 200  # the front's red markers and line were drawn


def test_report_bad_input_is_one_line(study_dir, tmp_path):
    r = snnas(study_dir, "report", "no-such-study")
    assert r.returncode == 2 and "no study database at studies/no-such-study.db" in r.stderr
    assert STUDY in r.stderr and "Traceback" not in r.stderr  # it names the studies that exist
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"not a database at all" * 100)
    r = snnas(tmp_path, "report", "x", "--storage", f"sqlite:///{bad}")
    assert r.returncode == 2 and "cannot read" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_dashboard_serves_the_study_on_loopback_only(study_dir):
    port = _port()
    proc = subprocess.Popen([sys.executable, "-m", "snnas", "dashboard", STUDY, "--port", str(port)], cwd=study_dir,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        body, deadline = None, time.time() + 60
        while body is None and time.time() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies", timeout=2) as resp:
                    body = json.loads(resp.read())
            except OSError:
                time.sleep(0.3)
        assert body is not None, proc.stdout.read() if proc.poll() is not None else "no answer"
        assert STUDY in json.dumps(body)
        outside = socket.gethostbyname(socket.gethostname())
        if not outside.startswith("127."):
            with pytest.raises(OSError), socket.create_connection((outside, port), timeout=2):
                pass
    finally:
        proc.terminate()
        out = proc.communicate(timeout=30)[0]
    assert f"http://127.0.0.1:{port}/dashboard/" in out


def _top_to_bottom(b: Browser, div: str) -> list[str]:
    """The y-axis labels of a chart as drawn, from the top of the page down."""
    return b.js(f"Array.from(document.querySelectorAll('#{div} .ytick text')).map(e => "
                "[e.getBoundingClientRect().top, e.textContent]).sort((a, b) => a[0] - b[0]).map(p => p[1])")


@needs_chromium
def test_both_layer_charts_list_layers_in_network_order(study_dir, tmp_path):
    page = build_report(STUDY, f"sqlite:///{study_dir / 'studies' / (STUDY + '.db')}", tmp_path, png=False)
    d = page_data(page)["details"][str(page_data(page)["pick"])]
    b = Browser(CHROMIUM)
    try:
        b.open(page.resolve().as_uri())
        bars, heat = _top_to_bottom(b, "layer-energy"), _top_to_bottom(b, "firing")
    finally:
        b.close()
    # the first layer at the top of both (the heat-map listed them bottom-up, the bars top-down)
    assert bars == [row["layer"] for row in d["layers"]] and len(bars) > 3
    assert heat == d["firing"]["layers"] and len(heat) > 3


def test_pngs_list_layers_in_network_order(study_dir, tmp_path, monkeypatch):
    from tests.report.test_plain_reading import captured_figures

    figs = captured_figures(monkeypatch)
    page = build_report(STUDY, f"sqlite:///{study_dir / 'studies' / (STUDY + '.db')}", tmp_path, png=True)
    d = page_data(page)["details"][str(page_data(page)["pick"])]
    for name, layers in (("energy_layers.png", [row["layer"] for row in d["layers"]]),
                         ("firing.png", d["firing"]["layers"])):
        ax = figs[name].axes[0]
        labels = sorted(ax.get_yticklabels(), key=lambda t: -ax.transData.transform((0, t.get_position()[1]))[1])
        assert [t.get_text() for t in labels] == layers, name


def test_provenance_reads_in_words(study_dir, tmp_path):
    page = build_report(STUDY, f"sqlite:///{study_dir / 'studies' / (STUDY + '.db')}", tmp_path, png=False)
    text = page.read_text()
    section = text[text.index("<h2>Provenance"):]
    assert "True" not in section[:section.index("</section>")] and "False" not in section[:section.index("</section>")]
    assert "each energy is per image, summed over all T timesteps" in section
