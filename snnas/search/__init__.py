"""Architecture search: spaces as TOML files, one trial life on two backends, Pareto successive halving.

Example:
    >>> from snnas.search import load_space
    >>> space = load_space("edge_tiny")
    >>> space.name, space.dataset
    ('edge_tiny', 'fashion-mini')
"""

from __future__ import annotations

from snnas.search._driver import run_worker
from snnas.search._front import (
    ChanceTest,
    Front,
    chance_test,
    chance_threshold,
    front_of,
    near_best_index,
    near_best_rule,
)
from snnas.search._options import SAMPLERS, RayOptions, SearchOptions
from snnas.search._proxy import ProxyTrainer, RungResult, TrialFailure
from snnas.search._pruner import hypervolume_2d, knee_index, nondominated_ranks, pareto_front, pareto_keep
from snnas.search._record import ARCH_COLUMNS, Attr, TrialRecord, counts_toward_budget
from snnas.search._results import open_existing_study, pareto_frame, trials_frame, write_pareto_csv
from snnas.search._run import search
from snnas.search._space_file import list_spaces, load_space
from snnas.search._study import finished_count, make_sampler, open_study
from snnas.search._trial import TrialLife
from snnas.search.space import SearchSpace

__all__ = ["ARCH_COLUMNS", "Attr", "ChanceTest", "chance_test", "chance_threshold", "counts_toward_budget", "Front",
           "front_of", "near_best_index", "near_best_rule", "finished_count", "hypervolume_2d", "knee_index",
           "list_spaces", "load_space", "make_sampler", "nondominated_ranks", "open_existing_study", "open_study",
           "pareto_frame", "pareto_front", "pareto_keep", "ProxyTrainer", "RayOptions", "run_worker", "RungResult",
           "SAMPLERS", "search", "SearchOptions", "SearchSpace", "TrialFailure", "TrialLife", "TrialRecord",
           "trials_frame", "write_pareto_csv"]
