"""Concerns and safeguarding alerts, for every member of staff.

Any member officer or commissioner lists, reads and raises concerns (they are
shared across the lead and every member authority); only commissioners move
a concern on (open -> investigating -> closed with an outcome), decide
whether the provider may see a safeguarding alert, and suspend from one.
Action forms carry the concern's version: a stale page gets 409 and changes
nothing. With htmx the actions swap the concern's record in place.
"""
import sqlalchemy as sa
from flask import abort, flash, request, url_for
from flask_login import current_user
from sqlalchemy.orm import joinedload
from sqlalchemy.orm.exc import StaleDataError

from app.access import COMMISSIONER_ROLES, EVALUATOR_ROLES, role_required
from app.concerns import bp, forms
from app.domain import concerns as rules
from app.domain.applications import today
from app.domain.authorities import visible_lot_ids
from app.domain.states import ConcernCategory, ConcernStatus, IllegalTransition, Severity
from app.email import send_email
from app.extensions import db
from app.forms import spend_token
from app.models import AuditEvent, Concern, Membership, Provider, Setting, Suspension, User
from app.web import audit_ctx, pagination, redirect_303, render

PAGE_SIZE = 20
RECORD_FRAGMENTS = {"concern-record": "concerns/_record.html"}
EVENT_LABELS = {
    "concern.raised": "Concern raised",
    "concern.investigating": "Investigation started",
    "concern.closed": "Concern closed",
    "concern.shared": "Shared with the provider",
    "concern.unshared": "Hidden from the provider again",
    "provider.suspended": "Provider suspended",
    "provider.reinstated": "Provider reinstated",
}


def _is_htmx_for(fragments) -> bool:
    return (bool(request.headers.get("HX-Request")) and not request.headers.get("HX-Boosted")
            and request.headers.get("HX-Target") in fragments)


# ------------------------------------------------------------------ list

@bp.get("/")
def index():
    providers = db.session.execute(
        sa.select(Provider).where(Provider.id.in_(sa.select(Concern.provider_id)))
        .order_by(Provider.trading_name, Provider.legal_name)).scalars().all()
    form = forms.FilterForm(request.args, providers=providers)
    valid = form.validate()
    conditions = []
    if (status := form.value("status")) is not None:
        conditions.append(Concern.status == ConcernStatus(status))
    if (category := form.value("category")) is not None:
        conditions.append(Concern.category == ConcernCategory(category))
    if (severity := form.value("severity")) is not None:
        conditions.append(Concern.severity == Severity(severity))
    if (provider_id := form.value("provider")) is not None:
        conditions.append(Concern.provider_id == int(provider_id))
    total = db.session.execute(
        sa.select(sa.func.count(Concern.id)).where(*conditions)).scalar_one()
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(max(request.args.get("page", 1, type=int) or 1, 1), pages)
    rows = db.session.execute(
        sa.select(Concern)
        .options(joinedload(Concern.provider), joinedload(Concern.setting),
                 joinedload(Concern.authority), joinedload(Concern.raised_by))
        .where(*conditions)
        .order_by(Concern.created_at.desc(), Concern.id.desc())
        .limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)).scalars().all()
    params = {k: v for k, v in request.args.items() if k != "page" and v.strip()}
    return render("concerns/index.html", title="Concerns and safeguarding alerts", form=form,
                  rows=rows, total=total, first=(page - 1) * PAGE_SIZE + 1,
                  last=(page - 1) * PAGE_SIZE + len(rows), filtered=bool(params),
                  pagination=pagination("concerns.index", page, pages, **params),
                  fragments={"concern-results": "concerns/_results.html"},
                  status=200 if valid else 400)


# ------------------------------------------------------------------ raise

def _raisable_providers() -> list[Provider]:
    """Providers holding a place on a lot; for a member officer, on their lots."""
    members = sa.select(Membership.provider_id)
    lots = visible_lot_ids(current_user, today())
    if lots is not None:
        members = members.where(Membership.lot_id.in_(lots))
    return db.session.execute(
        sa.select(Provider).where(Provider.id.in_(members))
        .order_by(Provider.trading_name, Provider.legal_name)).scalars().all()


