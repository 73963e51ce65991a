"""Finding, parsing and validating search-space TOML files (the format is documented in ``snnas.search.space``).

Every problem is found at load time, never in the middle of a search: a space that loads cannot make a
trial draw an invalid :class:`ArchConfig`. Each error is one line: ``<file>: <key>: <what is wrong>``.
"""

from __future__ import annotations

import collections
import difflib
import itertools
import math
import re
from dataclasses import fields
from importlib import resources
from pathlib import Path
from typing import Any

import snnas
from snnas._lookup import lookup, read_toml
from snnas.config import ACTIVE_WHEN, CONTROLS, FIELD_DEFAULTS, ArchConfig
from snnas.data import get_entry
from snnas.errors import ConfigError, SnnasError, shown
from snnas.search.space import SAMPLERS, Knob, Rung, SearchSpace, TrainSettings

__all__ = ["parse_space", "load_space", "list_spaces"]

_TOP = ("name", "description", "dataset", "fixed", "knobs", "fidelity", "train", "objectives", "constraints",
        "search")
_FIELD_TYPES = {f.name: f.type for f in fields(ArchConfig)}
_FROM_DATASET = ("in_channels", "num_classes")  # adapt_config sets these from the dataset
# Fields ArchConfig checks against other fields, or that switch other fields off (config.CONTROLS): their knobs
# are validated over every combination. Every other field has only its own range checks, so each value is
# checked alone.
_CROSS_CHECKED = ("embed_dim", "num_heads", "mlp_ratio", "patch_size", "img_size", "saccades", "sssa_version",
                  "kappa", "sssa_inference")
_INTERACTING = tuple(dict.fromkeys((*_CROSS_CHECKED, *CONTROLS)))
_EXPAND_LIMIT = 256  # an interacting int range with more values is checked at its endpoints only
_MAX_COMBINATIONS = 100_000


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


class _File:
    """The file being parsed: a name for messages and the one way to fail."""

    def __init__(self, origin: str) -> None:
        self.origin = origin

    def bad(self, key: str, why: str) -> ConfigError:
        if len(key) > 120:  # a hostile file's megabyte-long key must not become a megabyte-long message
            key = key[:100] + "..."
        return ConfigError(f"{self.origin}: {key}: {why}")

    def table(self, data: dict[str, Any], key: str, allowed: tuple[str, ...] | None = None,
              required: bool = False) -> dict[str, Any]:
        if key not in data:
            if required:
                raise self.bad(key, "missing")
            return {}
        t = data[key]
        if not isinstance(t, dict):
            raise self.bad(key, f"must be a table (got {shown(t)})")
        for k in t if allowed is not None else ():
            if k not in allowed:
                close = difflib.get_close_matches(k, allowed, n=1)
                hint = f"did you mean {close[0]}?" if close else f"known: {', '.join(allowed)}"
                raise self.bad(f"{key}.{k}", f"unknown key; {hint}")
        return t

    def field_name(self, name: str, key: str) -> None:
        try:
            lookup(_FIELD_TYPES, name, "ArchConfig field")
        except SnnasError as e:
            raise self.bad(key, str(e)) from None
        if name in _FROM_DATASET:
            raise self.bad(key, f"{name} is set from the dataset; remove it")

    def number(self, t: dict[str, Any], key: str, name: str, default: Any, *, integer: bool = False,
               minimum: float = 0.0, strict: bool = False, maximum: float | None = None) -> Any:
        v = t.get(name, default)
        ok = _is_int(v) if integer else _is_num(v)
        ok = ok and (v > minimum if strict else v >= minimum) and (maximum is None or v <= maximum)
        if not ok:
            kind = "an integer" if integer else "a number"
            bounds = [f"{'>' if strict else '>='} {minimum:g}"] if minimum > -math.inf else []
            bounds += [f"<= {maximum:g}"] if maximum is not None else []
            kind += " " + " and ".join(bounds) if bounds else ""
            raise self.bad(f"{key}.{name}", f"must be {kind} (got {shown(v)})")
        return v if integer else float(v)


def _space_dir() -> Any:
    # Installed wheel: snnas/search_spaces (force-included). Editable checkout: <repo>/search_spaces.
    shipped = resources.files("snnas") / "search_spaces"
    if shipped.is_dir():
        return shipped
    return Path(snnas.__file__).resolve().parents[1] / "search_spaces"


def _builtin() -> dict[str, Any]:
    folder = _space_dir()
    if not folder.is_dir():
        return {}
    return {p.name.removesuffix(".toml"): p for p in folder.iterdir() if p.name.endswith(".toml")}


def list_spaces() -> list[str]:
    """Names of the shipped search spaces."""
    return sorted(_builtin())


