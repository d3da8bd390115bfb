"""Double submission and replay: a form that creates something creates it
once. The second submission of the same page (a double click, the back
button and submit again, a replayed request) goes to what the first one
made, with a message, and adds nothing.

Each form is read from its page as a browser would (hidden fields, the
one-time token and what the page prefills), completed with valid answers,
and sent twice.
"""
import io
from dataclasses import dataclass
from datetime import timedelta
from html.parser import HTMLParser
from typing import Callable

import pytest
import sqlalchemy as sa

from app.domain.applications import today
from app.domain.states import Role
from app.extensions import db
from app.forms import ALREADY_SENT
from app.models import (AccessAgreement, ApiToken, Application, Authority, Clarification,
                        Concern, Document, FormToken, JobRun, Membership, Removal, Setting,
                        Suspension, User)
from tests.factories import login, make_provider
from tests.factories_evaluation import in_evaluation, make_staff, quick_user
from tests.unit.test_documents import PDF

OFSTED_CSV = (b"URN,Provider type,Setting name,Local authority,Inspection date,"
              b"Overall experiences and progress of children and young people\n"
              b"SC620000,Children's home,Hawthorn,Havering,24/09/2024,Outstanding\n")


class FormReader(HTMLParser):
    """The fields of the page's form that carries a one-time token, as a
    browser would send them before the user types anything."""

    def __init__(self):
        super().__init__()
        self.forms: list[dict] = []
        self._form = None
        self._select = None
        self._textarea = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self._form = {"action": a.get("action"), "fields": {}}
            self.forms.append(self._form)
        elif self._form is None:
            return
        elif tag == "input" and a.get("name"):
            kind = a.get("type", "text")
            if kind in ("radio", "checkbox"):
                if "checked" in a:
                    self._form["fields"].setdefault(a["name"], []).append(a.get("value", "on"))
            elif kind not in ("submit", "file", "button"):
                self._form["fields"][a["name"]] = [a.get("value", "")]
        elif tag == "select":
            self._select = a.get("name")
        elif tag == "option" and self._select:
            # A select sends its selected option, else its first one.
            if "selected" in a or self._select not in self._form["fields"]:
                self._form["fields"][self._select] = [a.get("value", "")]
        elif tag == "textarea":
            self._textarea = a.get("name")
            self._form["fields"][self._textarea] = [""]

    def handle_data(self, data):
        if self._textarea and self._form is not None:
            self._form["fields"][self._textarea][0] += data

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        elif tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None


def read_form(html: str, action: str | None = None) -> dict:
    reader = FormReader()
    reader.feed(html)
    for form in reader.forms:
        if "form_token" in form["fields"] and (action is None or form["action"] == action):
            return form
    raise AssertionError("no form with a one-time token on the page")


@dataclass
class Case:
    name: str
    actor: str
    page: Callable  # scene -> URL of the page with the form
    data: Callable  # scene -> answers typed by the user
    model: type
    post_url: Callable | None = None  # where the form posts, when not its page
    files: Callable | None = None  # scene -> {field: (bytes, name)}


@pytest.fixture
def scene(dps):
    """Organisation A on lot 2 and evaluated on lot 1; lead-authority staff."""
    lead = Authority(name="London Borough of Newham", is_lead=True)
    borough = Authority(name="London Borough of Havering", is_lead=False)
    db.session.add_all([lead, borough])
    db.session.commit()
    s = {"dps": dps, "lead": lead, "borough": borough}
    s["evaluator"] = make_staff(Role.EVALUATOR, authority_id=lead.id)
    s["manager"] = make_staff(Role.MANAGER, authority_id=lead.id)
    s["admin"] = make_staff(Role.ADMIN, authority_id=lead.id)
    s["provider"] = make_provider(trading_name="Willow Care")
    s["provider_admin"] = quick_user(Role.PROVIDER_ADMIN, s["provider"])
    db.session.add(Membership(provider_id=s["provider"].id, lot_id=dps.lots[1].id,
                              started_on=today() - timedelta(days=200)))
    db.session.commit()
    s["application"] = in_evaluation(dps, s["evaluator"], provider=s["provider"], lots=(1,),
                                     user=s["provider_admin"])
    return s


def _day(d) -> list[str]:
    return [str(d.day), str(d.month), str(d.year)]


