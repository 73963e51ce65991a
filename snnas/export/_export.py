"""``snnas export``: one searched architecture as a self-contained JSON file with a full-training recipe.

The file (format ``snnas-export/1``, every key in ``docs/train.md``) holds the architecture, its id, an
editable training recipe scaled from the search space, the trial's proxy result, its energy report and
where it came from. :func:`load_export` reads it back with one-line errors, so ``snnas train`` never starts
on a file it cannot honour.
"""

from __future__ import annotations

import datetime
import json
import math
import re
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from snnas._atomic import write_atomic
from snnas._versions import package_versions
from snnas.config import ArchConfig
from snnas.errors import SnnasError, first_line, parse_failure, shown
from snnas.search import Attr, TrialRecord, front_of, knee_index, near_best_rule, open_existing_study, space_definition
from snnas.search._storage import default_url

__all__ = ["DEFAULT_PICK", "EXPORT_FORMAT", "PICKS", "check_export_target", "default_recipe", "export_trial",
           "load_export", "off_front", "parse_pick", "select_trial", "validate_recipe"]

EXPORT_FORMAT = "snnas-export/1"
PICKS = ("near-best (default), knee, max-accuracy, min-energy, energy<=X (X in uJ per image, e.g. energy<=0.2) or "
         "accuracy>=X (X a val accuracy in 0..1, e.g. accuracy>=0.5)")
DEFAULT_PICK = "near-best"
EPOCHS_FLOOR = 20  # full training runs at least this many epochs ...
EPOCHS_SCALE = 10  # ... and at least this many times the last rung's (cumulative) epochs
# The proxy's learning rate is tuned to show a signal within a few epochs; held near its peak for a full run it
# destabilised training (edge_small knee, 3e-3: val accuracy 0.53 -> 0.22 by epoch 3, 0.44 after 10 epochs;
# 1e-3: rising steadily to 0.59). Full training starts from a third of it (docs/train.md).
LR_SCALE = 1 / 3


# ---------------------------------------------------------------------------------------------- recipe
def _int(lo: int) -> tuple[str, Any]:
    return (f"an integer >= {lo}",
            lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= lo)


def _num(test, text: str) -> tuple[str, Any]:  # noqa: ANN001
    return (text, lambda v: isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) and test(v))


# key -> (what it must be, check). Every key is required and no other is allowed.
RECIPE_SCHEMA: dict[str, tuple[str, Any]] = {
    "dataset": ("a dataset name (see `snnas datasets`)", lambda v: isinstance(v, str) and v.strip() != ""),
    "epochs": _int(1),
    "batch_size": _int(1),
    "lr": _num(lambda v: v > 0, "a positive number"),
    "weight_decay": _num(lambda v: v >= 0, "a number >= 0"),
    "warmup_epochs": _num(lambda v: v >= 0, "a number >= 0 (epochs of linear warm-up)"),
    "schedule": ('"cosine" (linear warm-up, then cosine to zero)', lambda v: v == "cosine"),
    "augment": ("true or false (random crop and flip, as the proxy trainer)", lambda v: isinstance(v, bool)),
    "label_smoothing": _num(lambda v: 0 <= v < 1, "a number in [0, 1)"),
    "val_fraction": _num(lambda v: 0 < v < 1, "a number in (0, 1)"),
    "max_train_images": _int(0),
    "seed": _int(0),
    "data_seed": _int(0),
    "energy_profile": ("an energy profile name or TOML file", lambda v: isinstance(v, str) and v.strip() != ""),
    "calibration_images": _int(1),
}
_FLOATS = ("lr", "weight_decay", "warmup_epochs", "label_smoothing", "val_fraction")


