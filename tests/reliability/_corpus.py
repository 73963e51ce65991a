"""The bad-input corpus: hostile or broken inputs, each refused with one line, exit code 2, nothing damaged.

Every case runs in a copy of a folder that already holds real stored results (a study database from a real
search, its report folder and an export file). A case may first write or corrupt files there (``setup``);
the command must then fail with exit code 2 and exactly one line on stderr, ``error: ...``, that names the
problem (``expect``), without a traceback; every file that existed before the command, including what the
case itself corrupted, must be byte-identical afterwards, and the refused command must create nothing.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import os
import pickle
import re
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tests.data._data_writers import cifar_batch, idx_bytes, write_idx_set, write_pickle

STUDY = "edge_tiny-fashion-mini"
SPACE_FILE = "bad.toml"
REPO = Path(__file__).resolve().parents[2]
MAX_LINE = 2000  # a clear error is one line a person can read, not a dump of the input (paths may be long)


@dataclass(frozen=True)
class Case:
    """One bad input: ``snnas <args>`` in a folder prepared by ``setup``; ``expect`` must be in the error line.

    ``{export}`` in an argument or in ``expect`` stands for the folder's export file (relative to the folder).
    """

    id: str
    args: tuple[str, ...]
    expect: str
    setup: Callable[[Path], None] | None = None

    def argv(self, folder: Path) -> list[str]:
        return [_fill(a, folder) for a in self.args]

    def expected(self, folder: Path) -> str:
        return _fill(self.expect, folder)


def _fill(text: str, folder: Path) -> str:
    return text.replace("{export}", str(export_file(folder).relative_to(folder))) if "{export}" in text else text


def export_file(folder: Path) -> Path:
    (path,) = sorted((folder / "exports").glob("*.json"))
    return path


# ---------------------------------------------------------------------------------------------- checking
def snapshot(folder: Path) -> dict[str, str]:
    """sha256 of every file under ``folder`` (relative paths), folders as ``"<dir>"``."""
    out = {}
    for root, dirs, files in os.walk(folder):
        for d in dirs:
            out[str(Path(root, d).relative_to(folder))] = "<dir>"
        for f in files:
            p = Path(root, f)
            out[str(p.relative_to(folder))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def check(case: Case, folder: Path, before: dict[str, str], code: int | None, out: str, err: str) -> None:
    """Every assertion of the corpus, for one finished command (in-process or a real subprocess)."""
    shown = (f"snnas {' '.join(case.argv(folder))}\n--- exit {code}\n--- stderr:\n{err[-3000:]}\n"
             f"--- stdout:\n{out[-1500:]}")
    assert "Traceback" not in err and "Traceback" not in out, f"a traceback:\n{shown}"
    assert code == 2, f"exit code {code}, expected 2:\n{shown}"
    lines = err.strip().splitlines()
    assert len(lines) == 1, f"{len(lines)} lines on stderr, expected one:\n{shown}"
    line = lines[0]
    assert line.startswith("error: "), f"the line does not start with 'error: ':\n{shown}"
    assert case.expected(folder) in line, f"{case.expected(folder)!r} not in the error line:\n{shown}"
    assert len(line) <= MAX_LINE, f"a {len(line)}-character error line:\n{shown}"
    after = snapshot(folder)
    changed = sorted(p for p, h in before.items() if after.get(p) != h)
    assert not changed, f"stored files changed or removed by a refused command: {changed}\n{shown}"
    new = sorted(set(after) - set(before))
    assert not [p for p in new if p.endswith(".db")], f"a refused command created a study database: {new}\n{shown}"
    assert not new, f"a refused command created files: {new}\n{shown}"


# ---------------------------------------------------------------------------------------------- space files
def _edge_tiny() -> str:
    return (REPO / "search_spaces" / "edge_tiny.toml").read_text().replace('name = "edge_tiny"', 'name = "bad"')


def _space(*edits: tuple[str, str], prefix: str = "", suffix: str = "") -> Callable[[Path], None]:
    """``bad.toml``: edge_tiny (renamed ``bad``, so a study it started would be a new database) with edits."""

    def setup(folder: Path) -> None:
        text = _edge_tiny()
        for old, new in edits:
            assert old in text, f"edge_tiny.toml no longer holds {old!r}"
            text = text.replace(old, new)
        (folder / SPACE_FILE).write_text(prefix + text + suffix)

    return setup


def _write(name: str, data: bytes | str) -> Callable[[Path], None]:
    def setup(folder: Path) -> None:
        p = folder / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data.encode() if isinstance(data, str) else data)

    return setup


def _bad_profile(folder: Path) -> None:
    """A space whose energy profile is a user's file with a negative energy."""
    _space(('profile = "cmos45"', 'profile = "prof.toml"'))(folder)
    text = (REPO / "snnas" / "energy" / "profiles" / "cmos45.toml").read_text()
    assert "\nsop = 0.9" in text
    (folder / "prof.toml").write_text(text.replace("\nsop = 0.9", "\nsop = -1"))


