"""Architecture search: spaces as TOML files, one trial life on two backends, Pareto successive halving.

Example:
    >>> from snnas.search import load_space
    >>> space = load_space("edge_tiny")
    >>> space.name, space.dataset
    ('edge_tiny', 'fashion-mini')
"""

from __future__ import annotations

from snnas._lazy import lazy_exports

# Each name loads its own submodule on first use: `snnas spaces` reads space files without Optuna, torch or
# pandas, which the search itself needs.
__all__, __getattr__, __dir__ = lazy_exports(__name__, {
    "snnas.search._driver": ["run_worker"],
    "snnas.search._front": ["ChanceTest", "Front", "chance_test", "chance_threshold", "front_of",
                            "near_best_index", "near_best_rule"],
    "snnas.search._options": ["SAMPLERS", "RayOptions", "SearchOptions"],
    "snnas.search._proxy": ["ProxyTrainer", "RungResult", "TrialFailure"],
    "snnas.search._pruner": ["hypervolume_2d", "knee_index", "nondominated_ranks", "pareto_front", "pareto_keep"],
    "snnas.search._record": ["ARCH_COLUMNS", "Attr", "TrialRecord", "counts_toward_budget"],
    "snnas.search._results": ["open_existing_study", "pareto_frame", "trials_frame", "write_pareto_csv"],
    "snnas.search._run": ["search"],
    "snnas.search._space_file": ["list_spaces", "load_space"],
    "snnas.search._study": ["finished_count", "make_sampler", "open_study", "space_definition"],
    "snnas.search._trial": ["TrialLife"],
    "snnas.search.space": ["SearchSpace"],
})