def validate_recipe(recipe: Any, where: str = "recipe") -> dict[str, Any]:
    """A checked copy of ``recipe`` (floats as floats); a one-line :class:`SnnasError` names a bad key."""
    if not isinstance(recipe, dict):
        raise SnnasError(f"{where}: expected an object of training settings, got {type(recipe).__name__}")
    unknown = sorted(map(str, set(recipe) - set(RECIPE_SCHEMA)))
    if unknown:
        listed = ", ".join(k if len(k) <= 40 else k[:37] + "..." for k in unknown[:8])
        listed += f" and {len(unknown) - 8} more" if len(unknown) > 8 else ""
        raise SnnasError(f"{where}: unknown key(s) {listed}; known: {', '.join(RECIPE_SCHEMA)}")
    missing = [k for k in RECIPE_SCHEMA if k not in recipe]
    if missing:
        raise SnnasError(f"{where}: missing key(s) {', '.join(missing)}")
    for key, (what, ok) in RECIPE_SCHEMA.items():
        if not ok(recipe[key]):
            raise SnnasError(f"{where}.{key}: must be {what} (got {shown(recipe[key])})")
    out = {k: recipe[k] for k in RECIPE_SCHEMA}
    for key in _FLOATS:
        out[key] = float(out[key])
    return out


def default_recipe(space_definition: dict[str, Any], dataset: str, seed: int, data_seed: int) -> dict[str, Any]:
    """The full-training recipe for a trial of a space (``SearchSpace.describe()``), scaled from its proxy.

    The proxy's batch size and weight decay, a third of its learning rate; ``max(20, 10 x last rung's epochs)``
    epochs on the whole training part; warm-up of 5 % of the epochs (at least the space's); the search's
    validation split (``val_fraction``, ``max_train_images`` and ``data_seed``) so validation accuracies
    compare; the trial's own seed; the space's energy profile and calibration size.

    Example:
        >>> from snnas.search import load_space
        >>> r = default_recipe(load_space("edge_tiny").describe(), "fashion-mini", seed=3, data_seed=0)
        >>> r["epochs"], r["warmup_epochs"], r["lr"], r["seed"]
        (20, 1.0, 0.001, 3)
    """
    train = space_definition["train"]
    objectives = space_definition.get("objectives", {})
    epochs = max(EPOCHS_FLOOR, EPOCHS_SCALE * int(space_definition["rungs"][-1]["epochs"]))
    return validate_recipe({
        "dataset": dataset,
        "epochs": epochs,
        "batch_size": int(train["batch_size"]),
        "lr": float(f"{float(train['lr']) * LR_SCALE:.6g}"),
        "weight_decay": float(train["weight_decay"]),
        "warmup_epochs": max(float(train["warmup_epochs"]), round(0.05 * epochs, 2)),
        "schedule": "cosine",
        "augment": True,
        "label_smoothing": 0.0,
        "val_fraction": float(train["val_fraction"]),
        "max_train_images": int(train.get("max_train_images", 0)),
        "seed": int(seed),
        "data_seed": int(data_seed),
        "energy_profile": str(objectives.get("profile", "cmos45")),
        "calibration_images": int(objectives.get("calibration_images", 32)),
    })


# ---------------------------------------------------------------------------------------------- picking
def parse_pick(text: str) -> tuple[str, float | None]:
    """``("near-best" | "knee" | "max-accuracy" | "min-energy" | "energy<=", X or None)``; anything else is a
    one-line error.

    Example:
        >>> parse_pick("near-best"), parse_pick("energy<=0.25"), parse_pick(" energy <= 1e-1 uJ ")
        (('near-best', None), ('energy<=', 0.25), ('energy<=', 0.1))
        >>> parse_pick("accuracy>=0.5")
        ('accuracy>=', 0.5)
    """
    t = re.sub(r"\s+", "", str(text)).lower().replace("_", "-")
    if t in ("near-best", "knee", "max-accuracy", "min-energy"):
        return t, None
    m = re.fullmatch(r"(energy<=)([0-9.eE+-]+)(uj)?|(accuracy>=)([0-9.eE+-]+)", t)
    if m:
        kind, number = (m.group(1), m.group(2)) if m.group(1) else (m.group(4), m.group(5))
        try:
            x = float(number)
        except ValueError:
            x = math.nan
        if math.isfinite(x) and x >= 0 and (kind == "energy<=" or x <= 1):
            return kind, x
    raise SnnasError(f"unknown --pick {text!r}; use {PICKS}")


