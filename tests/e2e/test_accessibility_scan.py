"""Accessibility (issue 7): an axe-core scan in a real Chromium of every page
of the portal, with no serious or critical violation.

Every GET endpoint of the app's URL map is visited, so a new page is scanned
without anyone listing it: as an actor tests/authz_matrix.py lets in, with
the URL's ids taken from one world of data that puts each page in the state
where it shows the most (a draft and a submitted application, a
clarification, a decision, a fee review round in negotiation, ...). Where an
endpoint shows another page in another state, VARIANTS visits that too.
Then the error states people meet: every form submitted empty (its error
summary), the 404, 403 and 409 pages, a form whose session expired, and the
second-factor pages on the way through signing in.

The world lives in a server of its own, set up as tests/e2e/conftest.py sets
up the shared one: it holds an open fee review round on Lot 3 and decisions
the other browser tests' stories must not meet (they open their own round on
Lot 3). Each actor signs in once; its browser context serves every page.
"""
import threading
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlencode, urlparse

import pyotp
import pytest
from flask import Flask
from flask_migrate import upgrade
from playwright.sync_api import Browser, BrowserContext, Page, expect
from werkzeug.serving import make_server

from app import create_app
from app.demo import build_dps, fill_application
from app.domain import (accounts, api_tokens, clarifications, concerns, decisions, fee_review,
                        removals, second_factor, suspensions)
from app.domain import applications as app_rules
from app.domain.applications import today
from app.domain.reference import SettingType
from app.domain.states import (ConcernCategory, JobStatus, LineDecision, LotOutcome, Role,
                               Severity, SubmissionStatus, SuspensionReason)
from app.extensions import db
from app.jobs.compliance import OFSTED_IMPORT
from app.models import (AccessAgreement, Authority, Document, JobRun, Membership, OutboxEmail,
                        Setting, User)
from config import TestConfig
from tests import authz_matrix as M
from tests.e2e.helpers import PASSWORD, assert_accessible, sign_in
from tests.factories import make_provider, make_setting
from tests.factories_evaluation import (ctx_for, in_evaluation, quick_user,
                                        submitted_application)
from tests.factories_fee_review import member, new_round, open_and_invite, submission_of
from tests.factories_fee_review_staff import propose

pytestmark = pytest.mark.e2e

MIGRATIONS = str(Path(__file__).resolve().parents[2] / "migrations")
D = Decimal

# GET endpoints that answer with a file or data, not a page: nothing for axe.
NOT_PAGES = {
    "static": "the portal's CSS, scripts and images",
    "govuk_assets.static": "GOV.UK Frontend's fonts and images",
    "main.healthz": "JSON for the load balancer's health check",
    "api.providers": "the rate-card API: JSON, for an authority's systems",
    "api.provider": "the rate-card API: JSON, for an authority's systems",
    "api.openapi": "the rate-card API's JSON description",
    "evidence.download": "the uploaded document itself (PDF, Word, ...)",
    "compliance.job_problems": "a CSV of an Ofsted import's problem rows",
    "directory.export": "a CSV of the directory's search results",
    "price_analytics.export": "a CSV or XLSX of the ceiling prices",
    "fee_reviews.download": "a CSV or XLSX of a round's submissions",
}


@dataclass
class Visit:
    """One page to scan. `values` and `query` name ids of the world (see
    _build_world) for the URL's arguments and query string; by default each
    argument takes the world's id of the same name. `actor` defaults to the
    first in PREFERENCE the matrix lets in."""
    endpoint: str
    variant: str = ""
    actor: str | None = None
    values: dict[str, str] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)
    status: int = 200
    error_summary: bool = False

    @property
    def id(self) -> str:
        return self.endpoint + (f" ({self.variant})" if self.variant else "")


# Staff part-way through signing in: a new browser each time, left on the page
# the password step leads to (just_set_up: on the recovery codes, shown once).
PART_WAY = ("signing_in", "first_sign_in", "just_set_up")
PREFERENCE = ("anonymous", "provider_admin", "manager", "evaluator", "admin", "member_officer",
              "provider_user")

