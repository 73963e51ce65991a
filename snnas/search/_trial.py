"""One trial's life in the study, written once for every backend: begin, record a rung, gate, finish.

The Optuna backend lives a trial inside a worker process (:mod:`snnas.search._driver`); the Ray backend
lives it in the driver from what the Ray trial reports (:mod:`snnas.search._ray`). Both call this class, so
a study reads the same whichever ran it:

* **begin** samples the architecture through the space and records the seed, the data seed, the config and
  how to re-run it; an infeasible trial (too many parameters) is pruned untrained, since it could never be on
  the front.
* **placed** records where it runs (device, pid, host, neuron kernels); **rung** records each rung's summary.
* **gate** is Pareto successive halving (:mod:`snnas.search._pruner`) at every rung but the last, against
  the rung population in the study, whichever process or backend produced it.
* **complete / prune / fail / interrupt** end it as COMPLETE (objectives: validation accuracy and energy
  per image; ``max_energy_uj`` checked as a constraint), PRUNED or FAIL with the reason, or FAIL without one
  (not counted) and re-queued with its parameters and seed.
"""

from __future__ import annotations

import json
import os
import shlex
import tempfile
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from snnas import _faults
from snnas._atomic import write_atomic
from snnas._text import plural
from snnas._versions import package_versions
from snnas.config import ArchConfig
from snnas.errors import first_line
from snnas.models import count_params
from snnas.search._options import SearchOptions
from snnas.search._predict import RidgePredictor, features
from snnas.search._pruner import pareto_keep
from snnas.search._record import ENERGY_REPORT_KEY, Attr, TrialRecord, rung_key
from snnas.search._storage import artifact_dir
from snnas.search._study import retry_stale
from snnas.search.space import SearchSpace
from snnas.train import TrainingFailure

__all__ = ["PLACEMENT", "TrialLife", "failure_reason", "known_result", "rss_mb"]

PLACEMENT = (Attr.DEVICE, Attr.PID, Attr.HOST, Attr.NEURONS)  # where a trial ran, as its worker reports it


