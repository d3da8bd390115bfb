"""The authorisation matrix, walked: every route of the app (from its URL
map), with every method, as every actor, against tests/authz_matrix.py.

One world per module: organisation A (the owner of every object whose id
fills a URL), organisation B (another provider), lead-authority staff and a
member authority's officer. Requests are plain test-client requests; a POST
carries no data (CSRF is off in tests, so what answers is the access check,
then the form). A refused POST must leave every table exactly as it was.
"""
from datetime import timedelta
from decimal import Decimal
import re
from urllib.parse import urlparse

import pytest
import sqlalchemy as sa

from app.domain import api_tokens, concerns, removals, suspensions
from app.domain import applications as app_rules
from app.domain.applications import today
from app.domain.states import ConcernCategory, JobStatus, Role, Severity, SuspensionReason
from app.extensions import db
from app.jobs.compliance import OFSTED_IMPORT
from app.models import (AccessAgreement, Authority, Document, JobRun, Membership, OutboxEmail,
                        Setting, User)
from tests import authz_matrix as M
from tests.factories import login, make_provider
from tests.factories_evaluation import ctx_for, in_evaluation, make_staff, quick_user
from tests.factories_fee_review import member, new_round, open_and_invite, submission_of

FILENAMES = {"static": "portal.css", "govuk_assets.static": "manifest.json"}
# What a POST sends besides nothing: the field a view needs to find its
# object (so an allowed actor reaches the form), or an answer that fails
# validation where an empty form would act (so the world stays as built).
POST_DATA = {
    "evaluation.documents": lambda v: {"document_id": v["document_id"]},
    "evaluation.exclusions": lambda v: {"ground": "insolvency"},
    "applications.withdraw": lambda v: {"reason": "x" * 2001},
}


@pytest.fixture(autouse=True)
def _clean_database():
    """The world lives for the whole module: emptied once, at its end."""
    yield


def _empty_every_table(app):
    from app.backup import delete_all_rows
    with app.app_context():
        db.session.remove()
        with db.engine.begin() as conn:
            delete_all_rows(conn)


