"""Your data: what the portal holds about the signed-in person, as a JSON
download. The download is a POST (it is audited, and a GET changes nothing)."""
import json

from flask import Response
from flask_login import current_user
from flask_wtf import FlaskForm

from app.extensions import db
from app.privacy import bp
from app.privacy.export import personal_data, record_export
from app.web import audit_ctx, render


@bp.get("/")
def your_data():
    return render("privacy/your_data.html", title="Your data", form=FlaskForm())


@bp.post("/")
def download():
    form = FlaskForm()
    if not form.validate():
        return render("privacy/your_data.html", title="Your data", form=form, status=400)
    user = current_user._get_current_object()
    record_export(audit_ctx(), user)
    data = personal_data(user)
    db.session.commit()
    body = json.dumps(data, indent=2, ensure_ascii=False)
    return Response(body, mimetype="application/json", headers={
        "Content-Disposition": 'attachment; filename="your-data-dps-portal.json"',
        "Cache-Control": "private, no-store"})