# Endpoints whose page needs a particular state or account.
PAGES = {v.endpoint: v for v in [
    Visit("auth.confirm_email", status=400),  # a link that is not valid: "link expired"
    Visit("auth.reset_password", values={"token": "reset_token"}),
    Visit("auth.accept_invitation", values={"token": "invitation_token"}),
    # On the way through signing in (password given, second factor to come).
    Visit("auth.set_up_second_factor", actor="first_sign_in"),
    Visit("auth.second_factor_code", actor="signing_in"),
    Visit("auth.recovery_code", actor="signing_in"),
    # Shown once, straight after setting up an authenticator app.
    Visit("auth.new_recovery_codes", actor="just_set_up"),
    # Registering an organisation: an account that has none yet.
    Visit("providers.organisation_new", actor="unregistered"),
    Visit("applications.confirmation", values={"app_id": "evaluated_app"}),
    Visit("applications.history", values={"app_id": "evaluated_app"}),
    Visit("clarifications.respond", actor="asked_admin", values={"app_id": "asked_app"}),
    Visit("moderation.outcome", actor="decided_admin", values={"app_id": "decided_app"}),
    Visit("moderation.review", values={"app_id": "recommended_app"}),
    Visit("resubmission.show", actor="invited_admin",
          values={"submission_id": "invited_submission"}),
    Visit("resubmission.check", actor="invited_admin",
          values={"submission_id": "invited_submission"}),
    Visit("resubmission.respond", values={"submission_id": "negotiating_submission"}),
    Visit("resubmission.confirmation", values={"submission_id": "negotiating_submission"}),
    Visit("fee_reviews.edit_round", values={"round_id": "draft_round"}),
    Visit("fee_reviews.open_round", values={"round_id": "draft_round"}),
]}

# Other page types an endpoint shows in another state, or with a query.
VARIANTS = [
    Visit("applications.task_list", "submitted", values={"app_id": "evaluated_app"}),
    Visit("staff.application", "waiting to be taken", values={"app_id": "waiting_app"}),
    Visit("clarifications.ask", "not in evaluation", values={"app_id": "decided_app"},
          status=409),
    Visit("moderation.outcome", "no decision yet", values={"app_id": "evaluated_app"}),
    Visit("auth.account", "staff", actor="manager"),
    Visit("staff.dashboard", "member authority", actor="member_officer"),
    Visit("contract.provider", "member authority", actor="member_officer"),
    Visit("directory.search", "an authority without lots", actor="officer_without_lots"),
    Visit("compliance.list", "renewals", values={"kind": "renewals_list"}),
    Visit("directory.search", "results", query={"lot": "lot3"}),
    Visit("concerns.new", "about a provider", query={"provider_id": "provider_id"}),
    Visit("evidence.upload", "insurance", query={"kind": "insurance_kind"}),
    Visit("evidence.upload", "Ofsted certificate", query={"kind": "ofsted_kind"}),
    Visit("evidence.upload", "no settings yet", actor="invited_admin",
          query={"kind": "ofsted_kind"}),
    Visit("resubmission.show", "negotiating", values={"submission_id": "negotiating_submission"}),
    Visit("resubmission.show", "agreed", actor="agreed_admin",
          values={"submission_id": "agreed_submission"}),
    Visit("fee_reviews.submission", "negotiating",
          values={"submission_id": "negotiating_submission"}),
    Visit("fee_reviews.submission", "awaiting approval",
          values={"submission_id": "awaiting_submission"}),
    Visit("fee_reviews.submission", "agreed", values={"submission_id": "agreed_submission"}),
    Visit("fee_reviews.submission", "not yet submitted",
          values={"submission_id": "invited_submission"}),
    # Forms sent with GET: the first step's choice left empty.
    Visit("evidence.upload", "nothing chosen", query={"choose": "yes"}, status=400,
          error_summary=True),
    Visit("concerns.new", "no provider chosen", query={"provider_id": "blank"}, status=400,
          error_summary=True),
]


def _rules():
    return sorted(create_app(TestConfig()).url_map.iter_rules(),
                  key=lambda r: (r.endpoint, r.rule))


RULES = _rules()
RULE = {rule.endpoint: rule for rule in RULES}
GET_ENDPOINTS = sorted({r.endpoint for r in RULES if "GET" in r.methods})
PAGE_VISITS = [PAGES.get(endpoint, Visit(endpoint)) for endpoint in GET_ENDPOINTS
               if endpoint not in NOT_PAGES] + VARIANTS


# ---------------------------------------------------------------- the world

@dataclass
class World:
    # Account name -> (email, the matrix column it stands for; None while signing in).
    accounts: dict[str, tuple[str, str | None]]
    ids: dict[str, object]


def _staff(email: str, role: Role, authority, *, with_app: bool = True):
    user = quick_user(role, None, email=email, authority_id=authority.id)
    if with_app:
        secret = second_factor.new_secret()
        second_factor.set_up(ctx_for(user), user, secret, pyotp.TOTP(secret).now())
        db.session.commit()
    return user


