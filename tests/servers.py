"""Servers that tests start and always stop: a PostgreSQL database (a throw-away cluster in a
temporary directory, run as the ``postgres`` user on 127.0.0.1 and a free port), an MLflow
tracking server on it.  Each is a context
manager that tears down what it started even when the test fails; ports are chosen at run
time, so parallel sessions on one machine never collide."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

PG_BIN_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
PG_PASSWORD = "calclab-test"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pg_bin() -> Path | None:
    """The newest PostgreSQL server's bin directory (Debian keeps initdb and pg_ctl off PATH)."""
    for d in PG_BIN_DIRS:
        if (d / "initdb").exists() and (d / "pg_ctl").exists():
            return d
    return None


def postgres_missing() -> str | None:
    """Why a PostgreSQL test cannot run here, or None."""
    if pg_bin() is None:
        return "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin"
    if shutil.which("runuser") is None:
        return "runuser not found"
    try:
        import pwd

        pwd.getpwnam("postgres")
    except KeyError:
        return "no 'postgres' user"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg not installed (pip install -e '.[server]')"
    return None


def _as_postgres(args, **kw):
    cmd = list(map(str, args))
    if os.geteuid() == 0:          # the server refuses to run as root
        cmd = ["runuser", "-u", "postgres", "--", *cmd]
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)


@contextmanager
def postgres(database: str = "mlflow"):
    """A fresh PostgreSQL cluster with one database; yields its SQLAlchemy URI
    ``postgresql+psycopg://postgres:PASSWORD@127.0.0.1:PORT/DATABASE``."""
    bindir = pg_bin()
    root = Path(tempfile.mkdtemp(prefix="calclab-pg-"))
    data = root / "data"
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    port = free_port()
    started = False
    try:
        (root / "pw").write_text(PG_PASSWORD + "\n")
        if os.geteuid() == 0:
            shutil.chown(root / "pw", "postgres", "postgres")
        _as_postgres([bindir / "initdb", "-D", data, "-U", "postgres", "--auth=scram-sha-256",
                      f"--pwfile={root / 'pw'}", "-E", "UTF8", "--no-sync"], timeout=300)
        _as_postgres([bindir / "pg_ctl", "-D", data, "-l", root / "server.log", "-w", "-t", "300",
                      "-o", f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off", "start"],
                     timeout=330)
        started = True
        _as_postgres([bindir / "createdb", "-h", "127.0.0.1", "-p", port, "-U", "postgres", database],
                     env={**os.environ, "PGPASSWORD": PG_PASSWORD}, timeout=120)
        yield f"postgresql+psycopg://postgres:{PG_PASSWORD}@127.0.0.1:{port}/{database}"
    finally:
        if started:
            try:
                _as_postgres([bindir / "pg_ctl", "-D", data, "-m", "immediate", "-w", "-t", "120", "stop"],
                             timeout=150)
            except (subprocess.SubprocessError, OSError):
                _kill_postmaster(data)
        shutil.rmtree(root, ignore_errors=True)


def _kill_postmaster(data: Path) -> None:
    try:
        pid = int((data / "postmaster.pid").read_text().split()[0])
        os.kill(pid, signal.SIGKILL)
    except (OSError, ValueError, IndexError):
        pass


class MlflowServer:
    """``mlflow server`` in its own process group; :meth:`kill` ends it (and its workers)."""

    def __init__(self, backend_uri: str, artifacts: Path, log: Path, workers: int = 2):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(log, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(self.port),
             "--backend-store-uri", backend_uri, "--artifacts-destination", str(artifacts),
             "--workers", str(workers)],
            cwd=log.parent, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)

    def wait_ready(self, timeout: float = 1200) -> None:
        deadline = time.time() + timeout
        while True:
            try:
                urllib.request.urlopen(f"{self.url}/health", timeout=5)
                return
            except OSError:
                if self.proc.poll() is not None or time.time() > deadline:
                    raise RuntimeError(f"mlflow server did not start; see {self.log.name}")
                time.sleep(0.5)

    def kill(self, sig=signal.SIGKILL) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                pass
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=60)
        self.log.close()


@contextmanager
def mlflow_server(backend_uri: str, root: Path, workers: int = 2):
    """An MLflow tracking server on ``backend_uri`` serving artifacts from ``root/artifacts``;
    yields the MlflowServer (``.url`` is the tracking URI to give calclab)."""
    root.mkdir(parents=True, exist_ok=True)
    server = MlflowServer(backend_uri, root / "artifacts", root / "mlflow-server.log", workers)
    try:
        server.wait_ready()
        yield server
    finally:
        server.kill(signal.SIGTERM)
