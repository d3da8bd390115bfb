"""audit trail is append-only: the database refuses to change or delete its rows

Hand-written (regen_initial_migration.sh keeps it): triggers are not part of
the models, so autogenerate neither creates nor compares them.

The hash chain already lets `flask audit-verify` detect an altered or removed
event; these triggers stop it happening through the application's own
database connection in the first place. Wiping a whole database (tests, demo
and bench resets) lifts them for one transaction only, with
app.backup.audit_guard_lifted: a PostgreSQL superuser's
`session_replication_role = replica`, or, on SQLite, dropping and recreating
the triggers inside that transaction.

A future batch migration that rebuilds audit_events on SQLite drops these
triggers with the old table: it must create them again.

Revision ID: 0002
Revises: 0001
"""
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

MESSAGE = "audit_events is append-only"

POSTGRESQL_UPGRADE = [
    f"""
    CREATE FUNCTION audit_events_refuse_change() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION '{MESSAGE}: % refused', TG_OP
            USING HINT = 'Audit events are only ever added; record a new event instead.';
    END
    $$
    """,
    # Statement-level, so even an UPDATE or DELETE that matches no row is refused.
    """
    CREATE TRIGGER audit_events_no_update_or_delete
    BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_refuse_change()
    """,
    """
    CREATE TRIGGER audit_events_no_truncate
    BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_refuse_change()
    """,
]
POSTGRESQL_DOWNGRADE = [
    "DROP TRIGGER IF EXISTS audit_events_no_truncate ON audit_events",
    "DROP TRIGGER IF EXISTS audit_events_no_update_or_delete ON audit_events",
    "DROP FUNCTION IF EXISTS audit_events_refuse_change()",
]

# SQLite has no TRUNCATE (a DELETE without WHERE fires the trigger like any other).
SQLITE_UPGRADE = [
    f"""
    CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
    BEGIN SELECT RAISE(ABORT, '{MESSAGE}: UPDATE refused'); END
    """,
    f"""
    CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
    BEGIN SELECT RAISE(ABORT, '{MESSAGE}: DELETE refused'); END
    """,
]
SQLITE_DOWNGRADE = [
    "DROP TRIGGER IF EXISTS audit_events_no_delete",
    "DROP TRIGGER IF EXISTS audit_events_no_update",
]


def _statements(postgresql: list[str], sqlite: list[str]) -> list[str]:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql
    if dialect == "sqlite":
        return sqlite
    raise NotImplementedError(f"no audit guard for {dialect}")


def upgrade():
    for statement in _statements(POSTGRESQL_UPGRADE, SQLITE_UPGRADE):
        op.execute(statement)


def downgrade():
    for statement in _statements(POSTGRESQL_DOWNGRADE, SQLITE_DOWNGRADE):
        op.execute(statement)
