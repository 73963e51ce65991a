"""Architecture search: spaces as TOML files, the proxy trainer, Pareto successive halving, the Optuna driver.

Example:
    >>> from snnas.search import load_space
    >>> space = load_space("edge_tiny")
    >>> space.name, space.dataset
    ('edge_tiny', 'fashion-mini')
"""

from __future__ import annotations

from snnas.search._driver import SAMPLERS, SearchOptions, counts_toward_budget, make_sampler, open_study, run_worker
from snnas.search._pruner import hypervolume_2d, knee_index, nondominated_ranks, pareto_front, pareto_keep
from snnas.search._results import open_existing_study, pareto_frame, trials_frame, write_pareto_csv
from snnas.search._run import search
from snnas.search._trainer import ProxyTrainer, RungResult, TrialFailure, pick_device
from snnas.search.space import SearchSpace, list_spaces, load_space

__all__ = ["counts_toward_budget", "hypervolume_2d", "knee_index", "list_spaces", "load_space", "make_sampler",
           "nondominated_ranks", "open_existing_study", "open_study", "pareto_frame", "pareto_front", "pareto_keep",
           "pick_device", "ProxyTrainer", "run_worker", "RungResult", "SAMPLERS", "search", "SearchOptions",
           "SearchSpace", "TrialFailure", "trials_frame", "write_pareto_csv"]
