"""Energy profiles: per-operation energies as data files with their sources, never literals in code."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from snnas._lookup import read_toml
from snnas.errors import ConfigError

__all__ = ["OP_KINDS", "EnergyProfile", "load_profile", "list_profiles"]

OP_KINDS = ("sop", "ac", "mac", "neuron_update")


@dataclass(frozen=True)
class EnergyProfile:
    """Energy in pJ per counted operation, plus where the numbers come from.

    Example:
        >>> p = load_profile("cmos45")
        >>> p.energy_pj["mac"], p.energy_pj["sop"]
        (4.6, 0.9)
    """

    name: str
    description: str
    energy_pj: dict[str, float]
    sources: tuple[str, ...]
    technology_nm: int | None = None
    precision: str = ""

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["sources"] = list(self.sources)
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any], origin: str = "profile") -> EnergyProfile:
        def bad(key: str, why: str) -> ConfigError:
            return ConfigError(f"{origin}: {key}: {why}")

        for key in ("name", "description", "energy_pj", "sources"):
            if key not in data:
                raise bad(key, "missing")
        table = data["energy_pj"]
        if not isinstance(table, dict):
            raise bad("energy_pj", "must be a table of pJ per operation")
        unknown = sorted(set(table) - set(OP_KINDS))
        if unknown:
            raise bad("energy_pj", f"unknown operation(s) {', '.join(unknown)}; known: {', '.join(OP_KINDS)}")
        energies = {}
        for kind in OP_KINDS:
            v = table.get(kind)
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or v < 0:
                raise bad(f"energy_pj.{kind}", f"must be a finite number >= 0 (got {v!r})")
            energies[kind] = float(v)
        tech = data.get("technology_nm")
        if tech is not None and (isinstance(tech, bool) or not isinstance(tech, int) or tech <= 0):
            raise bad("technology_nm", f"must be a positive integer number of nanometres (got {tech!r})")
        sources = data["sources"]
        if not isinstance(sources, list) or not sources or not all(isinstance(s, str) for s in sources):
            raise bad("sources", "must be a non-empty list of citations")
        return cls(str(data["name"]), str(data["description"]), energies, tuple(sources),
                   data.get("technology_nm"), str(data.get("precision", "")))


def _builtin() -> dict[str, Any]:
    return {p.name.removesuffix(".toml"): p for p in resources.files("snnas.energy").joinpath("profiles").iterdir()
            if p.name.endswith(".toml")}


def list_profiles() -> list[str]:
    """Names of the built-in profiles."""
    return sorted(_builtin())


def load_profile(name_or_path: str | Path) -> EnergyProfile:
    """A built-in profile by name, or a user's TOML file by path (same keys as the built-in files)."""
    origin, data = read_toml(name_or_path, _builtin(), "energy profile")
    return EnergyProfile.from_dict(data, origin)
