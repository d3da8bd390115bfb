"""Evaluating an application as staff: the lot page (minimum criteria, quality
scores, price check), document verification and exclusion decisions, each
submitted as a browser would send the rendered form, with and without htmx."""
from datetime import timedelta
from decimal import Decimal
from html.parser import HTMLParser

import pytest
import sqlalchemy as sa
from werkzeug.datastructures import MultiDict

from app.domain import applications as rules
from app.domain.audit import history
from app.domain.evaluation import CONFLICT_MESSAGE
from app.domain.states import (ApplicationStatus, DocumentStatus, ExclusionOutcome,
                               LotEvaluationStatus, MembershipStatus, PriceSource, Role)
from app.extensions import db
from app.models import (AuditEvent, CeilingPrice, CriterionCheck, Document, ExclusionDecision,
                        LotEvaluation, Membership, Price, QualityScore)
from tests.factories import login, make_provider, outbox
from tests.factories_evaluation import in_evaluation, make_staff, provider_user, \
    submitted_application

HX = {"HX-Request": "true"}


# ------------------------------------------------------------------ a tiny browser

class _Forms(HTMLParser):
    """Every form on a page with the values a browser would send."""

    def __init__(self):
        super().__init__()
        self.forms, self._current, self._textarea = [], None, None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self._current = (a.get("action"), [])
        elif self._current is None:
            return
        elif tag == "input" and a.get("name"):
            kind = a.get("type", "text")
            if kind in ("radio", "checkbox"):
                if "checked" in a:
                    self._current[1].append((a["name"], a.get("value", "on")))
            elif kind != "submit":
                self._current[1].append((a["name"], a.get("value") or ""))
        elif tag == "textarea":
            self._textarea = [a["name"], ""]

    def handle_data(self, data):
        if self._textarea is not None:
            self._textarea[1] += data

    def handle_endtag(self, tag):
        if tag == "textarea" and self._textarea is not None:
            name, text = self._textarea
            self._current[1].append((name, text[1:] if text.startswith("\n") else text))
            self._textarea = None
        elif tag == "form" and self._current is not None:
            self.forms.append(self._current)
            self._current = None


def form_on(html: str, action: str, **having) -> MultiDict:
    """The fields of the form posting to `action` (and containing `having`)."""
    parser = _Forms()
    parser.feed(html)
    for form_action, fields in parser.forms:
        if form_action == action and all((k, str(v)) in fields for k, v in having.items()):
            return MultiDict(fields)
    raise AssertionError(f"no form posting to {action} with {having}")


def submit(client, page_url: str, action: str, changes: dict | None = None, headers=None,
           having=None, **kwargs):
    """Open the page, fill the form as shown, change some fields, send it."""
    page = client.get(page_url)
    assert page.status_code == 200
    data = form_on(page.data.decode(), action, **(having or {}))
    for name, value in (changes or {}).items():
        if value is None:
            data.pop(name, None)
        else:
            data[name] = value
    return client.post(action, data=data, headers=headers, **kwargs)


# ------------------------------------------------------------------ fixtures

@pytest.fixture
def evaluator(client, dps):
    user = make_staff(Role.EVALUATOR, full_name="Tom Okafor")
    login(client, user)
    return user


@pytest.fixture
def application(dps, evaluator):
    return in_evaluation(dps, evaluator)


def lot_url(application, suffix=""):
    return f"/staff/applications/{application.id}/lots/{application.lots[0].lot_id}{suffix}"


def lot_evaluation(application) -> LotEvaluation:
    db.session.expire_all()
    return db.session.execute(sa.select(LotEvaluation).where(
        LotEvaluation.application_lot_id == application.lots[0].id)).scalar_one()


def checks(application) -> dict[str, CriterionCheck]:
    return {c.code: c for c in lot_evaluation(application).criteria}


def field(code: str) -> str:
    return code.replace(":", "-")


# ------------------------------------------------------------------ lot page

def test_lot_page_shows_criteria_quality_answers_and_prices(client, application):
    r = client.get(lot_url(application))
    html = r.data.decode()
    assert r.status_code == 200
    assert "Lot 1: Independent fostering" in html and application.reference in html
    for text in ("Minimum criteria", "Public liability insurance",
                 "Credit report or accounts", "Every exclusion ground answered No",
                 "Not checked yet", "Quality", "Safeguarding (weight 30)",
                 "Every member of staff completes safeguarding training",
                 "Weighted quality total", "not yet scored", "Price check", "£846.00",
                 "Not enough approved prices to compare", "Save minimum criteria",
                 "Save scores"):
        assert text in html, text
    pt = application.lots[0].lot.placement_types[0]
    assert (f'href="/staff/applications/{application.id}/clarifications/new?'
            f'placement_type_id={pt.id}"') in html


