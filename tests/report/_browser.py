"""Real headless Chromium driven over the DevTools protocol on a pipe (``--remote-debugging-pipe``).

No extra Python package: messages are JSON separated by NUL bytes on file descriptors 3 (to Chromium) and
4 (from Chromium). Console errors and uncaught exceptions of the page are collected as they arrive.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from typing import Any

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "chrome")


def _high(fd: int) -> int:
    """The same pipe end on a descriptor >= 5, so the shell's 3<& and 4>& cannot clobber each other."""
    new = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 5)
    os.close(fd)
    return new


def find_chromium() -> str | None:
    return next((p for c in CANDIDATES if (p := shutil.which(c))), None)


class Browser:
    def __init__(self, exe: str, width: int = 1400, height: int = 2400) -> None:
        self._profile = tempfile.mkdtemp(prefix="snnas-chromium-")
        to_r, self._to_w = (_high(fd) for fd in os.pipe())
        self._from_r, from_w = (_high(fd) for fd in os.pipe())
        args = [exe, "--headless=new", "--remote-debugging-pipe", "--no-sandbox", "--disable-gpu",
                "--no-first-run", "--disable-extensions", f"--user-data-dir={self._profile}",
                f"--window-size={width},{height}", "about:blank"]
        # `exec ... 3<&r 4>&w`: bash (dash takes single-digit descriptors only) puts our pipe ends on the
        # descriptors Chromium expects.
        self.proc = subprocess.Popen(["bash", "-c", f'exec "$@" 3<&{to_r} 4>&{from_w}', "bash", *args],
                                     pass_fds=(to_r, from_w), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_r)
        os.close(from_w)
        self._next = 0
        self._replies: dict[int, dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []
        self._cv = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable", session=self.session)

    def _read(self) -> None:
        buf = b""
        with os.fdopen(self._from_r, "rb", buffering=0) as f:
            while chunk := f.read(65536):
                buf += chunk
                *messages, buf = buf.split(b"\0")
                for raw in messages:
                    msg = json.loads(raw)
                    with self._cv:
                        if "id" in msg:
                            self._replies[msg["id"]] = msg
                        else:
                            self.events.append(msg)
                        self._cv.notify_all()

    def call(self, method: str, params: dict[str, Any] | None = None, session: str | None = None,
             timeout: float = 60) -> dict[str, Any]:
        self._next += 1
        msg: dict[str, Any] = {"id": self._next, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._to_w, json.dumps(msg).encode() + b"\0")
        deadline = time.time() + timeout
        with self._cv:
            while self._next not in self._replies:
                if not self._cv.wait(max(0.0, deadline - time.time())):
                    raise TimeoutError(method)
            reply = self._replies.pop(self._next)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    def open(self, url: str, timeout: float = 60) -> None:
        n = len(self.events)
        self.call("Page.navigate", {"url": url}, self.session)
        deadline = time.time() + timeout
        with self._cv:
            while not any(e.get("method") == "Page.loadEventFired" for e in self.events[n:]):
                if not self._cv.wait(max(0.0, deadline - time.time())):
                    raise TimeoutError(f"loading {url}")

    def js(self, expression: str) -> Any:
        r = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True},
                      self.session)
        if "exceptionDetails" in r:
            raise RuntimeError(f"{expression[:80]}: {r['exceptionDetails']}")
        return r["result"].get("value")

    def errors(self) -> list[str]:
        """Console errors, uncaught exceptions and error-level log entries seen so far."""
        out = []
        for e in self.events:
            m, p = e.get("method"), e.get("params", {})
            if m == "Runtime.exceptionThrown":
                out.append(json.dumps(p.get("exceptionDetails", {}))[:500])
            elif m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                out.append(" ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", [])))
            elif m == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
                out.append(p["entry"].get("text", ""))
        return out

    def screenshot(self) -> bytes:
        return base64.b64decode(self.call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True},
                                          self.session)["data"])

    def close(self) -> None:
        try:
            self.call("Browser.close", timeout=10)
        except Exception:  # noqa: BLE001 - it may already be gone
            pass
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._to_w)
        shutil.rmtree(self._profile, ignore_errors=True)