def _build_world(app: Flask) -> World:
    """Organisation A (Brightwater) owns most objects: settings, evidence, a
    draft for Lot 2, an application in evaluation for Lot 1 (with an exclusion
    ground to decide), a place on Lot 3 whose fee review is in negotiation, a
    suspension, a concern and a removal request. Other organisations hold the
    states A cannot be in at once: a clarification to answer, a decision, a
    lot awaiting moderation, and fee review submissions agreed, awaiting a
    second approval, submitted and not yet started."""
    dps = build_dps()
    db.session.commit()
    lot1, lot2, lot3, lot4 = dps.lots
    lead = Authority(name="London Borough of Newham", is_lead=True)
    borough = Authority(name="London Borough of Redbridge", is_lead=False)
    db.session.add_all([lead, borough])
    db.session.flush()
    agreement = AccessAgreement(authority_id=borough.id, lot_id=lot3.id,
                                annual_fee=D("3150"), starts_on=today() - timedelta(days=30),
                                ends_on=today() + timedelta(days=300))
    db.session.add(agreement)
    db.session.commit()

    evaluator = _staff("tom.okafor@newham.example", Role.EVALUATOR, lead)
    manager = _staff("helen.murray@newham.example", Role.MANAGER, lead)
    admin = _staff("priya.shah@newham.example", Role.ADMIN, lead)
    officer = _staff("sam.patel@redbridge.example", Role.MEMBER_OFFICER, borough)
    no_lots = Authority(name="London Borough of Havering", is_lead=False)
    db.session.add(no_lots)
    db.session.commit()
    officer_without_lots = _staff("chris.bell@havering.example", Role.MEMBER_OFFICER, no_lots)
    with_app = _staff("grace.lin@newham.example", Role.EVALUATOR, lead)
    first_time = _staff("marcus.reid@newham.example", Role.EVALUATOR, lead, with_app=False)
    setting_up = _staff("chris.adeyemi@newham.example", Role.EVALUATOR, lead, with_app=False)

    org_a = make_provider(legal_name="Brightwater Fostering Ltd",
                          trading_name="Brightwater Fostering")
    admin_a = quick_user(Role.PROVIDER_ADMIN, org_a, email="amira.khan@brightwater.example",
                         full_name="Amira Khan")
    user_a = quick_user(Role.PROVIDER_USER, org_a, email="joe.bloggs@brightwater.example",
                        full_name="Joe Bloggs")
    org_b = make_provider(trading_name="Larkspur Family Placements")
    admin_b = quick_user(Role.PROVIDER_ADMIN, org_b, email="admin@larkspur.example")
    unregistered = quick_user(Role.PROVIDER_ADMIN, None, email="new.admin@example.com",
                              full_name="Nia Adebayo")

    # Organisation A's applications: in evaluation (Lot 1) and a draft (Lot 2).
    evaluated = in_evaluation(dps, evaluator, provider=org_a, lots=(1,), user=admin_a,
                              declarations={"insolvency": (True, "Administrators appointed in "
                                                          "2023; rescue plan agreed.")})
    make_setting(org_a, name="Oak House", setting_type=SettingType.CHILDRENS_HOME,
                 ofsted_urn="SC400001", age_min=8, age_max=17, registered_places=4)
    draft = app_rules.start_application(ctx_for(admin_a), org_a, admin_a, [lot2], today())
    fill_application(ctx_for(admin_a), draft, admin_a,
                     Setting.query.filter_by(provider_id=org_a.id).all(), complete=False)
    db.session.commit()

    # Other organisations' applications, one per state.
    asked = in_evaluation(dps, evaluator, lots=(1,), name="Riverside Fostering")
    clarifications.ask(ctx_for(evaluator), asked, evaluator,
                       ["How many of your carers are approved for sibling groups?"])
    db.session.commit()
    decided = in_evaluation(dps, evaluator, lots=(1,), name="Hollybrook Fostering")
    _recommend(decided, evaluator)
    lot_evaluation = decided.lots[0].evaluation
    decisions.confirm(ctx_for(manager), decided, lot_evaluation, manager,
                      version=lot_evaluation.version, on=today())
    db.session.commit()
    recommended = in_evaluation(dps, evaluator, lots=(1,), name="Kingfisher Foster Care")
    _recommend(recommended, evaluator)
    waiting = submitted_application(dps, lots=(1,), name="Ashdown Fostering")

    # The fee review of Lot 3, open, with a submission in each state; and a
    # draft round for Lot 4.
    weekly = ("3500", "3600", "3700", "3800")
    member(lot3, provider=org_a, weekly=weekly)
    agreed_home = member(lot3, provider=make_provider(trading_name="Beacon House Care"),
                         weekly=weekly)
    awaiting_home = member(lot3, provider=make_provider(trading_name="Heron Lodge Care"),
                           weekly=weekly)
    submitted_home = member(lot3, provider=make_provider(trading_name="Maple Grove Homes"),
                            weekly=weekly)
    invited_home = member(lot3, provider=make_provider(trading_name="Fernlea Living"),
                          weekly=weekly)
    review = new_round(dps, manager, [lot3], name="Fee review 2027-28", opens_on=today(),
                       closes_on=today() + timedelta(days=28),
                       effective_on=today() + timedelta(days=120))
    open_and_invite(review, manager, today())
    draft_round = new_round(dps, manager, [lot4], name="Fee review of Lot 4",
                            opens_on=today() + timedelta(days=7),
                            closes_on=today() + timedelta(days=35),
                            effective_on=today() + timedelta(days=120))
    negotiating = propose(review, org_a, ["3640"])  # +4%: within the guidance
    _decide(negotiating, evaluator, LineDecision.COUNTERED, D("3600"),
            "In line with the other homes on this lot.")
    agreed = propose(review, agreed_home, ["3640"])
    _decide(agreed, evaluator, LineDecision.ACCEPTED)
    awaiting = _propose_above_guidance(review, awaiting_home)
    _decide(awaiting, evaluator, LineDecision.ACCEPTED)  # above guidance: a second approval
    submitted = propose(review, submitted_home, ["3640"])
    assert (negotiating.status, agreed.status, awaiting.status, submitted.status) == (
        SubmissionStatus.NEGOTIATING, SubmissionStatus.AGREED,
        SubmissionStatus.AWAITING_APPROVAL, SubmissionStatus.SUBMITTED)

    # Contract management of organisation A.
    setting = Setting.query.filter_by(provider_id=org_a.id).order_by(Setting.id).first()
    membership = Membership.query.filter_by(provider_id=org_a.id, lot_id=lot3.id).one()
    concern = concerns.raise_concern(ctx_for(manager), org_a,
                                     category=ConcernCategory.QUALITY_OF_CARE,
                                     severity=Severity.MEDIUM,
                                     description="Two missed statutory visits in October.",
                                     raised_by_id=manager.id, authority_id=lead.id)
    removal = removals.request_removal(ctx_for(evaluator), org_a,
                                       ground="Persistent breach of clause 12.",
                                       requested_by=evaluator, lot=membership.lot)
    suspension = suspensions.suspend(ctx_for(manager), org_a,
                                     reason=SuspensionReason.SAFEGUARDING,
                                     description="Staffing below the registered ratio.",
                                     starts_on=today(), setting=setting,
                                     remedy="Recruit and train two night staff.",
                                     by_user_id=manager.id)
    token, _ = api_tokens.issue_token(ctx_for(admin), borough, name="Brokerage system",
                                      created_by_id=admin.id)
    job = JobRun(kind=OFSTED_IMPORT, status=JobStatus.FINISHED, started_by_id=manager.id,
                 input_name="ofsted.csv", done=1, total=1,
                 report={"unknown_urns": [{"row": 2, "urn": "SC999999", "name": "Elm House"}],
                         "malformed": []})
    db.session.add(job)
    invitee = accounts.invite_user(ctx_for(admin_a), email="sam.osei@brightwater.example",
                                   full_name="Sam Osei", role=Role.PROVIDER_USER,
                                   provider_id=org_a.id, invited_by=admin_a)
    db.session.commit()

    key = app.config["SECRET_KEY"]
    document = Document.query.filter_by(provider_id=org_a.id).order_by(Document.id).first()
    return World(
        accounts={
            "anonymous": ("", "anonymous"),
            "provider_admin": (admin_a.email, "provider_admin"),
            "provider_user": (user_a.email, "provider_user"),
            "other_provider_admin": (admin_b.email, "other_provider_admin"),
            "evaluator": (evaluator.email, "evaluator"),
            "manager": (manager.email, "manager"),
            "admin": (admin.email, "admin"),
            "member_officer": (officer.email, "member_officer"),
            "officer_without_lots": (officer_without_lots.email, "member_officer"),
            # Administrators of the organisations that own other states.
            "unregistered": (unregistered.email, "provider_admin"),
            "asked_admin": (_admin_of(asked.provider_id), "provider_admin"),
            "decided_admin": (_admin_of(decided.provider_id), "provider_admin"),
            "agreed_admin": (_admin_of(agreed_home.id), "provider_admin"),
            "invited_admin": (_admin_of(invited_home.id), "provider_admin"),
            # Staff part-way through signing in (see PART_WAY).
            "signing_in": (with_app.email, None),
            "first_sign_in": (first_time.email, None),
            "just_set_up": (setting_up.email, "evaluator"),
        },
        ids={
            # By URL argument name.
            "app_id": evaluated.id, "lot_id": lot1.id, "provider_id": org_a.id,
            "setting_id": setting.id, "document_id": document.id, "concern_id": concern.id,
            "removal_id": removal.id, "suspension_id": suspension.id,
            "authority_id": borough.id, "agreement_id": agreement.id, "token_id": token.id,
            "job_id": job.id, "email_id": OutboxEmail.query.order_by(OutboxEmail.id).first().id,
            "round_id": review.id, "submission_id": submitted.id, "kind": "active",
            "user_id": evaluator.id, "token": "not-a-valid-link", "fmt": "csv",
            "question_id": evaluated.lots[0].lot.quality_questions[0].id,
            # Named states.
            "evaluated_app": evaluated.id, "draft_app": draft.id, "asked_app": asked.id,
            "decided_app": decided.id, "recommended_app": recommended.id,
            "waiting_app": waiting.id, "renewals_list": "renewals",
            "draft_question": draft.lots[0].lot.quality_questions[0].id,
            "draft_round": draft_round.id, "negotiating_submission": negotiating.id,
            "agreed_submission": agreed.id, "awaiting_submission": awaiting.id,
            "invited_submission": submission_of(review, invited_home).id,
            "reset_token": accounts.make_token(key, user_a, "reset"),
            "invitation_token": accounts.make_token(key, invitee, "invite"),
            "lot3": lot3.id, "insurance_kind": "public_liability",
            "ofsted_kind": "ofsted_certificate", "yes": "yes", "blank": "",
        })


