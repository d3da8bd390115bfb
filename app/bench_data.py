"""A deterministic national-scale data set for benchmarking (`flask bench-data`).

Everything is drawn from one `random.Random(seed)`, so the same seed and scale
give the same rows. Speed matters more than going through the domain rules one
object at a time: the demo DPS, staff and authorities are built by app.demo as
usual, then every other table is filled with Core bulk inserts of plain dicts,
with ids assigned here (so rows can refer to each other without a flush) and
the PostgreSQL sequences moved past them at the end.

The rows are made consistent with what the domain rules would have produced:
each application's state implies its lots, ceiling prices and lot evaluations;
approved lots become memberships with five years of prices whose validity
periods chain without overlapping; active suspensions are reflected in the
denormalised Membership.status and Setting.is_suspended flags; and every state
change has an audit event, hashed with app.domain.audit's own functions so the
chain verifies.

Documents: Document.storage_key is unique, so each row gets its own key. With
local-disk storage every key is a hard link to one small PDF (60,000 links take
a couple of seconds and no extra space), so any document opens when
downloaded. Other backends get the metadata only.
"""
import hashlib
import os
import random
import shutil
import time
import types
from datetime import date, datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa
from werkzeug.security import generate_password_hash

from app.domain import audit, geo
from app.domain.reference import (SPECIALISMS, DocumentKind, Gender, OfstedJudgement,
                                  SettingType)
from app.domain.states import (ApplicationStatus, ComplianceStatus, ConcernCategory,
                               ConcernStatus, DocumentStatus, LotEvaluationStatus, LotOutcome,
                               MembershipStatus, PriceSource, Role, Severity, SuspensionReason)
from app.extensions import db
from app.models import (Application, ApplicationLot, ApplicationLotSetting, AuditEvent,
                        Authority, CeilingPrice, Clarification, Concern, Document, Dps,
                        LotEvaluation, Membership, Price, Provider, Setting, SettingSpecialism,
                        Suspension, User)

D = Decimal
PENNY = D("0.01")
CHUNK = 5000
BENCH_PASSWORD = "bench portal password"
A = ApplicationStatus

# Per 5,000 providers (the national figure), scaled by --providers and --scale.
SETTINGS_PER_PROVIDER = 3
APPLICATIONS_PER_PROVIDER = 4
MEMBERSHIP_SHARE = 0.6        # ~3,000 memberships for 5,000 providers
CONCERN_SHARE = 0.06          # ~300 concerns
SUSPENSION_SHARE = 0.008      # ~40 suspensions
# A fee review running on Lots 1 and 2 (IFAs and homes): share of its invited
# providers at each stage. Nothing is agreed yet (agreements would add prices).
FEE_REVIEW_LOTS = (1, 2)
FEE_REVIEW_STAGES = [("invited", 40), ("draft", 15), ("submitted", 30), ("negotiating", 10),
                     ("awaiting_approval", 5)]
# Provider-level documents per provider (one Ofsted certificate per setting on
# top): 7 current kinds plus last year's public and employer's liability
# certificates, superseded: 9 + 3 settings = 12 a provider = 60,000.
PROVIDER_DOC_KINDS = [DocumentKind.PUBLIC_LIABILITY, DocumentKind.EMPLOYERS_LIABILITY,
                      DocumentKind.PROFESSIONAL_INDEMNITY, DocumentKind.MOTOR_INSURANCE,
                      DocumentKind.CREDIT_REPORT, DocumentKind.ACCOUNTS,
                      DocumentKind.SAFEGUARDING_POLICY]

JUDGEMENTS = [(OfstedJudgement.OUTSTANDING, 15), (OfstedJudgement.GOOD, 65),
              (OfstedJudgement.REQUIRES_IMPROVEMENT, 15), (OfstedJudgement.INADEQUATE, 5)]
# Target share of applications in each state (before the one-open-application-
# per-lot rule turns a few surplus open ones into withdrawn ones).
STATE_SHARES = [(A.DRAFT, 8), (A.SUBMITTED, 4), (A.IN_EVALUATION, 5),
                (A.CLARIFICATION_REQUESTED, 2), (A.RECOMMENDED, 2), (A.DECIDED, 62),
                (A.WITHDRAWN, 17)]
OPEN_STATES = {A.DRAFT, A.SUBMITTED, A.IN_EVALUATION, A.CLARIFICATION_REQUESTED, A.RECOMMENDED}
EVALUATED_STATES = {A.IN_EVALUATION, A.CLARIFICATION_REQUESTED, A.RECOMMENDED, A.DECIDED}

# Provider kinds: share, lots they may apply for (where they run a setting of a
# type the lot takes), settings (type, count range, places range, ages).
KINDS = {
    "ifa": dict(share=35, lots=[1, 3], suffix=["Fostering", "Foster Care", "Family Placements"],
                settings=[(SettingType.FOSTERING_AGENCY, (1, 3), (15, 90), (0, 17))],
                extra=SettingType.SUPPORTED_ACCOMMODATION),
    "homes": dict(share=40, lots=[2, 3], suffix=["Children's Homes", "Care", "Residential Care"],
                  settings=[(SettingType.CHILDRENS_HOME, (1, 7), (1, 6), (8, 17))],
                  extra=SettingType.SUPPORTED_ACCOMMODATION),
    "supported": dict(share=15, lots=[3, 2], suffix=["Supported Living", "Housing", "Pathways"],
                      settings=[(SettingType.SUPPORTED_ACCOMMODATION, (1, 4), (4, 20), (16, 17))],
                      extra=SettingType.CHILDRENS_HOME),
    "school": dict(share=10, lots=[4, 2], suffix=["School Trust", "Education", "Schools"],
                   settings=[(SettingType.SPECIAL_SCHOOL, (1, 1), (20, 80), (7, 19)),
                             (SettingType.CHILDRENS_HOME, (0, 3), (2, 6), (8, 17))],
                   extra=SettingType.CHILDRENS_HOME),
}
# Share of providers that also run settings of their kind's `extra` type (and
# so can join a second lot).
MIXED_SHARE = 0.7
KIND_SPECIALISMS = {
    SettingType.FOSTERING_AGENCY: ["parent_and_child", "sibling_groups", "uasc", "emergency",
                                   "respite", "solo", "emotional_behavioural", "remand"],
    SettingType.CHILDRENS_HOME: ["emotional_behavioural", "learning_disability", "autism",
                                 "cse_risk", "cce_risk", "solo", "mental_health", "remand"],
    SettingType.SUPPORTED_ACCOMMODATION: ["uasc", "cse_risk", "cce_risk", "mental_health",
                                          "emergency"],
    SettingType.SPECIAL_SCHOOL: ["autism", "learning_disability", "physical_disability",
                                 "emotional_behavioural", "respite"],
}
assert all(c in SPECIALISMS for codes in KIND_SPECIALISMS.values() for c in codes)

