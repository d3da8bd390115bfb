from flask import Blueprint

from app.access import COMMISSIONER_ROLES, roles_required

bp = Blueprint("evaluation", __name__, url_prefix="/staff/applications")
bp.before_request(roles_required(*COMMISSIONER_ROLES))

from app.evaluation import views  # noqa: E402,F401