def _admin_of(provider_id: int) -> str:
    return User.query.filter_by(provider_id=provider_id, role=Role.PROVIDER_ADMIN) \
        .order_by(User.id).first().email


def _recommend(application, evaluator) -> None:
    lot_evaluation = application.lots[0].evaluation
    decisions.recommend(ctx_for(evaluator), application, lot_evaluation, evaluator,
                        outcome=LotOutcome.APPROVE, reasons="Meets every criterion.",
                        feedback="Strong answers on safeguarding and stability.",
                        version=lot_evaluation.version)
    db.session.commit()


def _decide(submission, evaluator, decision: LineDecision, counter=None, note="") -> None:
    line = next(ln for ln in submission.lines if ln.proposed_amount is not None)
    fee_review.decide_lines(submission, {line.id: fee_review.DecisionInput(decision, counter,
                                                                           note)},
                            evaluator, ctx_for(evaluator))
    db.session.commit()


def _propose_above_guidance(review, provider):
    """+7.43% on the first weekly fee: above the 4% guidance, within the 8% cap."""
    submission = submission_of(review, provider)
    actor = User.query.filter_by(provider_id=provider.id).first()
    first = min(submission.lines, key=lambda ln: (ln.lot_id, ln.position))
    errors = fee_review.save_proposal(
        submission, {first.id: fee_review.LineInput(D("3760"), "Waking night staff now.")},
        "Staff pay rises with the National Living Wage.", None, actor, ctx_for(actor))
    assert errors == {}, errors
    fee_review.submit(submission, actor, ctx_for(actor), today())
    db.session.commit()
    return submission