@pytest.mark.parametrize("target,root", [("lot-criteria", '<section id="lot-criteria"'),
                                         ("lot-scores", '<section id="lot-scores"'),
                                         ("lot-prices", '<section id="lot-prices"')])
def test_each_lot_section_is_a_fragment_for_htmx(client, application, target, root):
    r = client.get(lot_url(application), headers={**HX, "HX-Target": target})
    html = r.data.decode().strip()
    assert r.status_code == 200
    assert html.startswith(root) and "<html" not in html


def test_lot_page_404s(client, dps, evaluator, application):
    assert client.get(f"/staff/applications/{application.id}/lots/{dps.lots[1].id}"
                      ).status_code == 404  # not applied for
    assert client.get(f"/staff/applications/99999/lots/{dps.lots[0].id}").status_code == 404
    waiting = submitted_application(dps)  # submitted, not yet taken into evaluation
    assert client.get(lot_url(waiting)).status_code == 404
    assert client.post(lot_url(waiting, "/criteria"), data={}).status_code == 404


def test_confirming_the_criteria(client, application, evaluator):
    r = submit(client, lot_url(application), lot_url(application, "/criteria"))
    assert r.status_code == 303
    assert r.headers["Location"].endswith(
        f"/lots/{application.lots[0].lot_id}?saved=criteria#lot-criteria")
    saved = checks(application)
    assert len(saved) == 6
    assert all(c.confirmed_passed and not c.overridden and c.checked_by_id == evaluator.id
               for c in saved.values())
    page = client.get(r.headers["Location"]).data.decode()
    assert "Minimum criteria saved" in page and "Confirmed by Tom Okafor" in page
    events = history("lot_evaluation", lot_evaluation(application).id)
    assert [e.action for e in events] == ["lot_evaluation.criteria_checked"]
    assert events[0].internal and events[0].provider_id == application.provider_id


def test_an_override_needs_a_note_and_the_input_is_kept(client, application):
    pl, accounts = field("insurance:public_liability"), "financial"
    r = submit(client, lot_url(application), lot_url(application, "/criteria"), {
        f"criteria-result_{pl}": "fail", f"criteria-note_{pl}": "",
        f"criteria-note_{accounts}": "Accounts for 2024-25 seen"})
    html = r.data.decode()
    assert r.status_code == 400
    assert "There is a problem" in html
    assert "Explain why you are overriding Public liability insurance" in html
    assert f'href="#criteria-note_{pl}"' in html
    assert html.count("<title>Error: ") == 1
    kept = form_on(html, lot_url(application, "/criteria"))
    assert kept[f"criteria-result_{pl}"] == "fail"
    assert kept[f"criteria-note_{accounts}"] == "Accounts for 2024-25 seen"
    assert checks(application) == {}


def test_an_override_is_saved_audited_and_stays_visible(client, application, evaluator):
    pl = field("insurance:public_liability")
    reason = "The certificate names a different company."
    r = submit(client, lot_url(application), lot_url(application, "/criteria"), {
        f"criteria-result_{pl}": "fail", f"criteria-note_{pl}": reason})
    assert r.status_code == 303
    check = checks(application)["insurance:public_liability"]
    assert (check.system_passed, check.confirmed_passed, check.overridden, check.note) == (
        True, False, True, reason)
    overrides = [e for e in history("lot_evaluation", lot_evaluation(application).id)
                 if e.action == "lot_evaluation.criterion_overridden"]
    assert len(overrides) == 1
    assert overrides[0].reason == reason and overrides[0].internal
    assert overrides[0].provider_id == application.provider_id
    assert overrides[0].actor_id == evaluator.id
    html = client.get(lot_url(application)).data.decode()
    assert "Overridden" in html and f"Note: {reason}" in html and "Overrides recorded" in html

    # Confirming the evidence later does not erase the override from the page.
    r = submit(client, lot_url(application), lot_url(application, "/criteria"), {
        f"criteria-result_{pl}": "pass", f"criteria-note_{pl}": ""})
    assert r.status_code == 303
    assert not checks(application)["insurance:public_liability"].overridden
    html = client.get(lot_url(application)).data.decode()
    assert "Overrides recorded" in html and reason in html