# Weekly fees today per placement type (lot order), around the published
# averages (IFA ~£925, residential ~£3,800), and additional-service rates.
TYPICAL_WEEKLY = {1: ["860", "885", "925", "975", "990", "935"],
                  2: ["4250", "3800", "3400", "3850"],
                  3: ["780", "950", "1150", "1650"],
                  4: ["4200", "4950", "1850"]}
TYPICAL_RATES = {1: ["28", "85", "0.45", "180", "450"],
                 2: ["30", "60", "220", "95", "0.45"],
                 3: ["26", "45", "350"],
                 4: ["90", "90", "160", "0.50"]}

WORDS_A = ["Bright", "Oak", "Willow", "River", "Harbour", "Meadow", "Ever", "Thames", "Lark",
           "Holly", "King", "Marsh", "Elm", "Chestnut", "Hawthorn", "Beacon", "Ash", "Fern",
           "Maple", "Stone", "Fox", "Heron", "Red", "Bramble", "Silver", "Clear", "Green",
           "North", "Hazel", "Rowan", "Birch", "Cedar", "Linden", "Moor", "Vale", "Summer"]
WORDS_B = ["water", "field", "brook", "side", "bank", "green", "wood", "gate", "stead", "view",
           "ford", "dale", "ridge", "lea", "mere", "hill", "well", "wick", "croft", "haven"]
HOME_NAMES = ["House", "Lodge", "Cottage", "View", "Place", "Court", "Grange", "Barn"]
SURNAMES = ["Khan", "Smith", "Mensah", "Price", "Hale", "Begum", "Nowak", "Jones", "Patel",
            "Okafor", "Lin", "Murray", "Shah", "Evans", "Taylor", "Brown", "Wilson", "Ahmed"]
FIRST = ["Amira", "Daniel", "Joanne", "Richard", "Fatima", "Tomasz", "Sarah", "David", "Aisha",
         "James", "Emma", "Mohammed", "Claire", "Peter", "Grace", "Olu", "Hannah", "Ravi"]
INSURERS = ["Zurich Municipal", "Aviva", "Ecclesiastical", "QBE", "Hiscox", "Markel", "AXA"]
INWARD_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"
ENGLISH_REGIONS = {"North East", "North West", "Yorkshire and the Humber", "East Midlands",
                   "West Midlands", "East of England", "London", "South East", "South West"}


def _weighted(rng: random.Random, pairs):
    return rng.choices([p for p, _ in pairs], weights=[w for _, w in pairs])[0]


def _quantize(amount: Decimal, weekly: bool) -> Decimal:
    return amount.quantize(D("1")) if weekly else amount.quantize(PENNY)


def _change_days(after: date, until: date):
    """Price change days strictly after `after`, up to `until`: the first of
    every other month (Feb, Apr, Jun, Aug, Oct, Dec), so 1 April, the fee
    review, is one of them."""
    year, month = after.year, after.month - (after.month % 2 == 1)
    while True:
        month += 2
        if month > 12:
            year, month = year + 1, month - 12
        day = date(year, month, 1)
        if day > until:
            return
        yield day


class _Ids:
    """Next free id per table, read once, so rows can be linked before insert."""

    def __init__(self):
        self._next = {}

    def take(self, model) -> int:
        table = model.__table__.name
        if table not in self._next:
            self._next[table] = (db.session.execute(
                sa.select(sa.func.max(model.__table__.c.id))).scalar() or 0) + 1
        value = self._next[table]
        self._next[table] = value + 1
        return value


class _AuditTrail:
    """Events collected while generating, written in time order at the end and
    chained with app.domain.audit's own hashing."""

    def __init__(self):
        self.events = []

    def add(self, when: datetime, action: str, subject_type: str, subject_id: int, *,
            actor=None, provider_id=None, before=None, after=None, reason=None,
            internal=False):
        actor_id, actor_role = actor if actor else (None, "system")
        self.events.append(dict(
            occurred_at=when.replace(microsecond=0), actor_id=actor_id, actor_role=actor_role,
            action=action, subject_type=subject_type, subject_id=subject_id,
            provider_id=provider_id, before=before, after=after, reason=reason,
            internal=internal, request_id=None, ip_address=None, seq=len(self.events)))

    def write(self, ids: _Ids) -> int:
        db.session.flush()
        prev = db.session.execute(
            sa.select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1)
        ).scalar_one_or_none() or audit.GENESIS
        self.events.sort(key=lambda e: (e["occurred_at"], e["seq"]))
        rows = []
        for event in self.events:
            del event["seq"]
            event["id"] = ids.take(AuditEvent)
            event["prev_hash"] = prev
            event["hash"] = prev = audit._digest(audit._fields(types.SimpleNamespace(**event)),
                                                 prev)
            rows.append(event)
        _insert(AuditEvent, rows)
        return len(rows)


def _insert(model, rows) -> int:
    table = model.__table__
    for start in range(0, len(rows), CHUNK):
        db.session.execute(table.insert(), rows[start:start + CHUNK])
    return len(rows)


def _reset_sequences() -> None:
    """Explicit ids leave PostgreSQL's sequences behind; move them past the rows."""
    if db.session.get_bind().dialect.name != "postgresql":
        return
    for table in db.metadata.sorted_tables:
        if "id" in table.c and table.c.id.primary_key and table.c.id.autoincrement is not False:
            db.session.execute(sa.text(
                f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                f"COALESCE((SELECT MAX(id) FROM {table.name}), 0) + 1, false)"))


def reset_database() -> None:
    """Delete every row. PostgreSQL truncates: DELETE of national-scale tables
    with their foreign-key checks takes minutes there."""
    from app.backup import delete_all_rows  # lifts the audit trail's guard
    delete_all_rows(db.session.connection(), truncate=True)
    db.session.commit()


