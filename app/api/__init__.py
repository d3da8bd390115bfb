from flask import Blueprint

# Token-authenticated (not session): each view is @public and checks the
# member authority's API token itself.
bp = Blueprint("api", __name__, url_prefix="/api/v1")

from app.api import views  # noqa: E402,F401
