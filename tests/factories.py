"""Small builders for test data. Each commits, so views see the rows."""
from datetime import date
from decimal import Decimal
import itertools

from app.domain import geo
from app.domain.reference import Gender, OfstedJudgement, SettingType
from app.domain.states import Role
from app.extensions import db
from app.models import Provider, Setting, User, utcnow

_seq = itertools.count(1)
PASSWORD = "correct horse battery staple"


def make_provider(**overrides) -> Provider:
    n = next(_seq)
    fields = dict(legal_name=f"Brightwater Fostering {n} Ltd", trading_name=f"Brightwater {n}",
                  company_number=f"{10000000 + n:08d}", address_line_1="12 High Street",
                  town="Stratford", postcode="E15 4QZ", contact_name="Amira Khan",
                  contact_phone="020 7946 0000", contact_email=f"office{n}@brightwater.example")
    fields.update(overrides)
    provider = Provider(**fields)
    db.session.add(provider)
    db.session.commit()
    return provider


def make_user(role: Role = Role.PROVIDER_ADMIN, provider: Provider | None = None,
              **overrides) -> User:
    n = next(_seq)
    user = User(email=overrides.pop("email", f"user{n}@example.com"),
                full_name=overrides.pop("full_name", f"Test User {n}"), role=role,
                provider_id=provider.id if provider else None, email_confirmed_at=utcnow(),
                **overrides)
    user.set_password(PASSWORD)
    db.session.add(user)
    db.session.commit()
    return user


def make_setting(provider: Provider, **overrides) -> Setting:
    n = next(_seq)
    fields = dict(name=f"Oak House {n}", setting_type=SettingType.FOSTERING_AGENCY,
                  ofsted_urn=f"SC{100000 + n}", ofsted_judgement=OfstedJudgement.GOOD,
                  ofsted_judgement_date=date(2025, 6, 1), registered_places=20, age_min=0,
                  age_max=17, gender=Gender.ANY, postcode="E15 4QZ", outcode="E15")
    fields.update(overrides)
    place = geo.locate(fields["postcode"])
    if place and "easting" not in overrides:
        fields.update(easting=place.easting, northing=place.northing,
                      outcode=overrides.get("outcode", place.outcode))
    setting = Setting(provider_id=provider.id, **fields)
    db.session.add(setting)
    db.session.commit()
    return setting


def login(client, user: User) -> None:
    """Sign a test client in as `user` without going through the form (staff
    as if they had passed the second factor too)."""
    from app.auth.sessions import SECOND_FACTOR_PASSED
    with client.session_transaction() as session:
        session["_user_id"] = user.get_id()
        session["_fresh"] = True
        if user.role.is_staff:
            session[SECOND_FACTOR_PASSED] = user.id


def outbox(to: str | None = None):
    from app.models import OutboxEmail
    q = db.select(OutboxEmail).order_by(OutboxEmail.id)
    if to:
        q = q.where(OutboxEmail.to == to)
    return db.session.execute(q).scalars().all()


def money(value: str) -> Decimal:
    return Decimal(value)


def count_statements(call) -> int:
    """How many SQL statements `call()` sends: query-count tests check a page
    or job costs the same on small and large data."""
    import sqlalchemy as sa
    count = 0

    def before(*_args, **_kwargs):
        nonlocal count
        count += 1
    sa.event.listen(db.engine, "before_cursor_execute", before)
    try:
        call()
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", before)
    return count