def test_a_stale_lot_page_is_refused_and_nothing_saved(client, application):
    r = submit(client, lot_url(application), lot_url(application, "/criteria"),
               {"criteria-version": "0"})
    assert r.status_code == 409
    assert CONFLICT_MESSAGE in r.data.decode()
    assert checks(application) == {}
    r = submit(client, lot_url(application), lot_url(application, "/scores"),
               {"scores-version": "0"})
    assert r.status_code == 409 and lot_evaluation(application).scores == []


def test_two_evaluators_on_the_same_lot_the_second_is_refused(client, application, dps):
    page = client.get(lot_url(application)).data.decode()
    data = form_on(page, lot_url(application, "/criteria"))
    assert client.post(lot_url(application, "/criteria"), data=data).status_code == 303
    # The same page, sent again after the first save, is stale.
    data[f"criteria-result_{field('financial')}"] = "fail"
    data[f"criteria-note_{field('financial')}"] = "No accounts for this year"
    r = client.post(lot_url(application, "/criteria"), data=data)
    assert r.status_code == 409
    assert checks(application)["financial"].confirmed_passed is True


def test_a_recommended_lot_is_read_only(client, application):
    page = client.get(lot_url(application)).data.decode()
    data = form_on(page, lot_url(application, "/criteria"))
    le = lot_evaluation(application)
    le.status = LotEvaluationStatus.RECOMMENDED
    db.session.commit()
    message = "This lot has been recommended; it can only change if the moderator returns it."
    r = client.post(lot_url(application, "/criteria"), data=data)
    assert r.status_code == 409 and message in r.data.decode()
    assert checks(application) == {}
    html = client.get(lot_url(application)).data.decode()
    assert message in html and "Save minimum criteria" not in html


def test_while_waiting_for_a_clarification_the_lot_can_be_read_not_changed(client, application):
    page = client.get(lot_url(application)).data.decode()
    data = form_on(page, lot_url(application, "/criteria"))
    application.status = ApplicationStatus.CLARIFICATION_REQUESTED
    db.session.commit()
    r = client.get(lot_url(application))
    assert r.status_code == 200
    html = r.data.decode()
    assert "waiting for the provider to answer a clarification" in html
    assert "Save minimum criteria" not in html and "Raise as a clarification" not in html
    r = client.post(lot_url(application, "/criteria"), data=data)
    assert r.status_code == 409 and "waiting for the provider" in r.data.decode()
    assert checks(application) == {}


SCORES = [("4", "Clear escalation routes."), ("3", "Few examples."), ("5", "Strong data."),
          ("2", "Thin on information sharing.")]


def _score_changes(application, scores=SCORES):
    questions = application.lots[0].lot.quality_questions
    changes = {}
    for q, (score, comment) in zip(questions, scores):
        changes[f"scores-score_{q.id}"] = score
        changes[f"scores-comment_{q.id}"] = comment
    return changes


def test_scoring_computes_the_weighted_total(client, application, evaluator):
    r = submit(client, lot_url(application), lot_url(application, "/scores"),
               _score_changes(application))
    assert r.status_code == 303
    le = lot_evaluation(application)
    # 4/5*30 + 3/5*30 + 5/5*20 + 2/5*20 = 70
    assert le.quality_total == Decimal("70.00")
    assert sorted(s.score for s in le.scores) == [2, 3, 4, 5]
    assert all(s.scored_by_id == evaluator.id for s in le.scores)
    html = client.get(r.headers["Location"]).data.decode()
    assert "Scores saved" in html and "70.00 out of 100" in html
    events = [e for e in history("lot_evaluation", le.id) if e.action == "lot_evaluation.scored"]
    assert len(events) == 1 and events[0].after["quality_total"] == "70.00"
    assert events[0].internal


