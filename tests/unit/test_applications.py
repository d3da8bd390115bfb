"""The application rules: money, word counts, settings that fit a lot, section
status, submission and withdrawal through the state table."""
from datetime import date
from decimal import Decimal

import pytest

from app.demo import add_demo_evidence, fill_application
from app.domain import applications as rules
from app.domain.audit import AuditContext, history
from app.domain.reference import OfstedJudgement, SettingType
from app.domain.states import ApplicationStatus, SectionStatus
from app.extensions import db
from app.models import Application, Document
from tests.factories import make_provider, make_setting, make_user

S = SectionStatus
MAX = Decimal("25000")
PENCE = "Weekly price for Solo placement must be an amount in pounds and pence, like 1250.00"


def money(raw, required=True, maximum=MAX):
    return rules.parse_money(raw, noun="weekly price", label="Solo placement", maximum=maximum,
                             required=required)


@pytest.mark.parametrize("raw,expected", [
    ("1250", "1250.00"), ("1,250", "1250.00"), ("1250.50", "1250.50"), ("£846", "846.00"),
    (" 1,050.5 ", "1050.50"), ("25,000", "25000.00"), ("0.01", "0.01"), ("12,345,678", None),
])
def test_money_accepts_what_people_type(raw, expected):
    if expected is None:  # over the maximum, but well formed
        with pytest.raises(rules.ApplicationError):
            money(raw)
        return
    value = money(raw)
    assert value == Decimal(expected) and value.as_tuple().exponent == -2


@pytest.mark.parametrize("raw,message", [
    ("", "Enter a weekly price for Solo placement"),
    ("   ", "Enter a weekly price for Solo placement"),
    ("0", "Weekly price for Solo placement must be more than £0"),
    ("0.00", "Weekly price for Solo placement must be more than £0"),
    ("-5", "Weekly price for Solo placement must be more than £0"),
    ("abc", PENCE),
    ("12.345", PENCE),
    ("1,25", PENCE),
    ("1e3", PENCE),
    ("25000.01", "Weekly price for Solo placement must be £25,000 or less"),
])
def test_money_refusals_say_what_is_wrong(raw, message):
    with pytest.raises(rules.ApplicationError) as exc:
        money(raw)
    assert str(exc.value) == message


def test_blank_optional_money_means_not_offered():
    assert money("", required=False) is None
    with pytest.raises(rules.ApplicationError, match="must be £5,000 or less"):
        money("5000.01", required=False, maximum=rules.MAX_SERVICE_RATE)


def test_word_count_messages():
    assert rules.count_words("  one two\nthree  ") == 3
    assert rules.word_count_message("", 500) == ("You have 500 words remaining", False)
    assert rules.word_count_message("a b", 3) == ("You have 1 word remaining", False)
    assert rules.word_count_message("a b c d", 3) == ("You have 1 word too many", True)
    assert rules.word_count_message("a b c d e", 3) == ("You have 2 words too many", True)


def test_quality_answer_problems():
    assert rules.quality_answer_problem(" ", 5, "Outcomes") == "Enter your answer to Outcomes"
    assert rules.quality_answer_problem("a " * 6, 5, "Outcomes") == \
        "Answer to Outcomes must be 5 words or fewer"
    assert rules.quality_answer_problem("a " * 5, 5, "Outcomes") is None


def test_declaration_yes_needs_an_explanation():
    assert rules.declaration_problem(None, "", "tax evasion") == "Select yes or no for tax evasion"
    assert rules.declaration_problem(True, " ", "tax evasion") == \
        "Explain the measures you have taken about tax evasion"
    assert rules.declaration_problem(True, "Paid in full; new finance director.", "x") is None
    assert rules.declaration_problem(False, "", "x") is None


def test_setting_must_fit_the_lot(dps, app_ctx):
    fostering, homes = dps.lots[0], dps.lots[1]
    provider = make_provider()
    good = make_setting(provider, name="Oak Branch")
    weak = make_setting(provider, name="Elm Branch",
                        ofsted_judgement=OfstedJudgement.REQUIRES_IMPROVEMENT)
    assert rules.setting_problem(good, fostering) is None
    assert rules.setting_problem(weak, fostering) == (
        "Elm Branch cannot be offered under Lot 1: Independent fostering: its Ofsted judgement "
        "(Requires improvement to be good) is below the minimum of Good")
    assert "not part of this lot" in rules.setting_problem(good, homes)
    assert rules.eligible_settings([good, weak], homes) == []
    # Lot 3 has no Ofsted minimum: a new service not yet inspected can apply.
    new = make_setting(provider, setting_type=SettingType.SUPPORTED_ACCOMMODATION,
                       ofsted_judgement=OfstedJudgement.NOT_YET_INSPECTED)
    assert rules.setting_problem(new, dps.lots[2]) is None


