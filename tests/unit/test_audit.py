import sqlalchemy as sa

from app.backup import audit_guard_lifted
from app.domain import audit
from app.extensions import db
from app.models import AuditEvent


def test_events_chain_and_verify(app_ctx):
    ctx = audit.AuditContext(actor_id=None, actor_role="admin", request_id="r1", ip_address="127.0.0.1")
    for i in range(5):
        audit.record(ctx, "thing.done", "thing", i, after={"n": i}, reason=f"because {i}")
    db.session.commit()
    assert audit.verify_chain() == (5, [])
    first, second = db.session.execute(sa.select(AuditEvent).order_by(AuditEvent.id).limit(2)).scalars()
    assert first.prev_hash == audit.GENESIS
    assert second.prev_hash == first.hash


def test_tampering_is_detected(app_ctx):
    for i in range(3):
        audit.record(audit.SYSTEM, "thing.done", "thing", i, reason="ok")
    db.session.commit()
    middle = db.session.execute(sa.select(AuditEvent.id).order_by(AuditEvent.id).offset(1)).scalar()
    # Rewrite history behind the application's back, as an attacker with the
    # database's superuser access might (the triggers stop anyone less).
    db.session.remove()
    with db.engine.begin() as conn, audit_guard_lifted(conn):
        conn.execute(sa.update(AuditEvent).where(AuditEvent.id == middle).values(reason="edited"))
    checked, bad = audit.verify_chain()
    assert checked == 3 and bad == [middle]


def test_deleting_a_record_breaks_the_chain(app_ctx):
    for i in range(3):
        audit.record(audit.SYSTEM, "thing.done", "thing", i)
    db.session.commit()
    first = db.session.execute(sa.select(AuditEvent.id).order_by(AuditEvent.id)).scalar()
    db.session.remove()
    with db.engine.begin() as conn, audit_guard_lifted(conn):
        conn.execute(sa.delete(AuditEvent).where(AuditEvent.id == first))
    _, bad = audit.verify_chain()
    assert bad  # the next record no longer chains onto its predecessor


def test_history_hides_internal_events_from_providers(app_ctx):
    audit.record(audit.SYSTEM, "a.public", "application", 1)
    audit.record(audit.SYSTEM, "a.internal", "application", 1, internal=True)
    db.session.commit()
    assert [e.action for e in audit.history("application", 1)] == ["a.public", "a.internal"]
    assert [e.action for e in audit.history("application", 1, include_internal=False)] == ["a.public"]
