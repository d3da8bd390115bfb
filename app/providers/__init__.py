from flask import Blueprint

from app.access import PROVIDER_ROLES, roles_required

bp = Blueprint("providers", __name__, url_prefix=None)
bp.before_request(roles_required(*PROVIDER_ROLES))

from app.providers import views  # noqa: E402,F401