def _state_reason(t: FrozenTrial) -> str:
    r = TrialRecord.of(t)
    if r.state == TrialState.PRUNED:
        return f"was pruned ({r.prune_reason or 'no reason recorded'})"
    if r.state == TrialState.FAIL:
        return f"failed ({r.fail_reason or 'its process died; a re-run replaces it'})"
    return f"has not finished (state {r.state.name})"


def select_trial(study: optuna.Study, trial: int | None = None, pick: str | None = None) -> FrozenTrial:
    """The trial to export: ``trial`` (any COMPLETE trial) or ``pick`` (default ``near-best``) on the front.

    The front is :func:`snnas.search.front_of`'s, as ``snnas report`` and ``pareto.csv`` show it: completed
    trials that keep the space's constraints and are clearly above chance, non-dominated. Ties go to the
    lower energy, then the lower trial number.
    """
    if trial is not None and pick is not None:
        raise SnnasError("give --trial N or --pick, not both")
    if trial is not None:
        found = {t.number: t for t in study.get_trials(deepcopy=False)}
        if trial not in found:
            span = f"trials 0..{max(found)}" if found else "no trials"
            raise SnnasError(f"study {study.study_name!r} has no trial {trial} ({span})")
        t = found[trial]
        if t.user_attrs.get(Attr.DUPLICATE_OF) in found:  # it took a known architecture's result: export that
            t = found[t.user_attrs[Attr.DUPLICATE_OF]]
        if t.state != TrialState.COMPLETE:
            raise SnnasError(f"trial {trial} of study {study.study_name!r} {_state_reason(t)}; only COMPLETE "
                             "trials can be exported")
        return t
    kind, limit = parse_pick(pick or DEFAULT_PICK)
    trials = study.get_trials(deepcopy=False)
    screened = front_of(trials)
    front = sorted(screened.trials, key=lambda t: t.number)
    if not front:
        states = {}
        for t in trials:
            states[t.state.name] = states.get(t.state.name, 0) + 1
        held = ", ".join(f"{n} {s}" for s, n in sorted(states.items())) or "no trials"
        off = ""
        if screened.excluded:
            below = len(screened.below_chance)
            off = (f"; {len(screened.excluded)} completed trial(s) kept off the front: {below} not clearly above "
                   f"chance, {len(screened.excluded) - below} infeasible (first: trial "
                   f"{min(screened.excluded)}, {screened.excluded[min(screened.excluded)]})")
        raise SnnasError(f"study {study.study_name!r} has no completed feasible trial clearly above chance to "
                         f"export ({held}{off})")
    if kind == "near-best":
        return near_best_rule(front)[0]
    if kind == "knee":
        return front[knee_index([(t.values[0], t.values[1]) for t in front])]
    if kind == "max-accuracy":
        return max(front, key=lambda t: (t.values[0], -t.values[1], -t.number))
    if kind == "min-energy":
        return min(front, key=lambda t: (t.values[1], -t.values[0], t.number))
    if kind == "accuracy>=":  # the cheapest that reaches the accuracy
        reach = [t for t in front if t.values[0] >= limit]
        if not reach:
            best = max(front, key=lambda t: (t.values[0], -t.values[1], -t.number))
            raise SnnasError(f"no trial on the Pareto front of {study.study_name!r} has val accuracy >= {limit:g}; "
                             f"the most accurate is trial {best.number} at {best.values[0]:.4f} "
                             f"({best.values[1]:.4g} uJ)")
        return min(reach, key=lambda t: (t.values[1], -t.values[0], t.number))
    within = [t for t in front if t.values[1] <= limit]
    if not within:
        cheapest = min(front, key=lambda t: (t.values[1], -t.values[0], t.number))
        raise SnnasError(f"no trial on the Pareto front of {study.study_name!r} has energy <= {limit:g} uJ; the "
                         f"cheapest is trial {cheapest.number} at {cheapest.values[1]:.4g} uJ "
                         f"(val accuracy {cheapest.values[0]:.4f})")
    return max(within, key=lambda t: (t.values[0], -t.values[1], -t.number))


