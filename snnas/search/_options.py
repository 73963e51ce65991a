"""What a search is asked to do: :class:`SearchOptions` (and its Ray part), checked before any work starts."""

from __future__ import annotations

import math
import os
import shutil
from dataclasses import dataclass, field, fields, replace

from snnas.errors import SnnasError
from snnas.search._storage import default_url
from snnas.search.space import SAMPLERS, SearchSpace
from snnas.train import pick_device

__all__ = ["DEFAULT_SAMPLER", "SAMPLERS", "RayOptions", "SearchOptions", "cpp_compiler"]

DEFAULT_SAMPLER = "tpe"  # when neither --sampler nor the space names one (chosen by bench/search_efficiency.py)


@dataclass(frozen=True)
class RayOptions:
    """The Ray backend's placement options (``--address``, ``--cpus-per-trial``, ...).

    Example:
        >>> RayOptions().given(), RayOptions(max_concurrent=2).given()
        ([], ['--max-concurrent'])
    """

    address: str | None = None  # an existing cluster (auto or host:port); None starts a local one
    gpus_per_trial: float | None = None  # None = 0.25 when the cluster has GPUs, else 0
    max_concurrent: int | None = None  # None = as many trials as the cluster's resources fit
    cpus_per_trial: float = 1.0

    def given(self) -> list[str]:
        """The flags set to something other than their default (they need ``--backend ray``)."""
        return [f"--{f.name.replace('_', '-')}" for f in fields(self) if getattr(self, f.name) != f.default]


@dataclass
class SearchOptions:
    """Everything ``snnas search`` needs; also what each worker process receives.

    Example:
        >>> from snnas.search import load_space
        >>> opts = SearchOptions(space="edge_tiny", budget=4).resolved(load_space("edge_tiny"))
        >>> opts.study, opts.storage
        ('edge_tiny-fashion-mini', 'sqlite:///studies/edge_tiny-fashion-mini.db')
    """

    space: str
    budget: int = 20
    dataset: str | None = None
    data_dir: str | None = None
    sampler: str | None = None  # None: the space's [search] sampler, else DEFAULT_SAMPLER
    storage: str | None = None
    study: str | None = None
    workers: int = 1
    seed: int = 0
    timeout: float | None = None
    device: str | None = None
    prune: bool = True
    threads: int | None = None
    studies_dir: str = "studies"
    backend: str = "optuna"  # or "ray"
    compile_neurons: str = "off"  # on: fused CPU neuron kernels (torch.compile); see docs/benchmarks.md
    duplicates: str = "skip"  # skip: a known architecture takes its stored result; train: train it again
    gate: str = "predicted"  # the pruning gate compares predicted final accuracy ("raw": the rung's own)
    prescreen: int | None = None  # candidates scored without training before the first trial (None: the space's)
    ray: RayOptions = field(default_factory=RayOptions)

    def check(self) -> SearchOptions:
        """Refuse contradictory or invalid options with one line, before any study or dataset is opened."""
        if self.sampler is not None and self.sampler not in SAMPLERS:
            raise SnnasError(f"unknown sampler {self.sampler!r}; choose one of {', '.join(SAMPLERS)}")
        if self.timeout is not None and not (math.isfinite(self.timeout) and self.timeout > 0):
            raise SnnasError(f"--timeout must be a positive number of seconds (got {self.timeout:g})")
        if self.device not in (None, "auto", "cpu", "cuda"):
            raise SnnasError(f"--device must be cpu or cuda (got {self.device!r})")
        if self.backend == "optuna":  # a Ray trial may run on another node, one with a GPU
            pick_device(self.device)
        if self.backend not in ("optuna", "ray"):
            raise SnnasError(f"unknown backend {self.backend!r}; choose optuna or ray")
        if self.backend == "ray" and self.workers != 1:
            raise SnnasError("--workers is for the optuna backend; with --backend ray use --max-concurrent")
        if self.duplicates not in ("skip", "train"):
            raise SnnasError(f"--duplicates must be skip or train (got {self.duplicates!r})")
        if self.gate not in ("predicted", "raw"):
            raise SnnasError(f"--gate must be predicted or raw (got {self.gate!r})")
        if self.prescreen is not None and self.prescreen < 0:
            raise SnnasError(f"--prescreen must be 0 (off) or a number of candidates (got {self.prescreen})")
        given = self.ray.given()
        if self.backend == "optuna" and given:
            raise SnnasError(f"{', '.join(given)} need --backend ray")
        return self

    def resolved(self, space: SearchSpace) -> SearchOptions:
        """A copy with the space's defaults filled in: dataset, study name, storage URL, threads."""
        dataset = self.dataset or space.dataset
        study = self.study or f"{space.name}-{dataset}"
        storage = self.storage or default_url(self.studies_dir, study)
        threads = self.threads or max(1, (os.cpu_count() or 1) // max(1, self.workers))
        sampler = self.sampler or space.sampler or DEFAULT_SAMPLER
        prescreen = space.prescreen if self.prescreen is None else self.prescreen
        return replace(self, dataset=dataset, study=study, storage=storage, threads=threads, sampler=sampler,
                       prescreen=prescreen, compile_neurons=self._compile_choice())

    def _compile_choice(self) -> str:
        if self.compile_neurons not in ("on", "off"):
            raise SnnasError(f"--compile-neurons must be on or off (got {self.compile_neurons!r})")
        if self.compile_neurons == "on" and self.device != "cuda" and not cpp_compiler():
            raise SnnasError("--compile-neurons on needs a C++ compiler ($CXX, g++ or clang++) on PATH")
        return self.compile_neurons


def cpp_compiler() -> str | None:
    """The C++ compiler torch's inductor would use ($CXX, else g++ or clang++), or None."""
    for name in (os.environ.get("CXX"), "g++", "clang++"):
        if name and shutil.which(name):
            return name
    return None
