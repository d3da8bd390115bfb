"""Evaluation rules: the minimum criteria the evidence shows, the weighted
quality total, and recording checks, scores and decisions (with their audit
events and version bumps)."""
from datetime import date, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest

from app.domain import evaluation as ev
from app.domain.audit import history
from app.domain.reference import DocumentKind as K, OfstedJudgement as J
from app.domain.states import (ApplicationStatus, DocumentStatus, ExclusionOutcome,
                               LotEvaluationStatus, Role)
from app.extensions import db
from app.models import Document, Lot
from tests.factories_evaluation import ctx_for, in_evaluation, make_staff

M = Decimal("1000000")
ON = date(2025, 6, 1)


def _lot(minimum=J.GOOD):
    return Lot(number=1, name="Independent fostering", min_ofsted_judgement=minimum,
               min_public_liability=5 * M, min_employers_liability=5 * M,
               min_professional_indemnity=2 * M)


def _doc(kind, *, cover=None, expires_on=None, status=DocumentStatus.AWAITING_CHECK,
         setting_id=None, uploaded_at=datetime(2025, 5, 1, 9, 0)):
    return SimpleNamespace(kind=kind, cover_amount=cover, expires_on=expires_on, status=status,
                           setting_id=setting_id, uploaded_at=uploaded_at, insurer="Zurich",
                           policy_number="ZM-1", original_filename=f"{kind.value}.pdf")


def _setting(id=7, name="Oak House", judgement=J.GOOD):
    return SimpleNamespace(id=id, name=name, ofsted_judgement=judgement,
                           ofsted_judgement_date=date(2024, 5, 14))


def _evidence(**changes):
    """A complete, in-date set of evidence; `changes` replace one kind (None removes it)."""
    docs = {
        K.PUBLIC_LIABILITY: _doc(K.PUBLIC_LIABILITY, cover=10 * M,
                                 expires_on=ON + timedelta(days=90)),
        K.EMPLOYERS_LIABILITY: _doc(K.EMPLOYERS_LIABILITY, cover=10 * M,
                                    expires_on=ON + timedelta(days=90)),
        K.PROFESSIONAL_INDEMNITY: _doc(K.PROFESSIONAL_INDEMNITY, cover=5 * M,
                                       expires_on=ON + timedelta(days=90)),
        K.ACCOUNTS: _doc(K.ACCOUNTS),
        K.OFSTED_CERTIFICATE: _doc(K.OFSTED_CERTIFICATE, setting_id=7),
    }
    for name, value in changes.items():
        docs[K(name)] = value
    return [d for d in docs.values() if d is not None]


def _application(*yes):
    answers = [SimpleNamespace(ground=g, answer=g in yes, explanation="Measures taken")
               for g in ("corruption", "insolvency", "tax_evasion")]
    return SimpleNamespace(id=1, declaration_answers=answers)


def findings(*, lot=None, documents=None, settings=None, application=None, decisions=()):
    result = ev.criteria_for(application or _application(), lot or _lot(),
                             _evidence() if documents is None else documents,
                             [_setting()] if settings is None else settings, ON,
                             decisions=list(decisions))
    return {f.code: f for f in result}


def test_complete_evidence_passes_every_criterion():
    found = findings()
    assert list(found) == ["ofsted:7", "insurance:public_liability",
                           "insurance:employers_liability", "insurance:professional_indemnity",
                           "financial", "declarations"]
    assert all(f.passed for f in found.values())
    assert found["ofsted:7"].label == "Ofsted judgement: Oak House"
    assert found["ofsted:7"].detail.startswith("Good (judged 14 May 2024); the minimum is Good")
    assert found["insurance:public_liability"].detail == (
        "Zurich ZM-1: cover £10,000,000 (minimum £5,000,000), in date until 30 August 2025")
    assert found["declarations"].detail == "Every exclusion ground answered No"


def test_ofsted_judgement_below_the_lot_minimum_fails():
    found = findings(settings=[_setting(judgement=J.REQUIRES_IMPROVEMENT)])
    assert not found["ofsted:7"].passed
    assert "Requires improvement to be good (judged 14 May 2024) is below the minimum of Good" \
        in found["ofsted:7"].detail


