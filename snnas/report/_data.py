"""What a report shows, gathered from a study into plain JSON types (the page and the PNGs both read this)."""

from __future__ import annotations

import time
import warnings
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from snnas._text import plural
from snnas._versions import package_versions
from snnas.search import (
    TrialRecord,
    front_of,
    hypervolume_2d,
    knee_index,
    near_best_rule,
    space_definition,
)
from snnas.search._record import knob_columns
from snnas.search._storage import masked, study_args

__all__ = ["gather"]

OPS = ("sop", "mac", "ac", "neuron_update")
_ROW_COUNT = {"sop": "sop", "mac": "mac", "ac": "ac", "neuron_update": "neuron_updates"}


def _mean_rate(report: dict[str, Any] | None) -> float | None:
    if not report:
        return None
    rates = [sum(r["firing_rate_t"]) / len(r["firing_rate_t"])
             for r in report.get("layers", []) if r.get("firing_rate_t")]
    return sum(rates) / len(rates) if rates else None


def _trial_row(r: TrialRecord, front: set[int], n_rungs: int | None, excluded: dict[int, str],
               below_chance: set[int]) -> dict[str, Any]:
    cfg = r.config
    row: dict[str, Any] = {
        "number": r.number, "state": r.state.name, "pareto": r.number in front,
        "params": r.n_params, "arch_id": r.arch_id,
        "knobs": {k: (v if isinstance(v, (int, float, str, bool)) else str(v)) for k, v in r.params.items()},
        "arch": {k: v for k, v in cfg.items() if isinstance(v, (int, float, str, bool))},  # the config's fields
        "reason": r.reason or excluded.get(r.number),  # a completed trial kept off the front says why
        "below_chance": r.number in below_chance,
        "seconds": round(r.seconds, 2) if r.seconds is not None else None,
        "firing_rate": _mean_rate(r.energy_report),
        "seed": r.seed,
    }
    if r.state == TrialState.COMPLETE and r.values:
        row.update(acc=r.accuracy, energy=r.energy_uj, fidelity="full")
    elif (last := r.last_rung) is not None:
        k, r = last
        row.update(acc=r["val_accuracy"], energy=r["energy_uj"], fidelity=f"rung {k}" + (
            f" of {n_rungs}" if n_rungs else ""))
    else:
        row.update(acc=None, energy=None, fidelity=None)
    return row


