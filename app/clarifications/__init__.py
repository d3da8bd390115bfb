from flask import Blueprint

# Staff ask (/staff/...) and providers answer (/applications/...): each view
# checks its role; ownership through the loaders.
bp = Blueprint("clarifications", __name__)

from app.clarifications import views  # noqa: E402,F401