T_KNOB = "[knobs.T]\nchoices = [1, 2]"
EMBED_KNOB = "[knobs.embed_dim]\nchoices = [16, 32]"
SEARCH = ("search", "--space", SPACE_FILE, "--budget", "1", "--quiet")  # a space file that passes starts a study


def _mkdir(name: str) -> Callable[[Path], None]:
    return lambda folder: (folder / name).mkdir()


# ---------------------------------------------------------------------------------------------- datasets
def _idx_set(folder: Path, gz: bool = False) -> Path:
    rng = np.random.default_rng(0)
    images = {"train": rng.integers(0, 256, (20, 28, 28)), "t10k": rng.integers(0, 256, (10, 28, 28))}
    labels = {"train": np.arange(20) % 10, "t10k": np.arange(10) % 10}
    where = folder / "data" / "mnist"
    write_idx_set(where, images, labels, gz=gz)
    return where


def _idx(corrupt: Callable[[Path], None], gz: bool = False) -> Callable[[Path], None]:
    def setup(folder: Path) -> None:
        corrupt(_idx_set(folder, gz))

    return setup


def _truncate(name: str, keep: int) -> Callable[[Path], None]:
    def corrupt(where: Path) -> None:
        p = where / name
        p.write_bytes(p.read_bytes()[:keep])

    return corrupt


def _wrong_magic(where: Path) -> None:
    p = where / "t10k-labels-idx1-ubyte"
    p.write_bytes(idx_bytes(np.zeros((10, 28, 28), np.uint8)))  # an image file where the labels belong


def _partial(folder: Path) -> None:
    where = _idx_set(folder)
    for name in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (where / name).unlink()


def _corrupt_gzip(where: Path) -> None:
    p = where / "t10k-images-idx3-ubyte.gz"
    raw = p.read_bytes()
    p.write_bytes(raw[:10] + bytes(b ^ 0x5A for b in raw[10:]))  # keeps the gzip magic, scrambles the stream


def _nmnist_corrupt_cache(folder: Path) -> None:
    root = folder / "data" / "n-mnist"
    for split in ("Train", "Test"):
        (root / split / "0").mkdir(parents=True)
    cache = root / "frames_number_3_split_by_number" / "test" / "0"  # test_dvs has T=3
    cache.mkdir(parents=True)
    (cache / "sample.npz").write_bytes(b"PK\x03\x04" + bytes(range(256)) * 4)  # a zip header, then garbage


class _Pwned:
    def __reduce__(self):  # noqa: ANN204 - what a hostile pickle does: call os.system on load
        return (os.system, ("touch PWNED",))


def _cifar(meta: bytes | None = None, test_batch: bytes | None = None) -> Callable[[Path], None]:
    def setup(folder: Path) -> None:
        where = folder / "data" / "cifar10" / "cifar-10-batches-py"
        rng = np.random.default_rng(0)
        for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
            write_pickle(where / name, cifar_batch(rng.integers(0, 256, (10, 3072)), list(range(10))))
        write_pickle(where / "batches.meta", {b"label_names": [b"x"] * 10})
        if meta is not None:
            (where / "batches.meta").write_bytes(meta)
        if test_batch is not None:
            (where / "test_batch").write_bytes(test_batch)

    return setup


# ---------------------------------------------------------------------------------------------- study files
def _study_db(transform: Callable[[bytes], bytes]) -> Callable[[Path], None]:
    def setup(folder: Path) -> None:
        p = folder / "studies" / f"{STUDY}.db"
        p.write_bytes(transform(p.read_bytes()))

    return setup


