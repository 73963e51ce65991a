"""What a trial stores, defined once: the attribute names and a typed, read-only view of a stored trial.

The trial life (:mod:`snnas.search._trial`) writes these attributes; every reader (the results table, the
report, export, resume, the progress view) reads a :class:`TrialRecord` built from Optuna's
``FrozenTrial``, never the bare strings. Studies written before the data seed had its own attribute still
open: their data seed is read from the recorded re-run command.

The energy report (per-layer counts, firing rates, provenance: ~8 kB a trial) is a *system* attribute,
:data:`ENERGY_REPORT_KEY`: in the study's own storage, so every host and every storage kind has it whole, but
out of the tables that ``optuna trials`` and optuna-dashboard print (they list user attributes; one report made
each ``optuna trials`` row ~9,500 characters). Studies made before kept it as the user attribute
``energy_report``, which is still read.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from typing import Any

from optuna.distributions import BaseDistribution, CategoricalDistribution
from optuna.trial import FrozenTrial, TrialState

from snnas.search.space import INDEX_SUFFIX

__all__ = ["ARCH_COLUMNS", "ENERGY_REPORT_KEY", "Attr", "TrialRecord", "counts_toward_budget", "interrupted",
           "knob_columns", "knob_text", "rung_key"]

# The architecture fields tables and pages show for a trial, in this order (the whole config is stored).
ARCH_COLUMNS = ("T", "saccades", "depth", "embed_dim", "num_heads", "mlp_ratio", "tokenizer", "attention", "kappa",
                "sssa_version", "fixation", "patch_size")


def _varies(d: BaseDistribution) -> bool:
    if isinstance(d, CategoricalDistribution):
        return len(d.choices) > 1
    return d.high > d.low  # Int/FloatDistribution


def knob_columns(trials: list[FrozenTrial]) -> list[str]:
    """The architecture fields the study's space varies, in the order its trials sample them: every knob whose
    parameter can take more than one value (a knob of one choice is constant, like a ``[fixed]`` field).

    What the tables, the live view and ``pareto.csv`` show beside accuracy and energy: all of these, and no
    constant field. Read from the trials' own distributions, so a study from any storage or version says it.

    Example:
        >>> from optuna.distributions import FloatDistribution, IntDistribution
        >>> from optuna.trial import create_trial
        >>> t = create_trial(params={"T.index": 1, "attention": "sssa", "neuron_tau": 2.5}, values=[0.5, 1.0],
        ...                  distributions={"T.index": IntDistribution(0, 2), "attention": CategoricalDistribution(
        ...                  ["sssa"]), "neuron_tau": FloatDistribution(1.5, 4.0)})
        >>> knob_columns([t])
        ['T', 'neuron_tau']
    """
    names: dict[str, None] = {}
    for t in trials:
        for param, d in t.distributions.items():
            if _varies(d):
                names[param.removesuffix(INDEX_SUFFIX)] = None
    return list(names)


def knob_text(value: Any) -> str:
    """A knob's value for a table cell: floats to 4 significant digits (a sampled ``neuron_tau``)."""
    return f"{value:.4g}" if isinstance(value, float) else "" if value is None else str(value)


class Attr:
    """The names of a trial's user attributes (the one list; Optuna's own ``system_attrs`` aside)."""

    SEED = "seed"  # the trial's training seed
    DATA_SEED = "data_seed"  # the search's --seed: it fixed the validation split
    ARCH_ID = "arch_id"
    CONFIG = "config"  # ArchConfig.to_dict()
    PARAMS = "params"  # parameter count
    VERSIONS = "versions"
    BACKEND = "backend"  # optuna or ray
    COMMAND = "command"  # `snnas trial ...` that re-runs it
    DEVICE, PID, HOST, NEURONS = "device", "pid", "host", "neurons"  # where and how it ran
    RSS_MB = "rss_mb"  # the worker's resident memory after the trial
    ENERGY_REPORT = "energy_report"  # older studies only: the report is now the system attribute ENERGY_REPORT_KEY
    PRUNE_REASON = "prune_reason"
    FAIL_REASON = "fail_reason"  # a FAIL with a reason counts toward the budget; without one it was interrupted
    RETRY_OF = "retry_of"  # the number of the interrupted trial this one re-runs
    N_VAL = "n_val"  # validation images its accuracy was measured on (COMPLETE trials; studies since it was kept)
    CHANCE_THRESHOLD = "chance_threshold"  # the accuracy it had to exceed to be clearly above chance
    DUPLICATE_OF = "duplicate_of"  # the trial whose stored result this one took (same architecture, not trained)
    PRESCREEN = "prescreen"  # training-free scores of a pre-screened trial (``snnas.search._prescreen``)


