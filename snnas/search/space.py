"""Search spaces as TOML files: a pure function from a trial to a frozen :class:`~snnas.config.ArchConfig`.

A space is found by name in the shipped ``search_spaces/`` folder (inside the wheel at
``snnas/search_spaces``), or read from a user's file when the argument ends in ``.toml`` or names an
existing file (:mod:`snnas.search._space_file` reads and checks it). Every file is validated when loaded,
so a trial can never draw an invalid network; each error is one line naming the file, the key and what is
wrong. The format (``docs/search_spaces.md`` has more)::

    name = "edge_small"
    description = "what this space is for"
    dataset = "fashion-mini"        # default dataset; the trial's config takes its channels and classes

    [fixed]                         # ArchConfig fields held constant (any field except in_channels/num_classes)
    img_size = 16
    patch_size = 4

    [knobs.saccades]                # categorical: a non-empty list of str/int/float values (no order)
    choices = ["threshold", 2, 4]
    [knobs.T]                       # ordered: >= 2 strictly increasing numbers; samplers see their order
    choices = [1, 2, 4]
    ordered = true
    [knobs.depth]                   # int field: low, high, optional step (default 1) or log = true
    low = 1
    high = 2
    [knobs.neuron_tau]              # float field: low, high, optional log = true or step
    low = 1.5
    high = 4.0

    [fidelity]                      # rungs of cumulative epochs on a share of the training split
    rungs = [{ epochs = 1, fraction = 0.25, T = 2 }, { epochs = 3, fraction = 1.0 }]
    eta = 3                         # keep the top 1/eta of each rung (default 3, >= 2)
    min_rung_population = 4         # no pruning at a rung before this many trials reached it (default 4)

    [train]                         # proxy training (all optional, defaults shown in TrainSettings)
    batch_size = 64
    lr = 3e-3
    weight_decay = 0.01
    warmup_epochs = 0.2
    val_fraction = 0.1              # stratified share of the training split held out for validation
    max_train_images = 0            # 0 = all; else cap the training split before fractions apply
    time_limit_s = 600              # per trial

    [objectives]                    # optional
    profile = "cmos45"              # energy profile name or TOML file
    calibration_images = 32

    [constraints]                   # optional; a trial violating one stays off the Pareto front
    max_params = 200000
    max_energy_uj = 50.0

    [search]                        # optional: this space's defaults for `snnas search`
    sampler = "tpe"                 # tpe, nsga2, gp or random (default tpe)
    prescreen = 400                 # candidates scored without training; the best train first (default 0)

A rung's optional ``T`` trains that rung with ``min(T, trial's T)`` timesteps; the last rung never sets it,
so the final model is measured at its own T. Knobs that cannot affect the network given the other choices
(SSSA knobs under ``attention = "ssa"``, the threshold under top-k saccades, the dilation of plain SPS) are
not asked of the trial, so samplers see no noise dimensions and equal networks have equal parameters.

An ordered knob is sampled as the integer index of its value, ``suggest_int("T.index", 0, len(choices) - 1)``
(an ``IntDistribution``, which TPE and GP model as ordered, unlike categorical choices): a study's ``trial.params`` hold
``{"T.index": 2}`` where the config has ``T = 4``. The parameter's own name says it is an index, so a params
dict is never ambiguous: :meth:`SearchSpace.config_from_params` takes a knob's value under its name
(``{"T": 4}``, what a user types) or its index under ``<name>.index`` (what a study records).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from snnas._lookup import lookup
from snnas.config import ACTIVE_WHEN, CONTROLS, FIELD_DEFAULTS, ArchConfig, is_active
from snnas.data import adapt_config
from snnas.errors import ConfigError

if TYPE_CHECKING:
    from optuna.distributions import BaseDistribution

SAMPLERS = ("tpe", "nsga2", "gp", "random")  # the samplers a search (or a space's [search] table) may name

__all__ = ["SAMPLERS", "Knob", "Rung", "TrainSettings", "SearchSpace", "TrialLike", "INDEX_SUFFIX"]

INDEX_SUFFIX = ".index"  # an ordered knob's Optuna parameter: "<name>.index", the index of its value

class TrialLike(Protocol):
    """The narrow trial protocol a space asks: an Optuna ``Trial``/``FixedTrial`` or a dict-backed replay.

    ``suggest_int`` gets ``step=`` (and ``log=True`` only for log ranges; an ordered knob asks
    ``suggest_int("<name>.index", 0, len(choices) - 1, step=1)``); ``suggest_float`` gets ``log=`` (and
    ``step=`` only when the file gives one).
    """

    def suggest_categorical(self, name: str, choices: Any) -> Any: ...
    def suggest_int(self, name: str, low: int, high: int, **kwargs: Any) -> int: ...
    def suggest_float(self, name: str, low: float, high: float, **kwargs: Any) -> float: ...


@dataclass(frozen=True)
class Knob:
    """One searched ArchConfig field: categorical choices, ordered numeric choices, or an int/float range.

    An ``"ordered"`` knob's Optuna parameter is :attr:`param` (``"<name>.index"``), the index of its value
    in ``choices``; every other knob's parameter is its name and holds the value itself.

    Example:
        >>> Knob("depth", "int", low=1, high=3).domain()
        '1..3'
        >>> Knob("saccades", "categorical", choices=("threshold", 4)).contains(4)
        True
        >>> T = Knob("T", "ordered", choices=(1, 2, 4))
        >>> T.domain(), T.param, T.index_of(4), T.distribution()
        ('{1, 2, 4} ordered', 'T.index', 2, IntDistribution(high=2, log=False, low=0, step=1))
    """

    name: str
    kind: str  # "categorical" | "ordered" | "int" | "float"
    choices: tuple[str | int | float, ...] | None = None  # categorical; ordered: strictly increasing numbers
    low: int | float | None = None
    high: int | float | None = None
    step: int | float | None = None  # int ranges: default 1; float ranges: None = continuous
    log: bool = False

    @property
    def param(self) -> str:
        """The Optuna parameter this knob is sampled as: its name, or ``<name>.index`` when ordered."""
        return self.name + INDEX_SUFFIX if self.kind == "ordered" else self.name

    def suggest(self, trial: TrialLike) -> Any:
        """The knob's value (for an ordered knob, the choice at the index the trial draws)."""
        if self.kind == "categorical":
            return trial.suggest_categorical(self.name, list(self.choices))
        if self.kind == "ordered":
            return self.choices[trial.suggest_int(self.param, 0, len(self.choices) - 1, step=1)]
        if self.kind == "int":
            extra = {"log": True} if self.log else {}
            return trial.suggest_int(self.name, self.low, self.high, step=self.step or 1, **extra)
        extra = {} if self.step is None else {"step": self.step}
        return trial.suggest_float(self.name, self.low, self.high, log=self.log, **extra)

    def contains(self, value: Any) -> bool:
        """Whether the *value* ``value`` lies in this knob's domain (for replaying exported parameters)."""
        if self.kind in ("categorical", "ordered"):
            return not isinstance(value, bool) and value in self.choices
        if isinstance(value, bool) or not isinstance(value, int | float) or not self.low <= value <= self.high:
            return False
        if self.kind == "int":
            return float(value).is_integer() and (int(value) - self.low) % (self.step or 1) == 0
        return True

    def index_of(self, value: Any) -> int:
        """An ordered knob's parameter for ``value`` (its index in ``choices``); ``value`` must be contained."""
        return self.choices.index(value)

    def value_of(self, param: Any) -> Any:
        """The choice an ordered knob's parameter (an index) stands for; ``None`` when it is no index of it."""
        ok = isinstance(param, int) and not isinstance(param, bool) and 0 <= param < len(self.choices or ())
        return self.choices[param] if ok and self.kind == "ordered" else None

    def domain(self) -> str:
        """Compact text: ``{threshold, 2, 4}``, ``{1, 2, 4} ordered``, ``1..3``, ``16..64 step 16``,
        ``1.5..4.0 log``."""
        if self.kind in ("categorical", "ordered"):
            text = "{" + ", ".join(str(c) for c in self.choices) + "}"
            return text + (" ordered" if self.kind == "ordered" else "")
        text = f"{self.low}..{self.high}"
        if self.step not in (None, 1):
            text += f" step {self.step}"
        return text + (" log" if self.log else "")

    def distribution(self) -> BaseDistribution:
        """The Optuna distribution of :attr:`param` (for ``optuna.trial.create_trial`` and friends)."""
        from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

        if self.kind == "categorical":
            return CategoricalDistribution(self.choices)
        if self.kind == "ordered":
            return IntDistribution(0, len(self.choices) - 1)
        if self.kind == "int":
            return IntDistribution(self.low, self.high, log=self.log, step=self.step or 1)
        return FloatDistribution(self.low, self.high, log=self.log, step=self.step)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"name": self.name, "kind": self.kind, "domain": self.domain(), "param": self.param}
        if self.kind in ("categorical", "ordered"):
            d["choices"] = list(self.choices)
            d["ordered"] = self.kind == "ordered"
        else:
            d.update(low=self.low, high=self.high, step=self.step, log=self.log)
        when = ACTIVE_WHEN.get(self.name)
        if when:
            d["active_when"] = {k: v for k, v in when}
        return d


