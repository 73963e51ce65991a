"""Issue 18: the report reads plainly. Log-energy ticks carry their values, the hypervolume its unit, counts
their plurals, and a study with no completed trial gets a page that says so (no empty axes, a clean stderr).
Studies are built as a search writes them (``TrialLife``), nothing is trained."""

from __future__ import annotations

import math
import re
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from snnas.report import _png, build_report
from snnas.search import SearchOptions, TrialLife, load_space
from tests.export import made_study
from tests.report._browser import Browser
from tests.report.test_report import CHROMIUM, needs_chromium, page_data, snnas

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")

POINTS = [(0.62, 3.0), (0.60, 1.0), (0.55, 0.5), (0.40, 0.2), (0.30, 0.02)]


def unfinished_study(db: Path, ends: list[str]) -> optuna.Study:
    """An edge_tiny study where no trial completed: one trial per entry of ``ends`` ("fail", "prune" after
    rung 0, or "run": rung 0 done and still running), lived through ``TrialLife`` as a search would."""
    space = load_space("edge_tiny").replace(max_params=None, max_energy_uj=None)
    opts = SearchOptions(space="edge_tiny", dataset="fashion-mini", seed=0, storage=f"sqlite:///{db}")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name="made", storage=opts.storage, directions=["maximize", "minimize"],
                                sampler=optuna.samplers.RandomSampler(seed=0))
    for key, value in (("space", "edge_tiny"), ("dataset", "fashion-mini"), ("profile", "cmos45"),
                       ("space_definition", load_space("edge_tiny").describe())):
        study.set_user_attr(key, value)
    for i, end in enumerate(ends):
        life = TrialLife(study, study.ask(), space, opts)
        assert life.begin({"device": "cpu", "pid": 1, "host": "h", "neurons": "eager"}) is not None
        if end == "fail":
            life.fail("CUDA out of memory")
            continue
        life.rung(0, {"val_accuracy": 0.3 + 0.1 * i, "energy_uj": 0.02 * (i + 1), "epochs": 1})
        if end == "prune":
            life.prune(None, "rung 0: dominated")
    return study


def captured_figures(monkeypatch) -> dict[str, object]:  # noqa: ANN001
    """The PNGs' matplotlib figures by file name, drawn, as write_pngs saves them."""
    figs: dict[str, object] = {}
    save = _png._save

    def keep(fig, path):  # noqa: ANN001, ANN202
        fig.canvas.draw()
        figs[path.name] = fig
        return save(fig, path)

    monkeypatch.setattr(_png, "_save", keep)
    return figs


def _value(label: str) -> float:
    return float(label.replace("\N{MINUS SIGN}", "-"))


def test_png_log_energy_ticks_show_values(tmp_path, monkeypatch):
    made_study(tmp_path / "s.db", POINTS)
    figs = captured_figures(monkeypatch)
    build_report("made", f"sqlite:///{tmp_path / 's.db'}", tmp_path / "r", png=True)
    ax = figs["pareto.png"].axes[0]
    lo, hi = ax.get_xlim()
    shown = [(t.get_position()[0], t.get_text()) for t in ax.xaxis.get_ticklabels(minor=False)
             + ax.xaxis.get_ticklabels(minor=True) if t.get_text() and lo <= t.get_position()[0] <= hi]
    assert len(shown) >= 3
    for x, text in shown:  # "0.02", not "$\\mathdefault{2\\times10^{-2}}$" nor a bare "2"
        assert _value(text) == pytest.approx(x, rel=1e-6), text


def test_hypervolume_has_its_unit_and_reference(tmp_path, monkeypatch):
    made_study(tmp_path / "s.db", POINTS)
    figs = captured_figures(monkeypatch)
    page = build_report("made", f"sqlite:///{tmp_path / 's.db'}", tmp_path / "r", png=True)
    data = page_data(page)
    ref = data["hypervolume"]["ref_energy"]
    assert ref == pytest.approx(1.01 * 3.0)
    unit = "accuracy × µJ/image"
    assert unit in figs["hypervolume.png"].axes[0].get_ylabel()
    text = page.read_text()
    assert f"Hypervolume ({unit}) of the completed trials" in text  # the note under the plot
    assert f"accuracy 0 and {ref:.4g} µJ/image" in text  # the reference point, with its number


