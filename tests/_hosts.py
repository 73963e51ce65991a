"""Real test hosts on this machine: Linux network namespaces joined by veth pairs to one bridge, and a real
PostgreSQL server on one of them.

Each host has its own network stack, address (``10.X.Y.i/24``), loopback and host name (every command runs
in a UTS namespace of its own too, so ``socket.gethostname()`` tells the hosts apart); its processes reach
the others only through the bridge. The test process itself is an observer on the bridge (``.254``). What
the hosts share is this machine's file system and cores: a host gets its own working folder, so nothing
local to a folder (a file lock under ``studies/``) is shared by accident.

Needs root and ``ip`` (Debian's iproute2); :func:`unavailable` says why not when they are missing.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

__all__ = ["Hosts", "MariaDbServer", "PgServer", "free_port", "unavailable"]


def unavailable() -> str | None:
    """Why test hosts cannot be made here, or ``None``."""
    if os.geteuid() != 0:
        return "test hosts need root (ip netns); .ci/run runs as root"
    if shutil.which("ip") is None or shutil.which("unshare") is None:
        return "test hosts need `ip` (iproute2) and `unshare` (util-linux)"
    probe = f"snnas-probe-{os.getpid()}"
    if subprocess.run(["ip", "netns", "add", probe], capture_output=True).returncode != 0:
        return "this machine refuses `ip netns add` (no network namespaces)"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


def _ip(*args: str) -> None:
    r = subprocess.run(["ip", *args], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {r.stderr.strip()}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("", 0))
        return s.getsockname()[1]


class Hosts:
    """``n`` hosts ``h1..hn`` on a bridge; ``down()`` kills every process left on them and removes them."""

    def __init__(self, n: int) -> None:
        pid = os.getpid()
        self.tag = f"{pid % 100000}"
        self.net = f"10.{200 + pid % 50}.{(pid // 50) % 250}"
        self.bridge = f"snb{self.tag}"
        self.names = [f"snnas{self.tag}-h{i}" for i in range(1, n + 1)]
        self.made: list[str] = []
        try:
            _ip("link", "add", self.bridge, "type", "bridge")
            _ip("addr", "add", f"{self.net}.254/24", "dev", self.bridge)
            _ip("link", "set", self.bridge, "up")
            for i, ns in enumerate(self.names, 1):
                _ip("netns", "add", ns)
                self.made.append(ns)
                veth = f"snv{self.tag}{i}"
                _ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
                _ip("link", "set", veth, "master", self.bridge, "up")
                _ip("-n", ns, "addr", "add", f"{self.net}.{i}/24", "dev", "eth0")
                _ip("-n", ns, "link", "set", "eth0", "up")
                _ip("-n", ns, "link", "set", "lo", "up")
        except BaseException:
            self.down()
            raise

    def addr(self, i: int) -> str:
        """The address of host ``i`` (1-based)."""
        return f"{self.net}.{i}"

    def hostname(self, i: int) -> str:
        return f"h{i}"

    def argv(self, i: int, argv: list[str], as_user: str | None = None) -> list[str]:
        """``argv`` as host ``i`` runs it: in its network namespace, under its own host name."""
        inner = ["runuser", "-u", as_user, "--", *argv] if as_user else argv
        return ["ip", "netns", "exec", self.names[i - 1], "unshare", "--uts", "sh", "-c",
                'hostname "$0" && exec "$@"', self.hostname(i), *inner]

    def popen(self, i: int, argv: list[str], as_user: str | None = None, **kwargs) -> subprocess.Popen:  # noqa: ANN003
        kwargs.setdefault("start_new_session", True)
        return subprocess.Popen(self.argv(i, argv, as_user), **kwargs)

    def run(self, i: int, argv: list[str], as_user: str | None = None, **kwargs) -> subprocess.CompletedProcess:  # noqa: ANN003
        kwargs.setdefault("capture_output", True)
        kwargs.setdefault("text", True)
        return subprocess.run(self.argv(i, argv, as_user), **kwargs)

    def pids(self, i: int) -> list[int]:
        r = subprocess.run(["ip", "netns", "pids", self.names[i - 1]], capture_output=True, text=True)
        return [int(p) for p in r.stdout.split()]

    def kill(self, i: int, uid: int | None = None) -> int:
        """SIGKILL every process on host ``i`` (the host dies; its network stays up), or only those of user
        ``uid``; how many there were."""
        killed = 0
        for _ in range(5):  # processes forking while we kill: sweep until none is left
            pids = [p for p in self.pids(i) if uid is None or _owner(p) == uid]
            if not pids:
                break
            for p in pids:
                try:
                    os.kill(p, signal.SIGKILL)
                    killed += 1
                except ProcessLookupError:
                    pass
            time.sleep(0.2)
        return killed

    def down(self) -> None:
        for i in range(1, len(self.made) + 1):
            self.kill(i)
        for ns in self.made:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        self.made = []
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True)


def _owner(pid: int) -> int | None:
    try:
        return os.stat(f"/proc/{pid}").st_uid
    except FileNotFoundError:
        return None


def _server_missing(binaries: bool, name: str, package: str, user: str) -> str | None:
    """Why a database server of Debian's ``package`` cannot run here (no binaries, no system user), or None."""
    import pwd

    if not binaries:
        return f"no {name} server binaries (Debian's {package} package; .ci/run installs it)"
    try:
        pwd.getpwnam(user)
    except KeyError:
        return f"no `{user}` system user (Debian's {package} package makes it)"
    return None


