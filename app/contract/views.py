"""Contract management of one provider.

Staff: the provider page (memberships, settings, suspensions, removals and
open concerns), suspending and reinstating, and removal with four eyes.
Member authority officers and administrators read the page without actions;
a member officer sees only the lots of their authority's agreements.
Providers: their own suspensions, removals and the concerns they may see.

Every rule is in app.domain (suspensions, removals, concerns); views parse,
call the domain, commit once and email after the commit.
"""
import sqlalchemy as sa
from flask import abort, flash, redirect, request, url_for
from flask_login import current_user
from sqlalchemy.orm import joinedload

from app.access import EVALUATOR_ROLES, PROVIDER_ROLES, STAFF_ROLES, role_required
from app.contract import bp, forms
from app.domain import concerns as concern_rules
from app.domain import removals, suspensions
from app.domain.applications import today
from app.domain.authorities import visible_lot_ids
from app.domain.prices import current_prices, price_label, price_unit
from app.domain.states import (ConcernCategory, IllegalTransition, MembershipStatus,
                               RemovalStatus, Role, SuspensionReason)
from app.email import send_email, unique_addresses
from app.extensions import db
from app.forms import spend_token
from app.models import Concern, Membership, Provider, Removal, Setting, Suspension, User
from app.web import audit_ctx, redirect_303, render

# Who may suspend, reinstate and ask for a removal; only managers decide removals.
ACTION_ROLES = EVALUATOR_ROLES


def _can_act() -> bool:
    return current_user.role in ACTION_ROLES


def _user_names(ids) -> dict[int, str]:
    ids = {i for i in ids if i}
    if not ids:
        return {}
    return dict(db.session.execute(
        sa.select(User.id, User.full_name).where(User.id.in_(ids))).all())


def _provider_or_404(provider_id: int, lots: set[int] | None = None) -> Provider:
    """The provider as this member of staff may see it: a member officer only
    one holding a place on one of `lots`, the lots their authority uses
    (`visible_lot_ids`; commissioners see every provider)."""
    provider = db.session.get(Provider, provider_id)
    if provider is None:
        abort(404)
    if lots is not None and db.session.execute(
            sa.select(Membership.id).where(Membership.provider_id == provider.id,
                                           Membership.lot_id.in_(lots)).limit(1)).first() is None:
        abort(404)
    return provider


def _current_memberships(provider_id: int) -> list[Membership]:
    """Memberships a suspension or removal can still apply to."""
    return db.session.execute(
        sa.select(Membership).options(joinedload(Membership.lot))
        .where(Membership.provider_id == provider_id,
               Membership.status != MembershipStatus.REMOVED)
        .order_by(Membership.lot_id)).scalars().all()


def _settings(provider_id: int) -> list[Setting]:
    return db.session.execute(
        sa.select(Setting).where(Setting.provider_id == provider_id)
        .order_by(Setting.name, Setting.id)).scalars().all()


def provider_addresses(provider: Provider) -> list[str]:
    """The provider's administrators and its contact address, each once."""
    admins = db.session.execute(
        sa.select(User.email).where(User.provider_id == provider.id,
                                    User.role == Role.PROVIDER_ADMIN,
                                    User.is_active_account.is_(True)).order_by(User.id)
    ).scalars().all()
    return unique_addresses([*admins, provider.contact_email])


def _form(form_class, prefill: dict, **kwargs):
    """On POST only what was sent counts; on GET the form shows `prefill`."""
    if request.method == "POST":
        return form_class(**kwargs)
    return form_class(data=prefill, **kwargs)


# ------------------------------------------------------------------ staff page

