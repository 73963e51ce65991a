"""Security and write safety, checked on the code itself.

* No untrusted deserialisation: the package, the benchmarks and the tests are parsed (``ast``) and every call
  that can run code while loading (``pickle``/``dill``/``joblib``/``marshal``/``shelve`` loads, a bare
  ``pickle.Unpickler``, ``torch.load`` without ``weights_only=True``, ``np.load(allow_pickle=True)``,
  ``yaml.load`` without a safe loader, ``eval``/``exec``) is refused. The one unpickler, ``SafeUnpickler``, must
  override ``find_class``.
* Every file the package writes for users goes through ``write_atomic`` (write, fsync, rename).
* Servers bind 127.0.0.1 by default.
"""

from __future__ import annotations

import ast
import inspect
import os
import subprocess
import sys
from pathlib import Path

import pytest

from snnas import _atomic
from snnas.errors import SnnasError

ROOT = Path(__file__).resolve().parents[2]
SCANNED = [p for d in ("snnas", "bench", "tests") for p in sorted((ROOT / d).rglob("*.py"))]
UNPICKLERS = {"pickle", "cPickle", "_pickle", "dill", "joblib", "cloudpickle", "marshal", "shelve", "jsonpickle"}


def _name(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_name(node.value)}.{node.attr}"
    return ""


def _kw(call: ast.Call, key: str) -> ast.AST | None:
    return next((k.value for k in call.keywords if k.arg == key), None)


def unsafe_loads(source: str) -> list[str]:
    """``line: call`` for every call in ``source`` that may deserialise untrusted code."""
    found = []
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            bases = {_name(b) for b in node.bases}
            if bases & ({f"{m}.Unpickler" for m in UNPICKLERS} | {"Unpickler"}):
                methods = {f.name for f in node.body if isinstance(f, ast.FunctionDef)}
                if "find_class" not in methods:
                    found.append(f"{node.lineno}: class {node.name} unpickles without find_class")
        if not isinstance(node, ast.Call):
            continue
        name = _name(node.func)
        head, _, tail = name.rpartition(".")
        weights_only = _kw(node, "weights_only")
        if name == "torch.load" and not (isinstance(weights_only, ast.Constant) and weights_only.value is True):
            found.append(f"{node.lineno}: torch.load without weights_only=True")
        elif head in UNPICKLERS and tail in ("load", "loads", "Unpickler", "open"):
            found.append(f"{node.lineno}: {name}")
        elif tail == "load" and head in ("np", "numpy"):
            allow = _kw(node, "allow_pickle")
            if allow is not None and not (isinstance(allow, ast.Constant) and allow.value is False):
                found.append(f"{node.lineno}: {name} with allow_pickle")
        elif name in ("yaml.load", "yaml.load_all", "yaml.unsafe_load"):
            loader = _name(_kw(node, "Loader")) if _kw(node, "Loader") is not None else ""
            if "Safe" not in loader:
                found.append(f"{node.lineno}: {name} without a safe loader")
        elif name in ("eval", "exec"):
            found.append(f"{node.lineno}: {name}")
    return found


@pytest.mark.parametrize("snippet", [
    "import pickle\npickle.load(open('x', 'rb'))",
    "import pickle\nobj = pickle.loads(b'')",
    "import torch\ntorch.load('m.pt')",
    "import torch\ntorch.load('m.pt', weights_only=False)",
    "import numpy as np\nnp.load('a.npy', allow_pickle=True)",
    "import yaml\nyaml.load(s)",
    "import dill\ndill.load(f)",
    "import pickle\nclass U(pickle.Unpickler):\n    pass",
    "eval(user_text)",
])
def test_the_scanner_finds_unsafe_loads(snippet):
    assert unsafe_loads(snippet), snippet


def test_safe_loads_pass_the_scanner():
    assert unsafe_loads("import torch, numpy as np, yaml, pickle\ntorch.load(p, weights_only=True)\n"
                        "np.load(p, allow_pickle=False)\nnp.load(p)\nyaml.load(s, Loader=yaml.SafeLoader)\n"
                        "pickle.dumps(x)\nclass U(pickle.Unpickler):\n    def find_class(self, m, n):\n"
                        "        raise ValueError") == []


