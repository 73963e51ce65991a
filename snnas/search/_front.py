"""The front a user is offered, defined once: which completed trials may be on it, and the default pick.

A completed trial reaches the front (``pareto.csv``, the report, ``snnas export`` picks) only when it is

* **feasible**: every space constraint (``max_params``, ``max_energy_uj``) recorded on it is ``<= 0``;
* **clearly above chance**: its validation accuracy exceeds ``chance + z * sqrt(chance * (1 - chance) / n)``
  with ``chance = 1 / num_classes``, ``n`` the validation images and ``z = 3`` (a one-sided binomial test:
  a classifier that only guesses passes it about once in a thousand trials). A near-chance network is cheap
  (it barely computes anything), so without this it sits at the cheap end of the front and drags the knee
  there. The trial life records the test as the Optuna constraint ``above_chance`` (``threshold -
  accuracy``), so ``study.best_trials``, optuna-dashboard and constraint-aware samplers treat such a trial as
  infeasible too. A study written before the validation size was recorded is tested on read where its
  attributes allow (``n_val`` and the config's ``num_classes``); otherwise its trials are not tested.

The default pick is **near-best**: the cheapest front trial whose validation accuracy is within ``2``
binomial standard errors (``sqrt(a * (1 - a) / n)``, ``a`` the best accuracy) of the most accurate front
trial's, i.e. statistically indistinguishable from the best on this validation set. Without a recorded
validation size the tolerance is one percentage point. Unlike the knee it can never land far below the best.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from optuna.trial import FrozenTrial, TrialState

from snnas.search._pruner import pareto_front
from snnas.search._record import Attr

__all__ = ["CHANCE_CONSTRAINT", "NEAR_BEST_FALLBACK", "Z_CHANCE", "Z_NEAR_BEST", "ChanceTest", "Front",
           "chance_constraint", "chance_test", "chance_threshold", "front_of", "near_best_index", "near_best_rule",
           "near_best_tolerance"]

Z_CHANCE = 3.0  # standard deviations above chance a trial must be to count as a classifier
Z_NEAR_BEST = 2.0  # standard errors below the best accuracy that near-best still accepts
NEAR_BEST_FALLBACK = 0.01  # near-best's tolerance when the validation size is unknown (one percentage point)
CHANCE_CONSTRAINT = "above_chance"  # the Optuna constraint name (threshold - accuracy; <= 0 passes)

Point = tuple[float, float]  # (accuracy to maximise, energy to minimise)


def chance_threshold(num_classes: int, n_val: int, z: float = Z_CHANCE) -> float:
    """The accuracy a trial must exceed to be clearly above chance: ``1/k + z * sqrt(1/k * (1 - 1/k) / n)``.

    Example:
        >>> round(chance_threshold(10, 500), 4)  # 0.1 + 3 * sqrt(0.1 * 0.9 / 500)
        0.1402
    """
    if num_classes < 1 or n_val < 1:
        raise ValueError(f"need num_classes >= 1 and n_val >= 1 (got {num_classes}, {n_val})")
    p = 1.0 / num_classes
    return p + z * math.sqrt(p * (1.0 - p) / n_val)


def chance_constraint(accuracy: float, threshold: float) -> float:
    """The ``above_chance`` constraint value, ``threshold - accuracy``: ``<= 0`` exactly when the accuracy
    *exceeds* the threshold (an accuracy equal to it is stored as the smallest positive float: not above)."""
    value = threshold - accuracy
    return value if value != 0 else math.ulp(0.0)


@dataclass(frozen=True)
class ChanceTest:
    """One trial's above-chance test."""

    accuracy: float
    num_classes: int | None  # None when read back from a recorded constraint without a config
    n_val: int | None
    threshold: float
    passed: bool

    @property
    def chance(self) -> float | None:
        return 1.0 / self.num_classes if self.num_classes else None

    def reason(self) -> str:
        """Why it is off the front, in one line (``""`` when it passed).

        Example:
            >>> ChanceTest(0.13, 10, 500, chance_threshold(10, 500), False).reason()
            'val accuracy 0.130 not clearly above chance (0.1 + 3σ = 0.140 on 500 validation images)'
        """
        if self.passed:
            return ""
        if self.chance is None or self.n_val is None:
            return f"val accuracy {self.accuracy:.3f} not clearly above chance (threshold {self.threshold:.3f})"
        return (f"val accuracy {self.accuracy:.3f} not clearly above chance ({self.chance:.3g} + {Z_CHANCE:g}σ = "
                f"{self.threshold:.3f} on {self.n_val} validation images)")


def _n_val(t: FrozenTrial) -> int | None:
    n = t.user_attrs.get(Attr.N_VAL)
    return int(n) if isinstance(n, int | float) and not isinstance(n, bool) and n >= 1 else None


def chance_test(t: FrozenTrial) -> ChanceTest | None:
    """The above-chance test of a COMPLETE trial; ``None`` when it cannot be decided (the validation size or
    the number of classes was not recorded: a study made before they were), or the trial has no result.

    A recorded ``above_chance`` constraint decides (it is what Optuna sees); otherwise the rule is computed
    from the recorded ``n_val`` and the config's ``num_classes``.
    """
    if t.state != TrialState.COMPLETE or not t.values:
        return None
    acc = float(t.values[0])
    k = (t.user_attrs.get(Attr.CONFIG) or {}).get("num_classes")
    k = int(k) if isinstance(k, int) and not isinstance(k, bool) and k >= 1 else None
    n = _n_val(t)
    recorded = t.constraints.get(CHANCE_CONSTRAINT)
    if recorded is not None:
        threshold = t.user_attrs.get(Attr.CHANCE_THRESHOLD)
        if not isinstance(threshold, int | float):
            threshold = acc + recorded
        return ChanceTest(acc, k, n, float(threshold), recorded <= 0)
    if k is None or n is None:
        return None
    threshold = chance_threshold(k, n)
    return ChanceTest(acc, k, n, threshold, acc > threshold)


