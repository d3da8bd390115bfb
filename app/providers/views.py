"""The provider's own organisation: its profile, its settings and its team."""
import sqlalchemy as sa
from flask import abort, flash, redirect, request, url_for
from flask_login import current_user
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from app.access import role_required
from app.auth.views import send_invitation
from app.domain import accounts
from app.domain import providers as rules
from app.domain.reference import SPECIALISMS
from app.domain.states import Role
from app.extensions import db
from app.forms import spend_token
from app.models import Provider, Setting, User
from app.providers import bp
from app.providers.forms import OrganisationForm, SettingForm, TeamInviteForm
from app.web import audit_ctx, redirect_303, render, safe_next

admin_only = role_required(Role.PROVIDER_ADMIN)

DUPLICATE_COMPANY = ("An organisation with this Companies House number already has an account. "
                     "Ask its administrator to invite you")


@bp.before_request
def require_organisation():
    # Runs after the blueprint's role guard: only provider users reach here.
    if current_user.provider_id is None and request.endpoint != "providers.organisation_new":
        return redirect(url_for("providers.organisation_new"))
    return None


def get_own_provider() -> Provider:
    return db.session.get(Provider, current_user.provider_id) or abort(404)


def get_own_setting_or_404(setting_id: int) -> Setting:
    """Another provider's setting is 'not found', never 'forbidden'."""
    setting = db.session.execute(
        sa.select(Setting).options(selectinload(Setting.specialism_rows))
        .where(Setting.id == setting_id, Setting.provider_id == current_user.provider_id)
    ).scalar_one_or_none()
    if setting is None:
        abort(404)
    return setting


# --- Organisation -----------------------------------------------------------

@bp.route("/organisation/new", methods=["GET", "POST"])
@admin_only
def organisation_new():
    if current_user.provider_id is not None:
        return redirect(url_for("providers.organisation"))
    form = OrganisationForm()
    if request.method == "GET":
        form.contact_name.data = current_user.full_name
        form.contact_email.data = current_user.email
    if form.validate_on_submit():
        user = current_user._get_current_object()
        try:
            rules.register_provider(audit_ctx(), user, form.details())
            db.session.commit()
        except (rules.DuplicateCompany, IntegrityError):
            # IntegrityError: another registration of the same number won the race.
            db.session.rollback()
            form.company_number.errors.append(DUPLICATE_COMPANY)
        else:
            flash("Your organisation is registered. You can now apply to join a DPS.", "success")
            return redirect_303("applications.index")
    return render("providers/organisation_form.html", title="Register your organisation",
                  form=form, back_url=None, status=400 if form.errors else 200)


@bp.get("/organisation")
def organisation():
    return render("providers/organisation.html", title="Your organisation",
                  provider=get_own_provider(),
                  can_change=current_user.role is Role.PROVIDER_ADMIN)


@bp.route("/organisation/edit", methods=["GET", "POST"])
@admin_only
def organisation_edit():
    provider = get_own_provider()
    form = OrganisationForm(obj=provider)
    form.submit.label.text = "Save changes"
    if form.validate_on_submit():
        try:
            changed = rules.update_provider(audit_ctx(), provider, form.details())
            db.session.commit()
        except (rules.DuplicateCompany, IntegrityError):
            db.session.rollback()
            form.company_number.errors.append(DUPLICATE_COMPANY)
        else:
            if changed:
                flash("Your organisation's details have been updated.", "success")
            return redirect(safe_next("providers.organisation"), code=303)
    return render("providers/organisation_form.html", title="Change your organisation's details",
                  form=form, back_url=safe_next("providers.organisation"),
                  status=400 if form.errors else 200)


# --- Settings ---------------------------------------------------------------

@bp.get("/settings")
def settings_list():
    settings = db.session.execute(
        sa.select(Setting).where(Setting.provider_id == current_user.provider_id)
        .order_by(Setting.name, Setting.id)
    ).scalars().all()
    return render("providers/settings.html", title="Your settings", settings=settings)


@bp.route("/settings/new", methods=["GET", "POST"])
def setting_new():
    form = SettingForm()
    if form.validate_on_submit():
        setting = rules.create_setting(audit_ctx(), current_user.provider_id, form.details())
        spend_token(form, url_for("providers.setting_detail", setting_id=setting.id))
        db.session.commit()
        flash(f"{setting.name} has been added.", "success")
        return redirect_303("providers.setting_detail", setting_id=setting.id)
    return render("providers/setting_form.html", title="Add a setting", form=form,
                  back_url=url_for("providers.settings_list"),
                  status=400 if form.errors else 200)


@bp.get("/settings/<int:setting_id>")
def setting_detail(setting_id: int):
    return render("providers/setting.html", title="Setting details",
                  setting=get_own_setting_or_404(setting_id), specialism_labels=SPECIALISMS)


@bp.route("/settings/<int:setting_id>/edit", methods=["GET", "POST"])
def setting_edit(setting_id: int):
    setting = get_own_setting_or_404(setting_id)
    form = SettingForm(obj=setting)
    form.submit.label.text = "Save changes"
    if form.validate_on_submit():
        if rules.update_setting(audit_ctx(), setting, form.details()):
            flash(f"{setting.name} has been updated.", "success")
        db.session.commit()
        return redirect_303("providers.setting_detail", setting_id=setting.id)
    return render("providers/setting_form.html", title=f"Change {setting.name}", form=form,
                  back_url=url_for("providers.setting_detail", setting_id=setting.id),
                  status=400 if form.errors else 200)


# --- Team -------------------------------------------------------------------

@bp.get("/team")
@admin_only
def team():
    members = db.session.execute(
        sa.select(User).where(User.provider_id == current_user.provider_id)
        .order_by(User.full_name, User.id)
    ).scalars().all()
    return render("providers/team.html", title="Your team", members=members)


@bp.route("/team/invite", methods=["GET", "POST"])
@admin_only
def team_invite():
    form = TeamInviteForm()
    if form.validate_on_submit():
        try:
            user = accounts.invite_user(audit_ctx(), email=form.email.data,
                                        full_name=form.full_name.data, role=form.role.data,
                                        provider_id=current_user.provider_id,
                                        invited_by=current_user)
        except accounts.AccountError as exc:
            form.email.errors.append(str(exc))
        else:
            spend_token(form, url_for("providers.team"))
            db.session.commit()
            send_invitation(user, current_user)
            flash(f"Invitation sent. We have emailed {user.email} a link to set a password.",
                  "success")
            return redirect_303("providers.team")
    return render("providers/team_invite.html", title="Invite someone to your team", form=form,
                  status=400 if form.errors else 200)
