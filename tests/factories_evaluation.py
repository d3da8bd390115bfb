"""Shared builders for evaluation tests: staff accounts, and applications that
were completed and submitted through the domain rules (so their audit trail,
reference, snapshot and evidence are what a real provider would leave), then
optionally taken into evaluation. Each builder commits."""
import itertools
from datetime import timedelta
from decimal import Decimal
from functools import lru_cache

from werkzeug.security import generate_password_hash

from app.demo import add_demo_evidence, fill_application
from app.domain import applications as rules
from app.domain.audit import AuditContext
from app.domain.evaluation import start_evaluation
from app.domain.reference import OfstedJudgement, SettingType
from app.domain.states import Role
from app.extensions import db
from app.models import Application, Document, Setting, User, utcnow
from tests.factories import PASSWORD, make_provider, make_setting

_seq = itertools.count(1)

__all__ = ["ctx_for", "make_staff", "quick_user", "submitted_application", "in_evaluation",
           "provider_user"]


def ctx_for(user: User) -> AuditContext:
    """The audit context of a user acting outside a request."""
    return AuditContext(actor_id=user.id, actor_role=user.role.value)


@lru_cache(maxsize=1)
def _password_hash() -> str:
    return generate_password_hash(PASSWORD, method="scrypt")


def quick_user(role: Role, provider=None, **overrides) -> User:
    """Like tests.factories.make_user (same PASSWORD works for signing in),
    without hashing the password again for every user: scrypt is slow on purpose."""
    n = next(_seq)
    user = User(email=overrides.pop("email", f"eval-user{n}@example.com"),
                full_name=overrides.pop("full_name", f"Staff Member {n}"), role=role,
                provider_id=provider.id if provider else None, email_confirmed_at=utcnow(),
                password_hash=_password_hash(), session_version=1, **overrides)
    db.session.add(user)
    db.session.commit()
    return user


def make_staff(role: Role = Role.EVALUATOR, **overrides) -> User:
    """A lead-authority (or member authority) staff account, not tied to a provider."""
    return quick_user(role, None, **overrides)


def _settings_for(provider, lots) -> list[Setting]:
    """One setting of a type each lot accepts (reusing the provider's own
    where one fits), rated Good so it meets every lot's minimum."""
    settings = list(Setting.query.filter_by(provider_id=provider.id).all())
    new = []
    for lot in lots:
        if any(rules.setting_problem(s, lot) is None for s in settings + new):
            continue
        new.append(make_setting(provider, setting_type=SettingType(lot.setting_types[0]),
                                ofsted_judgement=OfstedJudgement.GOOD))
    return new


def submitted_application(dps, provider=None, lots=(1,), *, name: str | None = None,
                          user: User | None = None, declarations: dict | None = None,
                          submitted_days_ago: float | None = None) -> Application:
    """A complete application for the numbered `lots` of `dps`, submitted.

    `provider`: reuse an organisation (it must not already have an active
    application for those lots); otherwise a new one, whose trading name is
    `name` when given. `user`: the provider user who applies (default: the
    provider's first user, or a new provider administrator). `declarations`:
    ground code -> (answer, explanation) replacing the clean answers, e.g.
    {"insolvency": (True, "Measures taken ...")}. `submitted_days_ago` moves
    the submission back in time (for days-waiting and sorting).
    """
    if provider is None:
        provider = make_provider(**({"trading_name": name} if name is not None else {}))
    if user is None:
        user = (User.query.filter_by(provider_id=provider.id).order_by(User.id).first()
                or quick_user(Role.PROVIDER_ADMIN, provider,
                              full_name=f"Amira Khan {next(_seq)}"))
    by_number = {lot.number: lot for lot in dps.lots}
    chosen = [by_number[n] for n in lots]
    new_settings = _settings_for(provider, chosen)
    has_evidence = db.session.query(Document.id).filter_by(provider_id=provider.id).first()
    if has_evidence:
        # Organisation evidence is reused; only new settings need a certificate.
        for setting in new_settings:
            add_demo_evidence_for_setting(provider, setting, user)
    else:
        add_demo_evidence(provider, new_settings, user, "complete", rules.today())
    settings = Setting.query.filter_by(provider_id=provider.id).order_by(Setting.id).all()
    ctx = ctx_for(user)
    application = rules.start_application(ctx, provider, user, chosen, rules.today())
    fill_application(ctx, application, user, settings, complete=True)
    # The demo leaves some prices blank (a draft's story): price every placement type.
    priced = {cp.placement_type_id for cp in application.ceiling_prices}
    rules.save_prices(ctx, application, {pt.id: Decimal("1000") for lot in chosen
                                         for pt in lot.placement_types if pt.id not in priced})
    if declarations:
        rules.save_declarations(ctx, application, declarations)
    documents = Document.query.filter_by(provider_id=provider.id).all()
    rules.submit(ctx, application, user, documents, rules.today(), full_name=user.full_name)
    if submitted_days_ago is not None:
        application.submitted_at = utcnow() - timedelta(days=submitted_days_ago)
    db.session.commit()
    return application


def add_demo_evidence_for_setting(provider, setting, user) -> None:
    from app.demo import store_demo_pdf
    from app.domain.reference import DocumentKind
    store_demo_pdf(provider, DocumentKind.OFSTED_CERTIFICATE, setting=setting, uploaded_by=user)


def in_evaluation(dps, evaluator: User, provider=None, lots=(1,), **kwargs) -> Application:
    """A submitted application (see `submitted_application`) that `evaluator`
    has taken: in evaluation, assigned, with a LotEvaluation for each lot."""
    application = submitted_application(dps, provider, lots, **kwargs)
    start_evaluation(ctx_for(evaluator), application, evaluator)
    db.session.commit()
    return application


def provider_user(application: Application) -> User:
    """The provider user who submitted the application (to sign in as them)."""
    return db.session.get(User, application.submitted_by_id)