def _layers(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Per-layer energy split by operation (uJ per image), layers that spend nothing left out."""
    pj = report.get("provenance", {}).get("profile", {}).get("energy_pj", {})
    out = []
    for r in report.get("layers", []):
        split = {op: r.get(_ROW_COUNT[op], 0.0) * pj.get(op, 0.0) / 1e6 for op in OPS}
        total = r.get("energy_pj", sum(split.values()) * 1e6) / 1e6
        if total > 0:
            out.append({"layer": r["layer"], "kind": r["kind"], "total_uj": total, **{f"{op}_uj": v for op, v in
                                                                                      split.items()}})
    return out


def _firing(report: dict[str, Any]) -> dict[str, Any]:
    rows = [r for r in report.get("layers", []) if r.get("firing_rate_t")]
    return {"layers": [r["layer"] for r in rows], "z": [r["firing_rate_t"] for r in rows],
            "T": max((len(r["firing_rate_t"]) for r in rows), default=0)}


def _detail(r: TrialRecord) -> dict[str, Any]:
    rep = r.energy_report or {}
    return {"number": r.number, "acc": r.accuracy, "energy": r.energy_uj, "params": r.n_params,
            "arch_id": r.arch_id, "config": r.config,
            "counts": rep.get("counts", {}), "energy_by_op": rep.get("energy_uj", {}),
            "ann_energy_uj": rep.get("ann_energy_uj"), "layers": _layers(rep), "firing": _firing(rep),
            "seed": r.seed, "data_seed": r.data_seed, "command": r.command,
            "rungs": list(r.rungs)}  # in rung order (numerically: rung 10 after rung 2)


def _hypervolume(eligible: list[FrozenTrial]) -> dict[str, Any]:
    done = sorted((t for t in eligible if t.datetime_complete),
                  key=lambda t: t.datetime_complete)
    if not done:
        return {"trials": [], "hv": [], "ref_energy": None}
    ref = 1.01 * max(t.values[1] for t in done)
    pts, hv = [], []
    for t in done:
        pts.append((t.values[0], t.values[1]))
        hv.append(hypervolume_2d(pts, ref))
    return {"trials": [t.number for t in done], "hv": hv, "ref_energy": ref}


def _importance(study: optuna.Study, n_complete: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if n_complete < 3:
        return {"error": f"needs at least 3 completed trials (has {n_complete})"}
    # PED-ANOVA ranks knobs by how much they matter for reaching the *lowest* target values: accuracy is negated.
    for sign, i, name in ((-1.0, 0, "val_accuracy"), (1.0, 1, "energy_uj")):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                imp = optuna.importance.get_param_importances(
                    study, evaluator=optuna.importance.PedAnovaImportanceEvaluator(),
                    target=lambda t, i=i, sign=sign: sign * t.values[i])
            out[name] = {k: float(v) for k, v in imp.items()}
        except Exception as e:  # noqa: BLE001 - e.g. a single distinct value per knob; shown, not fatal
            out[name] = {}
            out["error"] = f"{type(e).__name__}: {e}"
    return out


# Measured (the main job, edge_small on fashion-mini, 200 trials): its most accurate trial, exported with
# `snnas export --pick max-accuracy` and trained with `snnas train`, went from proxy val accuracy 0.648 to
# 0.810 validation / 0.798 test in 4 min 53 s.
MEASURED_FULL = "main job: proxy 0.648 → 0.810 validation, 0.798 test"


def _proxy_note(space: dict[str, Any]) -> str:
    """One sentence: the proxy's accuracy ranks architectures, it is not what full training gives."""
    rungs = space.get("rungs") or []
    last = rungs[-1] if rungs else {}
    try:
        budget = (f"{plural(int(last['epochs']), 'short epoch')} on {float(last['fraction']):.0%} of the "
                  "training images")
    except (KeyError, TypeError, ValueError):
        budget = "a few short epochs"
    return (f"Proxy accuracy ({budget}) ranks architectures; it is not what you will get: full training with "
            f"`snnas export` + `snnas train` gives much more ({MEASURED_FULL}).")


def gather(study: optuna.Study, storage: str | None = None) -> dict[str, Any]:
    """Everything the report page shows, as JSON-ready Python values."""
    trials = study.get_trials(deepcopy=False)
    records = {t.number: TrialRecord.of(t) for t in trials}  # every reader below reads these
    complete = [t for t in trials if t.state == TrialState.COMPLETE and t.values]
    screened = front_of(trials)  # feasible, clearly above chance, non-dominated: as export and pareto.csv
    front_trials = sorted(screened.trials, key=lambda t: t.number)
    front = {t.number for t in front_trials}
    space = space_definition(study) or {}
    n_rungs = len(space.get("rungs", [])) or None
    knee_i = knee_index([(t.values[0], t.values[1]) for t in front_trials])
    knee = front_trials[knee_i].number if knee_i is not None else None
    picked, pick_rule = near_best_rule(front_trials)  # `snnas export`'s default pick
    pick = picked.number if picked is not None else None
    states = {s.name: sum(t.state == s for t in trials) for s in TrialState if any(t.state == s for t in trials)}
    below = set(screened.below_chance)
    rows = [_trial_row(records[t.number], front, n_rungs, screened.excluded, below) for t in trials]
    knob_names = [k["name"] for k in space.get("knobs", [])] or sorted({k for t in trials for k in t.params})
    provenance_source = next((t for t in front_trials if t.number == pick), front_trials[0] if front_trials else None)
    prov = ((records[provenance_source.number].energy_report or {}).get("provenance", {})
            if provenance_source else {})
    return {
        "study": {"name": study.study_name, "space": study.user_attrs.get("space"),
                  "dataset": study.user_attrs.get("dataset"), "profile": study.user_attrs.get("profile"),
                  "storage": masked(storage) if storage else None, "args": study_args(study.study_name, storage),
                  "trials": len(trials), "states": states,
                  "generated": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
                  "snnas": package_versions().get("snnas"), "description": space.get("description")},
        "knobs": knob_names,
        "columns": knob_columns(trials),  # the fields the space varies: the table's and the hover's, as pareto.csv's
        "trials": rows,
        "front": sorted(front, key=lambda n: next(t.values[1] for t in front_trials if t.number == n)),
        "knee": knee,
        "pick": pick,
        "pick_rule": pick_rule,
        "proxy_note": _proxy_note(space),
        "infeasible": sorted(n for n in screened.excluded if n not in below),
        "below_chance": sorted(below),
        "excluded": [{"number": t.number, "acc": t.values[0], "energy": t.values[1],
                      "reason": screened.excluded[t.number]} for t in complete if t.number in screened.excluded],
        "untested": sorted(screened.untested),
        "hypervolume": _hypervolume(screened.eligible),
        "importance": _importance(study, len(complete)),
        "details": {str(t.number): _detail(records[t.number]) for t in front_trials},
        "provenance": {k: prov.get(k) for k in ("profile", "counted", "counter", "versions", "T_included",
                                                 "encoding_layers_as_mac", "data", "batch_size")},
    }


def completed(data: dict[str, Any]) -> int:
    """How many trials of the gathered study completed (with none there is no front, pick or energy split)."""
    return int(data["study"]["states"].get("COMPLETE", 0))


# The unit of the hypervolume: the area hypervolume_2d measures between the front and the reference point
# (validation accuracy 0, 1.01 x the largest energy) in the plane of validation accuracy (0..1) and energy
# per image (µJ).
HV_UNIT = "accuracy × µJ/image"