def generate(*, providers: int = 5000, scale: float = 1.0, seed: int = 42,
             today: date | None = None, echo=print) -> dict:
    """Fill an empty database; returns the row counts per table."""
    from app.demo import build_authorities, build_dps, build_staff, demo_pdf
    from app.domain.applications import today as uk_today
    if db.session.execute(sa.select(Dps.id).limit(1)).first():
        raise ValueError("The database already has data (use --reset to start again).")
    started = time.monotonic()
    today = today or uk_today()
    now = datetime.combine(today, datetime.min.time()) + timedelta(hours=9)
    rng = random.Random(seed)
    ids = _Ids()
    trail = _AuditTrail()
    counts: dict[str, int] = {}

    def step(label: str, n: int) -> None:
        counts[label] = counts.get(label, 0) + n
        echo(f"  {label:<26} {n:>9,}  ({time.monotonic() - started:6.1f}s)")

    n_providers = max(8, round(providers * scale))
    # The DPS opened five years and a bit ago, so members have five years of prices.
    opens_on = date(today.year - 5, 2, 1)
    dps = build_dps(name="National Children's Placements DPS (benchmark)",
                    opens_on=opens_on, closes_on=date(today.year + 4, 3, 31))
    staff = build_staff()
    build_authorities(dps, staff, today)
    db.session.flush()
    lots = {lot.number: lot for lot in dps.lots}
    lot_pts = {n: [pt.id for pt in lot.placement_types] for n, lot in lots.items()}
    lot_items = {n: [item.id for item in lot.service_items] for n, lot in lots.items()}
    evaluators = [(u.id, u.role.value) for u in staff if u.role is Role.EVALUATOR]
    managers = [(u.id, u.role.value) for u in staff if u.role is Role.MANAGER]
    officers = [(u.id, u.role.value) for u in staff if u.role in (Role.MEMBER_OFFICER,
                                                                   Role.MANAGER)]
    authority_ids = db.session.execute(
        sa.select(Authority.id).order_by(Authority.id)).scalars().all()
    step("demo DPS, staff, authorities", 1)

    # --- providers, their admin users and settings -----------------------
    # England only: Place carries the region, not the country.
    england = [p for p in geo._outcodes().values() if p.region in ENGLISH_REGIONS]
    by_region: dict[str, list] = {}
    for place in england:
        by_region.setdefault(place.region, []).append(place)
    password_hash = generate_password_hash(BENCH_PASSWORD, method="scrypt")
    kind_names = list(KINDS)
    kind_weights = [KINDS[k]["share"] for k in kind_names]

    def postcode_in(place) -> str:
        return (f"{place.outcode} {rng.randint(1, 9)}"
                f"{rng.choice(INWARD_LETTERS)}{rng.choice(INWARD_LETTERS)}")

    provider_rows, user_rows, setting_rows, specialism_rows = [], [], [], []
    prov = []  # per provider: dict(id, kind, user, settings=[(id, type)], spread, created)
    for i in range(n_providers):
        kind = rng.choices(kind_names, weights=kind_weights)[0]
        spec = KINDS[kind]
        home = rng.choice(england)
        pid = ids.take(Provider)
        name = f"{rng.choice(WORDS_A)}{rng.choice(WORDS_B)} {rng.choice(spec['suffix'])}"
        contact = f"{rng.choice(FIRST)} {rng.choice(SURNAMES)}"
        created = datetime.combine(opens_on, datetime.min.time()) + timedelta(
            days=rng.randint(-400, (today - opens_on).days - 200), hours=rng.randint(8, 17))
        provider_rows.append(dict(
            id=pid, legal_name=f"{name} Ltd", trading_name=name,
            company_number=f"{10000000 + pid:08d}", charity_number="",
            address_line_1=f"{rng.randint(1, 250)} {rng.choice(WORDS_A)}{rng.choice(WORDS_B)} Road",
            address_line_2="", town=home.town or home.outcode, postcode=postcode_in(home),
            contact_name=contact,
            contact_phone=f"0{rng.randint(1000, 9999)} {rng.randint(100000, 999999)}",
            contact_email=f"office@p{pid}.bench.example", created_at=created, updated_at=created))
        uid = ids.take(User)
        user_rows.append(dict(
            id=uid, email=f"admin@p{pid}.bench.example", full_name=contact,
            role=Role.PROVIDER_ADMIN, provider_id=pid, authority_id=None,
            password_hash=password_hash, email_confirmed_at=created, session_version=1,
            is_active_account=True, invited_by_id=None, created_at=created, last_sign_in_at=None))
        prov.append(dict(id=pid, kind=kind, home=home, user=(uid, Role.PROVIDER_ADMIN.value),
                         settings=[], spread=rng.uniform(0.88, 1.12), created=created,
                         name=name))

    # Settings: each provider's kind decides how many and what type; the total
    # is then evened out to exactly three a provider.
    wanted: list[list] = []
    for p in prov:
        plan = []
        for setting_type, (low, high), _, _ in KINDS[p["kind"]]["settings"]:
            plan += [setting_type] * rng.randint(low, high)
        if rng.random() < MIXED_SHARE:
            plan += [KINDS[p["kind"]]["extra"]] * rng.randint(1, 2)
        wanted.append(plan)
    target = SETTINGS_PER_PROVIDER * n_providers
    total = sum(len(plan) for plan in wanted)
    while total < target:
        plan = wanted[rng.randrange(n_providers)]
        plan.append(plan[0])
        total += 1
    while total > target:
        plan = wanted[rng.randrange(n_providers)]
        if len(plan) > 1:
            plan.pop()
            total -= 1
    type_spec = {t: (pl, ages) for k in KINDS.values() for t, _, pl, ages in k["settings"]}
    for p, plan in zip(prov, wanted):
        region = by_region[p["home"].region]
        for n, setting_type in enumerate(plan):
            sid = ids.take(Setting)
            place = p["home"] if n == 0 else (rng.choice(region) if rng.random() < 0.85
                                              else rng.choice(england))
            (pl_low, pl_high), (age_min, age_max) = type_spec[setting_type]
            judgement = _weighted(rng, JUDGEMENTS)
            when = today - timedelta(days=rng.randint(30, 1400))
            if setting_type is SettingType.FOSTERING_AGENCY:
                sname = f"{p['name']} {place.town or place.outcode}"
            elif setting_type is SettingType.SPECIAL_SCHOOL:
                sname = f"{p['name'].split()[0]} School"
            else:
                sname = f"{rng.choice(WORDS_A)}{rng.choice(WORDS_B)} {rng.choice(HOME_NAMES)}"
            setting_rows.append(dict(
                id=sid, provider_id=p["id"], name=sname, setting_type=setting_type,
                ofsted_urn=f"SC{sid:06d}", ofsted_judgement=judgement,
                ofsted_judgement_date=when, registered_places=rng.randint(pl_low, pl_high),
                age_min=age_min, age_max=age_max,
                gender=_weighted(rng, [(Gender.ANY, 85), (Gender.FEMALE, 8), (Gender.MALE, 7)]),
                postcode=postcode_in(place), outcode=place.outcode, easting=place.easting,
                northing=place.northing, is_suspended=False, created_at=p["created"],
                updated_at=p["created"]))
            p["settings"].append((sid, setting_type))
            for code in sorted(rng.sample(KIND_SPECIALISMS[setting_type], rng.randint(0, 3))):
                specialism_rows.append(dict(setting_id=sid, code=code))
    setting_by_id = {row["id"]: row for row in setting_rows}

    # --- documents --------------------------------------------------------
    pdf = demo_pdf("Benchmark evidence")
    pdf_sha = hashlib.sha256(pdf).hexdigest()
    doc_rows = []

    def document(p, kind, *, setting_id=None, status=DocumentStatus.VERIFIED, expires_on=None,
                 cover=None, uploaded=None):
        did = ids.take(Document)
        uploaded = uploaded or p["created"] + timedelta(days=rng.randint(1, 60))
        verified = status in (DocumentStatus.VERIFIED, DocumentStatus.SUPERSEDED)
        insurance = kind.is_insurance
        doc_rows.append(dict(
            id=did, provider_id=p["id"], setting_id=setting_id, kind=kind, status=status,
            storage_key=f"bench/{p['id']}/{did:08d}", original_filename=f"{kind.value}.pdf",
            content_type="application/pdf", size_bytes=len(pdf), sha256=pdf_sha,
            insurer=rng.choice(INSURERS) if insurance else None,
            policy_number=f"POL-{did:08d}" if insurance else None,
            cover_amount=cover, expires_on=expires_on,
            rejection_reason="The certificate is for a different organisation"
            if status is DocumentStatus.REJECTED else None,
            verified_by_id=evaluators[0][0] if verified else None,
            verified_at=uploaded + timedelta(days=2) if verified else None,
            uploaded_by_id=p["user"][0], uploaded_at=uploaded))
        return did

    minimum = {DocumentKind.PUBLIC_LIABILITY: D("10000000"),
               DocumentKind.EMPLOYERS_LIABILITY: D("10000000"),
               DocumentKind.PROFESSIONAL_INDEMNITY: D("5000000"),
               DocumentKind.MOTOR_INSURANCE: D("5000000")}
    for p in prov:
        renewal = today + timedelta(days=rng.randint(-20, 340))
        for kind in PROVIDER_DOC_KINDS:
            status = _weighted(rng, [(DocumentStatus.VERIFIED, 88),
                                     (DocumentStatus.AWAITING_CHECK, 9),
                                     (DocumentStatus.REJECTED, 3)])
            document(p, kind, status=status,
                     expires_on=renewal if kind.is_insurance else None,
                     cover=minimum[kind] if kind.is_insurance else None,
                     uploaded=now - timedelta(days=rng.randint(1, 300)))
        for kind in (DocumentKind.PUBLIC_LIABILITY, DocumentKind.EMPLOYERS_LIABILITY):
            document(p, kind, status=DocumentStatus.SUPERSEDED,
                     expires_on=renewal - timedelta(days=365), cover=minimum[kind],
                     uploaded=now - timedelta(days=rng.randint(366, 700)))
        for sid, _ in p["settings"]:
            document(p, DocumentKind.OFSTED_CERTIFICATE, setting_id=sid,
                     status=_weighted(rng, [(DocumentStatus.VERIFIED, 92),
                                            (DocumentStatus.AWAITING_CHECK, 8)]))

    # --- applications, lots, ceiling prices, evaluations, memberships ----
    n_apps = APPLICATIONS_PER_PROVIDER * n_providers
    pool = []
    for state, share in STATE_SHARES:
        pool += [state] * max(2, round(n_apps * share / 100))
    while len(pool) > n_apps:
        pool.remove(A.DECIDED)
    while len(pool) < n_apps:
        pool.append(A.DECIDED)
    rng.shuffle(pool)
    membership_target = max(4, round(n_providers * MEMBERSHIP_SHARE))

    app_rows, app_lot_rows, link_rows, ceiling_rows, eval_rows = [], [], [], [], []
    clarification_rows, membership_rows = [], []
    members: dict[tuple[int, int], dict] = {}   # (provider id, lot number) -> membership row
    first_round_end = opens_on + timedelta(days=420)
    span = (today - opens_on).days

    def ceiling(lot_number: int, index: int, spread: float) -> Decimal:
        return _quantize(D(TYPICAL_WEEKLY[lot_number][index]) * D(str(round(spread, 4))), True)

    for p_index, p in enumerate(prov):
        states = pool[p_index * APPLICATIONS_PER_PROVIDER:(p_index + 1) * APPLICATIONS_PER_PROVIDER]
        # Finished applications first (older), then the open ones; a provider
        # has at most one open application per lot and none for a lot it is on.
        states.sort(key=lambda s: s in OPEN_STATES)
        eligible = [n for n in KINDS[p["kind"]]["lots"]
                    if any(t.value in lots[n].setting_types for _, t in p["settings"])]
        # Open applications take their lots first, so no approval lands on one.
        reserved: set[int] = set()
        planned = []
        for state in states:
            if state in OPEN_STATES:
                free = [n for n in eligible if n not in reserved]
                if free:
                    chosen = [rng.choice(free)]
                    reserved.update(chosen)
                    planned.append((state, chosen))
                    continue
                state = A.WITHDRAWN
            # Finished ones mostly for the lots left over (where approvals can land).
            spare = [n for n in eligible if n not in reserved] or eligible
            planned.append((state, [rng.choice(spare)] if len(eligible) == 1
                            or rng.random() < 0.85 else eligible))
        for state, chosen in planned:
            app_id = ids.take(Application)
            owner = p["user"]
            # When things happened: finished ones over the DPS's life (most in
            # the first round), open ones recently.
            if state in OPEN_STATES:
                created = now - timedelta(days=rng.randint(5, 150), hours=rng.randint(0, 8))
            elif rng.random() < 0.75:
                created = datetime.combine(opens_on, datetime.min.time()) + timedelta(
                    days=rng.randint(0, (first_round_end - opens_on).days),
                    hours=rng.randint(8, 17))
            else:
                created = datetime.combine(opens_on, datetime.min.time()) + timedelta(
                    days=rng.randint(0, max(1, span - 120)), hours=rng.randint(8, 17))
            submitted = created + timedelta(days=rng.randint(3, 40))
            started_eval = submitted + timedelta(days=rng.randint(1, 20))
            recommended_at = started_eval + timedelta(days=rng.randint(3, 25))
            decided_at = recommended_at + timedelta(days=rng.randint(1, 10))
            withdrawn_at = created + timedelta(days=rng.randint(1, 60))
            if state in OPEN_STATES:
                # Keep open applications' steps in the past.
                latest = now - timedelta(hours=1)
                submitted, started_eval, recommended_at = (min(t, latest) for t in (
                    submitted, started_eval, recommended_at))
            was_submitted = state is not A.DRAFT and not (state is A.WITHDRAWN
                                                          and rng.random() < 0.4)
            evaluator = rng.choice(evaluators)
            waiting = state is A.CLARIFICATION_REQUESTED
            app_rows.append(dict(
                id=app_id, provider_id=p["id"], dps_id=dps.id, status=state,
                reference=f"DPS-{submitted.year}-{app_id:06d}" if was_submitted else None,
                version=1, organisation_confirmed_at=created + timedelta(hours=1),
                declarations_saved_at=created + timedelta(days=1) if was_submitted else None,
                services_saved_at=created + timedelta(days=2) if was_submitted else None,
                organisation_snapshot=None,
                final_declaration_name=(provider_rows[p_index]["contact_name"]
                                        if was_submitted else None),
                created_by_id=owner[0], submitted_by_id=owner[0] if was_submitted else None,
                created_at=created, updated_at=created,
                submitted_at=submitted if was_submitted else None,
                withdrawn_at=withdrawn_at if state is A.WITHDRAWN else None,
                withdrawal_reason="We have decided not to go ahead this year"
                if state is A.WITHDRAWN else None,
                assigned_evaluator_id=evaluator[0] if state in EVALUATED_STATES else None,
                assigned_at=started_eval if state in EVALUATED_STATES else None,
                evaluation_started_at=started_eval if state in EVALUATED_STATES else None,
                waiting_since=recommended_at if waiting else None,
                waiting_seconds=rng.randint(0, 5) * 86400 if state in EVALUATED_STATES else 0,
                decided_at=decided_at if state is A.DECIDED else None))
            trail.add(created, "application.created", "application", app_id, actor=owner,
                      provider_id=p["id"], after={"status": "draft", "lots": chosen})
            if was_submitted:
                trail.add(submitted, "application.submitted", "application", app_id, actor=owner,
                          provider_id=p["id"],
                          after={"status": "submitted",
                                 "reference": app_rows[-1]["reference"]})
            if state in EVALUATED_STATES:
                trail.add(started_eval, "application.evaluation_started", "application", app_id,
                          actor=evaluator, provider_id=p["id"],
                          before={"status": "submitted"}, after={"status": "in_evaluation"})
            if waiting:
                trail.add(recommended_at, "application.clarification_requested", "application",
                          app_id, actor=evaluator, provider_id=p["id"],
                          before={"status": "in_evaluation"},
                          after={"status": "clarification_requested"})
                clarification_rows.append(dict(
                    id=ids.take(Clarification), application_id=app_id,
                    question="Please confirm the staffing ratio your ceiling price assumes.",
                    placement_type_id=lot_pts[chosen[0]][0], asked_by_id=evaluator[0],
                    asked_at=recommended_at, answer=None, answer_document_id=None,
                    answered_by_id=None, answered_at=None))
            if state in (A.RECOMMENDED, A.DECIDED):
                trail.add(recommended_at, "application.recommended", "application", app_id,
                          actor=evaluator, provider_id=p["id"],
                          before={"status": "in_evaluation"}, after={"status": "recommended"})
            if state is A.WITHDRAWN:
                trail.add(withdrawn_at, "application.withdrawn", "application", app_id,
                          actor=owner, provider_id=p["id"], after={"status": "withdrawn"},
                          reason=app_rows[-1]["withdrawal_reason"])
            manager = rng.choice(managers)
            outcomes = {}
            for number in chosen:
                al_id = ids.take(ApplicationLot)
                app_lot_rows.append(dict(
                    id=al_id, application_id=app_id, lot_id=lots[number].id,
                    terms_accepted_at=created + timedelta(days=2) if was_submitted else None,
                    terms_accepted_by_id=owner[0] if was_submitted else None))
                fits = [sid for sid, t in p["settings"] if t.value in lots[number].setting_types]
                for sid in fits:
                    link_rows.append(dict(application_lot_id=al_id, setting_id=sid))
                priced = len(lot_pts[number]) if was_submitted else rng.randint(
                    0, len(lot_pts[number]))
                for index in range(priced):
                    ceiling_rows.append(dict(
                        id=ids.take(CeilingPrice), application_id=app_id,
                        placement_type_id=lot_pts[number][index],
                        weekly_price=ceiling(number, index, p["spread"])))
                if state not in EVALUATED_STATES:
                    continue
                outcome = None
                if state in (A.RECOMMENDED, A.DECIDED):
                    good = lots[number].min_ofsted_judgement is None or all(
                        setting_by_id[sid]["ofsted_judgement"] in (
                            OfstedJudgement.OUTSTANDING, OfstedJudgement.GOOD)
                        for sid in fits[:1])
                    approve = (state is A.DECIDED and good and (p["id"], number) not in members
                               and number not in reserved
                               and len(members) < membership_target)
                    if state is A.RECOMMENDED:
                        approve = good and rng.random() < 0.8
                    outcome = LotOutcome.APPROVE if approve else LotOutcome.REJECT
                    outcomes[number] = outcome
                status = {A.RECOMMENDED: LotEvaluationStatus.RECOMMENDED,
                          A.DECIDED: LotEvaluationStatus.DECIDED}.get(
                              state, LotEvaluationStatus.OPEN)
                eval_id = ids.take(LotEvaluation)
                eval_rows.append(dict(
                    id=eval_id, application_lot_id=al_id, status=status,
                    quality_total=D(rng.randint(4500, 9500)) / 100 if outcome else None,
                    recommendation=outcome,
                    recommendation_reasons=("Meets every minimum criterion with good quality "
                                            "answers." if outcome is LotOutcome.APPROVE else
                                            "Does not meet the minimum Ofsted judgement."
                                            ) if outcome else None,
                    recommended_by_id=evaluator[0] if outcome else None,
                    recommended_at=recommended_at if outcome else None,
                    moderation_comment=None,
                    moderated_by_id=manager[0] if state is A.DECIDED else None,
                    moderated_at=decided_at if state is A.DECIDED else None,
                    outcome=outcome if state is A.DECIDED else None,
                    feedback="Thank you for your application." if state is A.DECIDED else None,
                    decided_at=decided_at if state is A.DECIDED else None, version=1))
                if outcome:
                    trail.add(recommended_at, "lot_evaluation.recommended", "lot_evaluation",
                              eval_id, actor=evaluator, provider_id=p["id"],
                              after={"recommendation": outcome.value, "lot": number})
                if state is A.DECIDED:
                    trail.add(decided_at, "lot_evaluation.decided", "lot_evaluation", eval_id,
                              actor=manager, provider_id=p["id"],
                              after={"outcome": outcome.value, "lot": number})
                    if outcome is LotOutcome.APPROVE:
                        mid = ids.take(Membership)
                        members[(p["id"], number)] = row = dict(
                            id=mid, provider_id=p["id"], lot_id=lots[number].id,
                            application_id=app_id, status=MembershipStatus.ACTIVE,
                            started_on=decided_at.date(), created_at=decided_at,
                            compliance=ComplianceStatus.COMPLIANT, non_compliant_since=None,
                            non_compliance_reason=None)
                        if rng.random() < 0.03:
                            row["compliance"] = ComplianceStatus.NON_COMPLIANT
                            row["non_compliant_since"] = today - timedelta(days=rng.randint(1, 40))
                            row["non_compliance_reason"] = "Public liability insurance expired"
                        membership_rows.append(row)
                        trail.add(decided_at, "membership.created", "membership", mid,
                                  actor=manager, provider_id=p["id"],
                                  after={"status": "active", "lot": number,
                                         "started_on": row["started_on"].isoformat()})
            if state is A.DECIDED:
                trail.add(decided_at, "application.decided", "application", app_id,
                          actor=manager, provider_id=p["id"], before={"status": "recommended"},
                          after={"status": "decided",
                                 "outcomes": {str(n): o.value for n, o in outcomes.items()}})

    # --- concerns and suspensions (flags set before the rows are written) --
    concern_rows, suspension_rows = [], []
    member_list = sorted(members.values(), key=lambda m: m["id"])
    lot_number_by_id = {lot.id: n for n, lot in lots.items()}
    for _ in range(max(3, round(n_providers * CONCERN_SHARE))):
        p = rng.choice(prov)
        cid = ids.take(Concern)
        raised = now - timedelta(days=rng.randint(1, 900))
        status = _weighted(rng, [(ConcernStatus.OPEN, 30), (ConcernStatus.INVESTIGATING, 25),
                                 (ConcernStatus.CLOSED, 45)])
        category = rng.choice(list(ConcernCategory))
        raiser = rng.choice(officers)
        concern_rows.append(dict(
            id=cid, provider_id=p["id"],
            setting_id=rng.choice(p["settings"])[0] if rng.random() < 0.7 else None,
            category=category,
            severity=_weighted(rng, [(Severity.LOW, 30), (Severity.MEDIUM, 40),
                                     (Severity.HIGH, 22), (Severity.CRITICAL, 8)]),
            description=f"{category.label} reported by a placing authority.",
            status=status, outcome="Resolved after a meeting with the provider."
            if status is ConcernStatus.CLOSED else None,
            shared_with_provider=category is not ConcernCategory.SAFEGUARDING,
            raised_by_id=raiser[0], authority_id=rng.choice(authority_ids), source="manual",
            created_at=raised, updated_at=raised,
            closed_at=raised + timedelta(days=rng.randint(5, 60))
            if status is ConcernStatus.CLOSED else None, version=1))
        trail.add(raised, "concern.raised", "concern", cid, actor=raiser, provider_id=p["id"],
                  after={"category": category.value, "status": "open"})
    for _ in range(max(2, round(n_providers * SUSPENSION_SHARE))):
        member = rng.choice(member_list)
        p_id = member["provider_id"]
        scope = rng.choice(["lot", "lot", "all", "setting"])
        own_settings = [row for row in prov if row["id"] == p_id][0]["settings"]
        suspension_id = ids.take(Suspension)
        starts = today - timedelta(days=rng.randint(1, 400))
        lifted = rng.random() < 0.3
        reason = rng.choice(list(SuspensionReason))
        manager = rng.choice(managers)
        setting_id = rng.choice(own_settings)[0] if scope == "setting" else None
        suspension_rows.append(dict(
            id=suspension_id, provider_id=p_id,
            lot_id=member["lot_id"] if scope == "lot" else None, setting_id=setting_id,
            reason=reason, description=f"Suspended for {reason.label.lower()}.",
            remedy="Provide evidence that the issue is resolved.", starts_on=starts,
            review_on=starts + timedelta(days=90), concern_id=None, automatic=False,
            created_by_id=manager[0], created_at=datetime.combine(starts, datetime.min.time()),
            lifted_at=datetime.combine(starts + timedelta(days=30), datetime.min.time())
            if lifted else None, lifted_by_id=manager[0] if lifted else None,
            lift_note="The provider put the issue right." if lifted else None))
        trail.add(datetime.combine(starts, datetime.min.time()), "provider.suspended",
                  "suspension", suspension_id, actor=manager, provider_id=p_id,
                  after={"lot_id": suspension_rows[-1]["lot_id"], "setting_id": setting_id,
                         "reason": reason.value})
        if lifted:
            trail.add(suspension_rows[-1]["lifted_at"], "provider.reinstated", "suspension",
                      suspension_id, actor=manager, provider_id=p_id,
                      before={"suspended": True}, after={"suspended": False})
    # The same rule as app.domain.suspensions._sync, over the rows in memory.
    for s in suspension_rows:
        if s["lifted_at"] is not None or s["starts_on"] > today:
            continue
        if s["setting_id"] is not None:
            setting_by_id[s["setting_id"]]["is_suspended"] = True
            continue
        for m in member_list:
            if m["provider_id"] == s["provider_id"] and (s["lot_id"] is None
                                                         or m["lot_id"] == s["lot_id"]):
                m["status"] = MembershipStatus.SUSPENDED

    # --- write ------------------------------------------------------------
    for label, model, rows in [
            ("providers", Provider, provider_rows), ("users", User, user_rows),
            ("settings", Setting, setting_rows), ("setting specialisms", SettingSpecialism,
                                                  specialism_rows),
            ("documents", Document, doc_rows), ("applications", Application, app_rows),
            ("application lots", ApplicationLot, app_lot_rows),
            ("application lot settings", ApplicationLotSetting, link_rows),
            ("ceiling prices", CeilingPrice, ceiling_rows),
            ("lot evaluations", LotEvaluation, eval_rows),
            ("clarifications", Clarification, clarification_rows),
            ("memberships", Membership, membership_rows), ("concerns", Concern, concern_rows),
            ("suspensions", Suspension, suspension_rows)]:
        step(label, _insert(model, rows))
    del provider_rows, user_rows, specialism_rows, app_rows, app_lot_rows, link_rows

    # Prices: streamed in chunks (over half a million rows). Each item of each
    # membership changes every other month from joining until today: the
    # 1 April fee review uplift (2-6%) and small negotiated changes between
    # (-1.2% to +1.2%, so they do not drift today's fees off the averages).
    price_count = 0
    buffer = []
    spreads = {p["id"]: p["spread"] for p in prov}
    in_force: dict[int, list[dict]] = {}  # provider -> today's price rows on the reviewed lots
    for m in member_list:
        number = lot_number_by_id[m["lot_id"]]
        changes = list(_change_days(m["started_on"], today))
        years = (today - m["started_on"]).days / 365.25
        items = [({"placement_type_id": pt, "service_item_id": None},
                  TYPICAL_WEEKLY[number][i], True) for i, pt in enumerate(lot_pts[number])]
        items += [({"placement_type_id": None, "service_item_id": item},
                   TYPICAL_RATES[number][i], False) for i, item in enumerate(lot_items[number])]
        for key, typical, weekly in items:
            amount = _quantize(D(typical) * D(str(round(spreads[m["provider_id"]], 4)))
                               / D(str(round(1.04 ** years, 4))), weekly)
            starts = [m["started_on"]] + changes
            for n, valid_from in enumerate(starts):
                if n:
                    if valid_from.month == 4:
                        factor = 1 + rng.randint(20, 60) / 1000
                    else:
                        factor = 1 + rng.randint(-12, 12) / 1000
                    amount = _quantize(amount * D(str(factor)), weekly)
                source = (PriceSource.APPLICATION if n == 0 else PriceSource.FEE_REVIEW
                          if valid_from.month == 4 else PriceSource.NEGOTIATION)
                buffer.append(dict(
                    id=ids.take(Price), provider_id=m["provider_id"], lot_id=m["lot_id"],
                    custom_name=None, custom_unit=None, amount=amount, valid_from=valid_from,
                    valid_to=starts[n + 1] if n + 1 < len(starts) else None, source=source,
                    source_id=m["application_id"] if n == 0 else None,
                    created_at=datetime.combine(valid_from, datetime.min.time()), **key))
            if number in FEE_REVIEW_LOTS and m["status"] is MembershipStatus.ACTIVE:
                in_force.setdefault(m["provider_id"], []).append(buffer[-1])
            if len(buffer) >= CHUNK * 4:
                price_count += _insert(Price, buffer)
                buffer = []
    price_count += _insert(Price, buffer)
    step("prices", price_count)
    user_of = {p["id"]: p["user"] for p in prov}
    for label, model, rows in _running_fee_review(rng, ids, trail, dps, lots, in_force,
                                                  evaluators, managers, user_of, today, now):
        step(label, _insert(model, rows))
    trail.add(now, "bench_data.generated", "dps", dps.id,
              after={"seed": seed, "scale": scale, "providers": n_providers})
    step("audit events", trail.write(ids))
    _reset_sequences()
    db.session.commit()

    files = _store_files(doc_rows, pdf)
    step("document files", files)
    counts["seconds"] = round(time.monotonic() - started, 1)
    return counts