def test_each_offered_setting_is_a_criterion_and_needs_its_certificate():
    found = findings(settings=[_setting(), _setting(id=8, name="Elm House",
                                                    judgement=J.OUTSTANDING)])
    assert found["ofsted:7"].passed
    assert not found["ofsted:8"].passed
    assert found["ofsted:8"].detail == "No current Ofsted registration certificate"


def test_a_lot_without_minimum_accepts_a_setting_not_yet_inspected():
    setting = _setting(judgement=J.NOT_YET_INSPECTED)
    setting.ofsted_judgement_date = None
    found = findings(lot=_lot(minimum=None), settings=[setting])
    assert found["ofsted:7"].passed
    assert "this lot has no minimum" in found["ofsted:7"].detail


def test_no_setting_offered_fails_ofsted():
    found = findings(settings=[])
    assert not found["ofsted"].passed
    assert found["ofsted"].detail == "No setting is offered under this lot"


def test_insurance_expiring_on_the_decision_date_is_still_in_date():
    found = findings(documents=_evidence(public_liability=_doc(
        K.PUBLIC_LIABILITY, cover=10 * M, expires_on=ON)))
    assert found["insurance:public_liability"].passed


def test_insurance_that_expired_the_day_before_the_decision_date_fails():
    found = findings(documents=_evidence(employers_liability=_doc(
        K.EMPLOYERS_LIABILITY, cover=10 * M, expires_on=ON - timedelta(days=1))))
    finding = found["insurance:employers_liability"]
    assert not finding.passed
    assert finding.detail == "Zurich ZM-1: expired on 31 May 2025"


def test_insurance_cover_below_the_lot_minimum_fails():
    found = findings(documents=_evidence(professional_indemnity=_doc(
        K.PROFESSIONAL_INDEMNITY, cover=Decimal("1999999.99"), expires_on=ON)))
    finding = found["insurance:professional_indemnity"]
    assert not finding.passed
    assert "cover of £1,999,999.99 is below the £2,000,000 minimum" in finding.detail


def test_insurance_cover_exactly_the_minimum_passes():
    found = findings(documents=_evidence(professional_indemnity=_doc(
        K.PROFESSIONAL_INDEMNITY, cover=2 * M, expires_on=ON)))
    assert found["insurance:professional_indemnity"].passed


def test_missing_or_rejected_insurance_fails_and_missing_expiry_fails():
    found = findings(documents=_evidence(public_liability=None))
    assert found["insurance:public_liability"].detail == "No current policy on file"
    rejected = _doc(K.PUBLIC_LIABILITY, cover=10 * M, expires_on=ON,
                    status=DocumentStatus.REJECTED)
    assert not findings(documents=_evidence(public_liability=rejected))[
        "insurance:public_liability"].passed
    undated = _doc(K.PUBLIC_LIABILITY, cover=10 * M, expires_on=None)
    finding = findings(documents=_evidence(public_liability=undated))["insurance:public_liability"]
    assert not finding.passed and "no expiry date recorded" in finding.detail


@pytest.mark.parametrize("kind,passed", [("accounts", True), ("credit_report", True),
                                         (None, False)])
def test_credit_report_or_accounts(kind, passed):
    documents = _evidence(accounts=None)
    if kind:
        documents.append(_doc(K(kind)))
    finding = findings(documents=documents)["financial"]
    assert finding.passed is passed
    if not passed:
        assert finding.detail == "Neither a credit report nor accounts is on file"


def _decision(ground, outcome):
    return SimpleNamespace(ground=ground, outcome=outcome)


@pytest.mark.parametrize("decisions,passed,detail", [
    ([], False, "Yes to insolvency: no exclusion decision recorded yet"),
    ([_decision("insolvency", ExclusionOutcome.EXCLUDED)], False, "Yes to insolvency: excluded"),
    ([_decision("insolvency", ExclusionOutcome.EXCLUDABLE_ACCEPTED)], True,
     "Yes to insolvency: excludable but accepted"),
    ([_decision("insolvency", ExclusionOutcome.SELF_CLEANING_ACCEPTED)], True,
     "Yes to insolvency: self-cleaning accepted"),
])
def test_a_yes_declaration_passes_only_with_an_accepting_decision(decisions, passed, detail):
    finding = findings(application=_application("insolvency"), decisions=decisions)["declarations"]
    assert (finding.passed, finding.detail) == (passed, detail)