def test_scores_need_a_score_and_comment_for_every_question(client, application):
    questions = application.lots[0].lot.quality_questions
    changes = _score_changes(application)
    changes[f"scores-score_{questions[1].id}"] = None  # no score chosen
    changes[f"scores-comment_{questions[0].id}"] = "  "
    changes[f"scores-score_{questions[2].id}"] = "6"  # beyond the scale
    r = submit(client, lot_url(application), lot_url(application, "/scores"), changes)
    html = r.data.decode()
    assert r.status_code == 400
    assert "Select a score for Outcomes" in html
    assert "Enter a comment on Safeguarding" in html
    assert "Select a score for Matching and stability" in html
    kept = form_on(html, lot_url(application, "/scores"))
    assert kept[f"scores-score_{questions[0].id}"] == "4"
    assert kept[f"scores-comment_{questions[3].id}"] == "Thin on information sharing."
    assert lot_evaluation(application).scores == []
    assert db.session.execute(sa.select(sa.func.count(QualityScore.id))).scalar() == 0


def test_htmx_save_swaps_the_section_and_refreshes_the_other_form_version(client, application):
    r = submit(client, lot_url(application), lot_url(application, "/criteria"),
               headers={**HX, "HX-Target": "lot-criteria"}, follow_redirects=True)
    html = r.data.decode().strip()
    assert r.status_code == 200
    assert html.startswith('<section id="lot-criteria"') and "<html" not in html
    assert "Minimum criteria saved" in html
    version = lot_evaluation(application).version
    assert (f'<input type="hidden" id="scores-version" name="scores-version" '
            f'value="{version}" hx-swap-oob="true">') in html
    # The scores form, now carrying the new version, saves.
    page = client.get(lot_url(application)).data.decode()
    data = form_on(page, lot_url(application, "/scores"))
    assert data["scores-version"] == str(version)
    for name, value in _score_changes(application).items():
        data[name] = value
    r = client.post(lot_url(application, "/scores"), data=data,
                    headers={**HX, "HX-Target": "lot-scores"})
    assert r.status_code == 303


def test_htmx_validation_errors_come_back_as_the_fragment(client, application):
    pl = field("insurance:public_liability")
    r = submit(client, lot_url(application), lot_url(application, "/criteria"),
               {f"criteria-result_{pl}": "fail"}, headers={**HX, "HX-Target": "lot-criteria"})
    html = r.data.decode().strip()
    assert r.status_code == 400 and html.startswith('<section id="lot-criteria"')
    assert "Explain why you are overriding Public liability insurance" in html


# ------------------------------------------------------------------ price check

def _approved(dps, lot, amounts_by_type: dict, on=None):
    """A provider with an active membership of `lot` and current prices."""
    provider = make_provider()
    start = (on or rules.today()) - timedelta(days=30)
    db.session.add(Membership(provider_id=provider.id, lot_id=lot.id,
                              status=MembershipStatus.ACTIVE, started_on=start))
    for pt, amount in amounts_by_type.items():
        db.session.add(Price(provider_id=provider.id, lot_id=lot.id, placement_type_id=pt.id,
                             amount=Decimal(amount), valid_from=start,
                             source=PriceSource.APPLICATION))
    db.session.commit()
    return provider


def test_price_check_shows_the_distribution_and_flags_an_outlier(client, dps, application):
    lot = dps.lots[0]
    pt = lot.placement_types[0]
    for amount in ("800", "850", "900", "950", "1000"):
        _approved(dps, lot, {pt: amount})
    ceiling = CeilingPrice.query.filter_by(application_id=application.id,
                                           placement_type_id=pt.id).one()
    ceiling.weekly_price = Decimal("2500")
    db.session.commit()
    html = client.get(lot_url(application), headers={**HX, "HX-Target": "lot-prices"}
                      ).data.decode()
    row = html[html.index(f'id="price-{pt.id}"'):]
    row = row[:row.index("</tr>")]
    for text in ("£2,500.00", "£800.00", "£850.00", "£900.00", "£950.00", "£1,000.00",
                 "Outlier: high"):
        assert text in row, text
    other = html[html.index(f'id="price-{lot.placement_types[1].id}"'):]
    assert "Not enough approved prices to compare" in other[:other.index("</tr>")]


