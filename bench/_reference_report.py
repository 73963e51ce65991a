"""The reference table's analysis: Kendall tau-b of every score against the reference, with bootstrap 95 % CIs.

Used by ``bench/reference_table.py --report`` (and by ``search_efficiency`` for the gate's settings). The
predicted-accuracy rows are cross-validated the way a study would use the model: fitted on other
architectures' *last proxy rung* accuracy (what a study knows), never on the reference.
"""

from __future__ import annotations

import math
from typing import Any

import _common
import numpy as np
from scipy.stats import kendalltau

from snnas.search._predict import RidgePredictor, features

BOOT = 2000


def tau(x: list[float], y: list[float]) -> float:
    t = kendalltau(x, y).statistic
    return float(t) if t == t else float("nan")


def tau_ci(x: list[float], y: list[float], seed: int = 0, boot: int = BOOT) -> tuple[float, float, float]:
    """tau-b and its percentile bootstrap 95 % interval (architectures resampled with replacement)."""
    xa, ya = np.asarray(x, float), np.asarray(y, float)
    rng = np.random.default_rng(seed)
    n = len(xa)
    stats = []
    for _ in range(boot):
        idx = rng.integers(0, n, n)
        t = kendalltau(xa[idx], ya[idx]).statistic
        if t == t:
            stats.append(t)
    lo, hi = np.percentile(stats, [2.5, 97.5]) if stats else (math.nan, math.nan)
    return tau(x, y), float(lo), float(hi)


def tau_difference(x1: list[float], x2: list[float], y: list[float], seed: int = 0,
                   boot: int = BOOT) -> tuple[float, float, float]:
    """``tau(x1, y) - tau(x2, y)`` and its paired percentile bootstrap 95 % interval (the same resampled
    architectures for both)."""
    a, b, ya = (np.asarray(v, float) for v in (x1, x2, y))
    rng = np.random.default_rng(seed)
    diffs = []
    for _ in range(boot):
        idx = rng.integers(0, len(ya), len(ya))
        d = kendalltau(a[idx], ya[idx]).statistic - kendalltau(b[idx], ya[idx]).statistic
        if d == d:
            diffs.append(d)
    lo, hi = np.percentile(diffs, [2.5, 97.5]) if diffs else (math.nan, math.nan)
    return tau(x1, y) - tau(x2, y), float(lo), float(hi)


def compare_schedules(rows: dict[int, dict], first: str, second: str) -> list[dict[str, Any]]:
    """Per rung, Kendall tau against the reference of schedule ``first`` and ``second`` over the architectures
    both were run on, and the paired difference."""
    both = [r for r in complete_rows(rows) if first in r.get("schedules", {}) and second in r.get("schedules", {})]
    ref = [r["reference"] for r in both]
    out = []
    for k in range(len(both[0]["schedules"][first])) if both else ():
        x1 = [r["schedules"][first][k]["val_accuracy"] for r in both]
        x2 = [r["schedules"][second][k]["val_accuracy"] for r in both]
        d, lo, hi = tau_difference(x1, x2, ref)
        out.append({"rung": k, "n": len(both), first: tau_ci(x1, ref), second: tau_ci(x2, ref),
                    "difference": d, "lo": lo, "hi": hi,
                    "same_accuracy": sum(abs(a - b) < 1e-9 for a, b in zip(x1, x2, strict=True))})
    return out


def complete_rows(rows: dict[int, dict]) -> list[dict]:
    return [r for _, r in sorted(rows.items()) if "train" in r["stages"] and "reference" in r]


def cv_predictions(rows: list[dict], k: int, folds: int = 5, seed: int = 0, alpha: float | None = None,
                   target: str = "last") -> list[float]:
    """Out-of-fold predicted last-rung accuracy from rung ``k`` (``target="reference"``: the oracle)."""
    X = [features(r["config"], r["rungs"][k], r.get("n_params")) for r in rows]
    y = [r["rungs"][-1]["val_accuracy"] if target == "last" else r["reference"] for r in rows]
    order = np.random.default_rng(seed).permutation(len(rows))
    pred = [0.0] * len(rows)
    for f in range(folds):
        test = set(order[f::folds].tolist())
        if not test:
            continue
        train = [i for i in range(len(rows)) if i not in test]
        kw = {} if alpha is None else {"alpha": alpha}
        m = RidgePredictor.fit([X[i] for i in train], [y[i] for i in train], min_samples=2, **kw)
        for i, p in zip(sorted(test), m.predict([X[i] for i in sorted(test)]), strict=True):
            pred[i] = p
    return pred


