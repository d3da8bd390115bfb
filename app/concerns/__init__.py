from flask import Blueprint

from app.access import STAFF_ROLES, roles_required

bp = Blueprint("concerns", __name__, url_prefix="/concerns")
bp.before_request(roles_required(*STAFF_ROLES))

from app.concerns import views  # noqa: E402,F401