def test_lot_page_queries_do_not_grow_with_approved_providers(app, client, dps, application):
    from sqlalchemy import event
    lot = dps.lots[0]

    url = lot_url(application)

    def count():
        statements = []

        def before(conn, cursor, statement, *args):
            statements.append(statement)
        db.session.expire_all()
        event.listen(db.engine, "before_cursor_execute", before)
        try:
            assert client.get(url).status_code == 200
        finally:
            event.remove(db.engine, "before_cursor_execute", before)
        return len(statements)

    # Saved criteria and scores (with their authors' names) cost no extra per row.
    assert submit(client, lot_url(application), lot_url(application, "/criteria")
                  ).status_code == 303
    assert submit(client, lot_url(application), lot_url(application, "/scores"),
                  _score_changes(application)).status_code == 303
    _approved(dps, lot, {pt: "900" for pt in lot.placement_types})
    few = count()
    for n in range(12):
        _approved(dps, lot, {pt: str(850 + 10 * n) for pt in lot.placement_types})
    many = count()
    assert many == few
    assert many <= 19


# ------------------------------------------------------------------ who may act

def test_an_administrator_can_read_but_not_act(client, dps, application):
    page = client.get(lot_url(application)).data.decode()
    criteria = form_on(page, lot_url(application, "/criteria"))
    login(client, make_staff(Role.ADMIN))
    r = client.get(lot_url(application))
    assert r.status_code == 200
    assert "Only evaluators and commissioning managers can change it" in r.data.decode()
    assert "Save minimum criteria" not in r.data.decode()
    assert client.post(lot_url(application, "/criteria"), data=criteria).status_code == 403
    assert client.post(lot_url(application, "/scores"), data={}).status_code == 403
    assert client.post(f"/staff/applications/{application.id}/documents",
                       data={}).status_code == 403
    assert client.post(f"/staff/applications/{application.id}/exclusions",
                       data={}).status_code == 403
    assert client.get(f"/staff/applications/{application.id}/documents").status_code == 200
    assert checks(application) == {}


def test_a_manager_can_evaluate(client, application):
    login(client, make_staff(Role.MANAGER))
    assert submit(client, lot_url(application), lot_url(application, "/criteria")
                  ).status_code == 303


@pytest.mark.parametrize("suffix", ["/lots/{lot}", "/documents", "/exclusions"])
def test_member_officers_providers_and_visitors_are_kept_out(client, application, suffix):
    url = f"/staff/applications/{application.id}" + suffix.format(
        lot=application.lots[0].lot_id)
    login(client, make_staff(Role.MEMBER_OFFICER))
    assert client.get(url).status_code == 403
    login(client, provider_user(application))
    # The staff blueprints refuse every provider role, as the rest of /staff does.
    assert client.get(url).status_code == 403
    action = url + "/criteria" if "/lots/" in url else url
    assert client.post(action, data={}).status_code == 403
    with client.session_transaction() as session:
        session.clear()
    r = client.get(url)
    assert r.status_code == 302 and "/sign-in" in r.headers["Location"]


# ------------------------------------------------------------------ documents

def docs_url(application):
    return f"/staff/applications/{application.id}/documents"


def provider_doc(application, kind) -> Document:
    db.session.expire_all()
    return Document.query.filter_by(provider_id=application.provider_id, kind=kind).one()


def test_documents_page_lists_the_evidence_with_downloads(client, application):
    r = client.get(docs_url(application))
    html = r.data.decode()
    assert r.status_code == 200
    documents = Document.query.filter_by(provider_id=application.provider_id).all()
    assert len(documents) == 6
    for document in documents:
        assert f'href="/evidence/{document.id}/download"' in html
    assert "Zurich Municipal" in html and "Awaiting check" in html
    r = client.get(docs_url(application), headers={**HX, "HX-Target": "document-decisions"})
    assert r.data.decode().strip().startswith('<div id="document-decisions">')


def test_verifying_a_document(client, application, evaluator):
    from app.domain.reference import DocumentKind as K
    doc = provider_doc(application, K.PUBLIC_LIABILITY)
    r = submit(client, docs_url(application), docs_url(application),
               {f"doc-{doc.id}-decision": "verified"}, having={"document_id": doc.id})
    assert r.status_code == 303
    doc = provider_doc(application, K.PUBLIC_LIABILITY)
    assert doc.status is DocumentStatus.VERIFIED and doc.verified_by_id == evaluator.id
    assert doc.verified_at is not None and doc.rejection_reason is None
    events = [e for e in history("document", doc.id) if e.action == "document.verified"]
    assert len(events) == 1 and events[0].provider_id == application.provider_id
    html = client.get(r.headers["Location"]).data.decode()
    assert "Decision saved: Public liability insurance" in html and "By Tom Okafor" in html
    assert outbox(application.provider.contact_email) == []


