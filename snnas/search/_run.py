"""``snnas search``: start the workers (or the Ray run), watch the study, show progress, write the Pareto front.

The report page is not this module's: the CLI builds it after the search returns (search never calls report).
"""

from __future__ import annotations

import ctypes
import multiprocessing as mp
import os
import signal
import socket
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol, TextIO

import optuna
from optuna.trial import TrialState
from rich.console import Console, Group
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from snnas._text import plural
from snnas.data import get_entry as get_dataset
from snnas.errors import Interrupted, SnnasError
from snnas.search._driver import ClaimGate, make_trainer, run_worker
from snnas.search._locks import study_lock
from snnas.search._options import SearchOptions
from snnas.search._prescreen import PRESCREEN_SHARE, prescreen
from snnas.search._proxy import ProxyTrainer
from snnas.search._record import Attr, TrialRecord, counts_toward_budget, knob_columns, knob_text
from snnas.search._results import pareto_frame, write_pareto_csv
from snnas.search._space_file import load_space
from snnas.search._study import DUPLICATE_LIMIT, exhausted, open_study, release
from snnas.search.space import SearchSpace

__all__ = ["search"]


def _die_with_parent() -> None:
    """Linux: a worker gets SIGKILL when the search process dies, so no trial outlives its driver."""
    try:
        ctypes.CDLL("libc.so.6").prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def _worker_main(opts: SearchOptions, worker: int, deadline: float | None) -> None:
    _die_with_parent()
    gate = ClaimGate()
    signal.signal(signal.SIGTERM, gate.on_sigterm)  # the search's stop on Ctrl-C: see ClaimGate
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        run_worker(opts, load_space(opts.space), deadline, gate=gate)
    except SnnasError as e:  # a user error: one line, like the CLI
        print(f"error: worker {worker}: {e}", file=sys.stderr, flush=True)
        sys.exit(2)


def _arch(r: TrialRecord, knobs: list[str]) -> str:
    return " ".join(f"{k}={knob_text(r.config.get(k))}" for k in knobs) + f" params={r.n_params}"


def _trial_line(t: optuna.trial.FrozenTrial, knobs: list[str]) -> str:
    r = TrialRecord.of(t)
    arch = _arch(r, knobs)
    if r.duplicate_of is not None:
        result = f"acc={r.accuracy:.4f} energy={r.energy_uj:.4f}uJ" if r.values else r.state.name
        return f"trial {r.number} DUPLICATE of trial {r.duplicate_of} (not trained, not counted): {result} {arch}"
    if r.state == TrialState.COMPLETE:
        return f"trial {r.number} COMPLETE acc={r.accuracy:.4f} energy={r.energy_uj:.4f}uJ {arch}"
    if r.interrupted:  # its process died: not counted, re-run when it had params
        return (f"trial {r.number} INTERRUPTED (its process died; not counted"
                + (", re-run with the same parameters and seed)" if r.params else ")"))
    return f"trial {r.number} {r.state.name} {arch} {r.reason or ''}".rstrip()


def _pareto_table(study: optuna.Study, knobs: list[str], limit: int = 12) -> Table:
    table = Table(title="Pareto front (feasible, complete)")
    for col in ("trial", "val acc", "uJ/image", "params", *knobs):
        table.add_column(col, justify="right")
    for _, r in pareto_frame(study).head(limit).iterrows():
        table.add_row(str(r.trial), f"{r.val_accuracy:.4f}", f"{r.energy_uj:.4f}", str(r.params),
                      *(knob_text(r[k]) for k in knobs))
    return table


def _running_table(study: optuna.Study, knobs: list[str]) -> Table:
    table = Table(title="running")
    for col in ("trial", "rungs done", *knobs):
        table.add_column(col, justify="right")
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        r = TrialRecord.of(t)
        table.add_row(str(r.number), str(len(r.rungs)), *(knob_text(r.config.get(k)) for k in knobs))
    return table


class _Runner(Protocol):
    def start(self) -> None: ...
    def alive(self) -> bool: ...
    def finish(self) -> None: ...
    def abort(self) -> None: ...
    def held(self, study: optuna.Study) -> list[int]: ...


STOP_S = 15.0  # how long a worker process may take to end on Ctrl-C before it is killed