def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=lambda p: int(p.split("/")[4]))
    if found:
        return Path(found[-1]).parent
    postgres = shutil.which("postgres")
    return Path(postgres).resolve().parent if postgres else None


class PgServer:
    """A PostgreSQL server of its own (data folder, port, trust login for the test network) on one host.

    The server runs as the ``postgres`` system user (it refuses root), from Debian's postgresql package.
    """

    @staticmethod
    def unavailable() -> str | None:
        return _server_missing(_pg_bin() is not None, "PostgreSQL", "postgresql", "postgres")

    def __init__(self, hosts: Hosts, i: int) -> None:
        self.hosts, self.i, self.bin = hosts, i, _pg_bin()
        self.host, self.port = hosts.addr(i), free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="snnas-pg-"))
        shutil.chown(self.folder, "postgres")
        self.data = self.folder / "data"
        self._pg("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")
        with open(self.data / "pg_hba.conf", "a") as f:
            f.write(f"host all all {hosts.net}.0/24 trust\n")
        opts = (f"-c listen_addresses={self.host} -p {self.port} -k {self.folder} -c fsync=off "
                "-c max_connections=200 -c shared_buffers=32MB")
        self._pg("pg_ctl", "-D", str(self.data), "-l", str(self.folder / "server.log"), "-w", "-t", "60",
                 "-o", opts, "start")

    def _pg(self, tool: str, *args: str) -> None:
        r = self.hosts.run(self.i, [str(self.bin / tool), *args], as_user="postgres", cwd=self.folder, timeout=120)
        if r.returncode != 0:
            raise RuntimeError(f"{tool}: {r.stderr.strip() or r.stdout.strip()}")

    def url(self, db: str) -> str:
        return f"postgresql://postgres@{self.host}:{self.port}/{db}"

    def create_db(self, db: str) -> str:
        """A new empty database; its URL."""
        psql = shutil.which("psql") or str(self.bin / "psql")
        subprocess.run([psql, "-q", "-h", self.host, "-p", str(self.port), "-U", "postgres", "-d", "postgres",
                        "-c", f'CREATE DATABASE "{db}"'], check=True, capture_output=True, timeout=60)
        return self.url(db)

    def stop(self) -> None:
        try:
            self._pg("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        except (RuntimeError, subprocess.TimeoutExpired):
            pass
        shutil.rmtree(self.folder, ignore_errors=True)


class MariaDbServer:
    """A MariaDB server of its own (data folder, port, a password-less ``snnas`` user) on one host; Debian's
    mariadb-server package, run as the ``mysql`` system user. Serves the ``mysql://`` storages."""

    @staticmethod
    def unavailable() -> str | None:
        found = shutil.which("mariadbd", path="/usr/sbin:/usr/bin") and shutil.which("mariadb-install-db")
        return _server_missing(bool(found), "MariaDB", "mariadb-server", "mysql")

    def __init__(self, hosts: Hosts, i: int) -> None:
        self.hosts, self.i = hosts, i
        self.host, self.port = hosts.addr(i), free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="snnas-mdb-"))
        shutil.chown(self.folder, "mysql")
        self.socket = self.folder / "sock"
        r = subprocess.run(["mariadb-install-db", "--user=mysql", f"--datadir={self.folder / 'data'}",
                            "--auth-root-authentication-method=socket", "--skip-test-db"],
                           capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            raise RuntimeError(f"mariadb-install-db: {r.stderr.strip()[-2000:]}")
        mariadbd = shutil.which("mariadbd", path="/usr/sbin:/usr/bin")
        self.proc = hosts.popen(i, [mariadbd, f"--datadir={self.folder / 'data'}", f"--port={self.port}",
                                    f"--bind-address={self.host}", f"--socket={self.socket}",
                                    f"--pid-file={self.folder / 'pid'}", f"--log-error={self.folder / 'error.log'}",
                                    "--skip-log-bin", "--innodb-buffer-pool-size=32M", "--max-connections=300"],
                                as_user="mysql", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 60
        while self._sql("SELECT 1").returncode != 0:
            if time.time() > deadline or self.proc.poll() is not None:
                raise RuntimeError(f"mariadbd did not start: {(self.folder / 'error.log').read_text()[-2000:]}")
            time.sleep(0.5)
        r = self._sql("CREATE USER 'snnas'@'%'; GRANT ALL ON *.* TO 'snnas'@'%';")
        if r.returncode != 0:
            raise RuntimeError(r.stderr)

    def _sql(self, sql: str) -> subprocess.CompletedProcess:
        return subprocess.run(["mariadb", f"--socket={self.socket}", "-u", "root", "-e", sql], capture_output=True,
                              text=True, timeout=60)

    def url(self, db: str) -> str:
        return f"mysql://snnas@{self.host}:{self.port}/{db}"

    def create_db(self, db: str) -> str:
        r = self._sql(f"CREATE DATABASE `{db}`")
        if r.returncode != 0:
            raise RuntimeError(r.stderr)
        return self.url(db)

    def stop(self) -> None:
        self.hosts.kill(self.i, uid=_uid("mysql"))
        shutil.rmtree(self.folder, ignore_errors=True)


def _uid(user: str) -> int:
    import pwd

    return pwd.getpwnam(user).pw_uid
