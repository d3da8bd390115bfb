"""The migrations build exactly the schema the models describe.

The `app` fixture builds its database with `alembic upgrade head` (through
Flask-Migrate), so comparing that database with db.metadata catches a model
change that was not followed by ./scripts/regen_initial_migration.sh. Runs
on SQLite and, with TEST_DATABASE_URL, on PostgreSQL.
"""
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import current_app

from app.extensions import db

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def test_there_is_exactly_one_migration_head():
    heads = ScriptDirectory(str(MIGRATIONS)).get_heads()
    assert len(heads) == 1, f"migration heads {heads}: merge them or regenerate"


def test_migrated_database_matches_the_models(app_ctx):
    heads = set(ScriptDirectory(str(MIGRATIONS)).get_heads())
    # Compare with the options the project's own autogenerate uses.
    opts = dict(current_app.extensions["migrate"].configure_args)
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts=opts)
        assert set(context.get_current_heads()) == heads
        differences = compare_metadata(context, db.metadata)
    assert differences == [], (
        "the models and the migrations differ; run ./scripts/regen_initial_migration.sh:\n"
        + "\n".join(map(repr, differences)))
