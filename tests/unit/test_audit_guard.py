"""The audit trail is append-only in the database itself (migration 0002).

The hash chain lets `audit-verify` detect an altered or removed event after
the fact; these tests prove the database refuses the change in the first
place, through the application's own connection, on SQLite and PostgreSQL.
On PostgreSQL a role like the one production should use (owns nothing, may
read and write the tables) cannot lift the guard either.
"""
import os
import secrets

import pytest
import sqlalchemy as sa

from app.backup import audit_guard_lifted, delete_all_rows
from app.domain import audit
from app.extensions import db
from app.models import AuditEvent

REFUSED = "append-only"


def record_events(n: int = 3) -> list[int]:
    ids = [audit.record(audit.SYSTEM, "thing.done", "thing", i, reason=f"because {i}").id
           for i in range(n)]
    db.session.commit()
    return ids


def reasons() -> list[str]:
    db.session.expire_all()
    return db.session.execute(sa.select(AuditEvent.reason).order_by(AuditEvent.id)).scalars().all()


def is_postgresql() -> bool:
    return db.engine.dialect.name == "postgresql"


def test_an_audit_event_cannot_be_changed(app_ctx):
    ids = record_events()
    with pytest.raises(sa.exc.DBAPIError, match=REFUSED):
        db.session.execute(sa.update(AuditEvent).where(AuditEvent.id == ids[1])
                           .values(reason="edited"))
    db.session.rollback()

    event = db.session.get(AuditEvent, ids[1])
    event.reason = "edited through the ORM"
    with pytest.raises(sa.exc.DBAPIError, match=REFUSED):
        db.session.commit()
    db.session.rollback()

    with pytest.raises(sa.exc.DBAPIError, match=REFUSED):
        db.session.execute(sa.text("UPDATE audit_events SET hash = prev_hash"))
    db.session.rollback()

    assert reasons() == ["because 0", "because 1", "because 2"]
    assert audit.verify_chain() == (3, [])


def test_an_audit_event_cannot_be_deleted(app_ctx):
    ids = record_events()
    db.session.delete(db.session.get(AuditEvent, ids[0]))
    with pytest.raises(sa.exc.DBAPIError, match=REFUSED):
        db.session.commit()
    db.session.rollback()

    for statement in (sa.delete(AuditEvent).where(AuditEvent.id == ids[2]),
                      sa.delete(AuditEvent),
                      sa.text("DELETE FROM audit_events")):
        with pytest.raises(sa.exc.DBAPIError, match=REFUSED):
            db.session.execute(statement)
        db.session.rollback()

    assert audit.verify_chain() == (3, [])


def test_the_trail_keeps_growing_after_a_refused_change(app_ctx):
    ids = record_events(2)
    with pytest.raises(sa.exc.DBAPIError, match=REFUSED):
        db.session.execute(sa.delete(AuditEvent).where(AuditEvent.id == ids[0]))
    db.session.rollback()
    record_events(1)
    assert audit.verify_chain() == (3, [])


def test_postgresql_refuses_truncate(app_ctx):
    if not is_postgresql():
        pytest.skip("SQLite has no TRUNCATE (a DELETE without WHERE is refused above)")
    record_events(2)
    with pytest.raises(sa.exc.DBAPIError, match=REFUSED):
        db.session.execute(sa.text("TRUNCATE audit_events CASCADE"))
    db.session.rollback()
    assert audit.verify_chain() == (2, [])


def test_lifting_the_guard_lasts_one_transaction_only(app_ctx):
    ids = record_events()
    db.session.remove()
    with db.engine.begin() as conn, audit_guard_lifted(conn):
        conn.execute(sa.delete(AuditEvent).where(AuditEvent.id == ids[0]))
    # Still refused afterwards, on a new transaction...
    with pytest.raises(sa.exc.DBAPIError, match=REFUSED):
        with db.engine.begin() as conn:
            conn.execute(sa.delete(AuditEvent).where(AuditEvent.id == ids[1]))
    # ...and after a transaction that failed while it was lifted.
    with pytest.raises(RuntimeError):
        with db.engine.begin() as conn, audit_guard_lifted(conn):
            conn.execute(sa.delete(AuditEvent).where(AuditEvent.id == ids[1]))
            raise RuntimeError("stopped half-way")
    with pytest.raises(sa.exc.DBAPIError, match=REFUSED):
        with db.engine.begin() as conn:
            conn.execute(sa.update(AuditEvent).values(reason="edited"))
    assert reasons() == ["because 1", "because 2"]


def test_wiping_the_database_empties_the_trail_and_keeps_the_guard(app_ctx):
    record_events()
    db.session.remove()
    with db.engine.begin() as conn:
        delete_all_rows(conn)
    assert reasons() == []
    ids = record_events(1)
    with pytest.raises(sa.exc.DBAPIError, match=REFUSED):
        db.session.execute(sa.delete(AuditEvent).where(AuditEvent.id == ids[0]))
    db.session.rollback()


# --- PostgreSQL: the service's role cannot switch the guard off ----------------------

@pytest.fixture
def service_engine(app_ctx):
    """An engine logged in as a role like production's: it may read and write
    every table (TRUNCATE included) but owns none and is no superuser."""
    if not is_postgresql():
        pytest.skip("PostgreSQL roles: run with TEST_DATABASE_URL")
    role = f"portal_service_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"
    password = secrets.token_hex(16)
    db.session.remove()
    with db.engine.begin() as conn:
        exists = conn.execute(sa.text("SELECT 1 FROM pg_roles WHERE rolname = :r"),
                              {"r": role}).first()
        verb = "ALTER" if exists else "CREATE"
        conn.execute(sa.text(f"{verb} ROLE {role} LOGIN NOSUPERUSER PASSWORD '{password}'"))
        conn.execute(sa.text(f"GRANT ALL ON ALL TABLES IN SCHEMA public TO {role}"))
        conn.execute(sa.text(f"GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO {role}"))
    engine = sa.create_engine(db.engine.url.set(username=role, password=password))
    yield engine
    engine.dispose()
    with db.engine.begin() as conn:
        conn.execute(sa.text(f"DROP OWNED BY {role}"))
        conn.execute(sa.text(f"DROP ROLE {role}"))


def test_the_service_role_cannot_change_delete_or_unguard_events(service_engine):
    record_events(2)
    db.session.remove()
    with service_engine.begin() as conn:
        # Adding an event is what the service does, and it may.
        assert conn.execute(sa.select(sa.func.count()).select_from(AuditEvent)).scalar() == 2
    attempts = {
        "UPDATE audit_events SET reason = 'edited'": REFUSED,
        "DELETE FROM audit_events": REFUSED,
        "TRUNCATE audit_events": REFUSED,
        "SET session_replication_role = replica": "permission denied",
        "ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update_or_delete":
            "must be owner",
        "DROP TRIGGER audit_events_no_update_or_delete ON audit_events": "must be owner",
        "DROP FUNCTION audit_events_refuse_change() CASCADE": "must be owner",
    }
    for statement, refusal in attempts.items():
        with pytest.raises(sa.exc.DBAPIError, match=refusal):
            with service_engine.begin() as conn:
                conn.execute(sa.text(statement))
    assert reasons() == ["because 0", "because 1"]
    assert audit.verify_chain() == (2, [])