def _build_world() -> dict:
    from app.demo import build_dps
    dps = build_dps()
    db.session.commit()
    lot1, lot2, lot3 = dps.lots[:3]
    lead = Authority(name="London Borough of Newham", is_lead=True)
    borough = Authority(name="London Borough of Redbridge", is_lead=False)
    db.session.add_all([lead, borough])
    db.session.flush()
    agreement = AccessAgreement(authority_id=borough.id, lot_id=lot3.id,
                                annual_fee=Decimal("3150"), starts_on=today() - timedelta(days=30),
                                ends_on=today() + timedelta(days=300))
    db.session.add(agreement)
    db.session.commit()
    staff = {
        "evaluator": make_staff(Role.EVALUATOR, authority_id=lead.id),
        "manager": make_staff(Role.MANAGER, authority_id=lead.id),
        "member_officer": make_staff(Role.MEMBER_OFFICER, authority_id=borough.id),
        "admin": make_staff(Role.ADMIN, authority_id=lead.id),
    }
    org_a = make_provider(trading_name="Organisation A")
    admin_a = quick_user(Role.PROVIDER_ADMIN, org_a)
    user_a = quick_user(Role.PROVIDER_USER, org_a)
    org_b = make_provider(trading_name="Organisation B")
    admin_b = quick_user(Role.PROVIDER_ADMIN, org_b)

    # A member of lot 3 (which the member officer's borough buys from), with
    # prices, a fee review submission, a suspension, a removal request and a concern.
    member(lot3, provider=org_a, weekly=("3500", "3600", "3700", "3800"))
    manager = staff["manager"]
    review = new_round(dps, manager, [lot3], opens_on=today())
    open_and_invite(review, manager, today())
    submission = submission_of(review, org_a)
    # Evaluating lot 1, drafting lot 2.
    # One "yes" declaration, so the evaluators have an exclusion ground to decide.
    evaluated = in_evaluation(dps, staff["evaluator"], provider=org_a, lots=(1,), user=admin_a,
                              declarations={"insolvency": (True, "Administrators appointed in "
                                                          "2023; rescue plan agreed.")})
    draft = app_rules.start_application(ctx_for(admin_a), org_a, admin_a, [lot2], today())
    db.session.commit()
    setting = Setting.query.filter_by(provider_id=org_a.id).order_by(Setting.id).first()
    document = Document.query.filter_by(provider_id=org_a.id).order_by(Document.id).first()
    membership = Membership.query.filter_by(provider_id=org_a.id, lot_id=lot3.id).one()
    ctx = ctx_for(manager)
    concern = concerns.raise_concern(ctx, org_a, category=ConcernCategory.QUALITY_OF_CARE,
                                     severity=Severity.MEDIUM, description="Missed visits",
                                     raised_by_id=manager.id, authority_id=lead.id)
    removal = removals.request_removal(ctx_for(staff["evaluator"]), org_a,
                                       ground="Persistent breach", requested_by=staff["evaluator"],
                                       lot=membership.lot)
    suspension = suspensions.suspend(ctx, org_a, reason=SuspensionReason.SAFEGUARDING,
                                     description="Staffing shortfall", starts_on=today(),
                                     setting=setting, remedy="Recruit staff",
                                     by_user_id=manager.id)
    token, _ = api_tokens.issue_token(ctx_for(staff["admin"]), borough, name="Brokerage",
                                      created_by_id=staff["admin"].id)
    # A finished Ofsted import with a problem row (its CSV of problems exists).
    job = JobRun(kind=OFSTED_IMPORT, status=JobStatus.FINISHED, started_by_id=manager.id,
                 input_name="ofsted.csv", done=1, total=1,
                 report={"unknown_urns": [{"row": 2, "urn": "SC999999", "name": "Elm House"}],
                         "malformed": []})
    db.session.add(job)
    db.session.commit()
    email = OutboxEmail.query.order_by(OutboxEmail.id).first()
    question = evaluated.lots[0].lot.quality_questions[0]
    draft_question = draft.lots[0].lot.quality_questions[0]
    return {
        "actors": {"provider_user": user_a.id, "provider_admin": admin_a.id,
                   "other_provider_admin": admin_b.id,
                   **{name: user.id for name, user in staff.items()}},
        # URL values: organisation A's objects.
        "values": {
            "app_id": evaluated.id, "lot_id": evaluated.lots[0].lot_id,
            "question_id": question.id, "provider_id": org_a.id, "setting_id": setting.id,
            "document_id": document.id, "concern_id": concern.id, "removal_id": removal.id,
            "suspension_id": suspension.id, "authority_id": borough.id,
            "agreement_id": agreement.id, "token_id": token.id, "job_id": job.id,
            "email_id": email.id, "round_id": review.id, "submission_id": submission.id,
            "kind": "active", "token": "not-a-real-token", "fmt": "csv",
            # A staff account (the admin's pages about accounts).
            "user_id": staff["evaluator"].id,
        },
        # The application journey's pages are for an application being drafted.
        "draft": {"app_id": draft.id, "question_id": draft_question.id},
    }


@pytest.fixture(scope="module")
def world(app):
    ctx = app.app_context()
    ctx.push()
    try:
        yield _build_world()
    finally:
        db.session.remove()
        ctx.pop()
        _empty_every_table(app)


def _rules():
    from app import create_app
    from config import TestConfig
    return sorted(create_app(TestConfig()).url_map.iter_rules(), key=lambda r: (r.endpoint,
                                                                                r.rule))


RULES = _rules()
ROUTES = [(rule.endpoint, method, rule.rule) for rule in RULES
          for method in sorted(rule.methods - {"HEAD", "OPTIONS"})]


def test_every_route_has_an_entry_in_the_matrix():
    missing = [f"{method} {path} ({endpoint})" for endpoint, method, path in ROUTES
               if M.expected(endpoint, method) is None]
    assert not missing, (
        "These routes have no entry in tests/authz_matrix.py. Add one saying who may use "
        "each (deny by default):\n  " + "\n  ".join(missing))


def test_the_matrix_names_no_route_that_is_gone():
    endpoints = {endpoint for endpoint, _, _ in ROUTES}
    assert not set(M.MATRIX) - endpoints, "stale entries in tests/authz_matrix.py"


