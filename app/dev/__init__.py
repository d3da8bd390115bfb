from flask import Blueprint

from flask import abort, current_app

bp = Blueprint("dev", __name__, url_prefix="/dev")


@bp.before_request
def only_when_enabled():
    # The outbox exists only on the embedded default and in tests.
    if not current_app.config.get("SHOW_OUTBOX"):
        abort(404)

from app.dev import views  # noqa: E402,F401
