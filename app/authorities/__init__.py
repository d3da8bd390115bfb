from flask import Blueprint

from app.access import roles_required
from app.domain.states import Role

bp = Blueprint("authorities", __name__, url_prefix="/admin/authorities")
bp.before_request(roles_required(Role.ADMIN))

from app.authorities import views  # noqa: E402,F401
