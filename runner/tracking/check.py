"""Find a store that cannot take a run before any work: fast and local, without importing
MLflow (so the helper forked at start-up stays possible)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from runner.errors import ConfigError
from runner.tracking.store import MlflowTracking, resolve_store

SQL_SERVERS = {"postgresql": 5432, "mysql": 3306, "mssql": 1433}   # SQLAlchemy database URIs MLflow takes
SQLITE_MAGIC = b"SQLite format 3\x00"
CONNECT_TIMEOUT = 3.0      # seconds to wait for a tracking server to accept a connection


def check_store(tcfg: MlflowTracking) -> None:
    """Find a store that cannot take the run before any work: ConfigError on ``tracking.uri``
    naming the cause.  Checks only what is fast and local (no MLflow import, so the forked
    helper stays possible): an SQLite file's directory and header, its schema table when it
    is not busy, a server's port accepting a connection within CONNECT_TIMEOUT."""
    try:
        uri, _ = resolve_store(tcfg.uri, tcfg.artifact_location)
    except OSError as e:
        raise ConfigError("tracking.uri", f"cannot create the store's directory ({e.strerror}: {e.filename})") from None
    scheme = uri.split(":", 1)[0].split("+", 1)[0].lower() if ":" in uri else ""
    if scheme == "sqlite":
        _check_sqlite(Path(uri[len("sqlite:///"):]) if uri.startswith("sqlite:///") else None, uri)
    elif scheme in ("http", "https") or scheme in SQL_SERVERS:
        _check_server(uri, scheme)
    elif scheme != "databricks":
        raise ConfigError("tracking.uri", f"unsupported store {uri!r}; use sqlite:////ABS/PATH/mlflow.db, "
                          f"http(s)://HOST:PORT (an MLflow server) or {'/'.join(SQL_SERVERS)}://...")


def _check_sqlite(db: Optional[Path], uri: str) -> None:
    import sqlite3

    if db is None or str(db) in ("", ":memory:"):
        raise ConfigError("tracking.uri", f"{uri!r} names no database file; use sqlite:////ABS/PATH/mlflow.db")
    if db.exists() and not db.is_file():
        raise ConfigError("tracking.uri", f"{db} is not a file")
    if not os.access(db.parent, os.W_OK) or (db.exists() and not os.access(db, os.R_OK | os.W_OK)):
        raise ConfigError("tracking.uri", f"no permission to write {db if db.exists() else db.parent}")
    if not db.exists() or db.stat().st_size == 0:
        return                                  # a new store: MLflow creates its schema
    cause = _sqlite_damage(db)
    if cause is None:
        try:
            with sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True, timeout=0.2) as con:
                tables = {row[0] for row in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if tables and "alembic_version" not in tables:
                cause = "an SQLite database, but not an MLflow store (no alembic_version table)"
        except sqlite3.OperationalError as e:
            if "locked" not in str(e):          # busy is not bad: the writes wait (busy_timeout)
                cause = f"unreadable ({e})"
        except sqlite3.DatabaseError as e:
            cause = f"corrupt ({e})"
    if cause is not None:
        raise ConfigError("tracking.uri", f"{db}: {cause}; move it aside or point tracking.uri at another file")


def _sqlite_damage(db: Path) -> Optional[str]:
    """Why the file is not a whole SQLite database, from its 100-byte header (sqlite.org/fileformat.html):
    the magic string, the page size (bytes 16-17) and the page count (bytes 28-31)."""
    with open(db, "rb") as fh:
        head = fh.read(100)
    if not head.startswith(SQLITE_MAGIC):
        return "not an SQLite database (corrupt or another kind of file)"
    if len(head) < 100:
        return "truncated (shorter than an SQLite header)"
    page = int.from_bytes(head[16:18], "big")
    page = 65536 if page == 1 else page
    pages = int.from_bytes(head[28:32], "big")
    size = db.stat().st_size
    if pages and page * pages > size:
        return f"truncated ({size} bytes; its header says {page * pages})"
    return None


def _check_server(uri: str, scheme: str) -> None:
    import socket
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(uri)
        host, port = parts.hostname, parts.port or SQL_SERVERS.get(scheme) or (443 if scheme == "https" else 80)
    except ValueError as e:
        raise ConfigError("tracking.uri", f"malformed {uri!r} ({e})") from None
    if not host:
        raise ConfigError("tracking.uri", f"{uri!r} names no host")
    try:
        socket.create_connection((host, port), timeout=CONNECT_TIMEOUT).close()
    except OSError as e:
        raise ConfigError("tracking.uri", f"no store answers at {host}:{port} ({e.strerror or e}); start the "
                          f"server or use a local store (tracking.uri=sqlite:////ABS/PATH/mlflow.db)") from None