# EnergyReport.to_dict() of the last rung (COMPLETE trials and their duplicates), a trial system attribute
# (namespaced: Optuna and optuna-dashboard keep their own system attributes beside it).
ENERGY_REPORT_KEY = "snnas:energy_report"

_RUNG = re.compile(r"rung(\d+)")


def _counts(state: TrialState, fail_reason: str | None, duplicate: bool = False) -> bool:
    if duplicate:  # took a known architecture's stored result: nothing was trained
        return False
    return state in (TrialState.COMPLETE, TrialState.PRUNED) or (state == TrialState.FAIL and fail_reason is not None)


def counts_toward_budget(t: FrozenTrial) -> bool:
    """Whether ``t`` finished on its own: COMPLETE, PRUNED, or FAIL with a recorded reason, and was not a duplicate
    (read on every claim and every progress poll, so without building a whole :class:`TrialRecord`)."""
    return _counts(t.state, t.user_attrs.get(Attr.FAIL_REASON), Attr.DUPLICATE_OF in t.user_attrs)


def interrupted(t: FrozenTrial) -> bool:
    """Its process died: failed by the stale-trial check, with no recorded reason (not counted)."""
    return t.state == TrialState.FAIL and t.user_attrs.get(Attr.FAIL_REASON) is None


def rung_key(k: int) -> str:
    """The attribute holding rung ``k``'s summary.

    Example:
        >>> rung_key(2)
        'rung2'
    """
    return f"rung{k}"


def _rungs(attrs: dict[str, Any]) -> tuple[dict[str, Any], ...]:
    """Rung summaries in rung order (numerically: rung 10 after rung 2)."""
    found = sorted((int(m.group(1)), v) for k, v in attrs.items() if (m := _RUNG.fullmatch(k)))
    return tuple(v for _, v in found)


def _data_seed_from_command(command: str | None) -> int | None:
    """The ``--data-seed`` of a recorded re-run command (studies made before it had its own attribute)."""
    try:
        args = shlex.split(command or "")
    except ValueError:
        return None
    for flag, value in zip(args, args[1:], strict=False):
        if flag == "--data-seed":
            try:
                return int(value)
            except ValueError:
                return None
    return None


