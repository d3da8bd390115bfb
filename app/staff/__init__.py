from flask import Blueprint

from app.access import STAFF_ROLES, roles_required

bp = Blueprint("staff", __name__, url_prefix="/staff")
bp.before_request(roles_required(*STAFF_ROLES))

from app.staff import views  # noqa: E402,F401