# ---------------------------------------------------------------- the server and the people

@dataclass
class Server:
    app: Flask
    url: str
    world: World


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("a11y")
    config = TestConfig()
    config.SQLALCHEMY_DATABASE_URI = f"sqlite:///{root / 'a11y.db'}"
    config.STORAGE_DIR = str(root / "documents")
    config.WTF_CSRF_ENABLED = True
    app = create_app(config)
    with app.app_context():
        upgrade(directory=MIGRATIONS)
        world = _build_world(app)
        db.session.remove()
    http = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=http.serve_forever, name="a11y-server", daemon=True)
    thread.start()
    yield Server(app=app, url=f"http://127.0.0.1:{http.server_port}", world=world)
    http.shutdown()
    thread.join(timeout=5)
    with app.app_context():
        db.engine.dispose()


class People:
    """One browser context per actor, signed in once and reused for every
    page. Staff part-way through signing in get a new context each time (a
    pending sign-in is one browser's, and ends when it is used)."""

    def __init__(self, browser: Browser, server: Server):
        self.browser, self.server = browser, server
        self.pages: dict[str, Page] = {}
        self.journey: BrowserContext | None = None

    def page(self, actor: str) -> Page:
        if actor in PART_WAY:
            return self._part_way(actor)
        if actor not in self.pages:
            page = self._new_page()
            if actor != "anonymous":
                sign_in(page, self.server.world.accounts[actor][0], app=self.server.app)
                expect(page.get_by_role("button", name="Sign out").or_(
                    page.get_by_role("link", name="Sign out"))).to_be_visible()
            self.pages[actor] = page
        return self.pages[actor]

    def _new_page(self, journey: bool = False) -> Page:
        context = self.browser.new_context(base_url=self.server.url)
        if journey:
            if self.journey is not None:
                self.journey.close()
            self.journey = context
        return context.new_page()

    def _part_way(self, actor: str) -> Page:
        page = self._new_page(journey=True)
        page.goto("/sign-in")
        page.get_by_label("Email address").fill(self.server.world.accounts[actor][0])
        page.get_by_label("Password", exact=True).fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_load_state()
        if actor == "just_set_up":
            secret = page.locator("#second-factor-key").inner_text().replace(" ", "")
            page.get_by_label("Code from your authenticator app").fill(pyotp.TOTP(secret).now())
            page.get_by_role("button", name="Confirm and continue").click()
            page.wait_for_load_state()
        return page

    def close(self) -> None:
        for context in [p.context for p in self.pages.values()] + [self.journey]:
            if context is not None:
                context.close()


