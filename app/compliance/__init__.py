from flask import Blueprint

from app.access import COMMISSIONER_ROLES, roles_required

bp = Blueprint("compliance", __name__, url_prefix="/staff/compliance")
bp.before_request(roles_required(*COMMISSIONER_ROLES))

from app.compliance import views  # noqa: E402,F401