# ---------------------------------------------------------------------------------------------- export
def export_document(study: optuna.Study, t: FrozenTrial, storage: str) -> dict[str, Any]:
    """The export's content for COMPLETE trial ``t`` of ``study`` (see ``docs/train.md``)."""
    sattrs, attrs, record, space = study.user_attrs, t.user_attrs, TrialRecord.of(t), space_definition(study)
    if space is None:
        raise SnnasError(f"study {study.study_name!r} was not made by `snnas search` (it records no space "
                         "definition); cannot derive a training recipe")
    for key in (Attr.CONFIG, Attr.ARCH_ID, Attr.SEED):
        if key not in attrs:
            raise SnnasError(f"trial {t.number} of study {study.study_name!r} records no {key!r}; not made by "
                             "`snnas search`")
    try:
        cfg = ArchConfig.from_dict(record.config)
    except SnnasError as e:
        raise SnnasError(f"trial {t.number}: its recorded config no longer builds ({e})") from None
    if cfg.id != record.arch_id:
        raise SnnasError(f"trial {t.number}: its recorded config has id {cfg.id} here but {record.arch_id} when "
                         "searched (an ArchConfig change between snnas versions); refusing to export")
    dataset = sattrs.get("dataset") or space["dataset"]
    data_seed = record.data_seed
    recipe = default_recipe(space, dataset, int(record.seed),
                            0 if data_seed is None else data_seed)
    rungs = list(record.rungs)
    return {
        "format": EXPORT_FORMAT,
        "arch_id": cfg.id,
        "arch": cfg.to_dict(),
        "recipe": recipe,
        "search": {
            "val_accuracy": t.values[0],
            "energy_uj": t.values[1],
            "params": record.n_params,
            "rungs": rungs,
            "constraints": dict(t.constraints),  # name -> value; <= 0 is feasible
            "feasible": all(c <= 0 for c in t.constraints.values()),
            "seconds": record.seconds,
        },
        "energy_report": record.energy_report,
        "provenance": {
            "study": study.study_name,
            "storage": storage,
            "trial": t.number,
            "seed": int(record.seed),
            "data_seed": data_seed,
            "space": sattrs.get("space"),
            "dataset": dataset,
            "backend": attrs.get(Attr.BACKEND),
            "device": attrs.get(Attr.DEVICE),
            "host": attrs.get(Attr.HOST),
            "command": record.command,
            "versions": attrs.get(Attr.VERSIONS),
            "exported_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "exported_with": package_versions()["snnas"],
        },
    }


def export_trial(study_name: str, storage: str | None = None, trial: int | None = None, pick: str | None = None,
                 out: str | Path | None = None, studies_dir: str | Path = "studies") -> Path:
    """Write one trial of a finished search as ``exports/<study>-trial<N>.json`` (or ``out``); its path.

    ``trial`` exports any COMPLETE trial; otherwise ``pick`` (default ``"near-best"``) chooses on the front
    (:func:`snnas.search.front_of`: feasible, clearly above chance, non-dominated): ``near-best`` (the
    cheapest trial within 2 standard errors of the most accurate one's validation accuracy), ``knee``,
    ``max-accuracy``, ``min-energy`` or ``energy<=X`` (the most accurate with at most X uJ per image). Every
    failure is a one-line :class:`SnnasError`.
    """
    check_export_target(out)  # before anything is written: --out must not replace a study, a report, ...
    study = open_existing_study(study_name, storage, studies_dir)
    t = select_trial(study, trial, pick)
    url = storage or default_url(studies_dir, study_name)
    doc = export_document(study, t, url)
    doc["provenance"]["off_front"] = off_front(study, t)  # --trial may name a trial a pick would never choose
    path = Path(out) if out is not None else Path("exports") / f"{study_name}-trial{t.number}.json"
    if path.is_dir():
        path = path / f"{study_name}-trial{t.number}.json"
    write_atomic(path, json.dumps(doc, indent=2) + "\n", site="export")
    cfg, _, _ = load_export(path)  # what `snnas train` will rebuild must be the trial's network
    if cfg.id != doc["arch_id"]:  # pragma: no cover - guarded by export_document already
        path.unlink()
        raise SnnasError(f"export of trial {t.number} rebuilds arch {cfg.id}, not {doc['arch_id']}")
    return path


