"""Whole-database operations: backup, restore, and wiping every row.

SQLite is copied with its online backup API (a consistent copy while the
portal keeps running); PostgreSQL with pg_dump's custom format and
pg_restore, from the newest PostgreSQL client tools installed. A backup is
written to a temporary file beside its target and renamed into place only
when complete, so a failed backup never leaves a half-written file.

The audit trail is append-only in the database itself (migration 0002), so
deleting every row must lift that guard for one transaction:
`audit_guard_lifted` is for wiping a database (tests, demo and bench resets),
never for the running service.
"""
import os
import shutil
import sqlite3
import subprocess
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from app.extensions import db

AUDIT_TABLE = "audit_events"
SQLITE_MAGIC = b"SQLite format 3\x00"
PG_CUSTOM_MAGIC = b"PGDMP"
# pg_dump of a national-scale database takes about a minute; leave room.
PG_TOOL_TIMEOUT_SECONDS = 3600


class BackupError(Exception):
    """Something the person running the command must put right; nothing changed."""


@dataclass
class BackupResult:
    path: Path
    size: int
    dialect: str


# ------------------------------------------------------------- the audit guard

@contextmanager
def audit_guard_lifted(conn: sa.Connection):
    """Let `conn`'s current transaction delete audit events, and only it.

    PostgreSQL: `SET LOCAL session_replication_role = replica`, which only a
    superuser may set (the service's own role cannot) and which ends with the
    transaction; it also skips foreign-key triggers, harmless when every table
    is emptied. SQLite: the triggers are dropped and created again from their
    own definitions inside a savepoint, so they are never missing once the
    transaction ends, even if it fails.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SET LOCAL session_replication_role = replica"))
        yield
        conn.execute(sa.text("SET LOCAL session_replication_role = DEFAULT"))
        return
    # pysqlite opens no transaction before DDL: the savepoint is what makes
    # dropping and recreating the triggers atomic.
    with conn.begin_nested():
        triggers = conn.execute(sa.text(
            "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = :t"
        ), {"t": AUDIT_TABLE}).all()
        for name, _ in triggers:
            conn.execute(sa.text(f'DROP TRIGGER "{name}"'))
        yield
        for _, definition in triggers:
            conn.execute(sa.text(definition))


def delete_all_rows(conn: sa.Connection, *, truncate: bool = False) -> None:
    """Empty every table of the models, the audit trail included, in `conn`'s
    transaction. `truncate` (PostgreSQL only) is far faster on big tables."""
    tables = list(reversed(db.metadata.sorted_tables))
    with audit_guard_lifted(conn):
        if truncate and conn.dialect.name == "postgresql":
            names = ", ".join(f'"{table.name}"' for table in tables)
            conn.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY"))
        else:
            for table in tables:
                conn.execute(table.delete())


# ------------------------------------------------------------------ inspection

def tables_with_rows(conn: sa.Connection) -> list[str]:
    """The model tables present in the database that hold at least one row."""
    present = set(sa.inspect(conn).get_table_names())
    return [table.name for table in db.metadata.sorted_tables
            if table.name in present
            and conn.execute(sa.select(sa.literal(1)).select_from(table).limit(1)).first()]


# ---------------------------------------------------------------- the commands

def backup(path: str | os.PathLike) -> BackupResult:
    """Write a backup of the portal's database to `path` (replaced if present)."""
    target = Path(path).resolve()
    if target.is_dir():
        raise BackupError(f"{target} is a folder: give a file name")
    if not target.parent.is_dir():
        raise BackupError(f"The folder {target.parent} does not exist")
    engine = db.engine
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        if engine.dialect.name == "sqlite":
            _sqlite_backup(engine, tmp)
        elif engine.dialect.name == "postgresql":
            _run_pg_tool("pg_dump", ["--format=custom", "--no-owner", "--no-privileges",
                                     f"--file={tmp}"], engine.url)
        else:
            raise BackupError(f"Backups of {engine.dialect.name} databases are not supported")
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return BackupResult(target, target.stat().st_size, engine.dialect.name)