CASES = [
    Case("new application", "provider_admin", lambda s: "/applications/new",
         lambda s: {"lots": [str(s["dps"].lots[2].id)]}, Application),
    Case("new setting", "provider_admin", lambda s: "/settings/new",
         lambda s: {"name": "Birch House", "setting_type": "childrens_home",
                    "ofsted_urn": "SC654321", "ofsted_judgement": "good",
                    "ofsted_judgement_date": ["3", "4", "2025"], "registered_places": "4",
                    "age_min": "8", "age_max": "17", "gender": "any", "postcode": "N1 9GU"},
         Setting),
    Case("team invitation", "provider_admin", lambda s: "/team/invite",
         lambda s: {"full_name": "Ben Ade", "email": "ben@willow.example",
                    "role": "provider_user"}, User),
    Case("evidence upload", "provider_admin", lambda s: "/evidence/upload?kind=accounts",
         lambda s: {}, Document, files=lambda s: {"file": (PDF, "accounts 2025.pdf")}),
    Case("concern", "evaluator", lambda s: f"/concerns/new?provider_id={s['provider'].id}",
         lambda s: {"category": "complaint", "severity": "medium",
                    "description": "A parent complained about missed contact visits."},
         Concern),
    Case("suspension", "manager", lambda s: f"/staff/providers/{s['provider'].id}/suspend",
         lambda s: {"scope": "all", "reason": "safeguarding",
                    "description": "An unannounced visit found safeguarding shortfalls.",
                    "remedy": "Appoint a registered manager.", "starts_on": _day(today()),
                    "review_on": _day(today() + timedelta(days=28))}, Suspension),
    Case("removal request", "evaluator", lambda s: f"/staff/providers/{s['provider'].id}/remove",
         lambda s: {"scope": "all", "ground": "Persistent breach of the placement terms."},
         Removal),
    Case("clarification questions", "evaluator",
         lambda s: f"/staff/applications/{s['application'].id}/clarifications/new",
         lambda s: {"action": "save", "question_1": "Please confirm your staffing ratio."},
         Clarification),
    Case("authority", "admin", lambda s: "/admin/authorities/new",
         lambda s: {"name": "London Borough of Barking and Dagenham", "kind": "member"},
         Authority),
    Case("access agreement", "admin",
         lambda s: f"/admin/authorities/{s['borough'].id}/agreements/new",
         lambda s: {"lot_id": str(s["dps"].lots[1].id), "annual_fee": "3,150",
                    "starts_on": ["1", "4", "2025"], "ends_on": ["31", "3", "2026"]},
         AccessAgreement),
    Case("API token", "admin", lambda s: f"/admin/authorities/{s['borough'].id}/tokens/new",
         lambda s: {"name": "Brokerage system"}, ApiToken),
    Case("staff account", "admin", lambda s: "/admin/users/new",
         lambda s: {"full_name": "Evie Lu", "email": "evie@newham.example",
                    "role": "evaluator", "authority_id": str(s["lead"].id)}, User),
    Case("evidence expiry check", "manager", lambda s: "/staff/compliance/jobs",
         lambda s: {}, JobRun, post_url=lambda s: "/staff/compliance/jobs/expiry-check"),
    Case("Ofsted import", "manager", lambda s: "/staff/compliance/jobs",
         lambda s: {}, JobRun, post_url=lambda s: "/staff/compliance/jobs/ofsted-import",
         files=lambda s: {"file": (OFSTED_CSV, "ofsted.csv")}),
]


def count(model) -> int:
    db.session.expire_all()
    return db.session.execute(sa.select(sa.func.count()).select_from(model)).scalar_one()


def browser_post(client, url, fields: dict, files: dict | None):
    data = {k: (v if len(v) > 1 else v[0]) for k, v in fields.items() if v}
    for name, (content, filename) in (files or {}).items():
        data[name] = (io.BytesIO(content), filename)  # the browser sends the file again
    return client.post(url, data=data, content_type="multipart/form-data")


def filled_form(client, case: Case, s) -> tuple[str, dict]:
    page = client.get(case.page(s))
    assert page.status_code == 200, page.data.decode()[:500]
    post_url = case.post_url(s) if case.post_url else case.page(s)
    form = read_form(page.data.decode(), post_url if case.post_url else None)
    fields = dict(form["fields"])
    fields.update({k: v if isinstance(v, list) else [v] for k, v in case.data(s).items()})
    return post_url, fields


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_sending_a_form_twice_creates_one_record(client, scene, case):
    login(client, scene[case.actor])
    url, fields = filled_form(client, case, scene)
    before = count(case.model)
    files = case.files(scene) if case.files else None
    first = browser_post(client, url, fields, files)
    assert first.status_code in (200, 303), first.data.decode()[:2000]
    assert count(case.model) == before + 1
    second = browser_post(client, url, fields, files)
    assert second.status_code == 303
    assert count(case.model) == before + 1
    if first.status_code == 303:
        assert second.headers["Location"] == first.headers["Location"]
    shown = client.get(second.headers["Location"], follow_redirects=True)
    assert ALREADY_SENT in shown.data.decode()
    # A third time (a replay, later) still makes nothing.
    assert browser_post(client, url, fields, files).status_code == 303
    assert count(case.model) == before + 1


