from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.base import utcnow


class DeferredJob(db.Model):
    """A background job that could not be queued because Redis was unreachable.

    Kept until `flask worker` (when it starts) or `flask requeue-deferred`
    (from cron) queues it, so a Redis outage delays jobs but loses none.
    Arguments are the job's own: ids and plain values (an email's address and
    text, for instance), as JSON.
    """
    __tablename__ = "deferred_jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    func: Mapped[str] = mapped_column(sa.String(200))
    args: Mapped[list] = mapped_column(sa.JSON)
    kwargs: Mapped[dict] = mapped_column(sa.JSON)
    error: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