class _WorkerRunner:
    """The Optuna backend: one worker thread, or ``workers`` spawned processes, on the study."""

    def __init__(self, opts: SearchOptions, space: SearchSpace, deadline: float | None,
                 trainer: ProxyTrainer | None = None) -> None:
        self.errors: list[BaseException] = []
        self.gate = ClaimGate()
        if opts.workers == 1:
            def target() -> None:
                try:
                    run_worker(opts, space, deadline, trainer, self.gate)
                except BaseException as e:  # noqa: BLE001 - handed to the main thread
                    self.errors.append(e)

            self.runners: list[Any] = [threading.Thread(target=target, daemon=True)]
        else:
            ctx = mp.get_context("spawn")
            self.runners = [ctx.Process(target=_worker_main, args=(opts, w, deadline), daemon=True)
                            for w in range(opts.workers)]

    def start(self) -> None:
        # Worker processes start with SIGINT ignored (inherited through exec): a terminal's Ctrl-C reaches the
        # whole process group, and the search process alone handles it, ending the workers and their trials.
        # Otherwise each worker prints a KeyboardInterrupt traceback wherever the signal finds it.
        processes = any(isinstance(r, mp.process.BaseProcess) for r in self.runners)
        main = threading.current_thread() is threading.main_thread()  # only there may signals be set
        before = signal.signal(signal.SIGINT, signal.SIG_IGN) if processes and main else None
        try:
            for r in self.runners:
                r.start()
        finally:
            if before is not None:
                signal.signal(signal.SIGINT, before)

    def alive(self) -> bool:
        return any(r.is_alive() for r in self.runners)

    def abort(self) -> None:
        """Stop now (Ctrl-C), so that :meth:`held` then names every trial the workers hold: worker processes
        end on SIGTERM (at once, or right after a claim in progress; SIGKILL if one has not ended in
        ``STOP_S``); the worker thread claims nothing more (it trains on, ended with the process)."""
        processes = [r for r in self.runners if isinstance(r, mp.process.BaseProcess)]
        for r in processes:
            r.terminate()
        end = time.time() + STOP_S
        for r in processes:
            r.join(max(0.0, end - time.time()))
            if r.is_alive():
                r.kill()
                r.join()
        if not processes:
            self.gate.stop()

    def held(self, study: optuna.Study) -> list[int]:
        """Storage ids of the running trials this search's worker thread or processes placed."""
        pids = {os.getpid()} | {r.pid for r in self.runners if isinstance(r, mp.process.BaseProcess)}
        host = socket.gethostname()
        return [t._trial_id for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
                if t.user_attrs.get(Attr.HOST) == host and t.user_attrs.get(Attr.PID) in pids]

    def finish(self) -> None:
        for r in self.runners:
            r.join()
        if self.errors:
            raise self.errors[0]
        bad = [r.exitcode for r in self.runners if isinstance(r, mp.process.BaseProcess) and r.exitcode]
        if bad:
            raise SnnasError(f"{len(bad)} worker process(es) stopped with exit codes {bad}; their messages are "
                             "above; finished trials are kept, re-run the same command to resume")


