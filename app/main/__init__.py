from flask import Blueprint



bp = Blueprint("main", __name__, url_prefix=None)


from app.main import views  # noqa: E402,F401
