"""Staff: the applications received (never drafts) and a read-only view of each."""
import math

import sqlalchemy as sa
from flask import abort, request, url_for
from sqlalchemy.orm import joinedload, selectinload

from app.applications.summary import load_application, provider_documents, summary_context
from app.domain import applications as rules
from app.domain.states import ApplicationStatus
from app.extensions import db
from app.models import Application, ApplicationLot
from app.staff import bp
from app.web import render

PER_PAGE = 25
# Submitted applications still waiting for a decision.
WAITING = {ApplicationStatus.SUBMITTED, ApplicationStatus.IN_EVALUATION,
           ApplicationStatus.CLARIFICATION_REQUESTED, ApplicationStatus.RECOMMENDED}
# A withdrawn draft was never received, so "received" means it has been submitted.
RECEIVED = Application.submitted_at.is_not(None)


def _pagination(page: int, pages: int) -> dict:
    """GOV.UK pagination: first, last, and the pages either side of this one."""
    def href(n):
        return url_for("staff.dashboard", page=n)
    items = []
    for n in range(1, pages + 1):
        if n in (1, pages) or abs(n - page) <= 1:
            items.append({"number": n, "href": href(n), "current": n == page})
        elif items and not items[-1].get("ellipsis"):
            items.append({"ellipsis": True})
    return {"items": items,
            "previous": {"href": href(page - 1)} if page > 1 else None,
            "next": {"href": href(page + 1)} if page < pages else None}


@bp.get("/")
def dashboard():
    page = request.args.get("page", 1, type=int) or 1
    counts = dict(db.session.execute(
        sa.select(Application.status, sa.func.count()).where(RECEIVED)
        .group_by(Application.status)).all())
    total = sum(counts.values())
    pages = max(1, math.ceil(total / PER_PAGE))
    page = min(max(page, 1), pages)
    received = db.session.execute(
        sa.select(Application).where(RECEIVED)
        .options(joinedload(Application.provider),
                 selectinload(Application.lots).selectinload(ApplicationLot.lot))
        .order_by(Application.submitted_at.desc(), Application.id.desc())
        .limit(PER_PAGE).offset((page - 1) * PER_PAGE)
    ).scalars().all()
    today = rules.today()
    return render("staff/dashboard.html", title="Applications received",
                  counts=[(s, counts.get(s, 0)) for s in ApplicationStatus
                          if s is not ApplicationStatus.DRAFT],
                  total=total, applications=received, page_number=page, pages=pages,
                  pagination=_pagination(page, pages) if pages > 1 else None,
                  days_waiting={a.id: (today - rules.local_date(a.submitted_at)).days
                                for a in received if a.status in WAITING},
                  fragments={"received-applications": "staff/_received.html"})


@bp.get("/applications/<int:app_id>")
def application(app_id: int):
    found = load_application(Application.id == app_id, RECEIVED)
    if found is None:
        abort(404)  # drafts are the provider's own business
    documents = provider_documents(found.provider_id)
    return render("staff/application.html", title=f"Application {found.reference}",
                  provider=found.provider,
                  **summary_context(found, documents, changeable=False, downloads=True))