@pytest.fixture(scope="module")
def people(browser, server):
    cast = People(browser, server)
    yield cast
    cast.close()


# ---------------------------------------------------------------- visiting a page

def _actor(visit: Visit) -> str:
    row = M.expected(visit.endpoint, "GET")
    assert row is not None, f"{visit.endpoint} is not in tests/authz_matrix.py"
    return visit.actor or next(a for a in PREFERENCE if row[a] == M.OK)


def _check_allowed(visit: Visit, actor: str, world: World) -> None:
    """The scan shows each page to someone the matrix lets in, never another."""
    row = M.expected(visit.endpoint, "GET")
    stands_for = world.accounts[actor][1]
    if stands_for is None:
        assert row == M.SIGNING_IN, f"{visit.endpoint}: only on the way through signing in"
    else:
        assert row[stands_for] == M.OK, f"{visit.endpoint}: the matrix does not let {actor} in"


def _url(visit: Visit, world: World, endpoint: str | None = None) -> str:
    rule = RULE[endpoint or visit.endpoint]
    names = {arg: arg for arg in rule.arguments}
    if rule.endpoint.startswith("applications."):
        names.update(app_id="draft_app", question_id="draft_question")
    names.update({k: v for k, v in visit.values.items() if k in rule.arguments})
    missing = sorted(arg for arg, name in names.items() if name not in world.ids)
    assert not missing, (f"{rule.rule}: no way to build this URL: the world has no value for "
                         f"{missing}. Add one to _build_world, or a Visit naming one.")
    path = rule.build({arg: world.ids[name] for arg, name in names.items()},
                      append_unknown=False)[1]
    query = {param: world.ids[name] for param, name in visit.query.items()}
    return path + (f"?{urlencode(query)}" if query else "")


def _open(people: People, server: Server, visit: Visit) -> Page:
    """The page, as the visit's actor: status and address checked, so the
    scan reads the page meant, not a redirect's."""
    actor = _actor(visit)
    _check_allowed(visit, actor, server.world)
    page = people.page(actor)
    url = _url(visit, server.world)
    if actor not in PART_WAY or urlparse(page.url).path != urlparse(url).path:
        response = page.goto(url)
        assert response is not None and response.status == visit.status, (
            f"{url} as {actor}: expected {visit.status}, got "
            f"{response.status if response else None} at {page.url}")
    assert urlparse(page.url).path == urlparse(url).path, f"{url} as {actor} went to {page.url}"
    page.wait_for_load_state()
    return page


@pytest.mark.parametrize("visit", PAGE_VISITS, ids=[v.id for v in PAGE_VISITS])
def test_page_has_no_serious_accessibility_problem(people, server, visit):
    page = _open(people, server, visit)
    if visit.error_summary:
        expect(page.locator(".govuk-error-summary")).to_be_visible()
    assert_accessible(page)


# ---------------------------------------------------------------- forms submitted empty