@dataclass(frozen=True)
class Rung:
    """One fidelity rung: train up to ``epochs`` (cumulative) on ``fraction`` of the training split.

    Example:
        >>> Rung(epochs=1, fraction=0.25, T=2).timesteps(4), Rung(3, 1.0).timesteps(4)
        (2, 4)
    """

    epochs: int
    fraction: float
    T: int | None = None

    def timesteps(self, T: int) -> int:
        """The timesteps this rung trains with for a trial whose config has ``T``."""
        return T if self.T is None else min(self.T, T)


@dataclass(frozen=True)
class TrainSettings:
    """Proxy-training settings of a space (the ``[train]`` table).

    Example:
        >>> TrainSettings().batch_size, TrainSettings(lr=1e-3).lr
        (64, 0.001)
    """

    batch_size: int = 64
    lr: float = 3e-3
    weight_decay: float = 0.01
    warmup_epochs: float = 0.0
    val_fraction: float = 0.1  # stratified share of the training split held out for validation
    max_train_images: int = 0  # 0 = the whole training split; else cap it (before rung fractions apply)
    time_limit_s: float = 600.0  # per trial


@dataclass(frozen=True)
class SearchSpace:
    """A validated search space: knobs, fixed fields, fidelity rungs, training, objectives and constraints.

    Example:
        >>> import optuna
        >>> from snnas.search import load_space
        >>> space = load_space("edge_tiny")
        >>> cfg = space.config_from_params({"T": 2, "embed_dim": 32, "saccades": 4})
        >>> cfg.T, cfg.embed_dim, cfg.saccades, cfg.in_channels
        (2, 32, 4, 1)
        >>> space.suggest(optuna.trial.FixedTrial({"T": 2, "embed_dim": 32, "saccades": 4})) == cfg
        True
    """

    name: str
    description: str
    source: str  # the file it was read from
    dataset: str
    fixed: dict[str, Any] = field(hash=False)
    knobs: tuple[Knob, ...]
    rungs: tuple[Rung, ...]
    eta: int = 3
    min_rung_population: int = 4
    train: TrainSettings = TrainSettings()
    profile: str = "cmos45"
    calibration_images: int = 32
    max_params: int | None = None
    max_energy_uj: float | None = None
    sampler: str | None = None  # [search] sampler: the default for this space (else DEFAULT_SAMPLER)
    prescreen: int = 0  # [search] prescreen: candidates scored without training before the first trial

    @property
    def max_epochs(self) -> int:
        """Epochs a trial trains if it is never pruned (rung epochs are cumulative)."""
        return self.rungs[-1].epochs

    def knob(self, name: str) -> Knob:
        """The knob called ``name``, or whose Optuna parameter is ``name`` (``"T.index"``)."""
        return lookup({**{k.param: k for k in self.knobs}, **{k.name: k for k in self.knobs}}, name,
                      f"knob of space {self.name}")

    def suggest(self, trial: TrialLike, dataset: str | None = None) -> ArchConfig:
        """The config a trial draws (adapted to ``dataset``, default the space's); asks only active knobs."""
        context = {**FIELD_DEFAULTS, **self.fixed}
        params: dict[str, Any] = {}
        ordered = sorted(self.knobs, key=lambda k: CONTROLS.index(k.name) if k.name in CONTROLS else 99)
        for knob in ordered:  # sorted() is stable: non-controls keep their file order
            if is_active(knob.name, context):
                params[knob.name] = context[knob.name] = knob.suggest(trial)
        return adapt_config(ArchConfig(**self.fixed, **params), dataset or self.dataset)

    def values_from_params(self, params: dict[str, Any]) -> dict[str, Any]:
        """Knob values by knob name from a params dict: a study's ``trial.params`` (an ordered knob's index
        under ``<name>.index``), knob values under knob names (``{"T": 4}``, what a user types), or a mix.

        Example:
            >>> from snnas.search import load_space
            >>> space = load_space("cifar")
            >>> space.values_from_params({"T.index": 2, "embed_dim": 256, "saccades": 8})
            {'T': 4, 'embed_dim': 256, 'saccades': 8}
            >>> space.params_from_values({"T": 4, "embed_dim": 256, "saccades": 8})
            {'T.index': 2, 'embed_dim.index': 2, 'saccades': 8}
        """
        by_param = {k.param: k for k in self.knobs if k.param != k.name}
        names = {k.name: k for k in self.knobs}
        unknown = sorted(set(params) - set(names) - set(by_param))
        if unknown:
            raise ConfigError(f"space {self.name}: parameter(s) {', '.join(unknown)} are not knobs of this space "
                              f"(knobs: {', '.join(sorted(names))})")
        values: dict[str, Any] = {}
        for key, given in params.items():
            knob = by_param.get(key) or names[key]
            if knob.name in values:
                raise ConfigError(f"space {self.name}: {knob.name} is given twice (as {knob.name} and {knob.param}); "
                                  "give one")
            if key != knob.name:
                value = knob.value_of(given)
            else:  # a value; an ordered knob's as its choice (2 -> 2.0 for choices [1.0, 2.0])
                value = None if not knob.contains(given) else (
                    knob.choices[knob.index_of(given)] if knob.kind == "ordered" else given)
            if value is None:
                why = (f"is outside its domain {knob.domain()}" if key == knob.name else
                       f"is not an index 0..{len(knob.choices) - 1} into its choices {knob.domain()}")
                raise ConfigError(f"space {self.name}: parameter {key}={given!r} {why}")
            values[knob.name] = value
        return values

    def params_from_values(self, values: dict[str, Any]) -> dict[str, Any]:
        """The Optuna parameters (as ``trial.params`` holds them) for knob values by knob name, e.g. for
        ``study.enqueue_trial``; the inverse of :meth:`values_from_params`."""
        out = {}
        for name, value in self.values_from_params(values).items():
            knob = self.knob(name)
            out[knob.param] = knob.index_of(value) if knob.kind == "ordered" else value
        return out

    def config_from_params(self, params: dict[str, Any], dataset: str | None = None) -> ArchConfig:
        """Rebuild a trial's config from its parameters (``trial.params``, or knob values by name: see
        :meth:`values_from_params`) via ``optuna.trial.FixedTrial``."""
        from optuna.trial import FixedTrial

        fixed = self.params_from_values(params)
        try:
            return self.suggest(FixedTrial(fixed), dataset)
        except ValueError as e:
            if isinstance(e, ConfigError):
                raise
            missing = re.search(r"parameter '(.+?)' is not found", str(e))  # FixedTrial's words for a missing one
            if missing and missing[1] in {k.param for k in self.knobs}:
                k = self.knob(missing[1])
                raise ConfigError(f"space {self.name}: knob {k.name} is missing (it is active here); give "
                                  + (f"{k.name} (a value) or {k.param} (its index)" if k.param != k.name
                                     else "its value")) from None
            raise ConfigError(f"space {self.name}: {e}") from None

    def constraint_values(self, params: int, energy_uj: float) -> list[float]:
        """Optuna-style constraint values (``<= 0`` is feasible) for the space's constraints, in a fixed order:
        params then energy, each present only when the space sets it."""
        out = []
        if self.max_params is not None:
            out.append(float(params - self.max_params))
        if self.max_energy_uj is not None:
            out.append(float(energy_uj - self.max_energy_uj))
        return out

    def describe(self) -> dict[str, Any]:
        """Everything about the space as plain JSON types (what ``snnas spaces --json`` prints)."""
        return {
            "name": self.name, "description": self.description, "source": self.source, "dataset": self.dataset,
            "knobs": [self._knob_dict(k) for k in self.knobs], "fixed": dict(self.fixed),
            "rungs": [asdict(r) for r in self.rungs], "eta": self.eta,
            "min_rung_population": self.min_rung_population, "train": asdict(self.train),
            "objectives": {"profile": self.profile, "calibration_images": self.calibration_images},
            "constraints": {"max_params": self.max_params, "max_energy_uj": self.max_energy_uj},
            "search": {"sampler": self.sampler, "prescreen": self.prescreen},
        }

    def _knob_dict(self, knob: Knob) -> dict[str, Any]:
        d = knob.to_dict()
        names = {k.name for k in self.knobs}
        if not any(control in names for control, _ in ACTIVE_WHEN.get(knob.name, ())):
            d.pop("active_when", None)  # always active here: its controls are fixed to the value it needs
        return d

    def replace(self, **changes: Any) -> SearchSpace:
        return dataclasses.replace(self, **changes)
