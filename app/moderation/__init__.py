from flask import Blueprint

# Evaluators recommend, managers confirm (/staff/...); providers read the
# outcome (/applications/...): each view checks its role.
bp = Blueprint("moderation", __name__)

from app.moderation import views  # noqa: E402,F401
