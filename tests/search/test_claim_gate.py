"""The claim gate: Ctrl-C's stop of a worker never lands between ``study.ask`` and the claim's record of its
owner, so the search can end every trial its workers hold (see ``ClaimGate``)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

from snnas.search._driver import ClaimGate

_CHILD = """
import os, signal, sys, time
from snnas.search._driver import ClaimGate
gate = ClaimGate()
signal.signal(signal.SIGTERM, gate.on_sigterm)
out = open(sys.argv[1], "w")
with gate.claiming() as go:
    os.kill(os.getpid(), signal.SIGTERM)  # the search's stop, in the middle of a claim
    time.sleep(0.2)  # Python runs the handler here: it must only take note
    out.write(f"claimed {go}\\n"); out.flush()
out.write("trained\\n"); out.flush()  # never: the process ends as the claim does
"""


def test_sigterm_during_a_claim_ends_the_process_right_after_it(tmp_path):
    log = tmp_path / "log"
    p = subprocess.run([sys.executable, "-c", _CHILD, str(log)], capture_output=True, text=True, timeout=60)
    assert p.returncode == 143, p.stderr
    assert log.read_text() == "claimed True\n"
    assert not p.stderr


def test_sigterm_during_a_claim_that_fails_still_ends_the_process(tmp_path):
    child = _CHILD.replace('out.write(f"claimed {go}\\n"); out.flush()',
                           'out.write("failing\\n"); out.flush(); raise RuntimeError("storage gone")')
    assert "storage gone" in child
    p = subprocess.run([sys.executable, "-c", child, str(tmp_path / "log")], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 143, p.stderr
    assert (tmp_path / "log").read_text() == "failing\n" and "Traceback" not in p.stderr


def test_sigterm_outside_a_claim_ends_the_process_at_once(tmp_path):
    child = _CHILD.replace("with gate.claiming() as go:", "if True:\n    go = None").replace(
        "time.sleep(0.2)", "time.sleep(5)")
    p = subprocess.run([sys.executable, "-c", child, str(tmp_path / "log")], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 143, p.stderr
    assert (tmp_path / "log").read_text() == ""


def test_stop_waits_for_a_claim_in_progress_and_no_claim_starts_after_it():
    gate, events = ClaimGate(), []
    inside, stopped = threading.Event(), threading.Event()

    def worker() -> None:
        with gate.claiming() as go:
            inside.set()
            time.sleep(0.3)  # stop() is called meanwhile
            events.append(("claim", go))
        stopped.wait(10)
        with gate.claiming() as go:
            events.append(("next", go))

    t = threading.Thread(target=worker)
    t.start()
    inside.wait(10)
    gate.stop()
    events.append(("stopped", None))
    stopped.set()
    t.join(10)
    # the claim in progress finished before stop() returned; the one after it claims nothing
    assert events == [("claim", True), ("stopped", None), ("next", False)]