def test_rejecting_needs_a_reason(client, application):
    from app.domain.reference import DocumentKind as K
    doc = provider_doc(application, K.ACCOUNTS)
    r = submit(client, docs_url(application), docs_url(application),
               {f"doc-{doc.id}-decision": "rejected"}, having={"document_id": doc.id})
    html = r.data.decode()
    assert r.status_code == 400
    assert "Enter the reason for rejecting this document" in html
    assert form_on(html, docs_url(application), document_id=doc.id)[
        f"doc-{doc.id}-decision"] == "rejected"
    assert provider_doc(application, K.ACCOUNTS).status is DocumentStatus.AWAITING_CHECK


def test_a_rejection_reaches_the_provider(client, application):
    from app.domain.reference import DocumentKind as K
    doc = provider_doc(application, K.PUBLIC_LIABILITY)
    reason = "The policy schedule is for a different company."
    r = submit(client, docs_url(application), docs_url(application),
               {f"doc-{doc.id}-decision": "rejected", f"doc-{doc.id}-reason": reason},
               having={"document_id": doc.id})
    assert r.status_code == 303
    doc = provider_doc(application, K.PUBLIC_LIABILITY)
    assert doc.status is DocumentStatus.REJECTED and doc.rejection_reason == reason
    event = [e for e in history("document", doc.id) if e.action == "document.rejected"][0]
    assert event.reason == reason and not event.internal
    assert event.after["application_id"] == application.id
    mail = outbox(application.provider.contact_email)
    assert len(mail) == 1
    assert mail[0].subject == "Document not accepted: Public liability insurance"
    assert reason in mail[0].body and "/evidence/" in mail[0].body
    # The lot's criteria no longer count the rejected policy.
    assert "No current policy on file" in client.get(lot_url(application)).data.decode()
    # The provider sees the rejection and its reason in their evidence library.
    login(client, provider_user(application))
    library = client.get("/evidence/").data.decode()
    assert "Rejected" in library and reason in library


def test_a_stale_documents_page_is_refused(client, application):
    from app.domain.reference import DocumentKind as K
    doc = provider_doc(application, K.ACCOUNTS)
    r = submit(client, docs_url(application), docs_url(application),
               {f"doc-{doc.id}-decision": "verified", f"doc-{doc.id}-version": "1"},
               having={"document_id": doc.id})
    assert r.status_code == 409 and CONFLICT_MESSAGE in r.data.decode()
    assert provider_doc(application, K.ACCOUNTS).status is DocumentStatus.AWAITING_CHECK


def test_a_document_of_another_provider_is_not_found(client, dps, application, evaluator):
    other = in_evaluation(dps, evaluator)
    theirs = Document.query.filter_by(provider_id=other.provider_id).first()
    r = client.post(docs_url(application), data={"document_id": theirs.id})
    assert r.status_code == 404


def test_documents_cannot_change_while_waiting_for_the_provider(client, application):
    from app.domain.reference import DocumentKind as K
    doc = provider_doc(application, K.ACCOUNTS)
    page = client.get(docs_url(application)).data.decode()
    data = form_on(page, docs_url(application), document_id=doc.id)
    data[f"doc-{doc.id}-decision"] = "verified"
    application.status = ApplicationStatus.CLARIFICATION_REQUESTED
    db.session.commit()
    r = client.post(docs_url(application), data=data)
    assert r.status_code == 409 and "waiting for the provider" in r.data.decode()
    assert "Save decision" not in client.get(docs_url(application)).data.decode()


# ------------------------------------------------------------------ exclusions

def excl_url(application):
    return f"/staff/applications/{application.id}/exclusions"


def test_nothing_to_decide_when_every_answer_is_no(client, application):
    r = client.get(excl_url(application))
    assert r.status_code == 200
    assert "answered No to every exclusion ground, so there is nothing to decide" in \
        r.data.decode()


@pytest.fixture
def declared(dps, evaluator):
    return in_evaluation(dps, evaluator, declarations={
        "insolvency": (True, "A company voluntary arrangement ended in March 2023.")})


