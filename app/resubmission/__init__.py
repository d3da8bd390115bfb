from flask import Blueprint

from app.access import PROVIDER_ROLES, roles_required

# The provider's side of the annual fee review: its own organisation's
# submissions only (every route loads through the load-or-404 helper).
bp = Blueprint("resubmission", __name__, url_prefix="/fee-review")
bp.before_request(roles_required(*PROVIDER_ROLES))

from app.resubmission import views  # noqa: E402,F401