def load_space(name_or_path: str | Path) -> SearchSpace:
    """A shipped space by name, or a user's TOML file by path (ending in ``.toml`` or an existing file).

    Example:
        >>> load_space("edge_tiny").name in list_spaces()
        True
    """
    origin, data = read_toml(name_or_path, _builtin(), "search space")
    return parse_space(data, origin)


def parse_space(data: dict[str, Any], origin: str) -> SearchSpace:
    """A validated :class:`SearchSpace` from a parsed TOML document; ``origin`` names it in errors."""
    f = _File(origin)
    for k in data:
        if k not in _TOP:
            close = difflib.get_close_matches(k, _TOP, n=1)
            raise f.bad(k, f"unknown key; {f'did you mean {close[0]}?' if close else 'known: ' + ', '.join(_TOP)}")
    for k in ("name", "dataset"):
        if not isinstance(data.get(k), str) or not data[k].strip():
            raise f.bad(k, "missing" if k not in data else f"must be a non-empty string (got {shown(data[k])})")
    description = data.get("description", "")
    if not isinstance(description, str):
        raise f.bad("description", f"must be a string (got {shown(description)})")
    try:
        get_entry(data["dataset"])
    except SnnasError as e:
        raise f.bad("dataset", str(e)) from None

    fixed = f.table(data, "fixed")
    for name in fixed:
        f.field_name(name, f"fixed.{name}")
    knob_tables = f.table(data, "knobs", required=True)
    if not knob_tables:
        raise f.bad("knobs", "must declare at least one knob")
    knobs = tuple(_parse_knob(f, name, spec, fixed) for name, spec in knob_tables.items())
    _check_reachable(f, knobs, fixed)
    _check_combinations(f, knobs, fixed)

    rungs, eta, min_pop = _parse_fidelity(f, f.table(data, "fidelity", ("rungs", "eta", "min_rung_population"),
                                                     required=True))
    t = f.table(data, "train", tuple(x.name for x in fields(TrainSettings)))
    d = TrainSettings()
    train = TrainSettings(
        batch_size=f.number(t, "train", "batch_size", d.batch_size, integer=True, minimum=1),
        lr=f.number(t, "train", "lr", d.lr, strict=True),
        weight_decay=f.number(t, "train", "weight_decay", d.weight_decay),
        warmup_epochs=f.number(t, "train", "warmup_epochs", d.warmup_epochs, maximum=rungs[-1].epochs),
        val_fraction=f.number(t, "train", "val_fraction", d.val_fraction, strict=True, maximum=0.5),
        max_train_images=f.number(t, "train", "max_train_images", d.max_train_images, integer=True),
        time_limit_s=f.number(t, "train", "time_limit_s", d.time_limit_s, strict=True),
    )
    o = f.table(data, "objectives", ("profile", "calibration_images"))
    profile = o.get("profile", "cmos45")
    if not isinstance(profile, str):
        raise f.bad("objectives.profile", f"must be a profile name or TOML file (got {shown(profile)})")
    from snnas.energy import load_profile

    try:
        load_profile(profile)
    except SnnasError as e:
        raise f.bad("objectives.profile", str(e)) from None
    calibration_images = f.number(o, "objectives", "calibration_images", 32, integer=True, minimum=1)
    c = f.table(data, "constraints", ("max_params", "max_energy_uj"))
    max_params = f.number(c, "constraints", "max_params", None, integer=True, minimum=1) if "max_params" in c else None
    max_energy = f.number(c, "constraints", "max_energy_uj", None, strict=True) if "max_energy_uj" in c else None
    srch = f.table(data, "search", ("sampler", "prescreen"))
    sampler = srch.get("sampler")
    if sampler is not None and sampler not in SAMPLERS:
        raise f.bad("search.sampler", f"must be one of {', '.join(SAMPLERS)} (got {shown(sampler)})")
    prescreen = f.number(srch, "search", "prescreen", 0, integer=True, maximum=100_000)
    return SearchSpace(
        name=data["name"], description=description, source=origin, dataset=data["dataset"], fixed=dict(fixed),
        knobs=knobs, rungs=rungs, eta=eta, min_rung_population=min_pop, train=train, profile=profile,
        calibration_images=calibration_images, max_params=max_params, max_energy_uj=max_energy,
        sampler=sampler, prescreen=prescreen,
    )


