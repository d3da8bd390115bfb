from app.staff import bp


@bp.get("/")
def dashboard():
    return "staff"