@bp.route("/new", methods=["GET", "POST"])
def new():
    providers = _raisable_providers()
    raw = request.args.get("provider_id")
    if raw is None or not raw.strip().isdigit():
        # Step one, a plain GET form: which provider? Then the setting list is theirs.
        choose = forms.ChooseProviderForm(request.args if raw is not None else None,
                                          providers=providers)
        valid = raw is None or choose.validate()
        return render("concerns/choose_provider.html", title="Raise a concern", form=choose,
                      status=200 if valid else 400)
    provider = next((p for p in providers if p.id == int(raw)), None)
    if provider is None:
        abort(404)
    settings = db.session.execute(
        sa.select(Setting).where(Setting.provider_id == provider.id)
        .order_by(Setting.name, Setting.id)).scalars().all()
    if request.method == "POST":
        form = forms.RaiseConcernForm(settings=settings)
    else:
        wanted = request.args.get("setting_id", "")
        form = forms.RaiseConcernForm(
            settings=settings,
            data={"setting_id": wanted if any(str(s.id) == wanted for s in settings) else ""})

    def page(status=200, problem=None):
        return render("concerns/new.html", title="Raise a concern", provider=provider, form=form,
                      problem=problem, category_items=forms.category_hints(),
                      severity_items=forms.severity_hints(), status=status)

    if not form.is_submitted():
        return page()
    if not form.validate():
        return page(400)
    setting = next((s for s in settings if str(s.id) == form.setting_id.data), None)
    try:
        concern = rules.raise_concern(
            audit_ctx(), provider, category=ConcernCategory(form.category.data),
            severity=Severity(form.severity.data), description=form.description.data,
            setting=setting, raised_by_id=current_user.id,
            authority_id=current_user.authority_id)
    except rules.ConcernError as exc:
        db.session.rollback()
        return page(400, str(exc))
    spend_token(form, url_for("concerns.detail", concern_id=concern.id))
    recipients = rules.alert_addresses(concern, exclude_user_id=current_user.id)
    db.session.commit()
    link = url_for("concerns.detail", concern_id=concern.id, _external=True)
    for to in recipients:
        send_email(to, "concern_raised", concern=concern, provider=provider, setting=setting,
                   raised_by=current_user, link=link)
    flash("Your concern has been recorded. Every member authority can see it."
          + (" Commissioning managers have been emailed." if recipients else ""), "success")
    return redirect_303("concerns.detail", concern_id=concern.id)


# ------------------------------------------------------------------ detail and actions

def _concern_or_404(concern_id: int) -> Concern:
    concern = db.session.execute(
        sa.select(Concern)
        .options(joinedload(Concern.provider), joinedload(Concern.setting),
                 joinedload(Concern.authority), joinedload(Concern.raised_by))
        .where(Concern.id == concern_id)).scalar_one_or_none()
    if concern is None:
        abort(404)
    return concern


def _can_view_provider(provider_id: int) -> bool:
    lots = visible_lot_ids(current_user, today())
    if lots is None:
        return True
    return db.session.execute(
        sa.select(Membership.id).where(Membership.provider_id == provider_id,
                                       Membership.lot_id.in_(lots)).limit(1)).first() is not None


def _timeline(concern: Concern, linked: list[Suspension]) -> list[dict]:
    """The concern's own events and those of suspensions that followed it."""
    subjects = AuditEvent.subject_type == "concern"
    subjects = sa.and_(subjects, AuditEvent.subject_id == concern.id)
    if linked:
        subjects = sa.or_(subjects, sa.and_(AuditEvent.subject_type == "suspension",
                                            AuditEvent.subject_id.in_([s.id for s in linked])))
    events = db.session.execute(
        sa.select(AuditEvent).where(subjects).order_by(AuditEvent.id)).scalars().all()
    names = dict(db.session.execute(
        sa.select(User.id, User.full_name)
        .where(User.id.in_({e.actor_id for e in events if e.actor_id}))).all()) if events else {}
    return [{"at": e.occurred_at, "label": EVENT_LABELS.get(e.action, e.action),
             "by": names.get(e.actor_id) if e.actor_id else
             ("Ofsted import" if concern.source == "ofsted_import" else "The system"),
             "reason": e.reason if e.action != "concern.raised" else None} for e in events]


