from app.applications import bp


@bp.get("/")
def index():
    return "applications"
