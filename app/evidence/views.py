from app.evidence import bp


@bp.get("/")
def library():
    return "evidence"