def test_no_untrusted_deserialisation_anywhere():
    assert len(SCANNED) > 100
    bad = {str(p.relative_to(ROOT)): hits for p in SCANNED if (hits := unsafe_loads(p.read_text(encoding="utf-8")))}
    assert bad == {}


WRITES = ("write_text", "write_bytes", "to_csv", "savefig", "save", "savez", "savez_compressed", "dump")


def test_the_package_writes_user_files_only_through_write_atomic():
    """A write call in ``snnas/`` must sit inside a ``write_atomic`` call (its writer function), be the atomic
    helper itself, or be on the short list below (each with why it is safe)."""
    allowed = {
        "snnas/_atomic.py",  # the helper
        "snnas/data/_neuromorphic.py",  # frames go into a temporary folder renamed whole when complete
    }
    bad = []
    for p in sorted((ROOT / "snnas").rglob("*.py")):
        rel = str(p.relative_to(ROOT))
        if rel in allowed:
            continue
        tree = ast.parse(p.read_text(encoding="utf-8"))
        inside = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and _name(node.func).endswith("write_atomic"):
                inside |= {id(n) for n in ast.walk(node)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and id(node) not in inside:
                name = _name(node.func)
                tail = name.rpartition(".")[2]
                if (tail in WRITES and name not in ("json.dumps",)) or (
                        tail == "open" and any(isinstance(a, ast.Constant) and str(a.value).startswith("w")
                                               for a in node.args[1:2])):
                    bad.append(f"{rel}:{node.lineno}: {name}")
    assert bad == []


def test_write_atomic_never_leaves_half_a_file(tmp_path):
    target = tmp_path / "index.html"
    _atomic.write_atomic(target, "old page")

    def half_then_fail(tmp: Path) -> None:
        tmp.write_text("half a pa")
        raise OSError("disk full")

    with pytest.raises(SnnasError, match="cannot write .*index.html: disk full"):  # one line for the user
        _atomic.write_atomic(target, half_then_fail)
    assert target.read_text() == "old page" and sorted(os.listdir(tmp_path)) == ["index.html"]
    # a writer SIGKILLed between writing and renaming leaves its temporary file; the next write removes it
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    orphan = tmp_path / f".index.html.{dead.stdout.strip()}-1.tmp"
    orphan.write_text("half")
    mine = tmp_path / f".index.html.{os.getpid()}-1.tmp"  # a live writer's file is left alone
    mine.write_text("busy")
    _atomic.write_atomic(target, b"new page")
    assert target.read_bytes() == b"new page" and not orphan.exists() and mine.exists()


def test_a_kill_while_writing_a_report_leaves_the_old_report(tmp_path, tiny_search):
    """A real ``snnas report`` killed at the ``report`` fault site (temporary file written, not renamed)."""
    import shutil

    cwd = tmp_path / "s"
    shutil.copytree(tiny_search[0], cwd)
    page = cwd / "reports" / "edge_tiny-fashion-mini" / "index.html"
    before = page.read_bytes()
    env = {**os.environ, "SNNAS_FAULTS": "report@1:kill"}
    r = subprocess.run([sys.executable, "-m", "snnas", "report", "edge_tiny-fashion-mini", "--no-png"], cwd=cwd,
                       env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == -9
    assert page.read_bytes() == before  # the old, whole page: never half a new one
    leftovers = list(page.parent.glob(".index.html.*.tmp"))
    assert len(leftovers) == 1  # the killed writer's temporary file ...
    env.pop("SNNAS_FAULTS")
    r = subprocess.run([sys.executable, "-m", "snnas", "report", "edge_tiny-fashion-mini", "--no-png"], cwd=cwd,
                       env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert not list(page.parent.glob(".*.tmp"))  # ... is removed by the next write
    assert page.read_text(encoding="utf-8").rstrip().endswith("</html>")


def test_servers_bind_loopback_by_default():
    from snnas.cli._report import dashboard_command
    from snnas.search._ray_cluster import RayRunner

    host = inspect.signature(dashboard_command).parameters["host"].default
    assert host.default == "127.0.0.1"
    src = inspect.getsource(RayRunner._connect)
    assert "include_dashboard=False" in src  # no dashboard server at all for the local instance