def _violations(t: FrozenTrial) -> str | None:
    """The space constraints ``t`` breaks, in one line (None when it keeps them all)."""
    broken = [f"{name} exceeded by {value:.4g}" for name, value in sorted(t.constraints.items())
              if name != CHANCE_CONSTRAINT and value > 0]
    return "infeasible: " + ", ".join(broken) if broken else None


@dataclass(frozen=True)
class Front:
    """The front of a study as a user is offered it, and every completed trial kept off it with the reason."""

    trials: list[FrozenTrial]  # non-dominated eligible trials, most accurate first (ties: cheaper, lower number)
    eligible: list[FrozenTrial]  # COMPLETE, feasible, not below chance, in trial order
    excluded: dict[int, str] = field(default_factory=dict)  # trial number -> why it cannot be on the front
    below_chance: list[int] = field(default_factory=list)  # those of ``excluded`` that failed the chance test
    untested: list[int] = field(default_factory=list)  # COMPLETE trials whose chance test could not be decided

    @property
    def numbers(self) -> list[int]:
        return [t.number for t in self.trials]


def front_of(trials: Sequence[FrozenTrial]) -> Front:
    """Screen a study's trials (``study.get_trials()``) and take the Pareto front of those left.

    Example:
        >>> import optuna
        >>> study = optuna.create_study(directions=["maximize", "minimize"])
        >>> for acc, energy in [(0.80, 5.0), (0.60, 1.0), (0.12, 0.1), (0.50, 2.0)]:
        ...     study.add_trial(optuna.trial.create_trial(values=[acc, energy], user_attrs={
        ...         "n_val": 500, "config": {"num_classes": 10}}))
        >>> f = front_of(study.get_trials())
        >>> f.numbers, f.excluded
        ([0, 1], {2: 'val accuracy 0.120 not clearly above chance (0.1 + 3σ = 0.140 on 500 validation images)'})
    """
    eligible, excluded, below, untested = [], {}, [], []
    for t in trials:
        if t.state != TrialState.COMPLETE or not t.values:
            continue
        dup = t.user_attrs.get("duplicate_of")
        if dup is not None:  # the same architecture's own trial stands for it (one point per architecture)
            excluded[t.number] = f"same architecture as trial {dup} (took its result, not trained)"
            continue
        why = _violations(t)
        test = chance_test(t)
        if test is None:
            untested.append(t.number)
        elif not test.passed:
            below.append(t.number)
            why = f"{why}; {test.reason()}" if why else test.reason()
        if why:
            excluded[t.number] = why
        else:
            eligible.append(t)
    front = [eligible[i] for i in pareto_front([(t.values[0], t.values[1]) for t in eligible])]
    front.sort(key=lambda t: (-t.values[0], t.values[1], t.number))
    return Front(front, eligible, excluded, below, untested)


def near_best_index(points: Sequence[Point], n_val: int | None, z: float = Z_NEAR_BEST,
                    fallback: float = NEAR_BEST_FALLBACK) -> int | None:
    """The cheapest of ``points`` whose accuracy is within ``z`` binomial standard errors of the best's.

    The standard error is ``sqrt(a * (1 - a) / n_val)`` at the best accuracy ``a``; with ``n_val`` unknown
    the tolerance is ``fallback``. Ties go to the higher accuracy, then the lower index. ``None`` for no
    points.

    Example:
        >>> # best 0.80 on 500 images: 2 standard errors = 0.036, so 0.78 qualifies and 0.70 does not
        >>> near_best_index([(0.80, 9.0), (0.78, 3.0), (0.70, 1.0)], n_val=500)
        1
        >>> near_best_index([(0.80, 9.0), (0.78, 3.0), (0.70, 1.0)], n_val=None)  # within 0.01 only
        0
    """
    if not points:
        return None
    best = max(range(len(points)), key=lambda i: (points[i][0], -points[i][1], -i))
    floor = points[best][0] - near_best_tolerance(points[best][0], n_val, z, fallback) - 1e-12
    within = [i for i in range(len(points)) if points[i][0] >= floor]
    return min(within, key=lambda i: (points[i][1], -points[i][0], i))


def near_best_tolerance(best_accuracy: float, n_val: int | None, z: float = Z_NEAR_BEST,
                        fallback: float = NEAR_BEST_FALLBACK) -> float:
    """How far below the best accuracy near-best reaches: ``z`` standard errors, or ``fallback``."""
    if n_val is None or n_val < 1:
        return fallback
    a = min(max(best_accuracy, 0.0), 1.0)
    return z * math.sqrt(a * (1.0 - a) / n_val)


def near_best_rule(front: Sequence[FrozenTrial]) -> tuple[FrozenTrial | None, str]:
    """The near-best trial of a front (:attr:`Front.trials`) and one line saying how it was chosen."""
    if not front:
        return None, "no trial on the front"
    best = max(front, key=lambda t: (t.values[0], -t.values[1], -t.number))
    n = _n_val(best)
    i = near_best_index([(t.values[0], t.values[1]) for t in front], n)
    pick = front[i]
    a = best.values[0]
    tol = near_best_tolerance(a, n)
    how = (f"{Z_NEAR_BEST:g} standard errors ({tol:.3f} on {n} validation images)" if n is not None else
           f"{tol:.2f} (the validation size was not recorded)")
    return pick, (f"the cheapest front trial within {how} of the best val accuracy {a:.3f} (trial {best.number})"
                  f": trial {pick.number}, val accuracy {pick.values[0]:.3f} at {pick.values[1]:.4g} uJ/image")
