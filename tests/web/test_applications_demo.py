"""The demo data loads through the domain rules and shows every stage."""
from app.demo import DEMO_PASSWORD, load_demo_data
from app.domain import applications as rules
from app.domain.audit import verify_chain
from app.domain.states import ApplicationStatus as A
from app.models import Application, Document, Membership, Provider, User


def test_demo_data_loads_providers_at_every_stage(client, app_ctx):
    summary = load_demo_data()
    assert "6 providers" in summary
    # Six providers at each stage of applying, and twenty already approved on lots 1 and 2.
    assert Provider.query.count() == 26
    assert Membership.query.count() == 20
    statuses = sorted(a.status.value for a in Application.query.all())
    assert statuses.count(A.SUBMITTED.value) == 2
    assert statuses.count(A.WITHDRAWN.value) == 1
    assert statuses.count(A.DRAFT.value) >= 1
    untouched = [p for p in Provider.query.all()
                 if not Application.query.filter_by(provider_id=p.id).count()]
    assert untouched
    for application in Application.query.filter(Application.reference.is_not(None)):
        assert application.reference.startswith("DPS-")
        assert application.organisation_snapshot["legal_name"] == application.provider.legal_name
    # Submitted prices follow the published figures.
    submitted = Application.query.filter_by(status=A.SUBMITTED).all()
    prices = sorted(p.weekly_price for a in submitted for p in a.ceiling_prices)
    assert prices[0] >= 800 and prices[-1] <= 4500
    # The draft in progress shows the provider what its evidence lacks.
    draft = next(a for a in Application.query.filter_by(status=A.DRAFT)
                 if a.ceiling_prices)
    documents = Document.query.filter_by(provider_id=draft.provider_id).all()
    problems = rules.application_evidence_problems(draft, documents, rules.today())
    assert any("expired" in p.message for p in problems)
    # Everything was audited, and the chain is intact.
    checked, bad = verify_chain()
    assert checked > 20 and bad == []
    assert "already loaded" in load_demo_data()


def test_every_demo_account_signs_in_with_the_published_password(app_ctx):
    load_demo_data()
    users = User.query.all()
    # Seven staff, six applying providers and three approved ones with a story.
    assert len(users) == 16
    assert all(u.check_password(DEMO_PASSWORD) and u.email_confirmed_at for u in users)


def test_demo_providers_can_sign_in_and_download_their_documents(client, app_ctx):
    load_demo_data()
    r = client.post("/sign-in", data={"email": "admin@brightwater-fostering.example",
                                      "password": DEMO_PASSWORD})
    assert r.status_code == 303
    html = client.get("/applications/").data.decode()
    assert "DPS-" in html and "Submitted" in html
    user = User.query.filter_by(email="admin@brightwater-fostering.example").one()
    document = Document.query.filter_by(provider_id=user.provider_id).first()
    r = client.get(f"/evidence/{document.id}/download")
    assert r.status_code == 200 and r.data.startswith(b"%PDF-1.4")