def _foreign_sqlite(folder: Path) -> None:
    """``studies/notes.db``: a valid SQLite database of another program (one table, one row)."""
    with contextlib.closing(sqlite3.connect(folder / "studies" / "notes.db")) as db:
        db.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")
        db.execute("INSERT INTO notes (text) VALUES ('not an optuna study')")
        db.commit()


def _random_bytes(raw: bytes) -> bytes:
    return np.random.default_rng(1).integers(0, 256, len(raw), dtype=np.uint8).tobytes()


# ---------------------------------------------------------------------------------------------- export files
def _arch_id(arch: dict) -> str:
    """ArchConfig.id, written out independently: sha256 of the sorted ``key=repr(value)`` pairs."""
    return hashlib.sha256(";".join(f"{k}={v!r}" for k, v in sorted(arch.items())).encode()).hexdigest()[:12]


def _export(edit: Callable[[dict], object]) -> Callable[[Path], None]:
    """Rewrite the folder's export file: ``edit`` changes the document in place (or returns a new one)."""

    def setup(folder: Path) -> None:
        p = export_file(folder)
        doc = json.loads(p.read_text())
        new = edit(doc)
        p.write_text(json.dumps(doc if new is None else new, indent=2))

    return setup


def _export_bytes(transform: Callable[[bytes], bytes]) -> Callable[[Path], None]:
    def setup(folder: Path) -> None:
        p = export_file(folder)
        p.write_bytes(transform(p.read_bytes()))

    return setup


def _tamper_arch(doc: dict) -> None:
    doc["arch"]["embed_dim"] = 64 if doc["arch"]["embed_dim"] != 64 else 32  # arch_id no longer matches


def _huge_arch(doc: dict) -> None:
    doc["arch"]["embed_dim"] = 10**9  # divisible by its 2 heads; the id is made to match, so only a bound stops it
    doc["arch_id"] = _arch_id(doc["arch"])


def _huge_config(folder: Path) -> None:
    arch = json.loads(export_file(folder).read_text())["arch"]
    (folder / "huge.json").write_text(json.dumps({**arch, "T": 10**9}))


def _wrong_recipe_type(doc: dict) -> None:
    doc["recipe"]["epochs"] = "20"


def _wrong_format(doc: dict) -> None:
    doc["format"] = "snnas-export/9"


def _arch_list(doc: dict) -> None:
    doc["arch"] = [1, 2, 3]


def _long_integer(raw: bytes) -> bytes:
    """The recipe's epochs as an integer literal of 5000 digits (Python refuses to convert more than 4300)."""
    assert b'"epochs": ' in raw
    return re.sub(rb'"epochs": \d+', b'"epochs": ' + b"9" * 5000, raw, count=1)


def _deep_json(folder: Path) -> None:
    export_file(folder).write_text('{"format": "snnas-export/1", "arch": ' + "[" * 100_000 + "]" * 100_000 + "}")


# ---------------------------------------------------------------------------------------------- the corpus
DEEP = 100_000
MNIST = ("energy", "--model", "test_ssa", "--dataset", "mnist", "--data-dir", "data")
CIFAR = ("energy", "--model", "test_ssa", "--dataset", "cifar10", "--data-dir", "data")
TRAIN = ("train", "{export}")
TINY = ("search", "--space", "edge_tiny")
TRUNCATED_DB = _study_db(lambda raw: raw[:4096])