# POST endpoints whose form sits on another page (or on the page in another state).
FORM_HOSTS = {
    "applications.submit": Visit("applications.check_answers"),
    # A draft may be withdrawn without a reason; a submitted application needs one.
    "applications.withdraw": Visit("applications.withdraw", values={"app_id": "evaluated_app"}),
    "evaluation.save_criteria": Visit("evaluation.lot", actor="evaluator"),
    "evaluation.save_scores": Visit("evaluation.lot", actor="evaluator"),
    "evidence.upload": next(v for v in VARIANTS if v.id == "evidence.upload (insurance)"),
    "concerns.new": next(v for v in VARIANTS if v.id == "concerns.new (about a provider)"),
    "concerns.change_status": Visit("concerns.detail"),
    "staff.assign": Visit("staff.application"),
    "compliance.start_ofsted_import": Visit("compliance.jobs"),
    "fee_reviews.bulk_accept": Visit("fee_reviews.queue", actor="evaluator"),
    "fee_reviews.decide": Visit("fee_reviews.submission", actor="evaluator"),
    "fee_reviews.post_message": Visit("fee_reviews.submission"),
    "fee_reviews.approval": next(v for v in VARIANTS
                                 if v.id == "fee_reviews.submission (awaiting approval)"),
    "fee_reviews.extend": next(v for v in VARIANTS
                               if v.id == "fee_reviews.submission (not yet submitted)"),
    "resubmission.post_message": next(v for v in VARIANTS
                                      if v.id == "resubmission.show (negotiating)"),
}

# POST endpoints with nothing to leave empty: a button is the whole answer.
NO_EMPTY_STATE = {
    "auth.sign_out": "a button: signing out",
    "privacy.download": "a button: the download of your data",
    "applications.organisation": "a button: confirming the organisation's details",
    "applications.word_count": "the live word count (htmx), not a form of its own",
    "resubmission.calculate": "the proposal form's live figures (htmx); that form posts to "
                              "resubmission.show",
    "resubmission.submit": "a button, on the page that checks the proposal",
    "resubmission.show": "every price is optional: a provider may ask for no change",
    "applications.services": "every rate is optional: a provider may offer none of the "
                             "additional services",
    "staff.take": "a button: taking the application from the queue",
    "concerns.share": "a button: sharing or hiding a safeguarding alert",
    "compliance.start_expiry_check": "a button: running the expiry check",
    "compliance.verify_document": "a button: marking a renewal checked",
    "authorities.token_revoke": "a button: revoking a token",
    "fee_reviews.open_round": "a confirmation: opening the round",
    "fee_reviews.close_round": "a confirmation: closing the round",
    "fee_reviews.resend_invitations": "a button: inviting providers again",
}

# The button that sends a form, where it is not the form's first primary button.
FORM_BUTTONS: dict[str, str] = {}

POST_ENDPOINTS = sorted({r.endpoint for r in RULES if "POST" in r.methods})
EMPTY_FORMS = [e for e in POST_ENDPOINTS if e not in NO_EMPTY_STATE]

# Marks the form posting to `path` (by action or hx-post) that has fields,
# and empties them: text cleared, choices unticked, selects on their blank
# option. Hidden fields (the CSRF token, versions) stay. Returns how many
# fields it emptied, or -1 when no form posts there.
EMPTY_THE_FORM = """(path) => {
  // No action: the form posts to the page's own address.
  const posts = (form) => [form.getAttribute('action') || '', form.getAttribute('hx-post')]
    .some((url) => url !== null && new URL(url, location.href).pathname === path);
  const fillable = (el) => !el.disabled && !['hidden', 'submit', 'button', 'reset', 'image']
    .includes(el.type) && !['BUTTON', 'FIELDSET', 'OUTPUT', 'OBJECT'].includes(el.tagName);
  const forms = [...document.forms].filter(posts);
  if (!forms.length) return -1;
  const form = forms.find((f) => [...f.elements].some(fillable)) || forms[0];
  form.setAttribute('data-scan', 'empty');
  const fields = [...form.elements].filter(fillable);
  for (const el of fields) {
    if (el.type === 'checkbox' || el.type === 'radio') el.checked = false;
    else if (el.tagName === 'SELECT') {
      if ([...el.options].some((o) => o.value === '')) el.value = '';
    } else if (el.type !== 'file') el.value = '';
  }
  return fields.length;
}"""


def _host(endpoint: str) -> Visit:
    if endpoint in FORM_HOSTS:
        return FORM_HOSTS[endpoint]
    assert "GET" in RULE[endpoint].methods, (
        f"{endpoint} takes a form posted from another page: name that page in FORM_HOSTS, "
        "or say in NO_EMPTY_STATE why it has nothing to leave empty")
    return PAGES.get(endpoint, Visit(endpoint))


