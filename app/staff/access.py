"""Loading an application for staff: 404 for drafts (never shown to staff)
and, when `statuses` is given, for anything not in those states."""
import sqlalchemy as sa
from flask import abort
from sqlalchemy.orm import selectinload

from app.domain.states import ApplicationStatus
from app.extensions import db
from app.models import Application, ApplicationLot


def get_application_for_staff_or_404(app_id: int, statuses=None, *, options=()) -> Application:
    application = db.session.execute(
        sa.select(Application)
        .options(selectinload(Application.lots).selectinload(ApplicationLot.lot), *options)
        .where(Application.id == app_id, Application.submitted_at.is_not(None))
    ).scalar_one_or_none()
    if application is None or application.status is ApplicationStatus.DRAFT:
        abort(404)
    if statuses is not None and application.status not in statuses:
        abort(404)
    return application