# One case per code path: these also run as real processes (the slow test).
PROCESS_CASES: list[Case] = [
    # -- malformed or hostile search-space files (each would start a new study, bad-fashion-mini, if it loaded)
    Case("space-string-for-int", SEARCH, "knobs.T.low", _space((T_KNOB, '[knobs.T]\nlow = "1"\nhigh = 2'))),
    Case("space-bool-for-int", SEARCH, "fixed.depth", _space(("depth = 1", "depth = true"))),
    Case("space-unknown-top-key-extends", SEARCH, "extends: unknown key", _space(prefix='extends = "edge_tiny"\n')),
    Case("space-empty-choices", SEARCH, "knobs.T.choices", _space((T_KNOB, "[knobs.T]\nchoices = []"))),
    Case("space-low-above-high", SEARCH, "knobs.T.low", _space((T_KNOB, "[knobs.T]\nlow = 3\nhigh = 1"))),
    Case("space-huge-embed-dim", SEARCH, "knobs.embed_dim",
         _space((EMBED_KNOB, "[knobs.embed_dim]\nchoices = [16, 1000000000]"))),
    Case("space-nan", SEARCH, "knobs.neuron_tau.low", _space(suffix="\n[knobs.neuron_tau]\nlow = nan\nhigh = 3.0\n")),
    Case("space-not-utf8", SEARCH, f"{SPACE_FILE}: not valid TOML",
         _write(SPACE_FILE, b'name = "bad\xff\xfe"\ndataset = "fashion-mini"\n')),
    Case("space-deeply-nested-arrays", SEARCH, "nested too deeply",
         _write(SPACE_FILE, "x = " + "[" * DEEP + "]" * DEEP + "\n")),
    Case("space-deeply-nested-tables", SEARCH, f"{SPACE_FILE}: constraints.max_params: must be an integer",
         _space(suffix="\n[constraints.max_params" + ".a" * 5000 + "]\nx = 1\n")),
    Case("space-huge-list", SEARCH, "knobs.T.choices: has duplicates",
         _space((T_KNOB, "[knobs.T]\nchoices = [" + "1, " * 200_000 + "2]"))),
    Case("space-very-long-file", SEARCH, "too large",
         _space(prefix="# a comment line to pad the file out\n" * 600_000)),  # 22 MB
    Case("space-is-a-folder", ("search", "--space", "folder.toml", "--budget", "1"), "folder.toml",
         _mkdir("folder.toml")),
    Case("space-name-with-markup", ("search", "--space", "[/oops].toml", "--budget", "1"), "[/oops].toml"),
    # -- bad command-line arguments
    Case("cli-budget-zero", (*TINY, "--budget", "0"), "--budget"),
    Case("cli-unknown-sampler", (*TINY, "--sampler", "cmaes"), "unknown sampler 'cmaes'"),
    Case("cli-negative-timeout", (*TINY, "--timeout", "-5"), "--timeout"),
    Case("cli-device-tpu", (*TINY, "--budget", "1", "--study", "new", "--device", "tpu"), "--device"),
    Case("cli-unknown-option", (*TINY, "--bugdet", "3"), "--bugdet"),
    Case("cli-unknown-command", ("serch", "--space", "edge_tiny"), "serch"),
    Case("cli-storage-nonsense", (*TINY, "--storage", "nonsense://x"), "--storage"),
    Case("trial-params-bad-json", ("trial", "--space", "edge_tiny", "--params", "{bad json"), "--params"),
    Case("trial-params-out-of-domain",
         ("trial", "--space", "edge_tiny", "--params", '{"T": 3, "embed_dim": 16, "saccades": 4}'), "T=3"),
    Case("export-bad-pick", ("export", STUDY, "--pick", "best"), "--pick 'best'"),
    Case("export-out-is-the-study-database", ("export", STUDY, "--out", f"studies/{STUDY}.db"),
         f"--out studies/{STUDY}.db"),
    Case("report-out-is-a-file", ("report", STUDY, "--out", "{export}", "--no-png"), "{export}"),
    # -- missing, partial and corrupt dataset folders; unknown dataset names
    Case("data-dir-missing-listing", ("datasets", "--data-dir", "nowhere"), "nowhere"),
    Case("data-partial-folder", MNIST, "an incomplete copy lacks", _partial),
    Case("data-truncated-idx", MNIST, "t10k-images-idx3-ubyte: IDX file truncated",
         _idx(_truncate("t10k-images-idx3-ubyte", 1000))),
    Case("data-wrong-magic", MNIST, "wrong IDX magic number", _idx(_wrong_magic)),
    Case("data-corrupt-npz", ("energy", "--model", "test_dvs", "--dataset", "n-mnist", "--data-dir", "data"),
         "sample.npz: unreadable cached frames", _nmnist_corrupt_cache),
    Case("data-hostile-pickle", CIFAR, "refused to unpickle", _cifar(meta=pickle.dumps(_Pwned(), protocol=2))),
    Case("data-unknown-dataset", ("energy", "--model", "test_ssa", "--dataset", "imagenet"),
         "unknown dataset 'imagenet'"),
    Case("search-corrupt-dataset", (*TINY, "--dataset", "mnist", "--data-dir", "data", "--budget", "1", "--quiet"),
         "IDX file truncated", _idx(_truncate("train-images-idx3-ubyte", 1000))),
    # -- truncated, random, empty and foreign study databases; a study of another space
    Case("study-truncated-report", ("report", STUDY), f"{STUDY}.db", TRUNCATED_DB),
    Case("study-truncated-search", (*TINY, "--budget", "5", "--quiet"), f"{STUDY}.db", TRUNCATED_DB),
    Case("study-random-bytes-report", ("report", STUDY), f"{STUDY}.db", _study_db(_random_bytes)),
    Case("study-empty-file-export", ("export", STUDY), f"{STUDY}.db", _study_db(lambda raw: b"")),
    Case("study-foreign-sqlite-database", ("report", "notes"), "notes.db", _foreign_sqlite),
    Case("study-of-another-space", ("search", "--space", "edge_small", "--study", STUDY, "--budget", "5"),
         "made for space 'edge_tiny'"),
    # -- tampered, truncated and ill-typed export files
    Case("export-tampered-arch", TRAIN, "arch_id says", _export(_tamper_arch)),
    Case("export-truncated-json", TRAIN, "not valid JSON", _export_bytes(lambda raw: raw[:200])),
    Case("export-wrong-type", TRAIN, "recipe.epochs", _export(_wrong_recipe_type)),
    Case("export-huge-arch", TRAIN, "embed_dim", _export(_huge_arch)),
    Case("export-deeply-nested", TRAIN, "nested too deeply", _deep_json),
    Case("export-is-a-folder", ("train", "exports"), "exports"),
    # -- unknown model and profile names, an architecture file too big to build
    Case("models-unknown-name", ("models", "snnvit_cifr"), "unknown model 'snnvit_cifr'"),
    Case("energy-unknown-profile", ("energy", "--model", "test_ssa", "--profile", "cmos99"),
         "unknown energy profile 'cmos99'"),
    Case("energy-config-huge-T", ("energy", "--config", "huge.json"), "ArchConfig.T", _huge_config),
]

