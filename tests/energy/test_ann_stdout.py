"""The ANN-equivalent count runs on a search's worker thread: it must not touch the process's ``sys.stdout``."""

from __future__ import annotations

import sys

import snnas.energy._ann
from snnas.energy import ann_equivalent_macs
from snnas.models import get_config


def test_ann_macs_leave_sys_stdout_to_the_other_threads(monkeypatch, capsys):
    # sys.stdout is one object for every thread: swapping it while thop counts (contextlib.redirect_stdout)
    # swallowed the --quiet trial lines the search's main thread printed meanwhile (CI: a failed trial's
    # line missing).
    during = []
    profile = snnas.energy._ann.profile

    def watched(*args, **kwargs):
        during.append(sys.stdout)
        return profile(*args, **kwargs)

    monkeypatch.setattr(snnas.energy._ann, "profile", watched)
    before = sys.stdout
    macs = ann_equivalent_macs.__wrapped__(get_config("test_sssa_v2", T=2, embed_dim=16, num_heads=2, img_size=8,
                                                      patch_size=4))  # uncached: thop runs
    assert macs > 0 and during == [before]
    assert capsys.readouterr().out == ""  # and thop, told not to, printed nothing
