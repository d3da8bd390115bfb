from flask import Blueprint

from app.access import STAFF_ROLES, roles_required

bp = Blueprint("directory", __name__, url_prefix="/directory")
bp.before_request(roles_required(*STAFF_ROLES))

from app.directory import views  # noqa: E402,F401
