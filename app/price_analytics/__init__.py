from flask import Blueprint

from app.access import STAFF_ROLES, roles_required

# Read-only: every member of staff; a member authority officer sees only the
# lots of their authority's current agreements (see views).
bp = Blueprint("price_analytics", __name__, url_prefix="/prices")
bp.before_request(roles_required(*STAFF_ROLES))

from app.price_analytics import views  # noqa: E402,F401
