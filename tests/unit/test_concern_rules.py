"""Concern rules: raising, the open -> investigating -> closed lifecycle with
its version check, who is alerted, and what the provider may see."""
import pytest

from app.domain import concerns
from app.domain.states import ConcernCategory as C, ConcernStatus, IllegalTransition, Role, \
    Severity
from app.extensions import db
from app.models import AuditEvent, Concern
from tests.factories import make_provider, make_setting
from tests.factories_evaluation import ctx_for, make_staff


@pytest.fixture
def officer(app_ctx):
    return make_staff(Role.MEMBER_OFFICER)


@pytest.fixture
def commissioner(app_ctx):
    return make_staff(Role.EVALUATOR)


def raise_one(user, provider=None, **kwargs):
    kwargs.setdefault("category", C.QUALITY_OF_CARE)
    kwargs.setdefault("severity", Severity.MEDIUM)
    kwargs.setdefault("description", "Two missing episodes in a week were not reported.")
    concern = concerns.raise_concern(ctx_for(user), provider or make_provider(),
                                     raised_by_id=user.id, **kwargs)
    db.session.commit()
    return concern


def test_raising_records_who_and_audits(officer):
    provider = make_provider()
    setting = make_setting(provider)
    concern = raise_one(officer, provider, setting=setting, authority_id=None)
    assert concern.status is ConcernStatus.OPEN and concern.raised_by_id == officer.id
    assert concern.setting_id == setting.id and concern.source == "manual"
    event = db.session.execute(db.select(AuditEvent)).scalar_one()
    assert (event.action, event.subject_id, event.actor_id) == ("concern.raised", concern.id,
                                                               officer.id)
    assert event.internal  # never on the provider's own history


def test_a_setting_of_another_provider_or_no_description_is_refused(officer):
    other = make_setting(make_provider())
    with pytest.raises(concerns.ConcernError, match="another provider"):
        raise_one(officer, make_provider(), setting=other)
    with pytest.raises(concerns.ConcernError, match="description"):
        raise_one(officer, description="   ")


def test_the_ofsted_import_can_raise_without_a_person(app_ctx):
    from app.domain.audit import SYSTEM
    concern = concerns.raise_concern(SYSTEM, make_provider(), category=C.OFSTED,
                                     severity=Severity.HIGH, description="Judged inadequate.",
                                     source="ofsted_import")
    db.session.commit()
    assert concern.raised_by_id is None and concern.source == "ofsted_import"


def test_lifecycle_open_investigating_closed(officer, commissioner):
    concern = raise_one(officer)
    ctx = ctx_for(commissioner)
    assert concerns.change_status(ctx, concern, "investigate",
                                  version=concern.version) is ConcernStatus.INVESTIGATING
    db.session.commit()
    with pytest.raises(concerns.ConcernError, match="outcome"):
        concerns.change_status(ctx, concern, "close", version=concern.version, outcome=" ")
    concerns.change_status(ctx, concern, "close", version=concern.version,
                           outcome="Provider retrained staff; no further action.")
    db.session.commit()
    assert concern.status is ConcernStatus.CLOSED and concern.closed_at is not None
    assert concern.outcome.startswith("Provider retrained")
    with pytest.raises(IllegalTransition):
        concerns.change_status(ctx, concern, "investigate", version=concern.version)
    with pytest.raises(IllegalTransition):
        concerns.change_status(ctx, concern, "close", version=concern.version, outcome="Again")
    assert db.session.execute(db.select(AuditEvent.action).order_by(AuditEvent.id)
                              ).scalars().all() == ["concern.raised", "concern.investigating",
                                                    "concern.closed"]


def test_an_open_concern_can_be_closed_straight_away(officer, commissioner):
    concern = raise_one(officer, severity=Severity.LOW)
    concerns.change_status(ctx_for(commissioner), concern, "close", version=concern.version,
                           outcome="Duplicate of an earlier concern.")
    assert concern.status is ConcernStatus.CLOSED


def test_a_stale_version_changes_nothing(officer, commissioner):
    concern = raise_one(officer)
    stale = concern.version
    concerns.change_status(ctx_for(commissioner), concern, "investigate", version=stale)
    db.session.commit()
    assert concern.version == stale + 1
    with pytest.raises(concerns.VersionConflict):
        concerns.change_status(ctx_for(commissioner), concern, "close", version=stale,
                               outcome="Resolved.")
    assert concern.status is ConcernStatus.INVESTIGATING


@pytest.mark.parametrize("category,severity,alerted", [
    (C.SAFEGUARDING, Severity.LOW, True), (C.COMPLAINT, Severity.HIGH, True),
    (C.COMPLAINT, Severity.CRITICAL, True), (C.COMPLAINT, Severity.MEDIUM, False),
    (C.QUALITY_OF_CARE, Severity.LOW, False)])
def test_managers_are_alerted_for_serious_concerns_and_safeguarding(officer, category, severity,
                                                                     alerted):
    manager = make_staff(Role.MANAGER, email="helen@newham.example")
    make_staff(Role.MANAGER, email="gone@newham.example", is_active_account=False)
    make_staff(Role.EVALUATOR, email="tom@newham.example")
    concern = raise_one(officer, category=category, severity=severity)
    assert concerns.alert_addresses(concern) == ([manager.email] if alerted else [])
    assert concerns.alert_addresses(concern, exclude_user_id=manager.id) == []


def test_safeguarding_alerts_are_hidden_from_the_provider_until_shared(officer, commissioner):
    provider = make_provider()
    alert = raise_one(officer, provider, category=C.SAFEGUARDING)
    complaint = raise_one(officer, provider, category=C.COMPLAINT)

    def provider_sees():
        return set(db.session.execute(db.select(Concern.id).where(
            Concern.provider_id == provider.id, concerns.visible_to_provider_clause())).scalars())

    assert not concerns.visible_to_provider(alert) and concerns.visible_to_provider(complaint)
    assert provider_sees() == {complaint.id}
    concerns.set_shared(ctx_for(commissioner), alert, True, version=alert.version)
    db.session.commit()
    assert concerns.visible_to_provider(alert) and provider_sees() == {alert.id, complaint.id}
    events = db.session.execute(db.select(AuditEvent).where(
        AuditEvent.action == "concern.shared")).scalars().all()
    assert [e.actor_id for e in events] == [commissioner.id]
    with pytest.raises(concerns.ConcernError, match="already sees"):
        concerns.set_shared(ctx_for(commissioner), complaint, True, version=complaint.version)
