import sqlalchemy as sa
from flask import abort, flash, url_for

from app.admin import bp
from app.admin.forms import ResetSecondFactorForm, StaffUserForm
from app.auth.views import send_invitation
from app.domain import accounts, agreements, audit, second_factor
from app.domain.states import STAFF_ROLES, Role
from app.email import send_email
from app.extensions import db
from app.forms import spend_token
from app.models import Authority, User
from app.web import audit_ctx, redirect_303, render
from flask_login import current_user


@bp.get("/users")
def users():
    staff = db.session.execute(
        sa.select(User).where(User.role.in_(STAFF_ROLES)).order_by(User.role, User.full_name)
    ).scalars().all()
    return render("admin/users.html", title="Staff accounts", staff=staff)


@bp.route("/users/new", methods=["GET", "POST"])
def new_user():
    # Staff accounts are only ever created here (or by the CLI), never self-registered.
    form = StaffUserForm(db.session.execute(
        sa.select(Authority).order_by(Authority.is_lead.desc(), Authority.name)).scalars().all())
    if form.validate_on_submit():
        try:
            authority = agreements.staff_authority(
                Role(form.role.data), int(form.authority_id.data) if form.authority_id.data else None)
            user = accounts.invite_user(audit_ctx(), email=form.email.data,
                                        full_name=form.full_name.data, role=Role(form.role.data),
                                        provider_id=None, invited_by=current_user)
        except agreements.AgreementError as exc:
            form.authority_id.errors.append(str(exc))
        except accounts.AccountError as exc:
            form.email.errors.append(str(exc))
        else:
            if authority is not None:
                user.authority_id = authority.id
                audit.record(audit_ctx(), "account.authority_set", "user", user.id,
                             after={"authority_id": authority.id, "authority": authority.name})
            spend_token(form, url_for("admin.users"))
            db.session.commit()
            send_invitation(user, current_user)
            flash(f"Account created. We have emailed {user.email} a link to set a password.", "success")
            return redirect_303("admin.users")
    return render("admin/new_user.html", title="Create a staff account", form=form,
                  status=400 if form.errors else 200)


def _staff_or_404(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None or not user.needs_second_factor:
        abort(404)
    return user


@bp.route("/users/<int:user_id>/second-factor/reset", methods=["GET", "POST"])
def reset_second_factor(user_id: int):
    """For a member of staff who has lost their authenticator app and their
    recovery codes: they set up a new one at their next sign-in."""
    user = _staff_or_404(user_id)
    form = ResetSecondFactorForm()
    if form.validate_on_submit():
        try:
            second_factor.reset(audit_ctx(), user, form.reason.data.strip())
        except second_factor.SecondFactorError as exc:
            form.reason.errors.append(str(exc))
        else:
            db.session.commit()
            send_email(user.email, "second_factor_reset", user=user)
            flash(f"The second factor for {user.full_name} has been reset. They will set up "
                  "an authenticator app the next time they sign in.", "success")
            return redirect_303("admin.users")
    return render("admin/reset_second_factor.html", title="Reset second factor", form=form,
                  staff_user=user, status=400 if form.errors else 200)