def search(opts: SearchOptions, quiet: bool = False, console: Console | None = None) -> optuna.Study:
    """Run (or resume) a search until the study holds ``opts.budget`` finished trials; write its Pareto front."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space: SearchSpace = load_space(opts.space)
    opts = opts.resolved(space)
    console = console or Console()
    # Output to a file or a pipe (`> search.log`, CI) streams one line per trial, as --quiet does: a live view
    # there is written once, at the end, as its last frame.
    quiet = quiet or not (console.is_terminal or console.is_jupyter)
    get_dataset(opts.dataset).locate(Path(opts.data_dir) if opts.data_dir else None).require(opts.dataset)
    # Load the data before any study is created, so a corrupt dataset leaves no study file behind. One local
    # worker keeps this trainer; other backends load their own and only the check is done here.
    trainer = make_trainer(opts, space) if opts.backend == "optuna" and opts.workers == 1 else None
    local = trainer
    if trainer is None and (not opts.ray.address or opts.prescreen):
        local = make_trainer(replace(opts, compile_neurons="off"), space)
    if opts.backend == "ray" and opts.ray.address:
        from snnas.search._ray_cluster import check_address

        check_address(opts.ray.address)  # a bad or silent address is refused before any study is created
    # Fails fast on a missing dataset, a mismatched study or storage. Only the Ray driver samples here; the
    # Optuna backend's workers open the study again, each taking its own sampler stream.
    study = open_study(opts, space, sampling=opts.backend == "ray")
    done = sum(counts_toward_budget(t) for t in study.get_trials(deepcopy=False))
    if done >= opts.budget:  # said, not silent: the progress read "6/3" and the search ended at once
        more = "more than" if done > opts.budget else "all of"
        _say(f"study {opts.study} already holds {plural(done, 'finished trial')}, {more} --budget {opts.budget}: "
             "nothing to train; its front is below (a larger --budget searches on)", quiet, console)
    if opts.prescreen:
        _prescreen(study, space, opts, local, quiet, console)
    del local
    deadline = time.time() + opts.timeout if opts.timeout else None

    if opts.backend == "ray":
        from snnas.search._ray_cluster import RayRunner

        runner: _Runner = RayRunner(opts, space, study, deadline)
        if quiet:
            print(runner.describe(), flush=True)
        else:
            console.print(runner.describe())
    else:
        runner = _WorkerRunner(opts, space, deadline, trainer)
    # What finished before this run, taken before the runner starts: a trial this run finishes before the watch
    # begins (a starved main thread on a loaded machine) still gets its line.
    earlier = {t.number for t in study.get_trials(deepcopy=False) if t.state.is_finished()}
    # The trial lines go to the stdout of now, also taken before the runner starts: sys.stdout is one for the
    # process, and code on the worker thread that swaps it for a while (contextlib.redirect_stdout) would
    # otherwise swallow the lines the watch prints meanwhile.
    out = sys.stdout
    runner.start()
    _watch(runner, study, opts, quiet, console, earlier, out)
    trials = study.get_trials(deepcopy=False)
    if exhausted(trials):
        _say(f"stopped at {sum(counts_toward_budget(t) for t in trials)} of {opts.budget} trained trials: the "
             f"sampler proposed only architectures already trained for the last {DUPLICATE_LIMIT} trials (the "
             "space is used up; --duplicates train trains repeats with new seeds)", quiet, console)
    path = write_pareto_csv(study, opts.storage, opts.studies_dir)
    if quiet:
        front = pareto_frame(study)
        print(f"Pareto front: {plural(len(front), 'trial')}; written to {path}", flush=True)
        if len(front):
            knobs = knob_columns(study.get_trials(deepcopy=False))
            print(front[["trial", "val_accuracy", "energy_uj", "params", *knobs]].to_string(index=False), flush=True)
    else:
        console.print(f"Pareto front written to {path}", highlight=False)
    return study


def _interrupted(runner: _Runner, study: optuna.Study, opts: SearchOptions) -> Interrupted:
    """Ctrl-C: stop the trials, end the ones this search held as interrupted (each re-runs with its parameters
    and seed on resume, at once rather than after the stale check's grace) and say what is kept."""
    runner.abort()
    ended = release(study, runner.held(study))
    done = sum(counts_toward_budget(t) for t in study.get_trials(deepcopy=False))
    rerun = f"; {plural(ended, 'interrupted trial')} will re-run with the same parameters and seed" if ended else ""
    return Interrupted(f"interrupted: {plural(done, 'finished trial')} of {opts.budget} kept in {opts.storage}"
                       f"{rerun}; re-run the same command to resume")


def _say(line: str, quiet: bool, console: Console) -> None:
    if quiet:
        print(line, flush=True)
    else:
        console.print(line, highlight=False)


def _prescreen(study: optuna.Study, space: SearchSpace, opts: SearchOptions, trainer: ProxyTrainer, quiet: bool,
               console: Console) -> None:
    """Once per study (the first search process to get the lock does it): score ``opts.prescreen`` candidates
    without training and queue the promising ones; recorded as the study's ``prescreen`` attribute."""
    with study_lock(opts.storage, opts.studies_dir, opts.study):
        if "prescreen" in study.user_attrs:
            return
        pool = max(1, round(PRESCREEN_SHARE * opts.budget))
        done = prescreen(study, space, trainer, opts.prescreen, pool, opts.seed, opts.dataset)
        study.set_user_attr("prescreen", done)
    _say(f"pre-screen: {plural(done['candidates'], 'candidate')} scored without training in {done['seconds']:.0f} s; "
         f"the {done['queued']} most promising train first", quiet, console)


def _watch(runner: _Runner, study: optuna.Study, opts: SearchOptions, quiet: bool, console: Console,
           earlier: set[int], out: TextIO) -> None:
    """Show progress (a live view, or one line per finished trial not in ``earlier``, written to ``out``) until
    the runner ends; Ctrl-C aborts it."""
    seen = set(earlier)
    progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), console=console)
    task = progress.add_task(opts.study, total=opts.budget,
                             completed=sum(counts_toward_budget(t) for t in study.get_trials(deepcopy=False)))

    knobs: list[str] = []

    def poll() -> None:
        trials = study.get_trials(deepcopy=False)
        knobs[:] = knob_columns(trials)
        progress.update(task, completed=sum(counts_toward_budget(t) for t in trials))
        for t in trials:
            if t.state.is_finished() and t.number not in seen:
                seen.add(t.number)
                if quiet:
                    print(_trial_line(t, knobs), file=out, flush=True)

    try:
        if quiet:
            while runner.alive():
                poll()
                time.sleep(1.0)
        else:
            with Live(console=console, refresh_per_second=2, transient=False) as live:
                while runner.alive():
                    poll()
                    live.update(Group(progress, _running_table(study, knobs), _pareto_table(study, knobs)))
                    time.sleep(1.0)
                poll()
                live.update(Group(progress, _pareto_table(study, knobs)))
    except KeyboardInterrupt:
        raise _interrupted(runner, study, opts) from None
    runner.finish()
    poll()

