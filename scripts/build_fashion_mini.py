#!/usr/bin/env python
"""Build (or ``--check``) the embedded ``fashion-mini`` dataset from Debian's ``dataset-fashion-mnist``.

``fashion-mini`` is a seeded, stratified subset of Fashion-MNIST: 500 training and 100 test images of each
of the 10 classes, stored as ``snnas/data/assets/fashion_mini.npz`` next to Zalando's MIT notice
(``LICENSE.fashion-mnist``) and a JSON manifest recording the source package and version, the seed, the
chosen source indices, the per-class counts and the sha256 of the npz and of every source file.

Usage (``apt-get install dataset-fashion-mnist`` first; the files land in /usr/share/datasets/fashion-mnist):

    python scripts/build_fashion_mini.py            # (re)write the npz, the manifest and the licence
    python scripts/build_fashion_mini.py --check    # rebuild in memory, compare sha256s; exit 1 if different

The npz is written deterministically (fixed zip timestamps, fixed member order), so the same source, seed and
zlib give the same bytes. A different zlib build may compress differently; ``--check`` then also says
whether the decoded arrays are still identical.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import re
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run from a checkout without installing

from snnas.data._idx import IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC, read_idx  # noqa: E402

PACKAGE = "dataset-fashion-mnist"
DEFAULT_SOURCE = Path("/usr/share/datasets/fashion-mnist")
DEFAULT_OUT = REPO / "snnas" / "data" / "assets"
SOURCE_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
NPZ, MANIFEST, LICENSE = "fashion_mini.npz", "fashion_mini.json", "LICENSE.fashion-mnist"
LICENSE_TEXT = """\
The MIT License (MIT) Copyright © 2017 Zalando SE, https://tech.zalando.com

Permission is hereby granted, free of charge, to any person obtaining a copy of this software and associated
documentation files (the "Software"), to deal in the Software without restriction, including without
limitation the rights to use, copy, modify, merge, publish, distribute, sublicense, and/or sell copies of the
Software, and to permit persons to whom the Software is furnished to do so, subject to the following
conditions:

The above copyright notice and this permission notice shall be included in all copies or substantial
portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING BUT NOT LIMITED
TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL
THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF
CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER
DEALINGS IN THE SOFTWARE.