def test_recording_an_exclusion_decision(client, declared, evaluator):
    html = client.get(excl_url(declared)).data.decode()
    assert "Is the organisation bankrupt, insolvent" in html
    assert "A company voluntary arrangement ended in March 2023." in html
    assert "Declarations" in client.get(lot_url(declared)).data.decode()
    changes = {"ground-insolvency-evidence": "Companies House filings; supervisor's report.",
               "ground-insolvency-outcome": "self_cleaning_accepted"}
    r = submit(client, excl_url(declared), excl_url(declared), changes,
               having={"ground": "insolvency"})
    assert r.status_code == 303
    decision = ExclusionDecision.query.filter_by(application_id=declared.id).one()
    assert decision.outcome is ExclusionOutcome.SELF_CLEANING_ACCEPTED
    # The representations start from the provider's own explanation.
    assert decision.representations == "A company voluntary arrangement ended in March 2023."
    assert decision.decided_by_id == evaluator.id
    event = [e for e in history("application", declared.id) if e.action == "exclusion.decided"]
    assert len(event) == 1 and event[0].internal
    assert event[0].after["outcome"] == "self_cleaning_accepted"
    assert "Decision saved on insolvency" in client.get(r.headers["Location"]).data.decode()
    # The lot's declarations criterion now passes.
    lot_html = client.get(lot_url(declared)).data.decode()
    assert "Yes to insolvency: self-cleaning accepted" in lot_html
    # Saving again replaces the decision rather than adding one.
    r = submit(client, excl_url(declared), excl_url(declared),
               {"ground-insolvency-outcome": "excluded"}, having={"ground": "insolvency"})
    assert r.status_code == 303
    db.session.expire_all()
    decision = ExclusionDecision.query.filter_by(application_id=declared.id).one()
    assert decision.outcome is ExclusionOutcome.EXCLUDED


def test_an_exclusion_decision_needs_evidence_and_an_outcome(client, declared):
    r = submit(client, excl_url(declared), excl_url(declared),
               {"ground-insolvency-representations": "Provider's letter of 3 May"},
               having={"ground": "insolvency"})
    html = r.data.decode()
    assert r.status_code == 400
    assert "Enter the evidence you considered" in html and "Select a decision" in html
    kept = form_on(html, excl_url(declared), ground="insolvency")
    assert kept["ground-insolvency-representations"] == "Provider's letter of 3 May"
    assert ExclusionDecision.query.count() == 0


def test_exclusion_decisions_refuse_stale_pages_and_other_grounds(client, declared):
    r = submit(client, excl_url(declared), excl_url(declared),
               {"ground-insolvency-evidence": "x", "ground-insolvency-outcome": "excluded",
                "ground-insolvency-version": "1"}, having={"ground": "insolvency"})
    assert r.status_code == 409 and CONFLICT_MESSAGE in r.data.decode()
    assert client.post(excl_url(declared), data={"ground": "corruption"}).status_code == 404
    assert ExclusionDecision.query.count() == 0


def test_exclusions_are_locked_once_a_lot_is_recommended(client, declared):
    page = client.get(excl_url(declared)).data.decode()
    data = form_on(page, excl_url(declared), ground="insolvency")
    data["ground-insolvency-evidence"] = "Report"
    data["ground-insolvency-outcome"] = "excluded"
    le = lot_evaluation(declared)
    le.status = LotEvaluationStatus.RECOMMENDED
    db.session.commit()
    r = client.post(excl_url(declared), data=data)
    assert r.status_code == 409
    assert "has been recommended; exclusion decisions can only change if the moderator " \
           "returns it" in r.data.decode()
    assert ExclusionDecision.query.count() == 0


def test_every_evaluation_action_writes_an_audit_event(client, declared):
    from app.domain.reference import DocumentKind as K
    before = db.session.execute(sa.select(sa.func.count(AuditEvent.id))).scalar()
    submit(client, excl_url(declared), excl_url(declared),
           {"ground-insolvency-evidence": "Report",
            "ground-insolvency-outcome": "excludable_accepted"}, having={"ground": "insolvency"})
    submit(client, lot_url(declared), lot_url(declared, "/criteria"))
    submit(client, lot_url(declared), lot_url(declared, "/scores"), _score_changes(declared))
    doc = provider_doc(declared, K.ACCOUNTS)
    submit(client, docs_url(declared), docs_url(declared),
           {f"doc-{doc.id}-decision": "verified"}, having={"document_id": doc.id})
    actions = db.session.execute(sa.select(AuditEvent.action).order_by(AuditEvent.id)
                                 .offset(before)).scalars().all()
    assert actions == ["exclusion.decided", "lot_evaluation.criteria_checked",
                       "lot_evaluation.scored", "document.verified"]