@bp.get("/staff/providers/<int:provider_id>")
@role_required(*STAFF_ROLES)
def provider(provider_id: int):
    on = today()
    lots = visible_lot_ids(current_user, on)
    provider = _provider_or_404(provider_id, lots)
    memberships = sa.select(Membership).options(joinedload(Membership.lot)) \
        .where(Membership.provider_id == provider.id).order_by(Membership.lot_id)
    all_suspensions = sa.select(Suspension) \
        .options(joinedload(Suspension.lot), joinedload(Suspension.setting),
                 joinedload(Suspension.created_by)) \
        .where(Suspension.provider_id == provider.id) \
        .order_by(Suspension.starts_on.desc(), Suspension.id.desc())
    all_removals = sa.select(Removal) \
        .options(joinedload(Removal.lot), joinedload(Removal.requested_by)) \
        .where(Removal.provider_id == provider.id).order_by(Removal.id.desc())
    if lots is not None:
        # A member officer sees their lots, and what applies to every lot or a setting.
        memberships = memberships.where(Membership.lot_id.in_(lots))
        all_suspensions = all_suspensions.where(
            sa.or_(Suspension.lot_id.is_(None), Suspension.lot_id.in_(lots)))
        all_removals = all_removals.where(
            Removal.status == RemovalStatus.CONFIRMED,
            sa.or_(Removal.lot_id.is_(None), Removal.lot_id.in_(lots)))
    rows = db.session.execute(all_suspensions).scalars().all()
    removal_rows = db.session.execute(all_removals).scalars().all()
    open_concerns = db.session.execute(
        sa.select(Concern).options(joinedload(Concern.setting))
        .where(Concern.provider_id == provider.id,
               Concern.status.in_(concern_rules.UNRESOLVED))
        .order_by(Concern.created_at.desc(), Concern.id.desc())).scalars().all()
    names = _user_names([s.lifted_by_id for s in rows] + [r.decided_by_id for r in removal_rows])
    membership_rows = db.session.execute(memberships).scalars().all()
    # One query per lot held: a provider holds a handful of lots at most.
    prices = {m.lot_id: current_prices(provider.id, m.lot_id, on) for m in membership_rows
              if m.status is not MembershipStatus.REMOVED}
    return render("contract/provider.html", title=provider.display_name, provider=provider,
                  memberships=membership_rows, prices=prices, price_label=price_label,
                  price_unit=price_unit,
                  settings=_settings(provider.id),
                  active=[s for s in rows if s.lifted_at is None],
                  past=[s for s in rows if s.lifted_at is not None],
                  removals=removal_rows, concerns=open_concerns, names=names,
                  can_act=_can_act(), removal_labels=removals.LABELS, today=on)


# ------------------------------------------------------------------ suspend

def _concern_for(provider: Provider, concern_id) -> Concern | None:
    """The concern a suspension follows from (?concern_id=), about this provider."""
    if concern_id in (None, ""):
        return None
    try:
        concern = db.session.get(Concern, int(concern_id))
    except (TypeError, ValueError):
        abort(404)
    if concern is None or concern.provider_id != provider.id:
        abort(404)
    return concern


@bp.route("/staff/providers/<int:provider_id>/suspend", methods=["GET", "POST"])
@role_required(*ACTION_ROLES)
def suspend(provider_id: int):
    provider = _provider_or_404(provider_id)
    memberships = _current_memberships(provider.id)
    settings = _settings(provider.id)
    on = today()
    concern = _concern_for(provider, request.form.get("concern_id") if request.method == "POST"
                           else request.args.get("concern_id"))
    prefill = {"starts_on": on, "concern_id": concern.id if concern else ""}
    if concern is not None and concern.category is ConcernCategory.SAFEGUARDING:
        prefill["reason"] = SuspensionReason.SAFEGUARDING.value
    form = _form(forms.SuspendForm, prefill, memberships=memberships, settings=settings, on=on)

    def page(status=200, problem=None):
        return render("contract/suspend.html", title=f"Suspend {provider.display_name}",
                      provider=provider, form=form, concern=concern, problem=problem,
                      has_memberships=bool(memberships), status=status)

    if not memberships:
        return page(409 if request.method == "POST" else 200)
    if not form.is_submitted():
        return page()
    if not form.validate():
        return page(400)
    kind, ident = forms.parse_scope(form.scope.data)
    lot = next((m.lot for m in memberships if m.lot_id == ident), None) if kind == "lot" else None
    setting = next((s for s in settings if s.id == ident), None) if kind == "setting" else None
    try:
        suspension = suspensions.suspend(
            audit_ctx(), provider, reason=SuspensionReason(form.reason.data),
            description=form.description.data, remedy=form.remedy.data,
            starts_on=form.starts_on.data, review_on=form.review_on.data, lot=lot,
            setting=setting, concern=concern, by_user_id=current_user.id)
    except suspensions.SuspensionError as exc:
        db.session.rollback()
        return page(400, str(exc))
    spend_token(form, url_for("contract.provider", provider_id=provider.id))
    recipients = provider_addresses(provider)
    db.session.commit()
    for to in recipients:
        send_email(to, "suspension_notice", provider=provider, suspension=suspension,
                   where=_scope_text(suspension), starts_later=suspension.starts_on > on,
                   link=url_for("contract.my_suspensions", _external=True))
    if suspension.starts_on > on:
        flash(f"{provider.display_name} will be suspended from {_scope_text(suspension)} on "
              f"{suspension.starts_on.day} {suspension.starts_on:%B %Y}. They have been told.",
              "success")
    else:
        flash(f"{provider.display_name} is suspended from {_scope_text(suspension)}. They have "
              "been told what to put right.", "success")
    return redirect_303("contract.provider", provider_id=provider.id)


