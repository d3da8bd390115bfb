from flask import Blueprint

from app.access import PROVIDER_ROLES, roles_required

bp = Blueprint("applications", __name__, url_prefix="/applications")
bp.before_request(roles_required(*PROVIDER_ROLES))

from app.applications import views  # noqa: E402,F401