def _page(concern: Concern, status: int = 200, *, problem: str | None = None,
          status_form=None, saved: str | None = None):
    linked = db.session.execute(
        sa.select(Suspension).options(joinedload(Suspension.lot), joinedload(Suspension.setting))
        .where(Suspension.concern_id == concern.id).order_by(Suspension.id)).scalars().all()
    version = concern.version
    return render("concerns/detail.html", fragments=RECORD_FRAGMENTS,
                  title=f"Concern about {concern.provider.display_name}", concern=concern,
                  linked=linked, timeline=_timeline(concern, linked),
                  form=status_form or forms.StatusForm(formdata=None, data={"version": version}),
                  share_form=forms.ShareForm(formdata=None, data={"version": version}),
                  can_act=current_user.role in COMMISSIONER_ROLES,
                  can_suspend=current_user.role in EVALUATOR_ROLES,
                  provider_link=_can_view_provider(concern.provider_id),
                  visible_to_provider=rules.visible_to_provider(concern),
                  problem=problem, saved=saved, status=status)


@bp.get("/<int:concern_id>")
def detail(concern_id: int):
    return _page(_concern_or_404(concern_id))


def _done(concern_id: int, message: str):
    """htmx swaps the record in place; without it, See Other to the page."""
    if _is_htmx_for(RECORD_FRAGMENTS):
        return _page(_concern_or_404(concern_id), saved=message)
    flash(message, "success")
    return redirect_303("concerns.detail", concern_id=concern_id)


def _refused(concern_id: int, message: str, status: int = 409):
    """Nothing is saved: show the latest state of the concern with the reason."""
    db.session.rollback()
    return _page(_concern_or_404(concern_id), status, problem=message)


@bp.post("/<int:concern_id>/status")
@role_required(*COMMISSIONER_ROLES)
def change_status(concern_id: int):
    concern = _concern_or_404(concern_id)
    form = forms.StatusForm()
    action = form.action.data
    if action not in ("investigate", "close"):
        abort(400)
    if not form.validate():
        return _page(concern, 400, status_form=form)
    try:
        after = rules.change_status(audit_ctx(), concern, action, version=form.version.data,
                                    outcome=form.outcome.data)
        db.session.flush()
    except (rules.VersionConflict, StaleDataError):
        return _refused(concern_id, rules.CONFLICT_MESSAGE)
    except IllegalTransition as exc:
        return _refused(concern_id, str(exc))
    except rules.ConcernError as exc:
        db.session.rollback()
        concern = _concern_or_404(concern_id)
        form.outcome.errors = [str(exc)]
        form.version.data = concern.version
        return _page(concern, 400, status_form=form)
    try:
        db.session.commit()
    except StaleDataError:
        return _refused(concern_id, rules.CONFLICT_MESSAGE)
    return _done(concern_id, "The concern is closed." if after is ConcernStatus.CLOSED
                 else "The concern is being investigated.")


@bp.post("/<int:concern_id>/sharing")
@role_required(*COMMISSIONER_ROLES)
def share(concern_id: int):
    concern = _concern_or_404(concern_id)
    form = forms.ShareForm()
    if form.shared.data not in ("yes", "no") or not form.validate():
        abort(400)
    shared = form.shared.data == "yes"
    try:
        rules.set_shared(audit_ctx(), concern, shared, version=form.version.data)
        db.session.flush()
        db.session.commit()
    except (rules.VersionConflict, StaleDataError):
        return _refused(concern_id, rules.CONFLICT_MESSAGE)
    except rules.ConcernError as exc:
        return _refused(concern_id, str(exc), 400)
    return _done(concern_id, "The provider can now see this safeguarding alert." if shared
                 else "This safeguarding alert is hidden from the provider again.")