def _scope_text(suspension: Suspension) -> str:
    if suspension.setting is not None:
        return suspension.setting.name
    if suspension.lot is not None:
        return suspension.lot.title
    return "every lot"


# ------------------------------------------------------------------ reinstate

@bp.route("/staff/suspensions/<int:suspension_id>/reinstate", methods=["GET", "POST"])
@role_required(*ACTION_ROLES)
def reinstate(suspension_id: int):
    suspension = db.session.execute(
        sa.select(Suspension).options(joinedload(Suspension.provider), joinedload(Suspension.lot),
                                      joinedload(Suspension.setting))
        .where(Suspension.id == suspension_id)).scalar_one_or_none()
    if suspension is None:
        abort(404)
    provider = suspension.provider
    form = forms.ReinstateForm()

    def page(status=200, problem=None):
        return render("contract/reinstate.html", title=f"Reinstate {provider.display_name}",
                      provider=provider, suspension=suspension, form=form, problem=problem,
                      names=_user_names([suspension.lifted_by_id]), status=status)

    if suspension.lifted_at is not None:
        return page(409 if request.method == "POST" else 200)
    if not form.is_submitted():
        return page()
    if not form.validate():
        return page(400)
    try:
        suspensions.reinstate(audit_ctx(), suspension, form.note.data)
    except suspensions.SuspensionError as exc:
        db.session.rollback()
        return page(409, str(exc))
    recipients = provider_addresses(provider)
    db.session.commit()
    for to in recipients:
        send_email(to, "reinstatement_notice", provider=provider, suspension=suspension,
                   where=_scope_text(suspension),
                   link=url_for("contract.my_suspensions", _external=True))
    flash(f"{provider.display_name} is reinstated on {_scope_text(suspension)} and has been "
          "told.", "success")
    return redirect_303("contract.provider", provider_id=provider.id)


# ------------------------------------------------------------------ removal

@bp.route("/staff/providers/<int:provider_id>/remove", methods=["GET", "POST"])
@role_required(*ACTION_ROLES)
def request_removal(provider_id: int):
    provider = _provider_or_404(provider_id)
    memberships = _current_memberships(provider.id)
    form = forms.RequestRemovalForm(memberships=memberships)

    def page(status=200, problem=None):
        return render("contract/request_removal.html", title=f"Remove {provider.display_name}",
                      provider=provider, form=form, problem=problem,
                      has_memberships=bool(memberships), status=status)

    if not memberships:
        return page(409 if request.method == "POST" else 200)
    if not form.is_submitted():
        return page()
    if not form.validate():
        return page(400)
    _, lot_id = forms.parse_scope(form.scope.data)
    lot = next((m.lot for m in memberships if m.lot_id == lot_id), None)
    try:
        removal = removals.request_removal(audit_ctx(), provider, ground=form.ground.data,
                                           requested_by=current_user, lot=lot)
    except removals.RemovalError as exc:
        db.session.rollback()
        return page(409, str(exc))
    spend_token(form, url_for("contract.provider", provider_id=provider.id))
    managers = db.session.execute(
        sa.select(User.email).where(User.role == Role.MANAGER, User.is_active_account.is_(True),
                                    User.id != current_user.id).order_by(User.id)
    ).scalars().all()
    db.session.commit()
    link = url_for("contract.decide_removal", removal_id=removal.id, _external=True)
    for to in managers:
        send_email(to, "removal_requested", provider=provider, removal=removal,
                   requested_by=current_user, link=link)
    flash(f"Removal requested. A different commissioning manager must confirm it before "
          f"{provider.display_name} is removed.", "success")
    return redirect_303("contract.provider", provider_id=provider.id)


