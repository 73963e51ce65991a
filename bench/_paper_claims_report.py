"""The tables, the record and the plot of ``bench/paper_claims.py`` (see its docstring), from its rows."""

from __future__ import annotations

import json
import statistics
from typing import Any

import _common

LABELS = {"sssa": "SSSA-V2 (paper)", "ssa": "SSA (Spikformer)", "sdsa": "SDSA (Spike-driven)",
          "sssa_v1": "SSSA-V1", "sssa_identity_mw": "SSSA, M_w = identity"}


MARKDOWN: list[str] = []  # every table and line the report prints, as markdown (paper_claims_tables.md)


def _table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    """Print a table and keep it as markdown for ``docs/paper_claims.md``."""
    _common.table(title, columns, rows)
    MARKDOWN.extend([f"**{title}**", "", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns),
                     *("| " + " | ".join(_common._fmt(v) for v in r) + " |" for r in rows), ""])


def _say(line: str) -> None:
    _common.console.print(line)
    MARKDOWN.extend([line.strip(), ""])


def _ms(values: list[float], digits: int = 3) -> str:
    """``mean ± sd`` (sd over seeds; a single value alone)."""
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.mean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def _paired(a: dict[int, float], b: dict[int, float]) -> dict[str, Any] | None:
    """Mean, sd and 95 % t-interval of the per-seed differences ``a - b`` over the seeds both have."""
    seeds = sorted(set(a) & set(b))
    d = [a[s] - b[s] for s in seeds]
    if len(d) < 2:
        return None
    m, sd = statistics.mean(d), statistics.stdev(d)
    from scipy.stats import t

    half = float(t.ppf(0.975, len(d) - 1)) * sd / len(d) ** 0.5
    return {"n": len(d), "mean": m, "sd": sd, "ci95": [m - half, m + half]}


def _paired_text(p: dict[str, Any] | None) -> str:
    if p is None:
        return "-"
    return (f"{100 * p['mean']:+.2f} ± {100 * p['sd']:.2f} points (95 % CI {100 * p['ci95'][0]:+.2f} to "
            f"{100 * p['ci95'][1]:+.2f}, {p['n']} seeds)")


def _by(rows: list[dict[str, Any]], kind: str, key: str, dataset: str = "fashion-mini"
        ) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        if (r["kind"] == kind and "error" not in r and "skipped" not in r
                and r.get("dataset", "fashion-mini") == dataset):
            out.setdefault(r[key], []).append(r)
    return out


def _models_table(title: str, groups: dict[str, list[dict[str, Any]]], names: list[str]) -> list[dict[str, Any]]:
    out = []
    for name in names:
        rs = groups.get(name, [])
        out.append({"model": name, "label": LABELS.get(name, name), "seeds": sorted(r["seed"] for r in rs),
                    "params": rs[0]["params"] if rs else None,
                    "val_accuracy": [r["val_accuracy"] for r in rs], "test_accuracy": [r["test_accuracy"] for r in rs],
                    "energy_uj": [r["energy_uj"] for r in rs]})
    _table(title, ["model", "seeds", "params", "val accuracy", "test accuracy", "µJ/image (cmos45)"],
                  [[o["label"], len(o["seeds"]), o["params"], _ms(o["val_accuracy"]), _ms(o["test_accuracy"]),
                    _ms(o["energy_uj"], 3)] for o in out])
    return out


def _test_by_seed(rs: list[dict[str, Any]]) -> dict[int, float]:
    return {r["seed"]: r["test_accuracy"] for r in rs}


def _dominance(a: dict[str, float], b: dict[str, float]) -> str:
    """Whether point ``a`` (mean test accuracy, mean energy) dominates ``b``, is dominated by it, or neither."""
    if a["acc"] >= b["acc"] and a["uj"] <= b["uj"] and (a["acc"] > b["acc"] or a["uj"] < b["uj"]):
        return "dominates"
    if b["acc"] >= a["acc"] and b["uj"] <= a["uj"] and (b["acc"] > a["acc"] or b["uj"] < a["uj"]):
        return "is dominated by"
    return "trades off against"