def _parse_knob(f: _File, name: str, spec: Any, fixed: dict[str, Any]) -> Knob:
    key = f"knobs.{name}"
    f.field_name(name, key)
    if name in fixed:
        raise f.bad(key, "also set in [fixed]; a field is either fixed or a knob")
    if not isinstance(spec, dict):
        raise f.bad(key, f"must be a table with choices = [...] or low/high (got {shown(spec)})")
    spec = f.table({key: spec}, key, ("choices", "ordered", "low", "high", "step", "log"))
    has_range = "low" in spec or "high" in spec
    if ("choices" in spec) == has_range:
        raise f.bad(key, "give either choices = [...] or low/high, not both" if has_range
                    else "needs choices = [...] or low/high")
    ftype = _FIELD_TYPES[name]
    ordered = spec.get("ordered", False)
    if not isinstance(ordered, bool):
        raise f.bad(f"{key}.ordered", f"must be true or false (got {shown(ordered)})")
    if "ordered" in spec and "choices" not in spec:
        raise f.bad(f"{key}.ordered", "applies to choices = [...]; a low/high range is ordered already")
    if "choices" in spec:
        for k in ("step", "log"):
            if k in spec:
                raise f.bad(f"{key}.{k}", "applies to low/high ranges, not to choices")
        choices = spec["choices"]
        if not isinstance(choices, list) or not choices:
            raise f.bad(f"{key}.choices", f"must be a non-empty list (got {shown(choices)})")
        for c in choices:
            if isinstance(c, bool) or not isinstance(c, str | int | float):
                raise f.bad(f"{key}.choices", f"values must be strings or numbers (got {shown(c)})")
        repeated = [c for c, n in collections.Counter(choices).items() if n > 1]
        if repeated:
            raise f.bad(f"{key}.choices", f"has duplicates ({shown(repeated)} more than once)")
        if ordered:
            _check_ordered(f, f"{key}.choices", choices)
        return Knob(name, "ordered" if ordered else "categorical", choices=tuple(choices))
    if ftype not in ("int", "float"):
        raise f.bad(key, f"{name} is not numeric; give choices = [...]")
    for k in ("low", "high"):
        if k not in spec:
            raise f.bad(f"{key}.{k}", "missing (a range needs both low and high)")
    log = spec.get("log", False)
    if not isinstance(log, bool):
        raise f.bad(f"{key}.log", f"must be true or false (got {shown(log)})")
    if ftype == "int":
        low, high = (f.number(spec, key, k, None, integer=True, minimum=1) for k in ("low", "high"))
        step = f.number(spec, key, "step", 1, integer=True, minimum=1)
        if log and step != 1:
            raise f.bad(f"{key}.log", "cannot be combined with a step other than 1")
    else:
        low, high = (f.number(spec, key, k, None, minimum=-math.inf) for k in ("low", "high"))
        step = f.number(spec, key, "step", None, strict=True) if "step" in spec else None
        if log and step is not None:
            raise f.bad(f"{key}.log", "cannot be combined with step")
        if log and low <= 0:
            raise f.bad(f"{key}.low", f"must be > 0 with log = true (got {shown(low)})")
    if low > high:
        raise f.bad(f"{key}.low", f"must be <= high ({shown(high)}) (got {shown(low)})")
    if ftype == "int" and (high - low) % step:
        raise f.bad(f"{key}.step", f"must divide high - low ({shown(high - low)}) (got {shown(step)})")
    return Knob(name, ftype, low=low, high=high, step=step, log=log)


def _check_ordered(f: _File, key: str, choices: list[Any]) -> None:
    """``ordered = true`` choices: at least two finite numbers, strictly increasing (their order is the knob's)."""
    for c in choices:
        if not _is_num(c):
            raise f.bad(key, f"ordered = true needs finite numbers (got {shown(c)}); leave ordered out for "
                        "categorical choices")
    if len(choices) < 2:
        raise f.bad(key, f"ordered = true needs at least 2 values (got {shown(choices)})")
    for a, b in itertools.pairwise(choices):
        if not a < b:
            raise f.bad(key, f"ordered = true needs strictly increasing values ({shown(b)} follows {shown(a)})")