class TrialLife:
    """One claimed trial of ``study``, from its sampled architecture to its end state.

    Example:
        >>> import optuna
        >>> from snnas.search import SearchOptions, load_space
        >>> space = load_space("edge_tiny")
        >>> opts = SearchOptions(space="edge_tiny").resolved(space)
        >>> study = optuna.create_study(directions=["maximize", "minimize"])
        >>> life = TrialLife(study, study.ask(), space, opts)
        >>> cfg = life.begin()
        >>> life.gate(0, 0.5, 1.0) is None  # alone at its rung: nothing to compare with, it goes on
        True
        >>> life.prune(rss=None, reason="rung 0: dominated")
        >>> study.trials[0].state.name, study.trials[0].user_attrs["prune_reason"]
        ('PRUNED', 'rung 0: dominated')
    """

    def __init__(self, study: optuna.Study, trial: optuna.Trial, space: SearchSpace, opts: SearchOptions) -> None:
        self.study, self.trial, self.space, self.opts = study, trial, space, opts
        self.seed = int(trial.user_attrs.get(Attr.SEED, (opts.seed * 1_000_003 + trial.number) % 2**31))
        self.verdict: str | None = None  # the gate's prune reason, until the trial is told
        self.finished = False

    @property
    def number(self) -> int:
        return self.trial.number

    def begin(self, where: dict[str, Any] | None = None) -> ArchConfig | None:
        """Sample and record the architecture (and ``where`` it runs, when known); ``None`` when it is
        infeasible, and then already pruned untrained."""
        t, opts = self.trial, self.opts
        t.set_user_attr(Attr.SEED, self.seed)  # first: a trial killed while sampling is re-run with its seed too
        cfg = self.space.suggest(t, opts.dataset)
        _faults.point("sample")
        n_params = count_params(cfg)
        for key, value in ((Attr.ARCH_ID, cfg.id), (Attr.CONFIG, cfg.to_dict()), (Attr.PARAMS, n_params),
                           (Attr.VERSIONS, dict(package_versions("optuna"))), (Attr.BACKEND, opts.backend),
                           (Attr.DATA_SEED, opts.seed), (Attr.COMMAND, self._rerun_command())):
            t.set_user_attr(key, value)
        self.placed(where or {})
        if self.space.max_params is not None and n_params > self.space.max_params:
            t.set_user_attr(Attr.PRUNE_REASON, f"{n_params} parameters > max_params {self.space.max_params}: "
                            "infeasible, not trained")
            self._tell(state=TrialState.PRUNED)
            return None
        if opts.duplicates == "skip" and self._take_known(cfg.id):
            return None
        return cfg

    def _take_known(self, arch_id: str) -> bool:
        """A proposal of an architecture the study already trained (same data seed) takes that trial's stored
        result instead of training again: COMPLETE with its values and constraints, or PRUNED with its reason.
        It is marked ``duplicate_of`` and does not count toward the budget."""
        known = known_result(self.study, arch_id, self.opts.seed, exclude=self.number)
        if known is None:
            return False
        t = self.trial
        t.set_user_attr(Attr.DUPLICATE_OF, known.number)
        for key in (Attr.N_VAL, Attr.CHANCE_THRESHOLD):
            if key in known.user_attrs:
                t.set_user_attr(key, known.user_attrs[key])
        record = TrialRecord.of(known)
        if record.energy_report is not None:  # a known trial of an older study kept it as a user attribute
            self._store_report(record.energy_report)
        for k, summary in enumerate(record.rungs):
            t.set_user_attr(rung_key(k), summary)
        if known.state == TrialState.COMPLETE:
            for key, value in known.constraints.items():
                t.set_constraint(key, value)
            self._tell(list(known.values))
        else:
            t.set_user_attr(Attr.PRUNE_REASON, f"{known.user_attrs.get(Attr.PRUNE_REASON) or 'pruned'} (same "
                            f"architecture as trial {known.number}: its result, not trained)")
            self._tell(state=TrialState.PRUNED)
        return True

    def _rerun_command(self) -> str:
        o = self.opts
        args = ["snnas", "trial", "--space", o.space, "--dataset", o.dataset, "--seed", str(self.seed),
                "--data-seed", str(o.seed), "--params", json.dumps(self.trial.params, sort_keys=True)]
        if o.data_dir:
            args += ["--data-dir", o.data_dir]
        if o.compile_neurons == "on":
            args += ["--compile-neurons", "on"]  # fused kernels may round the last bit differently: rerun alike
        return shlex.join(args)

    def placed(self, where: dict[str, Any]) -> None:
        """Record where the trial runs (``PLACEMENT`` keys found in ``where``; unchanged ones not rewritten)."""
        for key in PLACEMENT:
            if key in where and self.trial.user_attrs.get(key) != where[key]:
                self.trial.set_user_attr(key, where[key])

    def rung(self, k: int, summary: dict[str, Any]) -> None:
        """Record rung ``k``'s summary (``RungResult.summary()``)."""
        self.trial.set_user_attr(rung_key(k), summary)

    def gate(self, k: int, val_accuracy: float, energy_uj: float) -> str | None:
        """After rung ``k``: ``None`` to go on, or the prune reason (kept as :attr:`verdict`).

        With ``gate = "predicted"`` (the default) trials are compared on the last-rung accuracy predicted from
        their architecture and rung ``k`` (:mod:`snnas.search._predict`, fitted on the study's trials that
        reached the last rung), once enough of them exist; before that, and with ``gate = "raw"``, on the rung's
        own accuracy.
        """
        if not self.opts.prune or k >= len(self.space.rungs) - 1:
            return None
        population, mine, basis = self._population(k, val_accuracy, energy_uj)
        keep, why = pareto_keep(mine, population, self.space.eta, self.space.min_rung_population)
        if keep:
            return None
        self.verdict = f"rung {k}: {why}; {basis}"
        return self.verdict

    def _population(self, k: int, val_accuracy: float, energy_uj: float
                    ) -> tuple[list[tuple[float, float]], tuple[float, float], str]:
        """(accuracy, energy) of every other trial that reached rung ``k``, whoever ran it, and this trial's;
        accuracies predicted when the gate predicts; and what they are."""
        key, last = rung_key(k), rung_key(len(self.space.rungs) - 1)
        others = [t for t in self.study.get_trials(deepcopy=False) if t.number != self.number and key in t.user_attrs
                  and Attr.DUPLICATE_OF not in t.user_attrs]
        raw = [(t.user_attrs[key]["val_accuracy"], t.user_attrs[key]["energy_uj"]) for t in others]
        model = None
        if self.opts.gate == "predicted":
            fit = [t for t in others if last in t.user_attrs]
            model = RidgePredictor.fit([_features(t.user_attrs, key) for t in fit],
                                       [t.user_attrs[last]["val_accuracy"] for t in fit])
        if model is None:
            return raw, (val_accuracy, energy_uj), f"on rung {k} accuracy {val_accuracy:.3f}"
        mine_attrs = {**self.trial.user_attrs, key: {**self.trial.user_attrs.get(key, {}),
                                                     "val_accuracy": val_accuracy, "energy_uj": energy_uj}}
        preds = model.predict([_features(t.user_attrs, key) for t in others] + [_features(mine_attrs, key)])
        population = [(p, e) for p, (_, e) in zip(preds, raw, strict=False)]
        return population, (preds[-1], energy_uj), (f"on predicted final accuracy {preds[-1]:.3f} (rung {k} accuracy "
                                                   f"{val_accuracy:.3f}; ridge model on {plural(model.n, 'trial')})")

    def complete(self, val_accuracy: float, energy_uj: float, report: dict[str, Any], rss: float | None,
                 n_val: int | None = None) -> None:
        """It trained through its last rung: objectives, energy report, constraints.

        ``n_val`` (the validation images, ``ProxyTrainer.n_val``) adds the above-chance test
        (:mod:`snnas.search._front`): the ``above_chance`` constraint, ``threshold - accuracy``, and the
        threshold and ``n_val`` as attributes; without it the trial is not tested.
        """
        from snnas.search._front import CHANCE_CONSTRAINT, chance_constraint, chance_threshold

        t, space = self.trial, self.space
        t.set_user_attr(Attr.RSS_MB, rss)
        self._store_report(report)
        if space.max_energy_uj is not None:
            t.set_constraint("max_energy_uj", energy_uj - space.max_energy_uj)
        if space.max_params is not None:
            t.set_constraint("max_params", float(t.user_attrs[Attr.PARAMS] - space.max_params))
        num_classes = (t.user_attrs.get(Attr.CONFIG) or {}).get("num_classes")
        if n_val is not None and int(n_val) >= 1:
            t.set_user_attr(Attr.N_VAL, int(n_val))
            if isinstance(num_classes, int) and num_classes >= 1:
                threshold = chance_threshold(num_classes, int(n_val))
                t.set_user_attr(Attr.CHANCE_THRESHOLD, threshold)
                t.set_constraint(CHANCE_CONSTRAINT, chance_constraint(val_accuracy, threshold))
        self._tell([val_accuracy, energy_uj])

    def _store_report(self, report: dict[str, Any]) -> None:
        """The energy report, as a system attribute (:data:`~snnas.search._record.ENERGY_REPORT_KEY`: whole, in
        the study's storage, out of the attribute tables Optuna's tools print), and, where the study has an
        artifact folder (:func:`~snnas.search._storage.artifact_dir`), as the trial's Optuna artifact
        ``energy_report.json``, which optuna-dashboard shows with the trial (``snnas dashboard`` serves it)."""
        self.study._storage.set_trial_system_attr(self.trial._trial_id, ENERGY_REPORT_KEY, report)
        folder = artifact_dir(self.opts.storage, self.opts.study)
        if folder is not None:
            _upload_report(self.trial, report, folder)

    def prune(self, rss: float | None, reason: str | None = None) -> None:
        """End as PRUNED with the gate's verdict (or ``reason``)."""
        self.trial.set_user_attr(Attr.PRUNE_REASON, reason or self.verdict)
        self.trial.set_user_attr(Attr.RSS_MB, rss)
        self._tell(state=TrialState.PRUNED)

    def fail(self, reason: str, rss: float | None = None) -> None:
        """End as FAIL with a reason (it counts toward the budget: it failed on its own)."""
        self.trial.set_user_attr(Attr.FAIL_REASON, reason)
        self.trial.set_user_attr(Attr.RSS_MB, rss)  # after the trainer freed the trial's memory: back to baseline?
        self._tell(state=TrialState.FAIL)

    def interrupt(self) -> None:
        """Stopped from outside before its last rung: not a result at any fidelity. FAIL without a reason (not
        counted) and re-queued with its parameters and seed."""
        self._tell(state=TrialState.FAIL)
        retry_stale(self.study, self.study._storage.get_trial(self.trial._trial_id))

    def _tell(self, values: list[float] | None = None, state: TrialState | None = None) -> None:
        self.study.tell(self.trial, values, state=state)
        self.finished = True


