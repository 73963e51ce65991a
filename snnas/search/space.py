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

    [knobs.saccades]                # categorical: a non-empty list of str/int/float values
    choices = ["threshold", 2, 4]
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

A rung's optional ``T`` trains that rung with ``min(T, trial's T)`` timesteps; the last rung never sets it,
so the final model is measured at its own T. Knobs that cannot affect the network given the other choices
(SSSA knobs under ``attention = "ssa"``, the threshold under top-k saccades, the dilation of plain SPS) are
not asked of the trial, so samplers see no noise dimensions and equal networks have equal parameters.
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from snnas._lookup import lookup
from snnas.config import ACTIVE_WHEN, CONTROLS, FIELD_DEFAULTS, ArchConfig, is_active
from snnas.data import adapt_config
from snnas.errors import ConfigError

if TYPE_CHECKING:
    from optuna.distributions import BaseDistribution

__all__ = ["Knob", "Rung", "TrainSettings", "SearchSpace", "TrialLike"]

class TrialLike(Protocol):
    """The narrow trial protocol a space asks: an Optuna ``Trial``/``FixedTrial`` or a dict-backed replay.

    ``suggest_int`` gets ``step=`` (and ``log=True`` only for log ranges); ``suggest_float`` gets ``log=``
    (and ``step=`` only when the file gives one).
    """

    def suggest_categorical(self, name: str, choices: Any) -> Any: ...
    def suggest_int(self, name: str, low: int, high: int, **kwargs: Any) -> int: ...
    def suggest_float(self, name: str, low: float, high: float, **kwargs: Any) -> float: ...


@dataclass(frozen=True)
class Knob:
    """One searched ArchConfig field: categorical choices, or an int/float range (kind from the field type).

    Example:
        >>> Knob("depth", "int", low=1, high=3).domain()
        '1..3'
        >>> Knob("saccades", "categorical", choices=("threshold", 4)).contains(4)
        True
    """

    name: str
    kind: str  # "categorical" | "int" | "float"
    choices: tuple[str | int | float, ...] | None = None
    low: int | float | None = None
    high: int | float | None = None
    step: int | float | None = None  # int ranges: default 1; float ranges: None = continuous
    log: bool = False

    def suggest(self, trial: TrialLike) -> Any:
        if self.kind == "categorical":
            return trial.suggest_categorical(self.name, list(self.choices))
        if self.kind == "int":
            extra = {"log": True} if self.log else {}
            return trial.suggest_int(self.name, self.low, self.high, step=self.step or 1, **extra)
        extra = {} if self.step is None else {"step": self.step}
        return trial.suggest_float(self.name, self.low, self.high, log=self.log, **extra)

    def contains(self, value: Any) -> bool:
        """Whether ``value`` lies in this knob's domain (for replaying exported parameters)."""
        if self.kind == "categorical":
            return not isinstance(value, bool) and value in self.choices
        if isinstance(value, bool) or not isinstance(value, int | float) or not self.low <= value <= self.high:
            return False
        if self.kind == "int":
            return float(value).is_integer() and (int(value) - self.low) % (self.step or 1) == 0
        return True

    def domain(self) -> str:
        """Compact text: ``{threshold, 2, 4}``, ``1..3``, ``16..64 step 16``, ``1.5..4.0 log``."""
        if self.kind == "categorical":
            return "{" + ", ".join(str(c) for c in self.choices) + "}"
        text = f"{self.low}..{self.high}"
        if self.step not in (None, 1):
            text += f" step {self.step}"
        return text + (" log" if self.log else "")

    def distribution(self) -> BaseDistribution:
        """The equivalent Optuna distribution (for ``optuna.trial.create_trial`` and friends)."""
        from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

        if self.kind == "categorical":
            return CategoricalDistribution(self.choices)
        if self.kind == "int":
            return IntDistribution(self.low, self.high, log=self.log, step=self.step or 1)
        return FloatDistribution(self.low, self.high, log=self.log, step=self.step)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"name": self.name, "kind": self.kind, "domain": self.domain()}
        if self.kind == "categorical":
            d["choices"] = list(self.choices)
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

    @property
    def max_epochs(self) -> int:
        """Epochs a trial trains if it is never pruned (rung epochs are cumulative)."""
        return self.rungs[-1].epochs

    def knob(self, name: str) -> Knob:
        return lookup({k.name: k for k in self.knobs}, name, f"knob of space {self.name}")

    def suggest(self, trial: TrialLike, dataset: str | None = None) -> ArchConfig:
        """The config a trial draws (adapted to ``dataset``, default the space's); asks only active knobs."""
        context = {**FIELD_DEFAULTS, **self.fixed}
        params: dict[str, Any] = {}
        ordered = sorted(self.knobs, key=lambda k: CONTROLS.index(k.name) if k.name in CONTROLS else 99)
        for knob in ordered:  # sorted() is stable: non-controls keep their file order
            if is_active(knob.name, context):
                params[knob.name] = context[knob.name] = knob.suggest(trial)
        return adapt_config(ArchConfig(**self.fixed, **params), dataset or self.dataset)

    def config_from_params(self, params: dict[str, Any], dataset: str | None = None) -> ArchConfig:
        """Rebuild a trial's config from its parameters (``trial.params``) via ``optuna.trial.FixedTrial``."""
        from optuna.trial import FixedTrial

        names = {k.name for k in self.knobs}
        unknown = sorted(set(params) - names)
        if unknown:
            raise ConfigError(f"space {self.name}: parameter(s) {', '.join(unknown)} are not knobs of this space "
                              f"(knobs: {', '.join(sorted(names))})")
        for knob in self.knobs:
            if knob.name in params and not knob.contains(params[knob.name]):
                raise ConfigError(f"space {self.name}: parameter {knob.name}={params[knob.name]!r} is outside "
                                  f"its domain {knob.domain()}")
        try:
            return self.suggest(FixedTrial(dict(params)), dataset)
        except ValueError as e:
            if isinstance(e, ConfigError):
                raise
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
        }

    def _knob_dict(self, knob: Knob) -> dict[str, Any]:
        d = knob.to_dict()
        names = {k.name for k in self.knobs}
        if not any(control in names for control, _ in ACTIVE_WHEN.get(knob.name, ())):
            d.pop("active_when", None)  # always active here: its controls are fixed to the value it needs
        return d

    def replace(self, **changes: Any) -> SearchSpace:
        return dataclasses.replace(self, **changes)
