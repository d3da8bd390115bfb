"""`flask backup` and `flask restore`: a database full of demo data, backed
up, restored into an empty database, is the same row for row in every table,
its audit trail verifies, and its audit guard is still on.

SQLite always (online backup API); PostgreSQL (pg_dump -Fc / pg_restore)
when TEST_DATABASE_URL is set. Each database here is separate from the one
tests/conftest.py builds.
"""
import pytest
import sqlalchemy as sa

from app import create_app
from app.domain import audit
from app.extensions import db
from app.models import AuditEvent
from config import TestConfig
from tests.integration.conftest import database_url, delete_all_rows, dispose, migrate


def make_app(tmp_path_factory, name: str, url: str | None = None):
    config = TestConfig()
    config.SQLALCHEMY_DATABASE_URI = url or database_url(tmp_path_factory, name)
    config.STORAGE_DIR = str(tmp_path_factory.mktemp(f"{name}-documents"))
    return create_app(config)


def flask(app, *args: str):
    return app.test_cli_runner().invoke(args=list(args))


def every_row(app) -> dict[str, list[tuple]]:
    """Each table (the migrations' own included) -> all its rows, all columns,
    in primary-key order."""
    with app.app_context():
        db.session.remove()
        with db.engine.connect() as conn:
            metadata = sa.MetaData()
            metadata.reflect(conn)
            rows = {}
            for table in metadata.sorted_tables:
                order = list(table.primary_key.columns) or list(table.columns)
                rows[table.name] = [tuple(r) for r in
                                    conn.execute(sa.select(table).order_by(*order)).all()]
        db.engine.dispose()
    return rows


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """A database holding the whole demo: every table has rows."""
    app = make_app(tmp_path_factory, "backup-source")
    migrate(app)
    with app.app_context():
        from app.demo import load_demo_data
        load_demo_data()
        db.session.remove()
    yield app
    delete_all_rows(app)
    dispose(app)


@pytest.fixture(scope="module")
def backup_file(source, tmp_path_factory):
    path = tmp_path_factory.mktemp("backups") / "portal.backup"
    result = flask(source, "backup", str(path))
    assert result.exit_code == 0, result.output
    assert f"to {path}" in result.output
    return path


@pytest.fixture
def empty(tmp_path_factory):
    """A new database with nothing in it, not even the schema (a new SQLite
    file, or a PostgreSQL database dropped and created again each time)."""
    app = make_app(tmp_path_factory, "backup-target")
    yield app
    dispose(app)


def test_a_restored_backup_is_the_same_row_for_row(source, backup_file, empty):
    expected = every_row(source)
    # The comparison means something only if the demo filled most tables.
    filled = [name for name, rows in expected.items() if rows]
    assert len(filled) >= 30, filled
    assert len(expected["audit_events"]) > 50

    result = flask(empty, "restore", str(backup_file))
    assert result.exit_code == 0, result.output

    restored = every_row(empty)
    assert restored.keys() == expected.keys()
    for name, rows in expected.items():
        assert restored[name] == rows, f"table {name} differs after the restore"

    result = flask(empty, "audit-verify")
    assert result.exit_code == 0, result.output
    assert f"{len(expected['audit_events'])} events checked; the chain is intact." \
        in result.output


def test_the_restored_database_carries_on(source, backup_file, empty):
    assert flask(empty, "restore", str(backup_file)).exit_code == 0
    with empty.app_context():
        # New rows get new ids (PostgreSQL's sequences came back too)...
        last = db.session.execute(sa.select(sa.func.max(AuditEvent.id))).scalar()
        event = audit.record(audit.SYSTEM, "backup.restored", "database", 1)
        db.session.commit()
        assert event.id > last
        assert audit.verify_chain()[1] == []
        # ...and the audit trail is still append-only.
        with pytest.raises(sa.exc.DBAPIError, match="append-only"):
            db.session.execute(sa.delete(AuditEvent).where(AuditEvent.id == event.id))
        db.session.rollback()
        db.session.remove()


def test_restore_refuses_a_database_that_holds_data_unless_forced(source, backup_file,
                                                                   empty, tmp_path_factory):
    assert flask(empty, "restore", str(backup_file)).exit_code == 0
    with empty.app_context():
        audit.record(audit.SYSTEM, "made.after.the.backup", "thing", 1)
        db.session.commit()
        db.session.remove()

    result = flask(empty, "restore", str(backup_file))
    assert result.exit_code == 1
    assert "The database is not empty" in result.output and "--force" in result.output
    assert every_row(empty)["audit_events"][-1][4] == "made.after.the.backup"

    result = flask(empty, "restore", "--force", str(backup_file))
    assert result.exit_code == 0, result.output
    assert "replaced" in result.output
    assert every_row(empty) == every_row(source)


def test_restore_refuses_a_file_that_is_not_a_backup(empty, tmp_path):
    other = tmp_path / "notes.backup"
    other.write_bytes(b"not a database at all\n" * 10)
    result = flask(empty, "restore", str(other))
    assert result.exit_code == 1 and "is not a" in result.output


def test_a_backup_into_a_missing_folder_is_refused(source, tmp_path):
    result = flask(source, "backup", str(tmp_path / "no-such-folder" / "portal.backup"))
    assert result.exit_code == 1 and "does not exist" in result.output
    assert not (tmp_path / "no-such-folder").exists()