def test_answers_to_clarification_are_sent_once(client, scene):
    from app.domain import clarifications
    from tests.factories_evaluation import ctx_for
    application = scene["application"]
    clarifications.ask(ctx_for(scene["evaluator"]), application, scene["evaluator"],
                       ["Please confirm your staffing ratio."], placement_type_id=None)
    db.session.commit()
    login(client, scene["provider_admin"])
    url = f"/applications/{application.id}/clarifications"
    fields = read_form(client.get(url).data.decode())["fields"]
    [asked] = Clarification.query.all()
    fields[f"answer_{asked.id}"] = ["One member of staff to two children, day and night."]
    first = browser_post(client, url, fields, None)
    assert first.status_code == 303, first.data.decode()
    answered_at = Clarification.query.one().answered_at
    second = browser_post(client, url, fields, None)
    assert second.status_code == 303 and second.headers["Location"] == first.headers["Location"]
    assert Clarification.query.one().answered_at == answered_at
    assert ALREADY_SENT in client.get(second.headers["Location"]).data.decode()


def test_a_rejected_submission_does_not_use_up_the_form(client, scene):
    login(client, scene["evaluator"])
    case = next(c for c in CASES if c.name == "concern")
    url, fields = filled_form(client, case, scene)
    r = browser_post(client, url, {**fields, "description": [""]}, None)
    assert r.status_code == 400 and count(Concern) == 0 and count(FormToken) == 0
    assert browser_post(client, url, fields, None).status_code == 303
    assert count(Concern) == 1


def test_two_submissions_at_the_same_moment_make_one_record(client, scene, monkeypatch):
    """The twin checked before the first had committed, so it does the work,
    then finds the token spent when it writes: it rolls back and follows."""
    from app.domain import form_tokens
    login(client, scene["evaluator"])
    case = next(c for c in CASES if c.name == "concern")
    url, fields = filled_form(client, case, scene)
    first = browser_post(client, url, fields, None)
    monkeypatch.setattr(form_tokens, "spent", _not_yet_then_real(form_tokens.spent))
    second = browser_post(client, url, fields, None)
    assert second.status_code == 303 and second.headers["Location"] == first.headers["Location"]
    assert count(Concern) == 1 and count(FormToken) == 1


def _not_yet_then_real(real):
    calls = {"n": 0}

    def spent(token):
        calls["n"] += 1
        return None if calls["n"] == 1 else real(token)
    return spent


def test_a_token_spent_by_another_account_is_refused(client, app, scene):
    login(client, scene["evaluator"])
    case = next(c for c in CASES if c.name == "concern")
    url, fields = filled_form(client, case, scene)
    assert browser_post(client, url, fields, None).status_code == 303
    other = app.test_client()
    login(other, scene["manager"])
    r = browser_post(other, url, fields, None)
    assert r.status_code == 400 and "This form was sent from another account" in r.data.decode()
    assert count(Concern) == 1


def test_without_a_token_a_form_is_refused_where_tokens_are_required(client, app, scene,
                                                                      monkeypatch):
    monkeypatch.setitem(app.config, "FORM_TOKENS_REQUIRED", True)
    login(client, scene["evaluator"])
    case = next(c for c in CASES if c.name == "concern")
    url, fields = filled_form(client, case, scene)
    for token in ([], ["not a token"]):
        r = browser_post(client, url, {**fields, "form_token": token}, None)
        assert r.status_code == 400 and "Go back, refresh the page" in r.data.decode()
    assert count(Concern) == 0 and count(FormToken) == 0


def test_a_repeat_sent_by_htmx_sends_the_browser_to_the_result(client, scene):
    login(client, scene["provider_admin"])
    case = next(c for c in CASES if c.name == "evidence upload")
    url, fields = filled_form(client, case, scene)
    headers = {"HX-Request": "true", "HX-Target": "upload-form"}
    files = case.files(scene)
    before = count(Document)
    first = client.post(url, data={**{k: v[0] for k, v in fields.items()},
                                   "file": (io.BytesIO(PDF), "accounts.pdf")}, headers=headers)
    assert first.headers["HX-Redirect"] == "/evidence/"
    second = client.post(url, data={**{k: v[0] for k, v in fields.items()},
                                    "file": (io.BytesIO(files["file"][0]), "accounts.pdf")},
                         headers=headers)
    assert second.status_code == 200 and second.headers["HX-Redirect"] == "/evidence/"
    assert count(Document) == before + 1


def test_every_one_time_form_page_renders_its_token(client, scene):
    """A template that forgot the field would leave its form unprotected."""
    for case in CASES:
        login(client, scene[case.actor])
        html = client.get(case.page(scene)).data.decode()
        action = case.post_url(scene) if case.post_url else None
        assert read_form(html, action)["fields"]["form_token"][0], case.name


def test_spent_tokens_can_be_forgotten_after_a_while(scene):
    from app.domain import form_tokens
    from app.models import utcnow
    form_tokens.spend(form_tokens.new_token(), user_id=None, form="Test", result_url="/")
    db.session.commit()
    assert form_tokens.purge(utcnow() - timedelta(days=1)) == 0
    assert form_tokens.purge(utcnow() + timedelta(seconds=1)) == 1
    db.session.commit()
    assert count(FormToken) == 0