def report(rows: list[dict[str, Any]], args: Any, cifar10_skip: str | None) -> None:
    """Print every claim's table; write the record (rows and claims) and the plot. ``cifar10_skip``: why
    CIFAR-10 could not be run here (None when its files are found)."""
    hand = _by(rows, "hand", "model")
    claims: dict[str, Any] = {}

    # 1. SSSA vs SSA vs SDSA
    claims["1_attention"] = {"models": _models_table("claim 1: SSSA vs SSA vs SDSA (fashion-mini, full training)",
                                                     hand, ["sssa", "ssa", "sdsa"])}
    for base in ("ssa", "sdsa"):
        p = _paired(_test_by_seed(hand.get("sssa", [])), _test_by_seed(hand.get(base, [])))
        claims["1_attention"][f"sssa_minus_{base}"] = p
        _say(f"  SSSA - {LABELS[base]}, test accuracy: {_paired_text(p)}")
    cifar = _by(rows, "hand", "model", "cifar10")
    if cifar:
        c = {"models": _models_table("claim 1 on CIFAR-10 (32x32, 64 tokens)", cifar, ["sssa", "ssa", "sdsa"])}
        for base in ("ssa", "sdsa"):
            c[f"sssa_minus_{base}"] = _paired(_test_by_seed(cifar.get("sssa", [])), _test_by_seed(cifar.get(base, [])))
            _say(f"  CIFAR-10: SSSA - {LABELS[base]}: {_paired_text(c[f'sssa_minus_{base}'])}")
    else:
        c = {"skipped": cifar10_skip or "no CIFAR-10 rows (run without its files)"}
        _say(f"  CIFAR-10 skipped: {c['skipped']}")
    claims["1_attention"]["cifar10"] = c

    # 2. V1 = V2; 3. learned M_w vs identity
    for key, other, title in (("2_v1_v2", "sssa_v1", "claim 2: SSSA-V1 vs SSSA-V2"),
                              ("3_temporal_mixing", "sssa_identity_mw", "claim 3: learned M_w vs M_w = identity")):
        claims[key] = {"models": _models_table(title, hand, ["sssa", other])}
        p = _paired(_test_by_seed(hand.get("sssa", [])), _test_by_seed(hand.get(other, [])))
        claims[key]["v2_minus_other"] = p
        same = [a["history"] == b["history"] for a in hand.get("sssa", []) for b in hand.get(other, [])
                if a["seed"] == b["seed"]]
        claims[key]["identical_histories"] = same
        _say(f"  SSSA-V2 - {LABELS[other]}, test accuracy: {_paired_text(p)}; per-epoch validation "
                              f"curves identical in {sum(same)} of {len(same)} seeds")

    # 4. linear cost: the mixer alone (bench/mixer_scaling.py's record) and the whole block
    block = next((r for r in reversed(rows) if r["kind"] == "block" and "error" not in r), None)  # the latest
    mixer = _mixer_record()
    claims["4_linear_cost"] = {"block": block, "mixer_scaling": mixer}
    if block:
        ns = sorted({int(n) for v in block["ms"].values() for n in v})
        _table(f"claim 4: one whole block, forward ms (D={block['D']}, {block['heads']} heads, MLP ratio "
                      f"{block['mlp_ratio']:g}, T={block['T']}, B={block['batch']}, 1 thread, eval)",
                      ["mixer", *(f"N={n}" for n in ns), *(f"x{b // a} N" for a, b in zip(ns, ns[1:], strict=False))],
                      [[k, *(v[str(n)] for n in ns), *(v[str(b)] / v[str(a)] for a, b in zip(ns, ns[1:], strict=False))]
                       for k, v in block["ms"].items()])

    # 5. energy by profile of claim 1's trained models
    profiles = sorted({p for rs in hand.values() for r in rs for p in r.get("energy_by_profile", {})})
    energy = {m: {p: [r["energy_by_profile"][p] for r in hand.get(m, [])] for p in profiles}
              for m in ("sssa", "ssa", "sdsa")}
    ann = {m: [r["ann_energy_uj"] for r in hand.get(m, []) if r.get("ann_energy_uj")] for m in energy}
    claims["5_energy"] = {"by_profile": energy, "ann_equivalent_uj": ann}
    _table("claim 5: energy per image (µJ) of claim 1's trained models, by profile",
                  ["model", *profiles, "ANN equivalent (cmos45)"],
                  [[LABELS[m], *(_ms(energy[m][p], 3) for p in profiles), _ms(ann[m], 3)] for m in energy])

    # 6. the search's front points trained in full vs the hand-designed models
    search = next((r for r in reversed(rows) if r["kind"] == "search" and "error" not in r), None)
    front = _by(rows, "front", "pick")
    points = []

    def measured(rs: list[dict[str, Any]]) -> dict[str, Any]:
        return {"params": rs[0]["params"], "seeds": [r["seed"] for r in rs],
                **{k: [r[k] for r in rs] for k in ("test_accuracy", "val_accuracy", "energy_uj")}}

    for pick, rs in front.items():
        points.append({"name": f"searched: {pick} (trial {rs[0]['trial']})", "kind": "searched", "pick": pick,
                       "trial": rs[0]["trial"], "config": rs[0]["config"],
                       "proxy_val_accuracy": rs[0]["proxy_val_accuracy"], "proxy_energy_uj": rs[0]["proxy_energy_uj"],
                       **measured(rs)})
    for m in ("sssa", "ssa", "sdsa"):
        rs = hand.get(m, [])
        if rs:
            points.append({"name": f"hand: {LABELS[m]}", "kind": "hand", "model": m, **measured(rs)})
    for p in points:
        p["mean"] = {"acc": statistics.mean(p["test_accuracy"]), "uj": statistics.mean(p["energy_uj"])}
    verdicts = [{"searched": s["name"], "hand": h["name"], "verdict": _dominance(s["mean"], h["mean"])}
                for s in points if s["kind"] == "searched" for h in points if h["kind"] == "hand"]
    claims["6_search_vs_hand"] = {"search": search, "points": points, "verdicts": verdicts}
    _table("claim 6: a fresh main job's front, trained in full, beside the hand-designed models",
                  ["model", "params", "proxy val acc", "val accuracy", "test accuracy", "µJ/image"],
                  [[p["name"], p["params"], p.get("proxy_val_accuracy"), _ms(p["val_accuracy"]),
                    _ms(p["test_accuracy"]), _ms(p["energy_uj"], 3)] for p in points])
    for v in verdicts:
        _say(f"  {v['searched']} {v['verdict']} {v['hand']} (mean test accuracy and energy)")
    if points:
        _plot(points)

    def pts(p: dict[str, Any] | None) -> str:
        return "-" if p is None else f"{100 * p['mean']:+.2f}"

    tally = {w: sum(v["verdict"] == w for v in verdicts)
             for w in ("dominates", "is dominated by", "trades off against")}
    summary = (f"test accuracy, points: SSSA-SSA {pts(claims['1_attention']['sssa_minus_ssa'])}, SSSA-SDSA "
               f"{pts(claims['1_attention']['sssa_minus_sdsa'])}, V2-V1 {pts(claims['2_v1_v2']['v2_minus_other'])}, "
               f"learned-identity M_w {pts(claims['3_temporal_mixing']['v2_minus_other'])}; searched vs hand pairs: "
               + ", ".join(f"{n} {w}" for w, n in tally.items()))
    _common.record("paper_claims", vars(args), rows, summary, claims=claims)
    from snnas._atomic import write_atomic

    write_atomic(_common.OUT_DIR / "paper_claims_tables.md", "\n".join(MARKDOWN) + "\n")


