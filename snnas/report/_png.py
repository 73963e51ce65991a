"""Static PNGs of the report's main figures (matplotlib, no browser needed), for papers and READMEs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["write_pngs"]


def write_pngs(data: dict[str, Any], folder: Path) -> list[Path]:
    """pareto.png, hypervolume.png and, for the suggested trial (the near-best pick), energy_layers.png and
    firing.png."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    from snnas.report._data import HV_UNIT, completed

    out: list[Path] = []
    if not completed(data):  # axes around a pruned or running trial's rung result alone are junk, not a figure
        return out
    pts = [t for t in data["trials"] if t.get("acc") is not None and t.get("energy") is not None]
    if pts:
        fig, ax = plt.subplots(figsize=(6.4, 4.4), dpi=150)
        for label, sel, style in (
            ("pruned (last rung)", lambda t: t["state"] == "PRUNED", {"facecolors": "none", "edgecolors": "#999"}),
            ("complete", lambda t: t["state"] == "COMPLETE" and not t["pareto"] and not t.get("below_chance"),
             {"color": "#1f77b4"}),
            ("not above chance", lambda t: t["state"] == "COMPLETE" and t.get("below_chance"), {"color": "#ff7f0e"}),
            ("Pareto front", lambda t: t["pareto"], {"color": "#d62728"}),
        ):
            group = [t for t in pts if sel(t)]
            if group:
                ax.scatter([t["energy"] for t in group], [t["acc"] for t in group], s=22, label=label, **style)
        front = [next(t for t in pts if t["number"] == n) for n in data["front"]]
        if front:
            ax.step([t["energy"] for t in front], [t["acc"] for t in front], where="post", color="#d62728", lw=1)
        knee = next((t for t in pts if t["number"] == data["knee"]), None)
        if knee:
            ax.scatter([knee["energy"]], [knee["acc"]], marker="D", s=70, color="#2a9d8f", edgecolors="#333",
                       zorder=5, label=f"knee (trial {knee['number']})")
        pick = next((t for t in pts if t["number"] == data.get("pick")), None)
        if pick:
            ax.scatter([pick["energy"]], [pick["acc"]], marker="*", s=220, color="#ffbf00", edgecolors="#333",
                       zorder=6, label=f"suggested, near-best (trial {pick['number']})")
        _log_ticks(ax)
        ax.set_xlabel("energy per image (µJ)")
        ax.set_ylabel("validation accuracy")
        ax.set_title(f"{data['study']['name']}: accuracy vs energy")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
        out.append(_save(fig, folder / "pareto.png"))
    hv = data["hypervolume"]
    if hv["hv"]:
        fig, ax = plt.subplots(figsize=(6.4, 3.2), dpi=150)
        ax.plot(range(1, len(hv["hv"]) + 1), hv["hv"], marker=".")
        ax.set_xlabel("completed trials")
        ax.set_ylabel(f"hypervolume ({HV_UNIT})")
        ax.grid(alpha=0.3)
        out.append(_save(fig, folder / "hypervolume.png"))
    d = data["details"].get(str(data.get("pick"))) if data.get("pick") is not None else None
    if d and d["layers"]:
        layers = d["layers"]
        fig, ax = plt.subplots(figsize=(7.5, max(3.0, 0.22 * len(layers) + 1)), dpi=150)
        left = [0.0] * len(layers)
        for op, color in (("sop", "#2a9d8f"), ("mac", "#e76f51"), ("ac", "#e9c46a"), ("neuron_update", "#264653")):
            vals = [row[f"{op}_uj"] for row in layers]
            ax.barh([row["layer"] for row in layers], vals, left=left, color=color, label=op.upper())
            left = [a + b for a, b in zip(left, vals, strict=True)]
        ax.invert_yaxis()  # network order, the first layer at the top (as the firing heat-map beside it)
        ax.set_xlabel("µJ per image")
        ax.set_title(f"trial {d['number']} (suggested): energy per layer", fontsize=10)
        ax.tick_params(axis="y", labelsize=6)
        ax.legend(fontsize=7)
        out.append(_save(fig, folder / "energy_layers.png"))
    if d and d["firing"]["layers"]:
        f = d["firing"]
        fig, ax = plt.subplots(figsize=(5.5, max(3.0, 0.22 * len(f["layers"]) + 1)), dpi=150)
        width = max(len(r) for r in f["z"])
        grid = [r + [float("nan")] * (width - len(r)) for r in f["z"]]
        im = ax.imshow(grid, aspect="auto", cmap="viridis", vmin=0)
        ax.set_yticks(range(len(f["layers"])), f["layers"], fontsize=6)
        ax.set_xticks(range(width), [f"t={i}" for i in range(width)], fontsize=7)
        ax.set_title(f"trial {d['number']} (suggested): firing rate", fontsize=10)
        fig.colorbar(im, ax=ax)
        out.append(_save(fig, folder / "firing.png"))
    return out


def _log_ticks(ax: Any) -> None:
    """A log energy axis labelled with plain values (0.02, 0.05, 0.1), not 10^-1 and 2x10^-2: the page's steps
    (decades over more than 3 decades, 1-2-5 over more than 0.7 of one, 1-9 below)."""
    from matplotlib import ticker

    ax.set_xscale("log")
    lo, hi = ax.get_xlim()
    subs = (1.0,) if hi / lo > 1e3 else ((1.0, 2.0, 5.0) if hi / lo > 10**0.7 else tuple(range(1, 10)))
    ax.xaxis.set_major_locator(ticker.LogLocator(base=10, subs=subs))
    ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda x, _: f"{x:g}"))
    ax.xaxis.set_minor_formatter(ticker.NullFormatter())


def _save(fig: Any, path: Path) -> Path:
    import matplotlib.pyplot as plt

    from snnas._atomic import write_atomic

    fig.tight_layout()
    try:
        return write_atomic(path, lambda tmp: fig.savefig(tmp, format=path.suffix.lstrip(".")))
    finally:
        plt.close(fig)