@dataclass(frozen=True)
class TrialRecord:
    """One stored trial as snnas reads it.

    Example:
        >>> import optuna
        >>> t = optuna.trial.create_trial(state=TrialState.PRUNED, user_attrs={
        ...     "seed": 7, "rung10": {"val_accuracy": 0.3}, "rung2": {"val_accuracy": 0.2},
        ...     "command": "snnas trial --seed 7 --data-seed 3", "prune_reason": "rung 2: dominated"})
        >>> r = TrialRecord.of(t)
        >>> r.seed, r.data_seed, [x["val_accuracy"] for x in r.rungs], r.reason, r.counts_toward_budget
        (7, 3, [0.2, 0.3], 'rung 2: dominated', True)
    """

    number: int
    state: TrialState
    values: tuple[float, ...] | None
    params: dict[str, Any]  # the knob values it sampled
    planned_params: dict[str, Any]  # those, over the ones queued for it (a re-run's)
    config: dict[str, Any]
    arch_id: str | None
    n_params: int | None
    seed: int | None
    data_seed: int | None
    rungs: tuple[dict[str, Any], ...]
    prune_reason: str | None
    fail_reason: str | None
    energy_report: dict[str, Any] | None
    command: str | None
    retry_of: int | None
    seconds: float | None
    constraints: tuple[float, ...] | None
    attrs: dict[str, Any] = field(repr=False)  # everything stored, for what only one reader needs

    @classmethod
    def of(cls, t: FrozenTrial) -> TrialRecord:
        a = t.user_attrs
        data_seed = a.get(Attr.DATA_SEED)
        if data_seed is None:
            data_seed = _data_seed_from_command(a.get(Attr.COMMAND))
        cons = list(t.constraints.values()) or t.system_attrs.get("constraints")  # Optuna 5 keys; older: one list
        report = t.system_attrs.get(ENERGY_REPORT_KEY, a.get(Attr.ENERGY_REPORT))  # older studies: a user attribute
        return cls(
            number=t.number, state=t.state, values=tuple(t.values) if t.values else None,
            params=dict(t.params), planned_params={**t.system_attrs.get("fixed_params", {}), **t.params},
            config=a.get(Attr.CONFIG) or {}, arch_id=a.get(Attr.ARCH_ID), n_params=a.get(Attr.PARAMS),
            seed=a.get(Attr.SEED), data_seed=data_seed, rungs=_rungs(a), prune_reason=a.get(Attr.PRUNE_REASON),
            fail_reason=a.get(Attr.FAIL_REASON), energy_report=report, command=a.get(Attr.COMMAND),
            retry_of=a.get(Attr.RETRY_OF), seconds=t.duration.total_seconds() if t.duration else None,
            constraints=tuple(cons) if cons is not None else None, attrs=dict(a),
        )

    @property
    def accuracy(self) -> float | None:
        return self.values[0] if self.values else None

    @property
    def energy_uj(self) -> float | None:
        return self.values[1] if self.values else None

    @property
    def reason(self) -> str | None:
        """Why it was pruned or failed (None for a COMPLETE or interrupted trial)."""
        return self.prune_reason or self.fail_reason

    @property
    def interrupted(self) -> bool:
        """Its process died: failed by the stale-trial check, with no recorded reason (not counted)."""
        return self.state == TrialState.FAIL and self.fail_reason is None

    @property
    def counts_toward_budget(self) -> bool:
        """Finished on its own: COMPLETE, PRUNED, or FAIL with a recorded reason; not a duplicate."""
        return _counts(self.state, self.fail_reason, self.duplicate_of is not None)

    @property
    def duplicate_of(self) -> int | None:
        """The trial whose stored result this one took (same architecture, not trained), or None."""
        return self.attrs.get(Attr.DUPLICATE_OF)

    @property
    def feasible(self) -> bool:
        """Within the space's constraints (a trial without any is feasible)."""
        return self.constraints is None or all(c <= 0 for c in self.constraints)

    @property
    def n_val(self) -> int | None:
        """Validation images its accuracy was measured on (None in studies made before it was recorded)."""
        n = self.attrs.get(Attr.N_VAL)
        return int(n) if isinstance(n, int | float) and not isinstance(n, bool) else None

    @property
    def num_classes(self) -> int | None:
        n = self.config.get("num_classes")
        return n if isinstance(n, int) and not isinstance(n, bool) else None

    @property
    def chance_threshold(self) -> float | None:
        """The accuracy it had to exceed to be clearly above chance, as recorded (see ``snnas.search._front``)."""
        v = self.attrs.get(Attr.CHANCE_THRESHOLD)
        return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None

    @property
    def last_rung(self) -> tuple[int, dict[str, Any]] | None:
        """``(index, summary)`` of the last rung it reached."""
        return (len(self.rungs) - 1, self.rungs[-1]) if self.rungs else None

    def arch(self, columns: tuple[str, ...] = ARCH_COLUMNS) -> dict[str, Any]:
        """The architecture fields of ``columns`` (None where the config lacks one)."""
        return {k: self.config.get(k) for k in columns}