def _parse_fidelity(f: _File, t: dict[str, Any]) -> tuple[tuple[Rung, ...], int, int]:
    raw = t.get("rungs")
    if not isinstance(raw, list) or not raw:
        raise f.bad("fidelity.rungs", f"must be a non-empty list of {{ epochs, fraction }} tables (got {shown(raw)})")
    rungs: list[Rung] = []
    for i, r in enumerate(raw):
        key = f"fidelity.rungs[{i}]"
        if not isinstance(r, dict):
            raise f.bad(key, f"must be a table {{ epochs = N, fraction = F }} (got {shown(r)})")
        r = f.table({key: r}, key, ("epochs", "fraction", "T"))
        if "epochs" not in r or "fraction" not in r:
            raise f.bad(f"{key}.{'epochs' if 'epochs' not in r else 'fraction'}", "missing")
        epochs = f.number(r, key, "epochs", None, integer=True, minimum=1)
        fraction = f.number(r, key, "fraction", None, strict=True, maximum=1.0)
        T = f.number(r, key, "T", None, integer=True, minimum=1) if "T" in r else None
        if rungs and epochs <= rungs[-1].epochs:
            raise f.bad(f"{key}.epochs", f"must exceed the previous rung's ({rungs[-1].epochs}); epochs are "
                        f"cumulative (got {shown(epochs)})")
        if rungs and fraction < rungs[-1].fraction:
            raise f.bad(f"{key}.fraction", f"must not be below the previous rung's ({rungs[-1].fraction}) "
                        f"(got {fraction})")
        rungs.append(Rung(epochs, fraction, T))
    if rungs[-1].T is not None:
        raise f.bad(f"fidelity.rungs[{len(rungs) - 1}].T", "the last rung trains at the trial's own T; remove it")
    eta = f.number(t, "fidelity", "eta", 3, integer=True, minimum=2)
    min_pop = f.number(t, "fidelity", "min_rung_population", 4, integer=True, minimum=1)
    return tuple(rungs), eta, min_pop


def _values(k: Knob, expand: bool) -> list[tuple[Any, str]]:
    """The values of a knob to validate, each with the key an error names."""
    key = f"knobs.{k.name}"
    if k.kind in ("categorical", "ordered"):
        return [(c, key) for c in k.choices]
    if expand and k.kind == "int" and (k.high - k.low) // k.step < _EXPAND_LIMIT:
        return [(v, f"{key}.low" if v == k.low else f"{key}.high" if v == k.high else key)
                for v in range(k.low, k.high + 1, k.step)]
    return [(k.low, f"{key}.low"), (k.high, f"{key}.high")]


def _check_reachable(f: _File, knobs: tuple[Knob, ...], fixed: dict[str, Any]) -> None:
    # A knob that can never matter would only add a dimension of noise to the sampler.
    possible = {**{k: [v] for k, v in FIELD_DEFAULTS.items()}, **{k: [v] for k, v in fixed.items()},
                **{k.name: [v for v, _ in _values(k, False)] for k in knobs}}
    for k in knobs:
        for control, needed in ACTIVE_WHEN.get(k.name, ()):
            if needed not in possible[control]:
                where = "a knob" if control in {x.name for x in knobs} else "fixed" if control in fixed else "default"
                raise f.bad(f"knobs.{k.name}", f"has no effect: it matters only when {control} = {needed!r}, "
                            f"and {control} ({where}) never is")


def _check_combinations(f: _File, knobs: tuple[Knob, ...], fixed: dict[str, Any]) -> None:
    """Build an ArchConfig for every combination that can fail, so no trial ever draws an invalid one."""
    names = {k.name for k in knobs}

    def build(values: dict[str, Any], keys: dict[str, str], base: dict[str, Any]) -> None:
        try:
            ArchConfig(**{**base, **values})
        except ConfigError as e:
            m = re.match(r"ArchConfig\.(\w+): (.*)", str(e))
            culprit, why = m.groups() if m else ("", str(e))
            key = keys.get(culprit) or (f"fixed.{culprit}" if culprit in fixed else "fixed")
            if culprit and culprit not in names and culprit not in fixed:
                why = f"{culprit} (not set; ArchConfig's default) {why}"
            if len(values) > 1 or key != keys.get(culprit):
                given = ", ".join(f"{n}={shown(v)}" for n, v in values.items())
                why += f" [with {given}]" if given else ""
            raise f.bad(key, why) from None

    # Fields without cross-field rules: each value alone, on a default config where the field is active.
    alone = [k for k in knobs if k.name not in _INTERACTING]
    for k in alone:
        for v, key in _values(k, expand=False):
            build({k.name: v}, {k.name: key}, {})
    firsts = {k.name: _values(k, False)[0][0] for k in alone}
    crossed = [k for k in knobs if k.name in _INTERACTING]
    grids = [_values(k, expand=True) for k in crossed]
    total = math.prod(len(g) for g in grids)
    if total > _MAX_COMBINATIONS:
        raise f.bad("knobs", f"{total} combinations of {', '.join(k.name for k in crossed)} to validate (limit "
                    f"{_MAX_COMBINATIONS}); fix some of them or narrow their ranges")
    base = {**fixed, **firsts}
    for combo in itertools.product(*grids):
        build({k.name: v for k, (v, _) in zip(crossed, combo, strict=True)},
              {k.name: key for k, (_, key) in zip(crossed, combo, strict=True)}, base)
