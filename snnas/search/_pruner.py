"""Pareto successive halving: multi-objective, multi-fidelity pruning that Optuna does not offer.

Optuna refuses ``trial.report`` in multi-objective studies and Ray's schedulers take one metric. At each
rung, a trial is compared with every trial of the study that reached the same rung (asynchronously, as in
ASHA): the rung population is sorted by non-domination rank on (accuracy up, energy down), ties broken by
accuracy then energy, and a trial continues only if it is in the first ``ceil(n / eta)`` places. Until the
rung has ``min_population`` members nobody is pruned. A pruned trial is recorded as PRUNED with its rung
values, so it never reaches the Pareto front.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["nondominated_ranks", "pareto_keep", "pareto_front", "hypervolume_2d", "knee_index"]

Point = tuple[float, float]  # (accuracy to maximise, energy to minimise)


def _dominates(a: Point, b: Point) -> bool:
    return a[0] >= b[0] and a[1] <= b[1] and (a[0] > b[0] or a[1] < b[1])


def nondominated_ranks(points: Sequence[Point]) -> list[int]:
    """Rank 0 for the Pareto front, 1 for the front once rank 0 is removed, and so on.

    Example:
        >>> nondominated_ranks([(0.9, 5.0), (0.8, 1.0), (0.7, 6.0), (0.5, 2.0)])
        [0, 0, 1, 1]
    """
    remaining = set(range(len(points)))
    ranks = [0] * len(points)
    rank = 0
    while remaining:
        front = {i for i in remaining if not any(_dominates(points[j], points[i]) for j in remaining if j != i)}
        for i in front:
            ranks[i] = rank
        remaining -= front
        rank += 1
    return ranks


def pareto_keep(mine: Point, others: Sequence[Point], eta: int, min_population: int) -> tuple[bool, str]:
    """Whether a trial at a rung continues, and why (the reason is stored on the trial).

    Example:
        >>> pareto_keep((0.5, 9.0), [(0.9, 1.0), (0.8, 2.0), (0.7, 3.0)], eta=2, min_population=2)
        (False, 'place 4 of 4 at this rung (rank 3), keeping the first 2')
    """
    population = [*others, mine]
    n = len(population)
    if n < min_population:
        return True, f"rung population {n} < {min_population}: no pruning yet"
    ranks = nondominated_ranks(population)
    order = sorted(range(n), key=lambda i: (ranks[i], -population[i][0], population[i][1], i != n - 1))
    place = order.index(n - 1) + 1
    keep = max(1, math.ceil(n / eta))
    return place <= keep, f"place {place} of {n} at this rung (rank {ranks[n - 1]}), keeping the first {keep}"


def pareto_front(points: Sequence[Point]) -> list[int]:
    """Indices of the non-dominated points, sorted by accuracy (highest first)."""
    ranks = nondominated_ranks(points)
    return sorted((i for i, r in enumerate(ranks) if r == 0), key=lambda i: (-points[i][0], points[i][1]))


def hypervolume_2d(points: Sequence[Point], ref_energy: float, ref_accuracy: float = 0.0) -> float:
    """Area dominated by ``points`` (accuracy up, energy down) and bounded by the reference point.

    Example:
        >>> hypervolume_2d([(0.5, 1.0), (1.0, 2.0)], ref_energy=3.0)
        1.5
    """
    pts = sorted({p for p in points if p[0] > ref_accuracy and p[1] < ref_energy}, key=lambda p: p[1])
    area, best_acc = 0.0, ref_accuracy
    for i, (acc, energy) in enumerate(pts):
        best_acc = max(best_acc, acc)
        nxt = pts[i + 1][1] if i + 1 < len(pts) else ref_energy
        area += (best_acc - ref_accuracy) * (nxt - energy)
    return area


def knee_index(points: Sequence[Point]) -> int | None:
    """The knee of a Pareto front: the point farthest from the chord between its two extremes.

    Accuracy is scaled to [0, 1] over the front and energy is scaled on a log axis (fronts span decades of
    energy), so the knee is where giving up a little accuracy stops buying much energy. ``None`` for an
    empty list; with one or two points, the most accurate.

    Example:
        >>> knee_index([(0.90, 10.0), (0.88, 2.0), (0.50, 1.0)])
        1
    """
    if not points:
        return None
    order = sorted(range(len(points)), key=lambda i: (-points[i][0], points[i][1]))
    if len(points) <= 2:
        return order[0]
    accs = [p[0] for p in points]
    logs = [math.log(max(p[1], 1e-30)) for p in points]
    a_lo, a_hi, e_lo, e_hi = min(accs), max(accs), min(logs), max(logs)
    xs = [(a - a_lo) / ((a_hi - a_lo) or 1.0) for a in accs]
    ys = [(e - e_lo) / ((e_hi - e_lo) or 1.0) for e in logs]
    first, last = order[0], order[-1]  # most accurate (and costliest) and least accurate (cheapest)
    dx, dy = xs[last] - xs[first], ys[last] - ys[first]
    norm = math.hypot(dx, dy) or 1.0
    dist = [abs(dy * (xs[i] - xs[first]) - dx * (ys[i] - ys[first])) / norm for i in range(len(points))]
    return max(order, key=lambda i: dist[i])
