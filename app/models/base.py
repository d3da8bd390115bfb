"""Column helpers shared by the models."""
import enum
from datetime import datetime, timezone

import sqlalchemy as sa

MONEY = sa.Numeric(12, 2)


def utcnow() -> datetime:
    """Naive UTC: the same on SQLite and PostgreSQL. Shown in Europe/London."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def enum_column(enum_cls: type[enum.Enum]) -> sa.Enum:
    """Store an Enum by its value as a short string (no native PG enum to migrate)."""
    return sa.Enum(
        enum_cls,
        native_enum=False,
        length=40,
        values_callable=lambda e: [m.value for m in e],
        validate_strings=True,
    )