def off_front(study: optuna.Study, t: FrozenTrial) -> str | None:
    """Why a COMPLETE trial is not on the front (:func:`snnas.search.front_of`), or ``None`` when it is."""
    trials = study.get_trials(deepcopy=False)
    screened = front_of(trials)
    if t.number in screened.excluded:
        return screened.excluded[t.number]
    if any(f.number == t.number for f in screened.trials):
        return None
    better = [f for f in screened.trials if f.values[0] >= t.values[0] and f.values[1] <= t.values[1]]
    if better:
        b = min(better, key=lambda f: (f.values[1], -f.values[0], f.number))
        return (f"dominated by trial {b.number} (val accuracy {b.values[0]:.4f} >= {t.values[0]:.4f} at "
                f"{b.values[1]:.4g} <= {t.values[1]:.4g} uJ)")
    return "not on the Pareto front"


def check_export_target(out: str | Path | None) -> None:
    """Refuse an ``--out`` naming an existing file that is not an snnas export: the export would replace it.

    A slip such as ``--out studies/<study>.db`` would otherwise swap the study database for a JSON file. An
    existing export (a re-export) and a folder (the file goes inside) are fine.
    """
    if out is None:
        return
    p = Path(out)
    if not p.exists() or p.is_dir():
        return
    try:
        doc = json.loads(p.read_text()) if p.is_file() and p.stat().st_size <= 16 << 20 else None
        ok = isinstance(doc, dict) and doc.get("format") == EXPORT_FORMAT
    except (OSError, ValueError, RecursionError):  # unreadable, not UTF-8, not JSON
        ok = False
    if not ok:
        raise SnnasError(f"--out {p} exists and is not an snnas export; refusing to replace it (give a new file "
                         "name or a folder)")


def load_export(path: str | Path) -> tuple[ArchConfig, dict[str, Any], dict[str, Any]]:
    """``(architecture, checked recipe, the whole document)`` of an export file; one-line errors otherwise.

    The architecture must rebuild to the recorded ``arch_id``: a hand-edited ``arch`` is refused (the
    search's numbers would not describe it); the recipe may be edited freely within its schema.
    """
    p = Path(path)
    if p.is_dir():
        raise SnnasError(f"{p} is a folder, not an export file (give the .json file `snnas export` wrote)")
    if not p.is_file():
        raise SnnasError(f"export file not found: {p}")
    try:
        text = p.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise SnnasError(f"cannot read export file {p}: {type(e).__name__}: {first_line(e)}") from None
    try:
        doc = json.loads(text)
    except ValueError as e:  # a JSONDecodeError, or an integer of thousands of digits
        raise SnnasError(f"{p}: not valid JSON ({parse_failure(e)})") from None
    except RecursionError:
        raise SnnasError(f"{p}: not valid JSON (arrays or objects nested too deeply)") from None
    if not isinstance(doc, dict):
        raise SnnasError(f"{p}: expected a JSON object, got {type(doc).__name__}")
    if doc.get("format") != EXPORT_FORMAT:
        raise SnnasError(f"{p}: not an snnas export (format {shown(doc.get('format'))}, expected {EXPORT_FORMAT!r})")
    missing = [k for k in ("arch", "arch_id", "recipe") if k not in doc]
    if missing:
        raise SnnasError(f"{p}: missing key(s) {', '.join(missing)}")
    try:
        cfg = ArchConfig.from_dict(doc["arch"])
    except SnnasError as e:
        raise SnnasError(f"{p}: arch: {e}") from None
    if cfg.id != doc["arch_id"]:
        raise SnnasError(f"{p}: arch gives id {cfg.id} but arch_id says {shown(doc['arch_id'])}; the architecture was "
                         "edited, so the search's numbers do not describe it (export the trial again, or set "
                         f"arch_id to {cfg.id} to train the edited network)")
    recipe = validate_recipe(doc["recipe"], f"{p}: recipe")
    return cfg, recipe, doc
