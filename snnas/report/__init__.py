"""Reports of a study: an offline interactive HTML page, static PNGs, and the live optuna-dashboard.

Example:
    >>> from snnas.report import build_report  # doctest: +SKIP
    >>> build_report("edge_small-fashion-mini")  # doctest: +SKIP
    PosixPath('reports/edge_small-fashion-mini/index.html')
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from snnas.errors import SnnasError

__all__ = ["build_report"]


def _clean(x: Any) -> Any:
    """JSON-safe: non-finite floats become null (a NaN in a study must not break the page)."""
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    return x


def build_report(study: str, storage: str | None = None, out: str | Path | None = None, png: bool = True,
                 studies_dir: str | Path = "studies", csv: bool = True) -> Path:
    """Write ``<out>/index.html`` (default :func:`~snnas.search._results.report_dir`: ``reports/<study>/``, or
    ``reports/<study>@<storage>/`` beside a same-named study's), the PNGs and ``pareto.csv``; return the page."""
    from snnas._atomic import write_atomic
    from snnas.report._data import gather  # heavy imports only when a report is built, not when the CLI loads
    from snnas.report._page import render_page
    from snnas.search._results import open_existing_study, own_report_dir, pareto_frame, report_dir
    from snnas.search._storage import default_url

    s = open_existing_study(study, storage, studies_dir)
    folder = Path(out) if out else report_dir(s, storage, studies_dir=studies_dir)
    if folder.exists() and not folder.is_dir():
        raise SnnasError(f"--out {folder}: a file is in the way; the report is a folder (index.html, PNGs, CSV)")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise SnnasError(f"cannot create the report folder {folder}: {e.strerror or e}") from None
    data = _clean(gather(s, storage or default_url(studies_dir, study)))
    # Atomic writes: a browser reloading mid-write, or a kill, never leaves half a page or half a CSV.
    page = write_atomic(folder / "index.html", render_page(data))
    if csv:  # the search writes its own pareto.csv first (it must exist even if the report fails)
        write_atomic(folder / "pareto.csv", pareto_frame(s).to_csv(index=False))
    if png:
        from snnas.report._png import write_pngs

        write_pngs(data, folder)
    if out is None:
        own_report_dir(folder, s, storage, studies_dir)
    return page