def test_every_yes_needs_its_own_accepting_decision():
    accepted = _decision("insolvency", ExclusionOutcome.SELF_CLEANING_ACCEPTED)
    finding = findings(application=_application("insolvency", "corruption"),
                       decisions=[accepted])["declarations"]
    assert not finding.passed
    assert finding.detail == ("Yes to corruption: no exclusion decision recorded yet; "
                              "Yes to insolvency: self-cleaning accepted")


# ------------------------------------------------------------------ quality total

def _questions(*weights):
    return [SimpleNamespace(id=i, weight=w) for i, w in enumerate(weights, start=1)]


def test_weighted_total_hand_worked():
    # 4/5*30 + 3/5*30 + 5/5*20 + 2/5*20 = 24 + 18 + 20 + 8 = 70 (weights sum to 100).
    assert ev.weighted_total({1: 4, 2: 3, 3: 5, 4: 2}, _questions(30, 30, 20, 20), 5) == \
        Decimal("70.00")
    # Weights summing to 50 are normalised: 5/5*10 + 0/5*40 = 10 of 50 -> 20 of 100.
    assert ev.weighted_total({1: 5, 2: 0}, _questions(10, 40), 5) == Decimal("20.00")
    # (1/3) / 3 questions of equal weight -> 11.11.
    assert ev.weighted_total({1: 1, 2: 0, 3: 0}, _questions(1, 1, 1), 3) == Decimal("11.11")
    assert ev.weighted_total({1: 5, 2: 5}, _questions(30, 70), 5) == Decimal("100.00")


def test_weighted_total_waits_for_every_question():
    assert ev.weighted_total({1: 4}, _questions(30, 70), 5) is None
    assert ev.weighted_total({}, [], 5) is None


# ------------------------------------------------------------------ recording

@pytest.fixture
def evaluation(dps):
    evaluator = make_staff(Role.EVALUATOR)
    application = in_evaluation(dps, evaluator, declarations={
        "insolvency": (True, "A company voluntary arrangement ended in 2023.")})
    alot = application.lots[0]
    return SimpleNamespace(evaluator=evaluator, application=application, alot=alot,
                           lot=alot.lot, le=alot.evaluation, ctx=ctx_for(evaluator))


def _findings(e):
    documents = Document.query.filter_by(provider_id=e.application.provider_id).all()
    settings = [link.setting for link in e.alot.setting_links]
    return ev.criteria_for(e.application, e.lot, documents, settings, date.today())


def test_the_demo_evidence_passes_all_but_the_undecided_declaration(evaluation):
    found = {f.code: f for f in _findings(evaluation)}
    assert not found.pop("declarations").passed
    assert all(f.passed for f in found.values())


def test_save_criteria_records_checks_bumps_the_version_and_audits_overrides(evaluation):
    e = evaluation
    found = _findings(e)
    version = e.le.version
    choices = {f.code: (f.passed, "") for f in found}
    choices["insurance:public_liability"] = (False, "Certificate names another company.")
    ev.save_criteria(e.ctx, e.le, e.application.provider_id, found, choices, e.evaluator.id)
    db.session.commit()
    assert e.le.version == version + 1
    checks = {c.code: c for c in e.le.criteria}
    assert set(checks) == {f.code for f in found}
    pl = checks["insurance:public_liability"]
    assert (pl.system_passed, pl.confirmed_passed, pl.overridden) == (True, False, True)
    assert pl.note == "Certificate names another company." and pl.checked_by_id == e.evaluator.id
    assert not checks["financial"].overridden and checks["financial"].confirmed_passed
    events = history("lot_evaluation", e.le.id)
    assert [x.action for x in events] == ["lot_evaluation.criteria_checked",
                                          "lot_evaluation.criterion_overridden"]
    assert all(x.internal and x.provider_id == e.application.provider_id for x in events)
    assert events[1].reason == "Certificate names another company."
    # Saving the same answers again changes nothing and records nothing.
    ev.save_criteria(e.ctx, e.le, e.application.provider_id, found, choices, e.evaluator.id)
    db.session.commit()
    assert e.le.version == version + 1 and len(history("lot_evaluation", e.le.id)) == 2


