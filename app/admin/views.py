import sqlalchemy as sa
from flask import flash

from app.admin import bp
from app.admin.forms import StaffUserForm
from app.auth.views import send_invitation
from app.domain import accounts
from app.domain.states import STAFF_ROLES, Role
from app.extensions import db
from app.models import User
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
    form = StaffUserForm()
    if form.validate_on_submit():
        try:
            user = accounts.invite_user(audit_ctx(), email=form.email.data,
                                        full_name=form.full_name.data, role=Role(form.role.data),
                                        provider_id=None, invited_by=current_user)
        except accounts.AccountError as exc:
            form.email.errors.append(str(exc))
        else:
            db.session.commit()
            send_invitation(user, current_user)
            flash(f"Account created. We have emailed {user.email} a link to set a password.", "success")
            return redirect_303("admin.users")
    return render("admin/new_user.html", title="Create a staff account", form=form,
                  status=400 if form.errors else 200)
