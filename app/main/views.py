import sqlalchemy as sa
from flask import current_app, jsonify, redirect, url_for
from flask_login import current_user

from app.access import public
from app.domain.states import Role
from app.extensions import db
from app.main import bp
from app.models import Dps
from app.web import render


@bp.get("/")
@public
def home():
    if current_user.is_authenticated:
        if current_user.role is Role.MEMBER_OFFICER:
            return redirect(url_for("directory.search"))
        if current_user.is_staff:
            return redirect(url_for("staff.dashboard"))
        if current_user.provider_id is None:
            return redirect(url_for("providers.organisation_new"))
        return redirect(url_for("applications.index"))
    schemes = db.session.execute(
        sa.select(Dps).options(sa.orm.selectinload(Dps.lots)).order_by(Dps.opens_on)
    ).scalars().all()
    return render("main/start.html", title="Apply to join a children's placements DPS",
                  schemes=schemes)


@bp.get("/healthz")
@public
def healthz():
    checks = {}
    try:
        db.session.execute(sa.text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # report, never raise, from a health check
        current_app.logger.warning("health check: database failed: %s", exc)
        checks["database"] = "error"
    if current_app.config.get("REDIS_URL"):
        try:
            from app.jobs import get_queue
            get_queue().connection.ping()
            checks["queue"] = "ok"
        except Exception as exc:
            current_app.logger.warning("health check: queue failed: %s", exc)
            checks["queue"] = "error"
    status = "ok" if all(v == "ok" for v in checks.values()) else "error"
    return jsonify(status=status, checks=checks), (200 if status == "ok" else 503)


@bp.get("/accessibility")
@public
def accessibility():
    return render("main/accessibility.html", title="Accessibility statement")


@bp.get("/privacy")
@public
def privacy():
    return render("main/privacy.html", title="Privacy notice")