def test_an_override_needs_a_note(evaluation):
    e = evaluation
    found = _findings(evaluation)
    choices = {f.code: (f.passed, "") for f in found}
    choices["financial"] = (False, "   ")
    with pytest.raises(ev.EvaluationError, match="Explain why you are overriding Credit report"):
        ev.save_criteria(e.ctx, e.le, e.application.provider_id, found, choices, e.evaluator.id)


def test_save_scores_computes_the_total(evaluation):
    e = evaluation
    given = dict(zip([q.id for q in e.lot.quality_questions],
                     [(4, "Clear"), (3, "Some gaps"), (5, "Strong"), (2, "Thin")]))
    ev.save_scores(e.ctx, e.le, e.lot, e.application.provider_id, given, e.evaluator.id)
    db.session.commit()
    assert e.le.quality_total == Decimal("70.00")
    assert {s.question_id: s.score for s in e.le.scores} == {k: v[0] for k, v in given.items()}
    given[e.lot.quality_questions[0].id] = (9, "Too high")
    with pytest.raises(ev.EvaluationError, match="between 0 and 5"):
        ev.save_scores(e.ctx, e.le, e.lot, e.application.provider_id, given, e.evaluator.id)


def test_a_recommended_lot_cannot_change(evaluation):
    e = evaluation
    e.le.status = LotEvaluationStatus.RECOMMENDED
    with pytest.raises(ev.EvaluationRefused,
                       match="This lot has been recommended; it can only change if the "
                             "moderator returns it"):
        ev.save_scores(e.ctx, e.le, e.lot, e.application.provider_id, {}, e.evaluator.id)
    # Exclusion decisions affect every lot's criteria, so they are locked too.
    with pytest.raises(ev.EvaluationRefused, match="has been recommended"):
        ev.record_exclusion(e.ctx, e.application, "insolvency", evidence="x",
                            representations="y", outcome=ExclusionOutcome.EXCLUDED,
                            user_id=e.evaluator.id)


def test_nothing_changes_outside_evaluation(evaluation):
    e = evaluation
    e.application.status = ApplicationStatus.CLARIFICATION_REQUESTED
    assert "waiting for the provider" in ev.not_evaluable_message(e.application)
    document = Document.query.filter_by(provider_id=e.application.provider_id).first()
    with pytest.raises(ev.EvaluationRefused):
        ev.decide_document(e.ctx, e.application, document, True, None, e.evaluator.id)


def test_record_exclusion_upserts_and_audits(evaluation):
    e = evaluation
    first = ev.record_exclusion(e.ctx, e.application, "insolvency", evidence="Companies House",
                                representations="Arrangement completed",
                                outcome=ExclusionOutcome.EXCLUDABLE_ACCEPTED,
                                user_id=e.evaluator.id)
    db.session.commit()
    again = ev.record_exclusion(e.ctx, e.application, "insolvency", evidence="Companies House",
                                representations="Arrangement completed",
                                outcome=ExclusionOutcome.SELF_CLEANING_ACCEPTED,
                                user_id=e.evaluator.id, existing=first)
    db.session.commit()
    assert again is first and ev.exclusion_decisions(e.application.id) == [first]
    events = [x for x in history("application", e.application.id)
              if x.action == "exclusion.decided"]
    assert len(events) == 2 and events[1].before["outcome"] == "excludable_accepted"
    assert events[1].internal
    with pytest.raises(ev.EvaluationError, match="did not answer Yes"):
        ev.record_exclusion(e.ctx, e.application, "corruption", evidence="x",
                            representations="y", outcome=ExclusionOutcome.EXCLUDED,
                            user_id=e.evaluator.id)