def restore(path: str | os.PathLike, *, force: bool = False) -> list[str]:
    """Replace the portal's database with the backup at `path`.

    Refuses (BackupError, nothing changed) a file that is not a backup for
    this kind of database, or a database that already holds rows unless
    `force`. Returns the tables that held rows before (empty without force).
    """
    source = Path(path)
    if not source.is_file():
        raise BackupError(f"There is no file {source}")
    engine = db.engine
    db.session.remove()
    with open(source, "rb") as f:
        header = f.read(len(SQLITE_MAGIC))
    expected = {"sqlite": (SQLITE_MAGIC, "a SQLite backup"),
                "postgresql": (PG_CUSTOM_MAGIC, "a pg_dump custom-format backup")}
    if engine.dialect.name not in expected:
        raise BackupError(f"Restores into {engine.dialect.name} databases are not supported")
    magic, kind = expected[engine.dialect.name]
    if not header.startswith(magic):
        raise BackupError(f"{source} is not {kind}")
    with engine.connect() as conn:
        occupied = tables_with_rows(conn)
    if occupied and not force:
        raise BackupError(
            f"The database is not empty ({len(occupied)} tables hold rows, e.g. "
            f"{', '.join(occupied[:3])}): restore into an empty database, or use --force "
            "to replace everything in it")
    if engine.dialect.name == "sqlite":
        _sqlite_restore(engine, source)
    else:
        # One transaction: a restore that fails half-way changes nothing. --clean
        # drops the objects it is about to recreate (the schema of a migrated but
        # empty database, or everything with --force).
        _run_pg_tool("pg_restore", ["--clean", "--if-exists", "--single-transaction",
                                    "--no-owner", "--no-privileges", str(source)], engine.url)
    # Pooled connections may have cached the old schema.
    engine.dispose()
    return occupied


# ------------------------------------------------------------------ SQLite

def _sqlite_backup(engine: sa.Engine, tmp: Path) -> None:
    raw = engine.raw_connection()
    try:
        with sqlite3.connect(tmp) as out:
            raw.driver_connection.backup(out)
        out.close()
    finally:
        raw.close()


def _sqlite_restore(engine: sa.Engine, source: Path) -> None:
    with sqlite3.connect(f"file:{source}?mode=ro", uri=True) as backup_db:
        check = backup_db.execute("PRAGMA quick_check").fetchone()[0]
        if check != "ok":
            raise BackupError(f"{source} is damaged: {check}")
        raw = engine.raw_connection()
        try:
            # Page by page into the live database, which is locked meanwhile.
            backup_db.backup(raw.driver_connection)
        finally:
            raw.close()
    backup_db.close()


# -------------------------------------------------------------- PostgreSQL

def pg_tool(name: str) -> str:
    """The newest installed PostgreSQL's client tool (Debian keeps each major
    version under /usr/lib/postgresql/N/bin), else the one on PATH. pg_dump
    must be at least as new as the server."""
    candidates = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"),
                        key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0)
    if candidates:
        return str(candidates[-1])
    found = shutil.which(name)
    if not found:
        raise BackupError(f"{name} was not found: install the PostgreSQL client tools")
    return found


def _conninfo(url: sa.URL) -> str:
    """A libpq connection string without the password (that goes in
    PGPASSWORD, so it never appears in a process listing)."""
    def quoted(value) -> str:
        return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"
    parts = {"host": url.host, "port": url.port, "user": url.username, "dbname": url.database,
             **{k: v for k, v in url.query.items() if isinstance(v, str)}}
    return " ".join(f"{k}={quoted(v)}" for k, v in parts.items() if v is not None)


def _run_pg_tool(name: str, args: list[str], url: sa.URL) -> None:
    env = dict(os.environ)
    if url.password is not None:
        env["PGPASSWORD"] = str(url.password)
    try:
        result = subprocess.run([pg_tool(name), *args, "--dbname", _conninfo(url)], env=env,
                                stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                timeout=PG_TOOL_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        raise BackupError(f"{name} did not finish within {PG_TOOL_TIMEOUT_SECONDS} s") from None
    if result.returncode != 0:
        raise BackupError(f"{name} failed (exit {result.returncode}): "
                          f"{result.stderr.strip()[-2000:]}")