def test_counts_read_in_the_singular_and_the_plural(tmp_path):
    made_study(tmp_path / "one.db", [(0.6, 1.0)], n_val=None)
    text = build_report("made", f"sqlite:///{tmp_path / 'one.db'}", tmp_path / "r1", png=False).read_text()
    assert "· 1 trial (1 complete) ·" in text and "1 trials" not in text
    assert "1 completed trial was not tested against chance" in text and "trial(s)" not in text
    study = made_study(tmp_path / "two.db", [(0.6, 1.0), (0.5, 0.5)], n_val=None)
    space = study.user_attrs["space_definition"]
    study.set_user_attr("space_definition", {**space, "rungs": [{**space["rungs"][-1], "epochs": 1}]})
    text = build_report("made", f"sqlite:///{tmp_path / 'two.db'}", tmp_path / "r2", png=False).read_text()
    assert "· 2 trials (2 complete) ·" in text and "2 completed trials were not tested" in text
    assert "Proxy accuracy (1 short epoch on" in text


ENDS = {"failed": ["fail"], "pruned": ["prune", "prune"], "running": ["fail", "run"]}
HEADS = {"failed": "1 trial (1 failed)", "pruned": "2 trials (2 pruned)", "running": "2 trials (1 running, 1 failed)"}


@pytest.mark.parametrize("kind", sorted(ENDS))
def test_a_study_with_no_completed_trial_says_so(tmp_path, kind):
    study = unfinished_study(tmp_path / "s.db", ENDS[kind])
    assert not any(t.state == TrialState.COMPLETE for t in study.trials)
    r = snnas(tmp_path, "report", "made", "--storage", "sqlite:///s.db")
    assert r.returncode == 0 and r.stderr == ""  # no matplotlib legend warning, nothing else
    folder = tmp_path / "reports" / "made"
    assert sorted(p.name for p in folder.iterdir() if p.name != ".study") == ["index.html", "pareto.csv"]  # no PNGs
    text = (folder / "index.html").read_text()
    assert HEADS[kind] in text
    assert "No trial of this study has completed yet" in text
    assert 'id="pareto"' not in text and 'id="hv"' not in text  # no empty plots
    table = text[text.index('<table id="unfinished"'):]
    table = table[:table.index("</table>")]
    rows = re.findall(r"<tr><td>(\d+)</td><td>(\w+)</td>", table)
    assert rows == [(str(t.number), t.state.name.lower().replace("fail", "failed")) for t in study.trials]
    if kind == "failed":
        assert "CUDA out of memory" in table
    if kind == "pruned":
        assert "rung 0: dominated" in table and "0.4" in table  # what each reached, at its last rung


@needs_chromium
def test_the_empty_study_page_in_chromium(tmp_path):
    unfinished_study(tmp_path / "s.db", ["fail", "run"])
    page = build_report("made", f"sqlite:///{tmp_path / 's.db'}", tmp_path / "r", png=False)
    b = Browser(CHROMIUM)
    try:
        b.open(page.resolve().as_uri())
        assert b.errors() == []
        assert b.js("document.querySelectorAll('.js-plotly-plot, svg').length") == 0
        assert "No trial of this study has completed yet" in b.js("document.body.innerText")
    finally:
        b.close()


@needs_chromium
def test_log_energy_ticks_and_hypervolume_unit_in_chromium(tmp_path):
    for points, name in ((POINTS, "wide"), ([(0.6, 0.02), (0.5, 0.011), (0.62, 0.09)], "narrow")):
        made_study(tmp_path / f"{name}.db", points)
        page = build_report("made", f"sqlite:///{tmp_path / f'{name}.db'}", tmp_path / name, png=False)
        b = Browser(CHROMIUM)
        try:
            b.open(page.resolve().as_uri())
            assert b.errors() == []
            ticks = b.js("document.getElementById('pareto')._fullLayout.xaxis._vals"
                         ".filter(v => v.text).map(v => [v.x, v.text])")
            hv_axis = b.js("document.getElementById('hv').layout.yaxis.title.text")
        finally:
            b.close()
        assert hv_axis == "hypervolume (accuracy × µJ/image)"
        assert len(ticks) >= 3, ticks
        for x, text in ticks:  # plotly's "2" for 0.02 is a minor tick's bare digit
            assert _value(text) == pytest.approx(math.pow(10, x), rel=1e-6), (name, text)
