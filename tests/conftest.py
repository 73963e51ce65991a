from __future__ import annotations

import logging
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

logging.getLogger("torch._library.triton").setLevel(logging.ERROR)


@pytest.fixture(autouse=True)
def _seed_and_threads():
    torch.manual_seed(0)
    torch.set_num_threads(2)
    yield


@pytest.fixture(scope="session")
def tiny_search(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess[str], float]:
    """A real 4-trial edge_tiny search (seed 0: three trials on its front) in its own folder, shared by the
    search and report tests."""
    cwd = tmp_path_factory.mktemp("search")
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "snnas", "search", "--space", "edge_tiny", "--budget", "4", "--quiet",
                        "--seed", "0"], cwd=cwd, capture_output=True, text=True, timeout=600)
    return cwd, r, time.perf_counter() - t0


@pytest.fixture(scope="session")
def hosts():
    """Four real test hosts (network namespaces on a bridge, ``tests/_hosts.py``), torn down at the end."""
    from tests._hosts import Hosts, unavailable

    if (why := unavailable()) is not None:
        pytest.skip(why)
    made = Hosts(4)
    try:
        yield made
    finally:
        made.down()


def _server(kind: str, hosts):  # noqa: ANN001, ANN202 - a database server on host 1, for a session fixture
    from tests import _hosts

    cls = getattr(_hosts, kind)
    if (why := cls.unavailable()) is not None:
        pytest.skip(why)
    server = cls(hosts, 1)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def pg(hosts):
    """A real PostgreSQL server on test host 1; ``pg.create_db(name)`` gives a new database's URL."""
    yield from _server("PgServer", hosts)


@pytest.fixture(scope="session")
def mysql(hosts):
    """A real MariaDB server on test host 1 (``mysql://`` storages); ``mysql.create_db(name)`` gives a URL."""
    yield from _server("MariaDbServer", hosts)