---
This notice covers snnas/data/assets/fashion_mini.npz, a subset of Fashion-MNIST
(https://github.com/zalandoresearch/fashion-mnist) built by scripts/build_fashion_mini.py from the Debian
package dataset-fashion-mnist; see fashion_mini.json for the exact images chosen.
"""


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def package_version() -> str:
    try:
        out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", PACKAGE], capture_output=True, text=True,
                             check=True)
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (dpkg-query failed)"


def select(labels: np.ndarray, per_class: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted indices of ``per_class`` images of every class, drawn without replacement."""
    chosen = []
    for c in range(10):
        members = np.flatnonzero(labels == c)
        if members.size < per_class:
            sys.exit(f"class {c} has only {members.size} images, {per_class} requested")
        chosen.append(rng.choice(members, size=per_class, replace=False))
    return np.sort(np.concatenate(chosen))


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """A compressed .npz (readable by np.load) with fixed timestamps, so equal inputs give equal bytes."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, arr in arrays.items():
            member = io.BytesIO()
            np.lib.format.write_array(member, np.ascontiguousarray(arr), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            zf.writestr(info, member.getvalue(), compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)
    return buf.getvalue()


def build(source: Path, seed: int, train_per_class: int, test_per_class: int) -> tuple[bytes, dict]:
    rng = np.random.default_rng(seed)
    arrays: dict[str, np.ndarray] = {}
    indices: dict[str, list[int]] = {}
    counts: dict[str, list[int]] = {}
    files: dict[str, str] = {}
    for split, per_class in (("train", train_per_class), ("test", test_per_class)):
        img_name, lbl_name = SOURCE_FILES[split]
        for name in (img_name, lbl_name):
            path = source / name
            if not path.is_file():
                sys.exit(f"missing {path}: install it with `apt-get install {PACKAGE}` or pass --source DIR")
            files[name] = sha256(path.read_bytes())
        images = read_idx(source / img_name, IDX_IMAGES_MAGIC)
        labels = read_idx(source / lbl_name, IDX_LABELS_MAGIC)
        idx = select(labels, per_class, rng)
        arrays[f"x_{split}"], arrays[f"y_{split}"] = images[idx], labels[idx]
        indices[split] = idx.tolist()
        counts[split] = np.bincount(labels[idx], minlength=10).tolist()
    blob = npz_bytes(arrays)
    x = arrays["x_train"].astype(np.float64) / 255
    manifest = {
        "name": "fashion-mini",
        "description": "seeded, stratified subset of Fashion-MNIST (train, then test, drawn from one RNG)",
        "license": f"MIT, Copyright (c) 2017 Zalando SE; see {LICENSE}",
        "source": {"package": PACKAGE, "version": package_version(), "path": str(source), "sha256": files},
        "seed": seed,
        "rng": "numpy.random.default_rng(seed); for class 0..9: rng.choice(members, n, replace=False)",
        "per_class": {"train": train_per_class, "test": test_per_class},
        "counts": counts,
        "npz": {
            "file": NPZ, "bytes": len(blob), "sha256": sha256(blob), "zlib": zlib.ZLIB_RUNTIME_VERSION,
            "arrays": {k: {"shape": list(v.shape), "dtype": str(v.dtype), "sha256": sha256(v.tobytes())}
                       for k, v in arrays.items()},
        },
        "train_mean": round(float(x.mean()), 4), "train_std": round(float(x.std()), 4),
        "indices": indices,
    }
    return blob, manifest


def manifest_text(manifest: dict) -> str:
    # Lists of numbers on one line each: the 6,000 indices stay readable in a diff instead of 6,000 lines.
    text = json.dumps(manifest, indent=2, ensure_ascii=False)
    return re.sub(r"\[\s+([^\[\]{}\"]*?)\s+\]",
                  lambda m: "[" + ", ".join(v.strip() for v in m.group(1).split(",")) + "]", text) + "\n"


def check(out: Path, blob: bytes, manifest: dict) -> int:
    problems = []
    npz_path, man_path = out / NPZ, out / MANIFEST
    on_disk = npz_path.read_bytes() if npz_path.is_file() else b""
    recorded = json.loads(man_path.read_text(encoding="utf-8")) if man_path.is_file() else {}
    if sha256(on_disk) != sha256(blob):
        same = recorded.get("npz", {}).get("arrays") == manifest["npz"]["arrays"]
        problems.append(f"{npz_path}: sha256 {sha256(on_disk)[:16]}... differs from the rebuilt "
                        f"{sha256(blob)[:16]}... (decoded arrays {'identical' if same else 'DIFFERENT'})")
    if recorded.get("npz", {}).get("sha256") != sha256(on_disk):
        problems.append(f"{man_path}: recorded npz sha256 does not match {npz_path}")
    for key in ("seed", "per_class", "counts", "indices"):
        if recorded.get(key) != manifest[key]:
            problems.append(f"{man_path}: '{key}' differs from the rebuild")
    if recorded.get("source", {}).get("sha256") != manifest["source"]["sha256"]:
        problems.append(f"source files differ from those recorded in {man_path}")
    if not (out / LICENSE).is_file() or (out / LICENSE).read_text(encoding="utf-8") != LICENSE_TEXT:
        problems.append(f"{out / LICENSE}: missing or changed")
    for p in problems:
        print("MISMATCH:", p)
    if not problems:
        print(f"OK: {npz_path} ({len(blob)} bytes, sha256 {sha256(blob)}) matches its rebuild")
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--source", type=Path, default=DEFAULT_SOURCE,
                    help="folder of the four Fashion-MNIST .gz files")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where the npz, manifest and licence go")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--train-per-class", type=int, default=500)
    ap.add_argument("--test-per-class", type=int, default=100)
    ap.add_argument("--check", action="store_true",
                    help="rebuild in memory and compare with the files in --out")
    args = ap.parse_args(argv)
    blob, manifest = build(args.source, args.seed, args.train_per_class, args.test_per_class)
    if args.check:
        return check(args.out, blob, manifest)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / NPZ).write_bytes(blob)
    (args.out / MANIFEST).write_text(manifest_text(manifest), encoding="utf-8")
    (args.out / LICENSE).write_text(LICENSE_TEXT, encoding="utf-8")
    print(f"wrote {args.out / NPZ} ({len(blob)} bytes, sha256 {manifest['npz']['sha256']}), "
          f"{MANIFEST}, {LICENSE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