def _ctx(user):
    return AuditContext(actor_id=user.id, actor_role=user.role.value)


@pytest.fixture
def draft(dps, app_ctx):
    provider = make_provider()
    user = make_user(provider=provider)
    setting = make_setting(provider)
    application = rules.start_application(_ctx(user), provider, user, [dps.lots[0]], rules.today())
    db.session.commit()
    return application, user, setting


def _documents(provider_id):
    return Document.query.filter_by(provider_id=provider_id).all()


def test_a_new_draft_has_every_section_to_do(draft):
    application, user, setting = draft
    state = rules.progress(application, [], rules.today())
    assert state.statuses == {
        "organisation": S.NOT_STARTED, "declarations": S.NOT_STARTED, "lots": S.NOT_STARTED,
        "prices": S.NOT_STARTED, "services": S.NOT_STARTED, "terms": S.NOT_STARTED,
        "evidence": S.NOT_STARTED, "quality": S.NOT_STARTED, "check": S.CANNOT_START}
    assert not state.ready


def test_sections_complete_from_the_data(draft):
    application, user, setting = draft
    ctx = _ctx(user)
    add_demo_evidence(application.provider, [setting], user, "complete", rules.today())
    fill_application(ctx, application, user, [setting], complete=True)
    db.session.commit()
    state = rules.progress(application, _documents(application.provider_id), rules.today())
    assert set(state.statuses.values()) == {S.COMPLETED, S.NOT_STARTED}
    assert state.statuses["check"] is S.NOT_STARTED and state.ready

    # Partly done sections are in progress, not completed.
    first = application.lots[0].lot.placement_types[0]
    rules.save_prices(ctx, application, {first.id: None})
    rules.save_declarations(ctx, application, {"insolvency": (True, "")})
    question = application.lots[0].lot.quality_questions[0]
    rules.save_quality_answers(ctx, application, {question.id: "word " * 501})
    rules.save_terms(ctx, application, user, {application.lots[0].lot_id: False})
    state = rules.progress(application, _documents(application.provider_id), rules.today())
    for key in ("prices", "declarations", "quality"):
        assert state.statuses[key] is S.IN_PROGRESS, key
    assert state.statuses["terms"] is S.NOT_STARTED
    assert state.statuses["check"] is S.CANNOT_START


def test_changing_the_organisation_after_confirming_needs_confirming_again(draft):
    application, user, setting = draft
    rules.confirm_organisation(_ctx(user), application)
    db.session.commit()
    assert rules.organisation_status(application) is S.COMPLETED
    application.provider.contact_phone = "020 7946 0999"
    db.session.commit()
    assert rules.organisation_status(application) is S.IN_PROGRESS


def test_a_downgraded_setting_puts_lots_back_in_progress(draft):
    application, user, setting = draft
    rules.save_lot_settings(_ctx(user), application, {application.lots[0].lot_id: [setting]})
    db.session.commit()
    assert rules.lots_status(application) is S.COMPLETED
    setting.ofsted_judgement = OfstedJudgement.INADEQUATE
    db.session.commit()
    assert rules.lots_status(application) is S.IN_PROGRESS


def test_submission_is_refused_with_every_reason(draft):
    application, user, setting = draft
    rules.confirm_organisation(_ctx(user), application)
    with pytest.raises(rules.SubmitRefused) as exc:
        rules.submit(_ctx(user), application, user, [], rules.today(), full_name="Amira Khan")
    problems = exc.value.problems
    sections = [p.section for p in problems]
    assert "organisation" not in sections
    assert {"declarations", "lots", "prices", "services", "terms", "quality",
            "evidence"} <= set(sections)
    messages = [p.message for p in problems]
    assert "Upload your public liability insurance" in messages
    assert "Enter a weekly ceiling price for every placement type" in messages
    assert application.status is ApplicationStatus.DRAFT and application.reference is None


def test_expired_or_low_cover_insurance_stops_submission(draft):
    application, user, setting = draft
    add_demo_evidence(application.provider, [setting], user, "complete", rules.today())
    fill_application(_ctx(user), application, user, [setting], complete=True)
    db.session.commit()
    documents = _documents(application.provider_id)
    policy = next(d for d in documents if d.kind.value == "public_liability")
    policy.expires_on = date(2020, 1, 1)
    policy.cover_amount = Decimal("1000000")
    problems = rules.submission_problems(application, documents, rules.today())
    assert [p.section for p in problems] == ["evidence", "evidence"]
    assert "has expired" in problems[0].message
    assert "below the £5,000,000 minimum for Lot 1" in problems[1].message