def _next_april(after: date) -> date:
    """The first 1 April on or after `after` (when reviewed prices take effect)."""
    april = date(after.year, 4, 1)
    return april if after <= april else date(after.year + 1, 4, 1)


def _running_fee_review(rng, ids, trail, dps, lots, in_force, evaluators, managers, user_of,
                        today: date, now: datetime):
    """An open fee review of Lots 1 and 2, two weeks in: every active member
    invited (one line per price in force today), providers at each stage of
    FEE_REVIEW_STAGES. Rows as app.domain.fee_review would have written them,
    totals included. Returns (label, model, rows) to insert, parents first."""
    from app.domain.fee_review import exceeds
    from app.domain.states import FeeReviewStatus, JobStatus, LineDecision, SubmissionStatus
    from app.models import (FeeReviewLine, FeeReviewMessage, FeeReviewRound, FeeReviewRoundLot,
                            FeeReviewSubmission, JobRun)
    S = SubmissionStatus
    opened = now - timedelta(days=14)
    closes_on = today + timedelta(days=28)
    guidance = D("3.89")                      # 70 % x NLW 4.1 % + 30 % x CPIH 3.4 %
    manager, evaluator = managers[0], evaluators[0]
    reviewed = [lots[n] for n in FEE_REVIEW_LOTS]
    labels = {("pt", pt.id): (pt.name, "week") for lot in reviewed for pt in lot.placement_types}
    labels.update({("item", item.id): (item.name, item.unit.value)
                   for lot in reviewed for item in lot.service_items})
    job_id, round_id = ids.take(JobRun), ids.take(FeeReviewRound)
    round_row = dict(
        id=round_id, dps_id=dps.id, name=f"Fee review {closes_on.year}-{(closes_on.year + 1) % 100:02d}",
        status=FeeReviewStatus.OPEN, opens_on=opened.date(), closes_on=closes_on,
        effective_on=_next_april(closes_on), guidance_method="model",
        staff_cost_weight=D("70"), nlw_change=D("4.1"), cpih=D("3.4"), guidance_uplift=guidance,
        cap_uplift=D("10"), message="Send us your proposed prices with your workings.",
        created_by_id=manager[0], created_at=opened - timedelta(days=7), opened_at=opened,
        opened_by_id=manager[0], closed_at=None, invitation_job_id=job_id, version=1)
    sub_rows, line_rows, message_rows = [], [], []
    stages = [stage for stage, _ in FEE_REVIEW_STAGES]
    weights = [w for _, w in FEE_REVIEW_STAGES]
    for provider_id in sorted(in_force):
        stage = S(rng.choices(stages, weights=weights)[0])
        sid = ids.take(FeeReviewSubmission)
        submitted = opened + timedelta(days=rng.randint(1, 12), hours=rng.randint(0, 8))
        lines = []
        for position, price in enumerate(in_force[provider_id]):
            weekly = price["placement_type_id"] is not None
            label, unit = labels[("pt", price["placement_type_id"]) if weekly
                                 else ("item", price["service_item_id"])]
            current = price["amount"]
            proposed = None
            if stage is not S.INVITED and (weekly or rng.random() < 0.3):
                proposed = _quantize(current * D(str(1 + rng.randint(0, 95) / 1000)), weekly)
                proposed = None if proposed == current else proposed
            line = dict(id=ids.take(FeeReviewLine), submission_id=sid, lot_id=price["lot_id"],
                        position=position, price_id=price["id"],
                        placement_type_id=price["placement_type_id"], label=label, unit=unit,
                        current_amount=current, proposed_amount=proposed,
                        justification="", decision=LineDecision.PENDING, counter_amount=None,
                        decision_note="", decided_by_id=None, decided_at=None,
                        agreed_amount=None)
            requested = proposed if proposed is not None else current
            if stage not in (S.INVITED, S.DRAFT) and proposed is None:
                line.update(decision=LineDecision.ACCEPTED, agreed_amount=current,
                            decided_at=submitted)   # no change asked: accepted on submit
            elif stage is S.AWAITING_APPROVAL:
                line.update(decision=LineDecision.ACCEPTED, agreed_amount=requested,
                            decided_by_id=evaluator[0], decided_at=submitted + timedelta(days=2))
            if exceeds(current, requested, guidance):
                line["justification"] = "Staff pay follows the National Living Wage."
            lines.append(line)
        if stage is S.NEGOTIATING:
            pending = [ln for ln in lines if ln["decision"] is LineDecision.PENDING]
            if pending:
                counter = pending[0]
                offer = _quantize(counter["current_amount"] * D("1.035"),
                                  counter["placement_type_id"] is not None)
                if offer >= counter["proposed_amount"]:
                    offer = counter["current_amount"]   # a counter differs from the request
                counter.update(decision=LineDecision.COUNTERED, counter_amount=offer,
                               decision_note="We can offer an uplift in line with the guidance.",
                               decided_by_id=evaluator[0], decided_at=submitted + timedelta(days=3))
                message_rows.append(dict(
                    id=ids.take(FeeReviewMessage), submission_id=sid, author_id=evaluator[0],
                    from_provider=False, body="Please see our counter-offer.",
                    created_at=submitted + timedelta(days=3)))
            else:
                stage = S.SUBMITTED
        weekly_lines = [ln for ln in lines if ln["placement_type_id"] is not None]
        agreed = [ln["agreed_amount"] for ln in weekly_lines]
        above = any(exceeds(ln["current_amount"], ln["proposed_amount"] or ln["current_amount"],
                            guidance) for ln in lines)
        if stage is S.AWAITING_APPROVAL and not above:
            stage = S.SUBMITTED   # within guidance it would have been agreed at once
            for ln in lines:
                if ln["decided_by_id"] is not None:
                    ln.update(decision=LineDecision.PENDING, agreed_amount=None,
                              decided_by_id=None, decided_at=None)
        if stage is S.SUBMITTED and all(ln["decision"] is not LineDecision.PENDING
                                        for ln in lines):
            # Nothing to decide would have been agreed on submit: keep it a draft.
            stage = S.DRAFT
            for ln in lines:
                ln.update(decision=LineDecision.PENDING, agreed_amount=None, decided_at=None)
        sent = stage not in (S.INVITED, S.DRAFT)
        sub_rows.append(dict(
            id=sid, round_id=round_id, provider_id=provider_id, status=stage,
            justification="Our costs rose with the National Living Wage." if sent else "",
            evidence_document_id=None, extended_until=None, extension_reason=None,
            invited_at=opened, submitted_at=submitted if sent else None,
            submitted_by_id=user_of[provider_id][0] if sent else None,
            agreement_proposed_by_id=evaluator[0] if stage is S.AWAITING_APPROVAL else None,
            agreed_at=None, agreed_by_id=None, prices_from=None,
            current_total=sum((ln["current_amount"] for ln in weekly_lines), D("0")),
            requested_total=sum((ln["proposed_amount"] or ln["current_amount"]
                                 for ln in weekly_lines), D("0")),
            agreed_total=sum(agreed, D("0")) if weekly_lines and None not in agreed else None,
            above_guidance=above, updated_at=submitted if sent else opened, version=1))
        line_rows += lines
        if sent:
            trail.add(submitted, "fee_review_submission.submitted", "fee_review_submission", sid,
                      actor=user_of[provider_id], provider_id=provider_id,
                      before={"status": "draft"}, after={"status": "submitted"})
        if stage in (S.NEGOTIATING, S.AWAITING_APPROVAL):
            trail.add(submitted + timedelta(days=3), "fee_review_submission.decided",
                      "fee_review_submission", sid, actor=evaluator, provider_id=provider_id,
                      before={"status": "submitted"}, after={"status": stage.value})
    job = dict(id=job_id, kind="fee_review_invitations", status=JobStatus.FINISHED,
               started_by_id=manager[0], input_key=None, input_name=None, run_date=opened.date(),
               done=len(sub_rows), total=len(sub_rows),
               report={"round_id": round_id, "invited": len(sub_rows), "already_invited": 0,
                       "lines": len(line_rows)},
               error=None, created_at=opened, started_at=opened,
               finished_at=opened + timedelta(seconds=30))
    trail.add(opened - timedelta(days=7), "fee_review.created", "fee_review_round", round_id,
              actor=manager, after={"name": round_row["name"]})
    trail.add(opened, "fee_review.opened", "fee_review_round", round_id, actor=manager,
              before={"status": "draft"}, after={"status": "open", "invitation_job_id": job_id})
    trail.add(opened + timedelta(seconds=30), "fee_review.invited", "fee_review_round",
              round_id, actor=manager, after={"providers": len(sub_rows), "lines": len(line_rows)})
    round_lots = [dict(round_id=round_id, lot_id=lot.id) for lot in reviewed]
    return [("job runs", JobRun, [job]), ("fee review rounds", FeeReviewRound, [round_row]),
            ("fee review round lots", FeeReviewRoundLot, round_lots),
            ("fee review submissions", FeeReviewSubmission, sub_rows),
            ("fee review lines", FeeReviewLine, line_rows),
            ("fee review messages", FeeReviewMessage, message_rows)]


def _store_files(doc_rows: list[dict], pdf: bytes) -> int:
    """One stored PDF, hard-linked (or copied) under every document's key."""
    from app.storage import LocalStorage, get_storage
    storage = get_storage()
    if not isinstance(storage, LocalStorage) or not doc_rows:
        return 0
    master = storage._path("bench/_master.pdf")
    master.parent.mkdir(parents=True, exist_ok=True)
    master.write_bytes(pdf)
    made_dirs = set()
    for row in doc_rows:
        path = storage._path(row["storage_key"])
        if path.parent not in made_dirs:
            path.parent.mkdir(parents=True, exist_ok=True)
            made_dirs.add(path.parent)
        if path.exists():
            path.unlink()
        try:
            os.link(master, path)
        except OSError:
            shutil.copyfile(master, path)
    return len(doc_rows)