def analyse(rows: dict[int, dict]) -> dict[str, Any]:
    done = complete_rows(rows)
    ref = [r["reference"] for r in done]
    out: dict[str, Any] = {"n": len(done), "scores": []}

    def add(name: str, xs: list[float], what: str = "reference accuracy", ys: list[float] | None = None) -> None:
        t, lo, hi = tau_ci(xs, ys if ys is not None else ref)
        out["scores"].append({"score": name, "vs": what, "tau": t, "lo": lo, "hi": hi})

    n_rungs = len(done[0]["rungs"])
    for k in range(n_rungs):
        add(f"rung {k} val accuracy", [r["rungs"][k]["val_accuracy"] for r in done])
        add(f"rung {k} -train loss", [-r["rungs"][k]["train_loss"] for r in done])
    for k in range(n_rungs - 1):
        add(f"rung {k} predicted (ridge, 5-fold CV)", cv_predictions(done, k))
    scored = [r for r in done if "sahd" in r]
    if scored:
        sref = [r["reference"] for r in scored]
        for name in ("sahd", "n_params", "energy_init_uj"):
            add(f"{name} at init", [float(r[name]) for r in scored], ys=sref)
        add("energy_init_uj vs reference energy", [r["energy_init_uj"] for r in scored], "reference energy",
            [r["reference_energy_uj"] for r in scored])
    add("last-rung energy vs reference energy", [r["rungs"][-1]["energy_uj"] for r in done], "reference energy",
        [r["reference_energy_uj"] for r in done])
    curves = [r for r in done if r.get("reference_curve")]
    if curves:
        cref = [r["reference"] for r in curves]
        for e in range(len(curves[0]["reference_curve"]) - 1):
            add(f"reference epoch {e + 1} of {len(curves[0]['reference_curve'])}",
                [r["reference_curve"][e]["val_accuracy"] for r in curves], ys=cref)
    for label in sorted({lb for r in done for lb in r.get("schedules", {})}):
        sched = [r for r in done if label in r.get("schedules", {})]
        for k in range(len(sched[0]["schedules"][label])):
            add(f"schedule {label}: rung {k} val accuracy", [r["schedules"][label][k]["val_accuracy"] for r in sched],
                ys=[r["reference"] for r in sched])
    chance = sum(r["rungs"][0]["val_accuracy"] < 0.15 for r in done)
    out["rung0_near_chance"] = chance
    out["proxy_matches_reused"] = [r["arch"] for r in done if r.get("proxy_matches_reused") is False]
    return out


def report(args: Any, rows: dict[int, dict]) -> None:
    res = analyse(rows)
    if getattr(args, "compare", None):
        first, second = args.compare
        res["compare"] = {"first": first, "second": second, "rungs": compare_schedules(rows, first, second)}
        _common.table(f"schedule {first} vs {second}: Kendall tau-b against the reference, same architectures",
                      ["rung", "n", first, second, "difference (95 % CI)"],
                      [[c["rung"], c["n"], f"{c[first][0]:.2f} ({c[first][1]:.2f} .. {c[first][2]:.2f})",
                        f"{c[second][0]:.2f} ({c[second][1]:.2f} .. {c[second][2]:.2f})",
                        f"{c['difference']:+.2f} ({c['lo']:+.2f} .. {c['hi']:+.2f})"] for c in res["compare"]["rungs"]])
    _common.table(f"reference table: {res['n']} architectures; Kendall tau-b with bootstrap 95 % interval",
                  ["score", "vs", "tau", "95 % CI"],
                  [[s["score"], s["vs"], s["tau"], f"{s['lo']:.2f} .. {s['hi']:.2f}"] for s in res["scores"]])
    if res["proxy_matches_reused"]:
        _common.console.print(f"[red]re-run proxy differs from the reused rows for archs {res['proxy_matches_reused']}")
    best = max((s for s in res["scores"] if s["vs"] == "reference accuracy" and "rung 0" in s["score"]),
               key=lambda s: s["tau"])
    _common.record("reference_table", args, [], f"{res['n']} architectures; best rung-0 decision score: "
                   f"{best['score']} tau {best['tau']:.2f} ({best['lo']:.2f}..{best['hi']:.2f})",
                   analysis=res, table="reports/bench/reference_table.jsonl")
