from app.providers import bp


@bp.get("/organisation")
def organisation():
    return "organisation"


@bp.get("/organisation/new")
def organisation_new():
    return "new"


@bp.get("/settings")
def settings_list():
    return "settings"


@bp.get("/team")
def team():
    return "team"
