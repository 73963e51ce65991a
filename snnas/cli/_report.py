"""The ``report`` and ``dashboard`` commands (registered on the app in :mod:`snnas.cli`)."""

from __future__ import annotations

import socket

import typer
from rich.console import Console

from snnas.errors import SnnasError


def report_command(
    study: str = typer.Argument(..., help="study name (as `snnas search` printed it, e.g. edge_small-fashion-mini)"),
    storage: str | None = typer.Option(None, "--storage", help="Optuna storage URL (default sqlite:///studies/<study>.db)"),
    out: str | None = typer.Option(None, "--out", help="folder for index.html and the PNGs (default reports/<study>)"),
    no_png: bool = typer.Option(False, "--no-png", help="skip the static PNGs"),
    open_page: bool = typer.Option(False, "--open", help="open the page in the default browser"),
) -> None:
    """Write an offline, interactive HTML report of a study (Pareto front, suggested pick, knee, per-layer energy,
    trials kept off the front and why) and PNGs."""
    from snnas.report import build_report
    from snnas.search._storage import study_args

    page = build_report(study, storage, out, png=not no_png)
    ref = study_args(study, storage)  # the hints carry the storage, so they work as printed
    Console().print(f"report written to {page} (open it in a browser; it works offline; `snnas export {ref}` "
                    f"exports the pick, `snnas dashboard {ref}` serves a live view)", highlight=False, soft_wrap=True)
    if open_page:
        import webbrowser

        if not webbrowser.open(page.resolve().as_uri()):
            Console().print("no browser found here; open the file above on a machine with one", highlight=False)


def dashboard_command(
    study: str = typer.Argument(..., help="study name"),
    storage: str | None = typer.Option(None, "--storage", help="Optuna storage URL (default sqlite:///studies/<study>.db)"),
    host: str = typer.Option("127.0.0.1", "--host", help="interface to listen on (default: this machine only)"),
    port: int = typer.Option(8080, "--port", min=1, max=65535),
) -> None:
    """Serve optuna-dashboard for a study's storage (a live view while a search runs)."""
    import optuna_dashboard

    from snnas.search._results import open_existing_study
    from snnas.search._storage import artifact_dir, default_url

    s = open_existing_study(study, storage)  # one-line error for a missing or unreadable study
    url = storage or default_url("studies", study)
    with socket.socket() as probe:
        # As the server itself binds (SO_REUSEADDR): a dashboard stopped a moment ago leaves its port in
        # TIME_WAIT, which is no reason to refuse a new one; a port something listens on still is.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as e:
            raise SnnasError(f"cannot listen on {host}:{port} ({e.strerror or e}); choose another --port") from None
    Console().print(f"optuna-dashboard for study {s.study_name!r} ({url}) at http://{host}:{port}/dashboard/ "
                    "(Ctrl-C stops it)", highlight=False)
    folder = artifact_dir(url, s.study_name)  # each trial's energy_report.json, shown with the trial
    store = None
    if folder is not None and folder.is_dir():
        from optuna.artifacts import FileSystemArtifactStore

        store = FileSystemArtifactStore(folder)
    try:  # the storage snnas opened, journal too
        optuna_dashboard.run_server(s._storage, host=host, port=port, artifact_store=store)
    except KeyboardInterrupt:
        pass