def _mixer_record() -> dict[str, Any] | None:
    path = _common.OUT_DIR / "mixer_scaling.json"
    if not path.exists():
        return None
    data = json.loads(path.read_text())
    return {"command": data.get("command"), "rows": data.get("rows"), "summary": data.get("summary")}


def _plot(points: list[dict[str, Any]]) -> None:
    import plotly.graph_objects as go

    from snnas._atomic import write_atomic

    fig = go.Figure()
    for kind, symbol in (("hand", "square"), ("searched", "circle")):
        ps = [p for p in points if p["kind"] == kind]
        sd = [statistics.stdev(v) if len(v) > 1 else 0.0 for v in (p["test_accuracy"] for p in ps)]
        sd_e = [statistics.stdev(v) if len(v) > 1 else 0.0 for v in (p["energy_uj"] for p in ps)]
        fig.add_trace(go.Scatter(
            x=[p["mean"]["uj"] for p in ps], y=[p["mean"]["acc"] for p in ps], mode="markers+text",
            text=[p["name"].split(": ", 1)[1] for p in ps], textposition="top center", name=kind,
            marker={"symbol": symbol, "size": 11}, error_y={"type": "data", "array": sd},
            error_x={"type": "data", "array": sd_e}))
    fig.update_layout(title="Full training on fashion-mini: test accuracy vs energy (mean ± sd over seeds)",
                      xaxis={"title": "energy per image (µJ, cmos45)", "type": "log"},
                      yaxis={"title": "test accuracy"}, template="plotly_white")
    path = _common.OUT_DIR / "paper_claims_front.html"
    write_atomic(path, fig.to_html(include_plotlyjs="cdn", full_html=True))
    _common.console.print(f"[dim]wrote {path}[/dim]")
