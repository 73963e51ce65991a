"""Fault injection for the reliability suite (``tests/reliability``): named points where a test kills or breaks us.

Off unless the environment variable ``SNNAS_FAULTS`` is set, and then only in the processes that inherit it.
The value is a comma-separated list of ``SITE@N:ACTION``: the N-th time this process passes ``SITE`` (counting
from 1), ACTION happens. Sites, in the order a trial meets them:

============ ==========================================================================================
``ask``      a budget slot was claimed (``study.ask``), still under the claim lock, nothing sampled yet
``sample``   the architecture was sampled (parameters stored), its attributes not yet recorded
``step``     one training step ran (forward, backward, optimizer)
``forward``  the model's forward pass starts (training, BN recalibration, evaluation, energy counting)
``loss``     a training loss was computed (the ``nan`` and ``inf`` actions replace it)
``energy``   inside the synaptic-operation count, the counted forward done, the counters not yet read
``storage``  an SQL statement that writes (INSERT, UPDATE, DELETE) ran inside an open transaction
``report``   a report file (page, CSV, PNG, Pareto CSV) was written to its temporary name, not yet renamed
``export``   an export file was written to its temporary name, not yet renamed
``artifact`` a trial's artifact (``energy_report.json``) was written to its temporary name, not yet uploaded
============ ==========================================================================================

Actions: ``kill`` (SIGKILL this process: no cleanup, no ``finally``, as a power cut or the OOM killer),
``raise`` (a ``RuntimeError`` as a bug in the model would raise), ``oom`` (256 MiB held, then a real allocation of
1 PiB on the site's device: the allocator's own out-of-memory error), ``nan`` / ``inf`` (the value at a value site).

Example:
    >>> plan = parse("step@3:kill, loss@1:nan")
    >>> sorted(plan.items())
    [(('loss', 1), 'nan'), (('step', 3), 'kill')]
"""

from __future__ import annotations

import os
import signal
from collections import Counter
from typing import Any

__all__ = ["ACTIONS", "SITES", "parse", "planned", "point", "value"]

SITES = ("ask", "sample", "step", "forward", "loss", "energy", "storage", "report", "export", "artifact")
ACTIONS = ("kill", "raise", "oom", "nan", "inf")


def parse(spec: str) -> dict[tuple[str, int], str]:
    """``{(site, hit): action}`` from ``SITE@N:ACTION,...``; a malformed entry is a ``ValueError``."""
    plan: dict[tuple[str, int], str] = {}
    for entry in filter(None, (e.strip() for e in spec.split(","))):
        try:
            where, action = entry.split(":")
            site, hit = where.split("@")
            n = int(hit)
        except ValueError:
            raise ValueError(f"SNNAS_FAULTS: {entry!r} is not SITE@N:ACTION") from None
        if site not in SITES or action not in ACTIONS or n < 1:
            raise ValueError(f"SNNAS_FAULTS: {entry!r}: sites {SITES}, actions {ACTIONS}, N >= 1")
        plan[(site, n)] = action
    return plan


_PLAN = parse(os.environ.get("SNNAS_FAULTS", ""))
_HITS: Counter[str] = Counter()


def planned(site: str) -> bool:
    """Whether any fault is planned at ``site`` in this process."""
    return any(s == site for s, _ in _PLAN)


def _due(site: str) -> str | None:
    _HITS[site] += 1
    return _PLAN.get((site, _HITS[site]))


def _act(site: str, action: str, device: Any) -> None:
    if action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif action == "raise":
        raise RuntimeError(f"injected fault at {site} (hit {_HITS[site]})")
    elif action == "oom":
        import torch

        held = torch.ones(2**28, dtype=torch.uint8, device=device or "cpu")  # 256 MiB in use when it fails
        torch.empty(2**50, dtype=held.dtype, device=held.device)  # 1 PiB: every allocator refuses it


def point(site: str, device: Any = None) -> None:
    """Pass the named site; does nothing unless a planned fault is due here."""
    if _PLAN and (action := _due(site)) is not None:
        _act(site, action, device)


def value(site: str, x: Any) -> Any:
    """Pass a value site: ``x``, or ``x`` made NaN or infinite when a planned fault says so."""
    if _PLAN and (action := _due(site)) is not None:
        if action in ("nan", "inf"):
            return x * float(action)
        _act(site, action, getattr(x, "device", None))
    return x