# More inputs through the same code paths: checked in-process only, to keep the slow test near 4 minutes (a
# process costs ~5 s of imports on two cores; all of CASES as processes took ~8 minutes).
VARIANTS: list[Case] = [
    Case("space-float-for-int", SEARCH, "knobs.T.low", _space((T_KNOB, "[knobs.T]\nlow = 1.5\nhigh = 2"))),
    Case("space-string-for-list", SEARCH, "knobs.T.choices", _space((T_KNOB, '[knobs.T]\nchoices = "12"'))),
    Case("space-unknown-knob-key", SEARCH, "knobs.T.default", _space((T_KNOB, T_KNOB + "\ndefault = 1"))),
    Case("space-unknown-field", SEARCH, "knobs.bogus", _space(suffix="\n[knobs.bogus]\nchoices = [1]\n")),
    Case("space-huge-T", SEARCH, "knobs.T", _space((T_KNOB, "[knobs.T]\nchoices = [1, 1000000000]"))),
    Case("space-int64-max-range", SEARCH, "knobs.T.high",
         _space((T_KNOB, "[knobs.T]\nlow = 1\nhigh = 9223372036854775807"))),
    Case("space-beyond-int64", SEARCH, "fixed.img_size",
         _space(("img_size = 16", "img_size = 99999999999999999999999999"))),
    Case("space-inf", SEARCH, "train.lr", _space(("lr = 3e-3", "lr = inf"))),
    Case("space-syntax-error", SEARCH, f"{SPACE_FILE}: not valid TOML",
         _write(SPACE_FILE, 'name = "bad"\ndataset =\n')),
    Case("space-integer-of-5000-digits", SEARCH, f"{SPACE_FILE}: not valid TOML",
         _space(("depth = 1", "depth = " + "9" * 5000))),
    Case("space-empty-file", SEARCH, f"{SPACE_FILE}: name: missing", _write(SPACE_FILE, "")),
    Case("space-deeply-nested-inline-tables", SEARCH, "nested too deeply",
         _write(SPACE_FILE, "x = " + "{ a = " * DEEP + "1" + " }" * DEEP + "\n")),
    Case("space-unknown-name", ("search", "--space", "edge_tny", "--budget", "1"), "unknown search space 'edge_tny'"),
    Case("space-missing-file", ("search", "--space", "nope.toml", "--budget", "1"), "nope.toml"),
    Case("space-name-with-terminal-escapes", ("search", "--space", "a\x1b[31mred.toml"), "a\\x1b[31mred.toml"),
    Case("space-unknown-dataset", SEARCH, "dataset: unknown dataset 'fashion-mnst'",
         _space(('dataset = "fashion-mini"', 'dataset = "fashion-mnst"'))),
    Case("space-bad-profile-file", SEARCH, "prof.toml: energy_pj.sop", _bad_profile),
    Case("space-invalid-combination-brackets", SEARCH, "[with embed_dim=17",
         _space((EMBED_KNOB, "[knobs.embed_dim]\nchoices = [16, 17]"))),
    Case("spaces-command-bad-eta", ("spaces", SPACE_FILE), "fidelity.eta", _space(("eta = 2", "eta = 1"))),
    Case("cli-budget-not-a-number", (*TINY, "--budget", "abc"), "--budget"),
    Case("cli-workers-zero", (*TINY, "--workers", "0"), "--workers"),
    Case("cli-unknown-backend", (*TINY, "--backend", "dask"), "unknown backend 'dask'"),
    Case("cli-nan-timeout", (*TINY, "--timeout", "nan"), "--timeout"),
    Case("cli-negative-seed", (*TINY, "--study", "new", "--seed", "-1"), "--seed"),
    Case("cli-missing-option", ("search", "--budget", "1"), "--space"),
    Case("cli-storage-missing-driver", (*TINY, "--storage", "mysql+nosuchdriver://u@localhost/db"),
         "mysql+nosuchdriver"),
    Case("trial-negative-data-seed",
         ("trial", "--space", "edge_tiny", "--params", '{"T": 1, "embed_dim": 16, "saccades": 4}', "--data-seed", "-1"),
         "--data-seed"),
    Case("trial-params-unknown-knob", ("trial", "--space", "edge_tiny", "--params", '{"depth": 2}'), "depth"),
    Case("export-no-such-trial", ("export", STUDY, "--trial", "99"), "no trial 99"),
    Case("data-dir-missing", ("energy", "--model", "test_ssa", "--dataset", "mnist", "--data-dir", "nowhere"),
         "nowhere"),
    Case("data-empty-file", MNIST, "t10k-images-idx3-ubyte: truncated IDX file (0 bytes",
         _idx(_truncate("t10k-images-idx3-ubyte", 0))),
    Case("data-corrupt-gzip", MNIST, "corrupt or truncated gzip", _idx(_corrupt_gzip, gz=True)),
    Case("data-garbage-pickle", CIFAR, "test_batch", _cifar(test_batch=gzip.compress(b"not a pickle"))),
    Case("search-unknown-dataset", (*TINY, "--dataset", "fashion-mnst", "--budget", "1"),
         "unknown dataset 'fashion-mnst'"),
    Case("study-truncated-export", ("export", STUDY), f"{STUDY}.db", TRUNCATED_DB),
    Case("study-random-bytes-search", (*TINY, "--budget", "5", "--quiet"), f"{STUDY}.db", _study_db(_random_bytes)),
    Case("study-unknown-name", ("report", "edge_tiny-mnist"), "edge_tiny-mnist"),
    Case("export-wrong-format", TRAIN, "snnas-export/9", _export(_wrong_format)),
    Case("export-arch-not-an-object", TRAIN, "arch", _export(_arch_list)),
    Case("export-not-utf8", TRAIN, "cannot read export file",
         _export_bytes(lambda raw: raw[:50] + b"\xff\xfe" + raw[50:])),
    Case("export-integer-of-5000-digits", TRAIN, "not valid JSON", _export_bytes(_long_integer)),
    Case("train-epochs-zero", (*TRAIN, "--epochs", "0"), "--epochs"),
    Case("train-out-dir-is-a-file", (*TRAIN, "--out-dir", "{export}"), "--out-dir {export}"),
    Case("train-unknown-dataset", (*TRAIN, "--dataset", "imagenet"), "unknown dataset 'imagenet'"),
    Case("energy-unknown-model", ("energy", "--model", "snnvit_nope"), "unknown model 'snnvit_nope'"),
    Case("energy-config-bad-json", ("energy", "--config", "bad.json"), "not valid JSON", _write("bad.json", "{bad")),
    Case("energy-batch-zero", ("energy", "--model", "test_ssa", "--batch", "0"), "--batch"),
]

CASES = PROCESS_CASES + VARIANTS
assert len({c.id for c in CASES}) == len(CASES), "case ids must be unique"