@pytest.mark.parametrize("endpoint", EMPTY_FORMS)
def test_form_sent_empty_shows_an_accessible_error_summary(people, server, endpoint):
    host = _host(endpoint)
    page = _open(people, server, host)
    path = urlparse(_url(host, server.world, endpoint)).path
    fields = page.evaluate(EMPTY_THE_FORM, path)
    assert fields != -1, f"no form on {page.url} posts to {path}"
    assert fields > 0, (f"the form posting to {path} has no field to leave empty: say why in "
                        "NO_EMPTY_STATE")
    form = page.locator("form[data-scan=empty]")
    if endpoint in FORM_BUTTONS:
        button = form.get_by_role("button", name=FORM_BUTTONS[endpoint])
    else:
        # Not the hidden default button some forms put first for the Enter key.
        buttons = form.locator("button:not([type=button]):not([aria-hidden=true]), "
                               "input[type=submit]")
        primary = buttons.and_(page.locator(":not(.govuk-button--secondary)"))
        button = primary.first if primary.count() else buttons.first
    button.click()
    page.wait_for_load_state()
    summary = page.locator(".govuk-error-summary")
    expect(summary).to_be_visible()
    expect(summary.get_by_role("link").first).to_be_visible()  # it links to the field
    assert_accessible(page)


# ---------------------------------------------------------------- error pages

ERROR_PAGES = [
    ("not found", "provider_admin", lambda ids: "/no-such-page", 404),
    ("another organisation's setting", "other_provider_admin",
     lambda ids: f"/settings/{ids['setting_id']}", 404),
    ("forbidden", "provider_admin", lambda ids: "/staff/", 403),
    ("no longer editable", "decided_admin",
     lambda ids: f"/applications/{ids['decided_app']}/withdraw", 409),
]


@pytest.mark.parametrize("actor,path,status", [e[1:] for e in ERROR_PAGES],
                         ids=[e[0] for e in ERROR_PAGES])
def test_error_page_has_no_serious_accessibility_problem(people, server, actor, path, status):
    page = people.page(actor)
    response = page.goto(path(server.world.ids))
    assert response is not None and response.status == status
    assert_accessible(page)


def _forgot_password(page: Page, ids: dict) -> None:
    page.goto("/forgot-password")
    page.get_by_label("Email address").fill("joe.bloggs@brightwater.example")
    page.get_by_role("button", name="Send reset link").click()
    expect(page.get_by_role("heading", name="Check your email")).to_be_visible()


def _issue_token(page: Page, ids: dict) -> None:
    page.goto(f"/admin/authorities/{ids['authority_id']}/tokens/new")
    page.get_by_label("What is the token for?").fill("Placements brokerage system")
    page.get_by_role("button", name="Issue token").click()
    page.wait_for_load_state()
    assert urlparse(page.url).path.endswith("/tokens/new")  # shown once, on this response


def _bulk_accept(page: Page, ids: dict) -> None:
    page.goto(f"/fee-reviews/{ids['round_id']}/queue")
    page.get_by_label("Every submitted submission in this round").check()
    page.get_by_role("button", name="Accept lines within guidance").click()
    expect(page.get_by_role("heading", name="Accept lines within guidance", level=1)
           ).to_be_visible()


# Pages only a form's answer shows: (name, actor, the steps that reach it).
AFTER_A_FORM = [
    ("reset link sent", "anonymous", _forgot_password),
    ("API token issued", "admin", _issue_token),
    ("bulk acceptance to confirm", "evaluator", _bulk_accept),
]


@pytest.mark.parametrize("actor,reach", [a[1:] for a in AFTER_A_FORM],
                         ids=[a[0] for a in AFTER_A_FORM])
def test_page_after_a_form_has_no_serious_accessibility_problem(people, server, actor, reach):
    page = people.page(actor)
    reach(page, server.world.ids)
    assert_accessible(page)


def test_a_form_whose_session_expired_explains_accessibly(people, server):
    """A form sent without its CSRF token (as after the session ends)."""
    page = people.page("anonymous")
    page.goto("/sign-in")
    page.locator("input[name=csrf_token]").evaluate("el => el.remove()")
    with page.expect_response(lambda r: urlparse(r.url).path == "/sign-in") as sent:
        page.get_by_role("button", name="Sign in").click()
    assert sent.value.status == 400
    page.wait_for_load_state()
    assert_accessible(page)


def test_the_scan_names_only_endpoints_that_exist():
    """Every POST endpoint is either sent empty or said to have nothing to
    leave empty; no list names an endpoint that is gone."""
    named = (set(NOT_PAGES) | set(PAGES) | {v.endpoint for v in VARIANTS} | set(FORM_HOSTS)
             | set(NO_EMPTY_STATE) | set(FORM_BUTTONS))
    assert not named - set(RULE), f"stale names: {sorted(named - set(RULE))}"
    assert len(RULE) == len(RULES), "an endpoint with several rules: scan each of them"
    for endpoint in EMPTY_FORMS:
        _host(endpoint)