@bp.route("/staff/removals/<int:removal_id>", methods=["GET", "POST"])
@role_required(Role.MANAGER)
def decide_removal(removal_id: int):
    query = sa.select(Removal).options(joinedload(Removal.provider), joinedload(Removal.lot),
                                       joinedload(Removal.requested_by)) \
        .where(Removal.id == removal_id)
    if request.method == "POST":
        query = query.with_for_update(of=Removal)  # two managers deciding at once
    removal = db.session.execute(query).scalar_one_or_none()
    if removal is None:
        abort(404)
    provider = removal.provider
    form = forms.DecideRemovalForm()

    def page(status=200, problem=None):
        return render("contract/decide_removal.html", title=f"Removal of {provider.display_name}",
                      provider=provider, removal=removal, form=form, problem=problem,
                      can_decide=removals.can_decide(removal, current_user),
                      labels=removals.LABELS, names=_user_names([removal.decided_by_id]),
                      memberships=_current_memberships(provider.id), status=status)

    if not form.is_submitted():
        return page()
    # The four-eyes rule first, whatever else was posted.
    try:
        removals.check_decider(removal, current_user)
    except removals.RemovalError as exc:
        return page(403, str(exc))
    if not form.validate():
        return page(400)
    confirming = form.decision.data == "confirm"
    try:
        if confirming:
            removals.confirm(audit_ctx(), removal, current_user, note=form.note.data)
        else:
            removals.cancel(audit_ctx(), removal, current_user, note=form.note.data)
    except IllegalTransition as exc:
        db.session.rollback()
        return page(409, str(exc))
    except removals.RemovalError as exc:
        db.session.rollback()
        return page(409, str(exc))
    recipients = provider_addresses(provider) if confirming else (
        [removal.requested_by.email] if removal.requested_by.is_active else [])
    db.session.commit()
    for to in recipients:
        if confirming:
            send_email(to, "removal_confirmed", provider=provider, removal=removal,
                       link=url_for("contract.my_suspensions", _external=True))
        else:
            send_email(to, "removal_cancelled", provider=provider, removal=removal,
                       decided_by=current_user,
                       link=url_for("contract.provider", provider_id=provider.id,
                                    _external=True))
    flash(f"{provider.display_name} is removed from "
          f"{removal.lot.title if removal.lot else 'every lot'} and has been told."
          if confirming else "The removal is cancelled. The provider keeps its place.",
          "success")
    return redirect_303("contract.provider", provider_id=provider.id)


# ------------------------------------------------------------------ provider's own page

@bp.get("/suspensions")
@role_required(*PROVIDER_ROLES)
def my_suspensions():
    provider_id = current_user.provider_id
    if provider_id is None:
        return redirect(url_for("providers.organisation_new"))
    rows = db.session.execute(
        sa.select(Suspension).options(joinedload(Suspension.lot), joinedload(Suspension.setting))
        .where(Suspension.provider_id == provider_id)
        .order_by(Suspension.starts_on.desc(), Suspension.id.desc())).scalars().all()
    confirmed = db.session.execute(
        sa.select(Removal).options(joinedload(Removal.lot))
        .where(Removal.provider_id == provider_id, Removal.status == RemovalStatus.CONFIRMED)
        .order_by(Removal.decided_at.desc())).scalars().all()
    shared = db.session.execute(
        sa.select(Concern).options(joinedload(Concern.setting))
        .where(Concern.provider_id == provider_id, concern_rules.visible_to_provider_clause())
        .order_by(Concern.created_at.desc(), Concern.id.desc())).scalars().all()
    return render("contract/my_suspensions.html", title="Suspensions and concerns",
                  active=[s for s in rows if s.lifted_at is None],
                  past=[s for s in rows if s.lifted_at is not None],
                  removals=confirmed, concerns=shared, today=today())


@bp.app_template_global()
def provider_suspension_count() -> int:
    """Suspensions not lifted for the signed-in provider: the dashboard banner."""
    if not current_user.is_authenticated or getattr(current_user, "provider_id", None) is None:
        return 0
    return db.session.execute(
        sa.select(sa.func.count(Suspension.id))
        .where(Suspension.provider_id == current_user.provider_id,
               Suspension.lifted_at.is_(None))).scalar_one()
