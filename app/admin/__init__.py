from flask import Blueprint

from app.access import roles_required
from app.domain.states import Role

bp = Blueprint("admin", __name__, url_prefix="/admin")
bp.before_request(roles_required(Role.ADMIN))

from app.admin import views  # noqa: E402,F401