def test_submit_gives_a_reference_snapshot_and_audit(draft):
    application, user, setting = draft
    add_demo_evidence(application.provider, [setting], user, "complete", rules.today())
    fill_application(_ctx(user), application, user, [setting], complete=True)
    rules.submit(_ctx(user), application, user, _documents(application.provider_id),
                 date(2026, 11, 24), full_name=" Amira Khan ")
    db.session.commit()
    assert application.status is ApplicationStatus.SUBMITTED
    assert application.reference == f"DPS-2026-{application.id:06d}"
    assert application.final_declaration_name == "Amira Khan"
    assert application.submitted_by_id == user.id
    snapshot = application.organisation_snapshot
    assert snapshot["legal_name"] == application.provider.legal_name
    assert [s["ofsted_urn"] for s in snapshot["settings"]] == [setting.ofsted_urn]
    events = [e.action for e in history("application", application.id)]
    assert events[0] == "application.created" and events[-1] == "application.submitted"
    # Submitting again is not a transition the state table allows.
    with pytest.raises(Exception):
        rules.submit(_ctx(user), application, user, [], rules.today(), full_name="x")


def test_reference_format():
    class D:
        reference_prefix = "DPS"

    class A:
        id = 123
        dps = D()
    assert rules.reference_for(A(), date(2026, 1, 5)) == "DPS-2026-000123"


@pytest.mark.parametrize("status,allowed", [
    (ApplicationStatus.DRAFT, True), (ApplicationStatus.SUBMITTED, True),
    (ApplicationStatus.IN_EVALUATION, True), (ApplicationStatus.CLARIFICATION_REQUESTED, True),
    (ApplicationStatus.RECOMMENDED, False), (ApplicationStatus.DECIDED, False),
    (ApplicationStatus.WITHDRAWN, False),
])
def test_withdraw_follows_the_state_table(draft, status, allowed):
    application, user, setting = draft
    application.status = status
    assert rules.can_withdraw(application) is allowed
    if allowed:
        rules.withdraw(_ctx(user), application, "Closing this service")
        assert application.status is ApplicationStatus.WITHDRAWN
        assert application.withdrawal_reason == "Closing this service"
        assert history("application", application.id)[-1].reason == "Closing this service"
    else:
        with pytest.raises(rules.ApplicationError, match="You cannot withdraw"):
            rules.withdraw(_ctx(user), application, "")


def test_one_active_application_per_lot(draft, dps):
    application, user, setting = draft
    provider = application.provider
    with pytest.raises(rules.ApplicationError, match="already have a draft application for Lot 1"):
        rules.start_application(_ctx(user), provider, user, [dps.lots[0]], rules.today())
    # Further lots may be applied for at any time while the DPS is open.
    other = rules.start_application(_ctx(user), provider, user, [dps.lots[1]], rules.today())
    with pytest.raises(rules.ApplicationError, match="Lot 2"):
        rules.set_lots(_ctx(user), application, [dps.lots[0], dps.lots[1]], rules.today())
    # Once withdrawn, a lot is free again.
    rules.withdraw(_ctx(user), application, "")
    db.session.flush()
    again = rules.start_application(_ctx(user), provider, user, [dps.lots[0]], rules.today())
    assert again.id != application.id and other.id
    # Another provider is unaffected.
    stranger = make_provider()
    rules.start_application(_ctx(user), stranger, user, [dps.lots[0]], rules.today())


def test_a_closed_dps_takes_no_applications(dps, app_ctx):
    provider = make_provider()
    user = make_user(provider=provider)
    with pytest.raises(rules.ApplicationError, match="is not open"):
        rules.start_application(_ctx(user), provider, user, [dps.lots[0]], date(2031, 1, 1))


def test_removing_a_lot_removes_its_answers(draft, dps):
    application, user, setting = draft
    ctx = _ctx(user)
    rules.set_lots(ctx, application, [dps.lots[0], dps.lots[1]], rules.today())
    db.session.flush()
    lot2 = application.lots[1].lot
    rules.save_prices(ctx, application, {lot2.placement_types[0].id: Decimal("3463")})
    rules.save_quality_answers(ctx, application, {lot2.quality_questions[0].id: "An answer"})
    rules.save_services(ctx, application, {lot2.service_items[0].id: Decimal("30")}, [],
                        complete=True)
    rules.set_lots(ctx, application, [dps.lots[0]], rules.today())
    db.session.commit()
    application = db.session.get(Application, application.id)
    assert [alot.lot.number for alot in application.lots] == [1]
    assert application.ceiling_prices == [] and application.quality_answers == []
    assert application.service_rates == []
    with pytest.raises(rules.ApplicationError, match="Select at least one lot"):
        rules.set_lots(ctx, application, [], rules.today())


def test_version_guard(draft):
    application, user, setting = draft
    before = application.version
    rules.check_version(application, str(before))
    rules.confirm_organisation(_ctx(user), application)
    db.session.commit()
    assert application.version == before + 1
    with pytest.raises(rules.VersionConflict):
        rules.check_version(application, str(before))
    application.status = ApplicationStatus.SUBMITTED
    with pytest.raises(rules.NotEditable):
        rules.check_editable(application)
