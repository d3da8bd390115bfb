from flask import Blueprint



bp = Blueprint("evidence", __name__, url_prefix="/evidence")
# Providers manage their own evidence; staff may download any document.
# Each view checks role and ownership through app.evidence.access.

from app.evidence import views  # noqa: E402,F401
