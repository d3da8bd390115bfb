from flask import Blueprint

from app.access import roles_required
from app.domain.states import Role

# Everyone with an account may download what the portal holds about them.
bp = Blueprint("privacy", __name__, url_prefix="/account/your-data")
bp.before_request(roles_required(*Role))


from app.privacy import views  # noqa: E402,F401