def known_result(study: optuna.Study, arch_id: str, data_seed: int, exclude: int | None = None) -> FrozenTrial | None:
    """The first trial of ``study`` that trained ``arch_id`` on ``data_seed``'s split and ended COMPLETE or PRUNED
    at a rung (not a duplicate itself, not pruned untrained), or None."""
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)):
        a = t.user_attrs
        if (t.number != exclude and a.get(Attr.ARCH_ID) == arch_id and Attr.DUPLICATE_OF not in a
                and a.get(Attr.DATA_SEED, data_seed) == data_seed and rung_key(0) in a):
            return t
    return None


def _features(attrs: dict[str, Any], key: str) -> list[float]:
    return features(attrs.get(Attr.CONFIG) or {}, attrs[key], attrs.get(Attr.PARAMS))


def _upload_report(trial: optuna.Trial, report: dict[str, Any], folder: Path) -> None:
    """``report`` as ``trial``'s artifact in Optuna's file artifact store at ``folder``. A view of the system
    attribute, which stays the record: if it cannot be written the trial loses nothing, so it is skipped."""
    from optuna.artifacts import FileSystemArtifactStore, upload_artifact

    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            path = write_atomic(Path(tmp) / "energy_report.json", json.dumps(report, indent=1), site="artifact")
            upload_artifact(artifact_store=FileSystemArtifactStore(folder), file_path=str(path), study_or_trial=trial,
                            mimetype="application/json")
    except Exception:  # noqa: BLE001, S110 - see the docstring
        pass


def failure_reason(e: BaseException) -> str:
    """One line for a failed trial: a training failure speaks for itself, anything else is named."""
    return str(e) if isinstance(e, TrainingFailure) else f"{type(e).__name__}: {first_line(e)}"


def rss_mb() -> float | None:
    """This process's resident memory now (Linux), recorded per trial to show it does not grow."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return round(pages * os.sysconf("SC_PAGE_SIZE") / 2**20, 1)
