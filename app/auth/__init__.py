from flask import Blueprint



bp = Blueprint("auth", __name__, url_prefix=None)


from app.auth import views, second_factor_views  # noqa: E402,F401
