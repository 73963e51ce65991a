"""The report of a constructed study with near-chance trials at the cheap end: they are off the front, the knee
and the suggestion, and the page says why each was kept off. Nothing is trained (``tests.export.made_study``)."""

from __future__ import annotations

import html

import pandas as pd
import pytest

from snnas.report import build_report
from tests.export import made_study
from tests.report.test_report import page_data

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")

POINTS = [(0.62, 3.0), (0.60, 1.0), (0.55, 0.5), (0.40, 0.2), (0.135, 0.02), (0.11, 0.001)]
REASON = "not clearly above chance (0.1 + 3σ = 0.140 on 500 validation images)"


def test_the_report_keeps_near_chance_trials_off_the_front_and_says_why(tmp_path):
    made_study(tmp_path / "s.db", POINTS)
    page = build_report("made", f"sqlite:///{tmp_path / 's.db'}", tmp_path / "r", png=True)
    data = page_data(page)
    assert sorted(data["front"]) == [0, 1, 2, 3]
    assert data["pick"] == 1 and data["knee"] not in (4, 5)  # near-best: 0.60 is within 2 SE (0.043) of 0.62
    assert "2 standard errors (0.043 on 500 validation images)" in data["pick_rule"]
    assert data["below_chance"] == [4, 5] and data["infeasible"] == [] and data["untested"] == []
    assert [(r["number"], r["reason"]) for r in data["excluded"]] == [
        (4, f"val accuracy 0.135 {REASON}"), (5, f"val accuracy 0.110 {REASON}")]
    rows = {t["number"]: t for t in data["trials"]}
    assert rows[4]["below_chance"] and not rows[4]["pareto"] and REASON in rows[4]["reason"]  # in the hover too
    assert list(pd.read_csv(tmp_path / "r" / "pareto.csv")["trial"]) == [0, 1, 2, 3]
    assert data["hypervolume"]["trials"] == [0, 1, 2, 3]  # only trials that may be on the front
    text = page.read_text()
    section = text[text.index('<section id="excluded">'):]
    section = section[:section.index("</section>")]
    for acc in ("0.135", "0.110"):
        assert html.escape(f"val accuracy {acc} {REASON}") in section
    note = "Proxy accuracy (2 short epochs on 20% of the training images) ranks architectures"
    assert html.escape(note) in text and text.index(html.escape(note)) < text.index('id="pareto"')  # near the front
    assert "0.648 → 0.810 validation" in text
    assert (tmp_path / "r" / "pareto.png").stat().st_size > 1000