def _url(rule, world) -> str:
    values = dict(world["values"])
    if rule.endpoint.startswith("applications."):
        values.update(world["draft"])
    values["filename"] = FILENAMES.get(rule.endpoint, "x")
    missing = set(rule.arguments) - set(values)
    assert not missing, f"{rule.rule}: no value in the world for {sorted(missing)}"
    return rule.build({k: values[k] for k in rule.arguments}, append_unknown=False)[1]


def _outcome(response) -> str:
    code = response.status_code
    if code in (301, 302, 303, 307, 308):
        if urlparse(response.headers.get("Location", "")).path.startswith("/sign-in"):
            return M.LOGIN
        return M.OK
    return {401: M.UNAUTHORISED, 403: M.FORBIDDEN, 404: M.NOT_FOUND,
            405: M.NOT_ALLOWED}.get(code, M.SERVER_ERROR if code >= 500 else M.OK)


_WRITE = re.compile(r'^\s*(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+"?(\w+)"?', re.I)


class CommittedWrites:
    """The tables a request changed for good: the INSERT, UPDATE and DELETE
    statements of every transaction that committed (a rolled-back one
    changed nothing). Cheaper than comparing every row before and after."""

    def __init__(self, engine):
        self.engine, self.pending, self.tables = engine, set(), set()
        self._hooks = [("before_cursor_execute", self._statement), ("commit", self._commit),
                       ("rollback", self._rollback)]

    def _statement(self, conn, cursor, statement, *args):
        if match := _WRITE.match(statement):
            self.pending.add(match.group(1))

    def _commit(self, conn):
        self.tables |= self.pending
        self.pending = set()

    def _rollback(self, conn):
        self.pending = set()

    def __enter__(self):
        for name, hook in self._hooks:
            sa.event.listen(self.engine, name, hook)
        return self

    def __exit__(self, *exc):
        db.session.remove()  # what the end of a real request does: roll back
        for name, hook in self._hooks:
            sa.event.remove(self.engine, name, hook)


@pytest.mark.parametrize("endpoint,method,path", ROUTES,
                         ids=[f"{m} {p}" for _, m, p in ROUTES])
def test_route_as_every_actor(app, world, endpoint, method, path):
    rule = next(r for r in RULES if r.endpoint == endpoint and r.rule == path)
    expected = M.expected(endpoint, method)
    assert expected is not None, f"{endpoint} is not in the matrix"
    url = _url(rule, world)
    wrong = []
    for actor in M.ACTORS:
        client = app.test_client()
        if actor != "anonymous":
            login(client, db.session.get(User, world["actors"][actor]))
        data = POST_DATA[endpoint](world["values"]) if endpoint in POST_DATA else {}
        with CommittedWrites(db.engine) as writes:
            response = client.open(url, method=method, data=data if method == "POST" else None)
            # Read a streamed body (exports) to the end inside the request, so
            # its generator closes with its context instead of at collection.
            response.get_data()
            response.close()
        got = _outcome(response)
        if got != expected[actor]:
            wrong.append(f"{actor}: expected {expected[actor]}, got {got} "
                         f"({response.status_code} {response.headers.get('Location', '')})")
        elif got != M.OK and writes.tables:
            wrong.append(f"{actor}: refused, yet changed {', '.join(sorted(writes.tables))}")
    assert not wrong, f"{method} {url} ({endpoint}):\n  " + "\n  ".join(wrong)


def test_the_development_outbox_is_not_found_when_turned_off(app, world, monkeypatch):
    monkeypatch.setitem(app.config, "SHOW_OUTBOX", False)
    client = app.test_client()
    login(client, db.session.get(User, world["actors"]["admin"]))
    for rule in RULES:
        if rule.endpoint.startswith("dev."):
            assert client.get(_url(rule, world)).status_code == 404, rule.rule


def test_the_rate_card_api_opens_with_a_token_only(app, world):
    """The API's row says 401 for every session; with a bearer token it answers."""
    with app.app_context():
        borough = Authority.query.filter_by(is_lead=False).one()
        _, plaintext = api_tokens.issue_token(ctx_for(User.query.filter_by(
            role=Role.ADMIN).first()), borough, name="Matrix", created_by_id=None)
        db.session.commit()
    r = app.test_client().get("/api/v1/providers",
                              headers={"Authorization": f"Bearer {plaintext}"})
    assert r.status_code == 200

