"""Demo data: a realistic DPS with four lots, staff for every role, providers
at several stages of applying, and approved providers with the contract
management stories the README walks through (a suspension, a removal
awaiting a second manager, concerns, insurance about to expire or just
expired). Figures follow ../shared/DOMAIN.md."""
import functools
import io
from datetime import date, timedelta
from decimal import Decimal

import sqlalchemy as sa
from flask import current_app

from app.domain import geo, second_factor
from app.domain.reference import DocumentKind, Gender, OfstedJudgement, ServiceUnit, SettingType
from app.extensions import db
from app.domain.states import DocumentStatus, Role
from app.models import (Document, Dps, Lot, PlacementType, Provider, QualityQuestion, ServiceItem,
                        Setting, User, utcnow)

D = Decimal
M = D("1000000")  # one million pounds, for insurance cover
PENNY = D("0.01")

QUALITY_QUESTIONS = [
    ("Safeguarding", "Describe how you keep children safe, including how you respond to "
     "children going missing and the risk of exploitation.", 500, 30),
    ("Outcomes", "Describe how you help children achieve good outcomes in education, health "
     "and emotional wellbeing, with an example.", 500, 30),
    ("Matching and stability", "Describe how you match children to placements and prevent "
     "placement breakdown.", 400, 20),
    ("Working with the council", "Describe how you work with social workers, Independent "
     "Reviewing Officers and virtual schools, including how you share information.", 300, 20),
]

LOTS = [
    dict(number=1, name="Independent fostering", setting_types=[SettingType.FOSTERING_AGENCY.value],
         min=OfstedJudgement.GOOD, pl=5 * M, el=5 * M, pi=2 * M,
         description="Foster care placements with independent fostering agencies (IFAs).",
         placements=["Standard foster care (0–4)", "Standard foster care (5–10)",
                     "Standard foster care (11–17)", "Complex needs foster care",
                     "Parent and child (fostering)", "Solo placement"],
         services=[("Additional 1:1 support worker", ServiceUnit.HOUR),
                   ("Therapeutic session", ServiceUnit.SESSION),
                   ("Mileage beyond 20 miles a day", ServiceUnit.MILE),
                   ("Education support", ServiceUnit.DAY),
                   ("Solo placement fee (capped at 50%)", ServiceUnit.WEEK)],
         discount="Sibling discount of 5% for each additional sibling placed together. "
                  "Long-stay discount of 5% for placements of 9 months or more "
                  "(10% cumulatively with the sibling discount).",
         retainer="No retainer is payable in the first week of a placement. "
                  "Solo fees are capped at 50% of the weekly fee."),
    dict(number=2, name="Children's residential homes", setting_types=[SettingType.CHILDRENS_HOME.value],
         min=OfstedJudgement.GOOD, pl=10 * M, el=10 * M, pi=5 * M,
         description="Placements in registered children's homes.",
         placements=["Residential (single-bed home)", "Residential (2–3 bed home)",
                     "Residential (4+ bed home)", "Residential with education on site"],
         services=[("Additional 1:1 staffing", ServiceUnit.HOUR),
                   ("Additional 2:1 staffing", ServiceUnit.HOUR),
                   ("Waking night staff", ServiceUnit.DAY),
                   ("Therapeutic session", ServiceUnit.SESSION),
                   ("Transport (beyond 20 miles / 2 hours a day)", ServiceUnit.MILE)],
         discount="Long-stay discount of 3% for placements of 9 months or more.",
         retainer="Retainers are capped at 50% of the weekly fee."),
    dict(number=3, name="Supported accommodation (16+)", setting_types=[SettingType.SUPPORTED_ACCOMMODATION.value],
         min=None, pl=5 * M, el=5 * M, pi=1 * M,
         description="Ofsted-registered supported accommodation for young people aged 16 and 17 "
                     "and care leavers.",
         placements=["Shared accommodation (low support)", "Shared accommodation (medium support)",
                     "Self-contained (floating support)", "Self-contained (high support)"],
         services=[("Additional key-work support", ServiceUnit.HOUR),
                   ("Independence skills session", ServiceUnit.SESSION),
                   ("Night concierge", ServiceUnit.WEEK)],
         discount="Long-stay discount of 3% for placements of 9 months or more.",
         retainer="Retainers are capped at 50% of the weekly fee for up to 2 weeks."),
    dict(number=4, name="Independent special schools (residential)",
         setting_types=[SettingType.SPECIAL_SCHOOL.value, SettingType.CHILDRENS_HOME.value],
         min=OfstedJudgement.GOOD, pl=10 * M, el=10 * M, pi=5 * M,
         description="52-week and term-time residential special school placements for children "
                     "with an education, health and care plan.",
         placements=["38-week residential", "52-week residential", "Day placement with respite"],
         services=[("Speech and language therapy", ServiceUnit.SESSION),
                   ("Occupational therapy", ServiceUnit.SESSION),
                   ("Additional 1:1 learning support", ServiceUnit.DAY),
                   ("Home-to-school transport", ServiceUnit.MILE)],
         discount="Sibling discount of 5% where siblings attend the same school.",
         retainer="Retainers are capped at 50% of the weekly fee during school holidays."),
]


def _grid(postcode: str) -> dict:
    place = geo.locate(postcode)
    return {"easting": place.easting, "northing": place.northing} if place else {}


def build_dps(name: str = "North East London Children's Placements DPS",
              lead_authority: str = "London Borough of Newham",
              opens_on: date = date(2024, 2, 1), closes_on: date = date(2030, 3, 8)) -> Dps:
    """The demo DPS and its four lots; also used by the tests."""
    dps = Dps(name=name, lead_authority=lead_authority, opens_on=opens_on, closes_on=closes_on,
              extendable_to=date(2030, 3, 8), reference_prefix="DPS",
              description="A dynamic purchasing system for placements of looked-after children, "
                          "run on behalf of member authorities in North East London.")
    db.session.add(dps)
    for spec in LOTS:
        lot = Lot(dps=dps, number=spec["number"], name=spec["name"],
                  description=spec["description"], setting_types=spec["setting_types"],
                  min_ofsted_judgement=spec["min"], min_public_liability=spec["pl"],
                  min_employers_liability=spec["el"], min_professional_indemnity=spec["pi"],
                  max_weekly_price=D("25000"), discount_terms=spec["discount"],
                  retainer_terms=spec["retainer"], quality_scale_max=5)
        db.session.add(lot)
        for i, pname in enumerate(spec["placements"]):
            db.session.add(PlacementType(lot=lot, name=pname, position=i))
        for i, (sname, unit) in enumerate(spec["services"]):
            db.session.add(ServiceItem(lot=lot, name=sname, unit=unit, position=i))
        for i, (title, question, limit, weight) in enumerate(QUALITY_QUESTIONS):
            db.session.add(QualityQuestion(lot=lot, position=i, title=title, question=question,
                                           word_limit=limit, weight=weight))
    db.session.flush()
    return dps


DEMO_PASSWORD = "demo portal password"
DEMO_STAFF = [
    ("admin@newham.example", "Priya Shah", Role.ADMIN),
    ("evaluator@newham.example", "Tom Okafor", Role.EVALUATOR),
    ("evaluator2@newham.example", "Grace Lin", Role.EVALUATOR),
    ("manager@newham.example", "Helen Murray", Role.MANAGER),
    # A second manager, to confirm or cancel what the first one requests (four eyes).
    ("manager2@newham.example", "Marcus Reid", Role.MANAGER),
    ("officer@redbridge.example", "Sam Patel", Role.MEMBER_OFFICER),
    ("officer@havering.example", "Chris Adeyemi", Role.MEMBER_OFFICER),
]


@functools.cache
def demo_password_hash() -> str:
    """Every demo account has the same published password, so it is hashed
    once per process (scrypt is slow on purpose: about 0.1 s a hash)."""
    probe = User()
    probe.set_password(DEMO_PASSWORD)
    return probe.password_hash


def build_staff() -> list[User]:
    users = []
    for email, name, role in DEMO_STAFF:
        user = User(email=email, full_name=name, role=role, email_confirmed_at=utcnow())
        user.password_hash = demo_password_hash()
        if current_app.config.get("DEMO_SECOND_FACTOR"):
            # Development only: an authenticator "already set up", its codes
            # shown at /dev/second-factor-codes.
            second_factor.set_up_demo(user, current_app.config["SECRET_KEY"])
        db.session.add(user)
        users.append(user)
    db.session.flush()
    return users


def demo_pdf(title: str) -> bytes:
    """A small, valid one-page PDF, so demo documents open when downloaded."""
    text = title.replace("\\", "").replace("(", "").replace(")", "")
    stream = f"BT /F1 16 Tf 72 770 Td ({text}) Tj 0 -24 Td /F1 10 Tf (Demo document) Tj ET"
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        "/Resources << /Font << /F1 5 0 R >> >> >>",
        f"<< /Length {len(stream)} >>\nstream\n{stream}\nendstream",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = b"%PDF-1.4\n"
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode("latin-1")
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += "".join(f"{o:010d} 00000 n \n" for o in offsets).encode()
    out += (f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\n"
            f"startxref\n{xref}\n%%EOF\n").encode()
    return out


# Settings are (name, type, Ofsted URN, judgement, judgement date, places, ages, postcode).
DEMO_PROVIDERS = [
    dict(slug="brightwater-fostering", admin="Amira Khan", legal_name="Brightwater Fostering Ltd",
         trading_name="Brightwater Fostering", company_number="09876543",
         address_line_1="Unit 4, Stratford Workspace", address_line_2="1 Burford Road",
         town="London", postcode="E15 2ST", phone="020 8555 0142",
         settings=[("Brightwater Fostering East London", SettingType.FOSTERING_AGENCY, "SC483920",
                    OfstedJudgement.GOOD, date(2024, 5, 14), 60, (0, 17), "E15 2ST")],
         evidence="complete", story="submitted", lots=[1]),
    dict(slug="oakfield-homes", admin="Daniel Mensah", legal_name="Oakfield Children's Homes Ltd",
         trading_name="Oakfield Homes", company_number="11223344",
         address_line_1="27 Straight Road", address_line_2="Harold Hill",
         town="Romford", postcode="RM3 7JS", phone="01708 555 210",
         settings=[("Oakfield House", SettingType.CHILDRENS_HOME, "2612345",
                    OfstedJudgement.OUTSTANDING, date(2025, 3, 11), 4, (8, 17), "RM3 0PL"),
                   ("Willow Lodge", SettingType.CHILDRENS_HOME, "SC481277",
                    OfstedJudgement.GOOD, date(2024, 10, 2), 3, (11, 17), "CM1 2QE")],
         evidence="complete", story="submitted", lots=[2]),
    dict(slug="harbour-supported-living", admin="Joanne Price",
         legal_name="Harbour Supported Living CIC", trading_name="Harbour",
         company_number="12890456", address_line_1="140 Cranbrook Road", address_line_2="",
         town="Ilford", postcode="IG1 4LZ", phone="020 8553 0199",
         settings=[("Harbour House", SettingType.SUPPORTED_ACCOMMODATION, "2734561",
                    OfstedJudgement.NOT_YET_INSPECTED, None, 12, (16, 17), "IG1 1DD")],
         evidence="partial", story="draft", lots=[3]),
    dict(slug="meadowbank-school", admin="Richard Hale", legal_name="Meadowbank School Trust",
         trading_name="Meadowbank School", company_number="07345612",
         address_line_1="Meadowbank", address_line_2="Rayne Road",
         town="Braintree", postcode="CM7 2QS", phone="01376 555 300",
         settings=[("Meadowbank School", SettingType.SPECIAL_SCHOOL, "146523",
                    OfstedJudgement.GOOD, date(2023, 11, 21), 40, (7, 19), "CM7 2QS")],
         evidence="complete", story="withdrawn", lots=[4]),
    dict(slug="riverside-care", admin="Fatima Begum", legal_name="Riverside Care Group Ltd",
         trading_name="Riverside Care", company_number="10554321",
         address_line_1="3 Clarence Street", address_line_2="",
         town="Southend-on-Sea", postcode="SS1 1BH", phone="01702 555 777",
         settings=[("Riverside View", SettingType.CHILDRENS_HOME, "2598765",
                    OfstedJudgement.REQUIRES_IMPROVEMENT, date(2025, 1, 20), 5, (12, 17),
                    "SS1 2EH")],
         evidence="none", story="none", lots=[]),
    dict(slug="evergreen-foster-care", admin="Tomasz Nowak", legal_name="Evergreen Foster Care Ltd",
         trading_name="Evergreen Foster Care", company_number="08765432",
         address_line_1="Aquila House", address_line_2="Waterloo Lane",
         town="Chelmsford", postcode="CM1 1BN", phone="01245 555 480",
         settings=[("Evergreen Foster Care Essex", SettingType.FOSTERING_AGENCY, "SC472615",
                    OfstedJudgement.OUTSTANDING, date(2024, 2, 6), 45, (0, 17), "CM2 0PP"),
                   ("Evergreen Foster Care North London", SettingType.FOSTERING_AGENCY,
                    "2701122", OfstedJudgement.GOOD, date(2025, 7, 9), 30, (0, 17), "N17 6SB")],
         evidence="complete", story="started", lots=[1]),
]

DEMO_PRICES = {
    1: ["846", "880", "925", "1050", "1045", "990"],
    2: ["4500", "3950", "3463", "4400"],
    3: ["950", "1250"],  # a draft: two of four entered so far
    4: ["4200", "4950", "1850"],
}
DEMO_RATES = {
    1: ["28", "85", "0.45", "180", "450"],
    2: ["30", "60", "220", "95", "0.45"],
    3: ["26", "45", "350"],
    4: ["90", "90", "160", "0.50"],
}
DEMO_ANSWERS = {
    "Safeguarding": "Every member of staff completes safeguarding training before starting and "
                    "refreshes it each year. Our designated safeguarding lead reviews every "
                    "missing episode within 24 hours, holds a return home interview within 72 "
                    "hours and shares intelligence on exploitation with the police and the "
                    "child's social worker. Risk assessments are reviewed monthly.",
    "Outcomes": "We set outcomes with each child and their social worker at the placement "
                "planning meeting and review them every quarter. Last year 92% of the children "
                "we cared for were in full-time education, and every child was registered with "
                "a GP and dentist within four weeks of arriving.",
    "Matching and stability": "Our matching panel considers the child's needs, the carers' "
                              "skills and the other children in the home. We hold a "
                              "stability meeting at the first sign of strain, and 88% of "
                              "placements last longer than a year.",
    "Working with the council": "Each child has a named supervising social worker who "
                                "attends every review, shares monthly reports with the "
                                "council and the Independent Reviewing Officer, and works "
                                "with the virtual school on the personal education plan.",
}


def store_demo_pdf(provider, kind: DocumentKind, *, setting=None, cover=None, expires_on=None,
               uploaded_by=None, name: str | None = None) -> Document:
    from app.storage import get_storage, new_key
    body = demo_pdf(f"{provider.display_name}: {name or kind.label}")
    key = new_key(f"providers/{provider.id}")
    stored = get_storage().save(key, io.BytesIO(body), max_bytes=len(body))
    document = Document(
        provider_id=provider.id, setting_id=setting.id if setting else None, kind=kind,
        status=DocumentStatus.AWAITING_CHECK, storage_key=key,
        original_filename=(kind.value.replace("_", "-")
                           + (f"-{setting.ofsted_urn}" if setting else "") + ".pdf"),
        content_type="application/pdf", size_bytes=stored.size, sha256=stored.sha256,
        insurer="Zurich Municipal" if kind.is_insurance else None,
        policy_number=(f"ZM-{provider.company_number}-{kind.value[:2].upper()}"
                       if kind.is_insurance else None),
        cover_amount=cover, expires_on=expires_on,
        uploaded_by_id=uploaded_by.id if uploaded_by else None)
    db.session.add(document)
    return document


def add_demo_evidence(provider, settings, user, level: str, today: date) -> None:
    if level == "none":
        return
    renewal = today + timedelta(days=240)
    covers = {DocumentKind.PUBLIC_LIABILITY: 10 * M, DocumentKind.EMPLOYERS_LIABILITY: 10 * M,
              DocumentKind.PROFESSIONAL_INDEMNITY: 5 * M}
    if level == "partial":
        # Shows the provider what fails before it submits: one policy has expired,
        # the others are not uploaded yet.
        store_demo_pdf(provider, DocumentKind.PUBLIC_LIABILITY, cover=5 * M,
                   expires_on=today - timedelta(days=20), uploaded_by=user)
        store_demo_pdf(provider, DocumentKind.EMPLOYERS_LIABILITY, cover=5 * M,
                   expires_on=renewal, uploaded_by=user)
        return
    for kind, cover in covers.items():
        store_demo_pdf(provider, kind, cover=cover, expires_on=renewal, uploaded_by=user)
    store_demo_pdf(provider, DocumentKind.SAFEGUARDING_POLICY, uploaded_by=user)
    store_demo_pdf(provider, DocumentKind.ACCOUNTS, uploaded_by=user, name="Accounts 2024-25")
    for setting in settings:
        store_demo_pdf(provider, DocumentKind.OFSTED_CERTIFICATE, setting=setting, uploaded_by=user)


def fill_application(ctx, application, user, settings, *, complete: bool) -> None:
    """Answer every section through the domain rules, as a provider would."""
    from app.domain import applications as rules
    from app.domain.declarations import GROUNDS
    rules.confirm_organisation(ctx, application)
    rules.save_declarations(ctx, application, {g.code: (False, "") for g in GROUNDS})
    rules.save_lot_settings(ctx, application, {
        alot.lot_id: [s for s in settings if rules.setting_problem(s, alot.lot) is None]
        for alot in application.lots})
    lots = rules.chosen_lots(application)
    prices = {}
    for lot in lots:
        for pt, amount in zip(lot.placement_types, DEMO_PRICES[lot.number]):
            prices[pt.id] = D(amount)
    rules.save_prices(ctx, application, prices)
    if not complete:
        return
    rates = {item.id: D(amount) for lot in lots
             for item, amount in zip(lot.service_items, DEMO_RATES[lot.number])}
    custom = [rules.CustomItem(lot_id=lots[0].id, name="Out-of-hours emergency placement "
                               "assessment", unit=ServiceUnit.SESSION, rate=D("175"))]
    rules.save_services(ctx, application, rates, custom, complete=True)
    rules.save_terms(ctx, application, user, {lot.id: True for lot in lots})
    rules.save_quality_answers(ctx, application, {
        q.id: DEMO_ANSWERS.get(q.title, DEMO_ANSWERS["Outcomes"])
        for lot in lots for q in lot.quality_questions})


def build_providers(dps: Dps) -> list[Provider]:
    """Six providers at different stages, each with an administrator who signs
    in as admin@<slug>.example. Everything goes through the domain rules, so
    the data is consistent and audited."""
    from app.domain import applications as rules
    from app.domain.audit import AuditContext
    today = rules.today()
    lots_by_number = {lot.number: lot for lot in dps.lots}
    providers = []
    for spec in DEMO_PROVIDERS:
        provider = Provider(legal_name=spec["legal_name"], trading_name=spec["trading_name"],
                            company_number=spec["company_number"],
                            address_line_1=spec["address_line_1"],
                            address_line_2=spec["address_line_2"], town=spec["town"],
                            postcode=spec["postcode"], contact_name=spec["admin"],
                            contact_phone=spec["phone"],
                            contact_email=f"office@{spec['slug']}.example")
        db.session.add(provider)
        db.session.flush()
        user = User(email=f"admin@{spec['slug']}.example", full_name=spec["admin"],
                    role=Role.PROVIDER_ADMIN, provider_id=provider.id,
                    email_confirmed_at=utcnow())
        user.password_hash = demo_password_hash()
        db.session.add(user)
        settings = []
        for name, kind, urn, judgement, when, places, ages, postcode in spec["settings"]:
            settings.append(Setting(provider_id=provider.id, name=name, setting_type=kind,
                                    ofsted_urn=urn, ofsted_judgement=judgement,
                                    ofsted_judgement_date=when, registered_places=places,
                                    age_min=ages[0], age_max=ages[1], gender=Gender.ANY,
                                    postcode=postcode, outcode=postcode.split()[0], **_grid(postcode)))
        db.session.add_all(settings)
        db.session.flush()
        add_demo_evidence(provider, settings, user, spec["evidence"], today)
        db.session.flush()
        ctx = AuditContext(actor_id=user.id, actor_role=user.role.value)
        story = spec["story"]
        if story != "none":
            application = rules.start_application(
                ctx, provider, user, [lots_by_number[n] for n in spec["lots"]], today)
            if story in ("submitted", "withdrawn", "draft"):
                fill_application(ctx, application, user, settings, complete=story != "draft")
            if story in ("submitted", "withdrawn"):
                documents = db.session.execute(
                    sa.select(Document).where(Document.provider_id == provider.id)
                ).scalars().all()
                rules.submit(ctx, application, user, documents, today,
                             full_name=spec["admin"])
            if story == "withdrawn":
                rules.withdraw(ctx, application, "We are concentrating on our own local "
                               "authority contracts this year and will apply again later.")
        db.session.flush()
        providers.append(provider)
    return providers


# Providers already approved on Lots 1 and 2 (before this portal: no sign-in
# accounts), so commissioners see a market and evaluators a price distribution.
# (trading name, setting postcode).
APPROVED_PROVIDERS = {
    1: [("Thameside Fostering", "E6 6ER"), ("Larkspur Family Placements", "IG11 8PY"),
        ("Hollybrook Fostering", "RM1 3BB"), ("Kingfisher Foster Care", "E17 4JN"),
        ("Marshgate Fostering", "E20 1DY"), ("Elmstead Family Fostering", "CO7 7AU"),
        ("Riverbend Foster Care", "SS14 1QA"), ("Wanstead Park Fostering", "E11 2LD"),
        ("Lea Valley Fostering", "EN9 1AS"), ("Chestnut Tree Fostering", "CM20 1AB")],
    2: [("Hawthorn Children's Homes", "RM7 9AX"), ("Beacon House Care", "SS2 6HZ"),
        ("Ashdown Residential Care", "CM2 6PY"), ("Fernlea Children's Services", "IG6 2TH"),
        ("Maple Grove Homes", "DA1 1DP"), ("Stonebridge Care", "EN3 7XN"),
        ("Foxglove Children's Homes", "CO4 9HU"), ("Heron Lodge Care", "SG12 9LA"),
        ("Redwood Children's Homes", "CM14 4RA"), ("Bramble Cottage Care", "ME4 4QE")],
}
# Typical weekly fee per placement type (in the lot's order), from the published
# averages: IFA about £925, residential about £3,817 (../shared/DOMAIN.md).
TYPICAL_WEEKLY = {1: ["860", "885", "925", "975", "990", "935"],
                  2: ["4250", "3800", "3400", "3850"]}
WEEKLY_RANGE = {1: (D("780"), D("1150")), 2: (D("3200"), D("4800"))}
# Each provider's prices relative to the typical fee (mean 1.00).
PRICE_SPREAD = ["0.88", "0.91", "0.94", "0.97", "0.99", "1.01", "1.03", "1.06", "1.09", "1.12"]
# Last year's prices were about 3.5% lower (the fee review's typical increase).
REVIEW_INCREASE = D("1.035")
# Whom each approved setting cares for, so the directory's filters have
# something to tell apart: (gender, youngest, oldest, specialism codes).
SETTING_PROFILES = {
    "Thameside Fostering": (Gender.ANY, 0, 17, ["sibling_groups", "emergency"]),
    "Larkspur Family Placements": (Gender.ANY, 0, 17, ["parent_and_child"]),
    "Hollybrook Fostering": (Gender.ANY, 5, 17, ["emotional_behavioural", "respite"]),
    "Kingfisher Foster Care": (Gender.ANY, 11, 17, ["uasc", "remand"]),
    "Marshgate Fostering": (Gender.ANY, 0, 17, ["autism", "learning_disability"]),
    "Elmstead Family Fostering": (Gender.ANY, 0, 11, ["sibling_groups"]),
    "Riverbend Foster Care": (Gender.ANY, 0, 17, ["emergency"]),
    "Wanstead Park Fostering": (Gender.ANY, 8, 17, ["cse_risk", "mental_health"]),
    "Lea Valley Fostering": (Gender.ANY, 0, 17, ["emotional_behavioural", "solo"]),
    "Chestnut Tree Fostering": (Gender.ANY, 0, 17, ["physical_disability", "respite"]),
    "Hawthorn Children's Homes": (Gender.ANY, 8, 17, ["cce_risk", "emotional_behavioural"]),
    "Beacon House Care": (Gender.FEMALE, 12, 17, ["cse_risk", "mental_health"]),
    "Ashdown Residential Care": (Gender.ANY, 10, 17, ["autism", "learning_disability"]),
    "Fernlea Children's Services": (Gender.MALE, 13, 17, ["cce_risk", "remand"]),
    "Maple Grove Homes": (Gender.ANY, 8, 15, ["emotional_behavioural", "sibling_groups"]),
    "Stonebridge Care": (Gender.FEMALE, 11, 17, ["cse_risk", "emotional_behavioural"]),
    "Foxglove Children's Homes": (Gender.ANY, 6, 14, ["autism", "physical_disability"]),
    "Heron Lodge Care": (Gender.FEMALE, 12, 17, ["cse_risk", "mental_health", "solo"]),
    "Redwood Children's Homes": (Gender.MALE, 10, 17, ["emotional_behavioural"]),
    "Bramble Cottage Care": (Gender.ANY, 8, 17, ["emergency", "solo"]),
}
# Inspection dates that app/data/ofsted-sample.csv refers to: fixed, so the
# sample reads the same whenever the demo is loaded (others follow the review).
FIXED_OFSTED_DATES = {"Hawthorn Children's Homes": date(2024, 9, 24),
                      "Ashdown Residential Care": date(2024, 6, 12)}
# Placement types a provider has no price for (Fernlea has no school on site):
# it sorts last, unpriced, in a search by that type.
NOT_OFFERED = {"Fernlea Children's Services": ["Residential with education on site"]}


def _slug(name: str) -> str:
    return name.lower().replace("'", "").replace(" ", "-")


def _to_5(amount: Decimal) -> Decimal:
    return (amount / 5).quantize(D("1")) * 5


def last_review_date(today: date) -> date:
    """The fee review takes effect on 1 April: the latest one on or before today."""
    year = today.year if (today.month, today.day) >= (4, 1) else today.year - 1
    return date(year, 4, 1)


def build_approved_providers(dps: Dps, today: date, *,
                             not_offered: dict[str, list[str]] | None = None) -> list[Provider]:
    """Ten providers on each of Lots 1 and 2: an active membership, last
    year's prices (from their application) and this year's (from the fee
    review), so the price history has two rows per item. `not_offered` maps
    a trading name to the placement types it has no price for."""
    from app.domain import audit
    from app.domain.states import MembershipStatus, PriceSource
    from app.models import Membership, Price
    review = last_review_date(today)
    lots = {lot.number: lot for lot in dps.lots}
    approved = []  # (provider, lot, position in the lot's list)
    for number, specs in APPROVED_PROVIDERS.items():
        for i, (name, postcode) in enumerate(specs):
            slug = _slug(name)
            provider = Provider(
                legal_name=f"{name} Ltd", trading_name=name,
                company_number=f"{13600000 + number * 100 + i:08d}",
                address_line_1=f"{10 + i * 7} High Street",
                town="London" if postcode[0] == "E" else "Essex", postcode=postcode,
                contact_name="Office manager", contact_phone=f"020 8555 {1000 + number * 100 + i}",
                contact_email=f"office@{slug}.example")
            db.session.add(provider)
            approved.append((provider, lots[number], i))
    db.session.flush()
    memberships = []
    for provider, lot, i in approved:
        home = lot.number == 2
        gender, age_min, age_max, specialisms = SETTING_PROFILES.get(
            provider.trading_name, (Gender.ANY, 8 if home else 0, 17, []))
        db.session.add(Setting(
            provider_id=provider.id, name=provider.trading_name if home
            else f"{provider.trading_name} (agency)",
            setting_type=SettingType.CHILDRENS_HOME if home else SettingType.FOSTERING_AGENCY,
            ofsted_urn=f"SC6{lot.number}{i:04d}",
            ofsted_judgement=OfstedJudgement.OUTSTANDING if i % 3 == 0 else OfstedJudgement.GOOD,
            ofsted_judgement_date=FIXED_OFSTED_DATES.get(
                provider.trading_name, review - timedelta(days=90 + 37 * i)),
            registered_places=2 + i % 4 if home else 20 + 5 * i,
            age_min=age_min, age_max=age_max, gender=gender, specialisms=specialisms,
            postcode=provider.postcode, outcode=provider.postcode.split()[0],
            **_grid(provider.postcode)))
        joined = review - timedelta(days=365 + 9 * i)
        membership = Membership(provider_id=provider.id, lot_id=lot.id, started_on=joined,
                                status=MembershipStatus.ACTIVE)
        db.session.add(membership)
        memberships.append((membership, lot))
        low, high = WEEKLY_RANGE[lot.number]
        spread = D(PRICE_SPREAD[(i * 3) % len(PRICE_SPREAD)])
        gaps = set((not_offered or {}).get(provider.trading_name, []))
        items = [({"placement_type_id": pt.id},
                  min(high, max(low, _to_5(D(typical) * spread))), True)
                 for pt, typical in zip(lot.placement_types, TYPICAL_WEEKLY[lot.number])
                 if pt.name not in gaps]
        items += [({"service_item_id": item.id}, (D(rate) * spread).quantize(PENNY), False)
                  for item, rate in zip(lot.service_items, DEMO_RATES[lot.number])]
        for key, amount, weekly in items:
            before = amount / REVIEW_INCREASE
            before = _to_5(before) if weekly else before.quantize(PENNY)
            db.session.add_all([
                Price(provider_id=provider.id, lot_id=lot.id, amount=before, valid_from=joined,
                      valid_to=review, source=PriceSource.APPLICATION, **key),
                Price(provider_id=provider.id, lot_id=lot.id, amount=amount, valid_from=review,
                      source=PriceSource.FEE_REVIEW, **key)])
    db.session.flush()
    for membership, lot in memberships:
        audit.record(audit.SYSTEM, "membership.created", "membership", membership.id,
                     provider_id=membership.provider_id,
                     after={"status": membership.status.value, "lot": lot.number,
                            "started_on": membership.started_on.isoformat()},
                     reason="Approved before the portal opened (demo data)")
    return [provider for provider, _, _ in approved]


# Member authorities and the lots of their current access agreements (for the
# DPS term, at the published £3,150 per lot per year). Waltham Forest's Lot 2
# agreement ended at the last fee review, so its officers no longer see Lot 2.
LEAD_EMAIL_DOMAIN = "newham.example"
DEMO_MEMBERS = [
    ("London Borough of Redbridge", "redbridge.example", [1, 2]),
    ("London Borough of Havering", "havering.example", [2]),
    ("London Borough of Barking and Dagenham", "barkingdagenham.example", [1, 2, 3]),
    ("London Borough of Waltham Forest", "walthamforest.example", [1]),
]
ANNUAL_FEE_PER_LOT = D("3150")
# Fixed rate-card API tokens, so the README's curl examples work on any demo
# install. Demo data only: real tokens are random and shown once.
DEMO_API_TOKENS = {
    "London Borough of Redbridge": "dps_demo-redbridge-rate-card-token-lots-1-and-2",
    "London Borough of Havering": "dps_demo-havering-rate-card-token-lot-2-only",
}


def build_authorities(dps: Dps, staff: list[User], today: date) -> list:
    """The lead authority, four member authorities with their access
    agreements and demo API tokens; each demo staff account joins the
    authority of its email domain."""
    from app.domain import agreements, api_tokens
    from app.domain.audit import AuditContext
    admin = next(u for u in staff if u.role is Role.ADMIN)
    ctx = AuditContext(actor_id=admin.id, actor_role=admin.role.value)
    lots = {lot.number: lot for lot in dps.lots}
    by_domain = {LEAD_EMAIL_DOMAIN: agreements.create_authority(ctx, name=dps.lead_authority,
                                                                is_lead=True)}
    members = []
    for name, domain, numbers in DEMO_MEMBERS:
        authority = agreements.create_authority(ctx, name=name, is_lead=False)
        by_domain[domain] = authority
        members.append(authority)
        for number in numbers:
            agreements.add_agreement(ctx, authority, lot=lots[number],
                                     annual_fee=ANNUAL_FEE_PER_LOT, starts_on=dps.opens_on,
                                     ends_on=dps.closes_on)
        if name in DEMO_API_TOKENS:
            api_tokens.issue_token(ctx, authority, name="Demo brokerage system",
                                   created_by_id=admin.id, plaintext=DEMO_API_TOKENS[name])
    ended = last_review_date(today) - timedelta(days=1)
    if ended > dps.opens_on:
        agreements.add_agreement(ctx, by_domain["walthamforest.example"], lot=lots[2],
                                 annual_fee=ANNUAL_FEE_PER_LOT, starts_on=dps.opens_on,
                                 ends_on=ended)
    for user in staff:
        user.authority_id = by_domain[user.email.split("@", 1)[1]].id
    db.session.flush()
    return members


# ------------------------------------------------------- contract management

# Lot 2 suspends a provider automatically after 14 days without valid cover.
AUTO_SUSPEND_AFTER_DAYS = {2: 14}
# Approved providers in a story below sign in as admin@<slug>.example, so
# their banners, reminders and renewals can be tried: trading name -> admin.
PROVIDER_ACCOUNTS = {"Stonebridge Care": "Olivia Grant",
                     "Redwood Children's Homes": "Kwame Boateng",
                     "Maple Grove Homes": "Sarah Lewis"}
# Public liability insurance that runs out this many days after the load
# date: Redwood's is due a 30-day reminder at the first expiry check, Maple
# Grove's ran out 3 days ago, so that check makes it non-compliant.
EXPIRING_LIABILITY = {"Redwood Children's Homes": 20, "Maple Grove Homes": -3}
INSURANCE_COVER = {DocumentKind.PUBLIC_LIABILITY: 10 * M,
                   DocumentKind.EMPLOYERS_LIABILITY: 10 * M,
                   DocumentKind.PROFESSIONAL_INDEMNITY: 5 * M}


def _ctx(user: User):
    from app.domain.audit import AuditContext
    return AuditContext(actor_id=user.id, actor_role=user.role.value)


def add_member_insurance(approved: list[Provider], admins: dict[int, User],
                         checker: User, today: date) -> None:
    """Verified insurance for every approved provider, at or above every
    lot's minimum. Renewals are spread from 75 days to about ten months
    ahead, past the first (60-day) reminder, except the two in
    EXPIRING_LIABILITY, so the first expiry check has a little to do."""
    from app.domain.compliance import verify_renewal
    documents = []
    for n, provider in enumerate(approved):
        renewal = today + timedelta(days=75 + (n * 29) % 240)
        lapsing = EXPIRING_LIABILITY.get(provider.trading_name)
        for kind, cover in INSURANCE_COVER.items():
            expires_on = renewal
            if kind is DocumentKind.PUBLIC_LIABILITY and lapsing is not None:
                expires_on = today + timedelta(days=lapsing)
            documents.append(store_demo_pdf(provider, kind, cover=cover, expires_on=expires_on,
                                            uploaded_by=admins.get(provider.id)))
    db.session.flush()
    ctx = _ctx(checker)
    for document in documents:
        verify_renewal(ctx, document, checker.id)


def build_contract_management(dps: Dps, staff: list[User], approved: list[Provider],
                              today: date) -> None:
    """What a DPS looks like after a while: insurance on file, a safeguarding
    suspension, a past suspension lifted, a removal awaiting a second
    manager, and concerns at each stage. Everything through the domain
    rules, as the people named would do it in the portal."""
    from app.domain import concerns, removals, suspensions
    from app.domain.states import ConcernCategory, Severity, SuspensionReason
    people = {user.email: user for user in staff}
    manager = people["manager@newham.example"]
    evaluator = people["evaluator@newham.example"]
    redbridge = people["officer@redbridge.example"]
    havering = people["officer@havering.example"]
    lots = {lot.number: lot for lot in dps.lots}
    for number, days in AUTO_SUSPEND_AFTER_DAYS.items():
        lots[number].auto_suspend_after_days = days
    by_name = {p.trading_name: p for p in approved}
    settings = {s.provider_id: s for s in db.session.execute(
        sa.select(Setting).where(Setting.provider_id.in_([p.id for p in approved]))).scalars()}

    admins = {}
    for name, full_name in PROVIDER_ACCOUNTS.items():
        provider = by_name[name]
        user = User(email=f"admin@{_slug(name)}.example", full_name=full_name,
                    role=Role.PROVIDER_ADMIN, provider_id=provider.id,
                    email_confirmed_at=utcnow())
        user.password_hash = demo_password_hash()
        db.session.add(user)
        admins[provider.id] = user
    db.session.flush()
    add_member_insurance(approved, admins, evaluator, today)

    def day(d: date) -> str:
        return f"{d.day} {d:%B %Y}"

    # A safeguarding alert (not shared with the provider) and the suspension
    # from Lot 2 that followed it.
    stonebridge = by_name["Stonebridge Care"]
    alert = concerns.raise_concern(
        _ctx(manager), stonebridge, setting=settings[stonebridge.id],
        category=ConcernCategory.SAFEGUARDING, severity=Severity.HIGH,
        description="The police told us that a 15-year-old girl living at the home was found "
                    "at an address linked to exploitation after going missing overnight. The "
                    "home did not report her missing to the police or her social worker for "
                    "nine hours.",
        authority_id=manager.authority_id)
    suspended_on = today - timedelta(days=7)
    review_on = today + timedelta(days=21)
    suspensions.suspend(
        _ctx(manager), stonebridge, lot=lots[2], reason=SuspensionReason.SAFEGUARDING,
        description="No new placements while the safeguarding alert about an unreported "
                    "missing episode is investigated. Children already living at the home "
                    "stay, with weekly visits from their social workers.",
        remedy="Send us your revised missing-from-care procedure, evidence that every member "
               "of staff has been trained in it, and your response to the strategy meeting's "
               f"actions. We will review this suspension on {day(review_on)}.",
        starts_on=suspended_on, review_on=review_on, concern=alert)

    # A suspension for performance, since lifted with a note.
    kingfisher = by_name["Kingfisher Foster Care"]
    past = suspensions.suspend(
        _ctx(manager), kingfisher, lot=lots[1], reason=SuspensionReason.PERFORMANCE,
        description="Monthly placement reports were overdue for two quarters and the agency "
                    "missed three placement planning meetings.",
        remedy="Agree an improvement plan with the contract manager and send every monthly "
               "report on time for three months.",
        starts_on=today - timedelta(days=150), review_on=today - timedelta(days=90))
    suspensions.reinstate(
        _ctx(manager), past,
        "Improvement plan completed: every monthly report since has arrived on time and the "
        "agency attended every placement planning meeting. Agreed at the review meeting.")

    # A removal one manager has asked for, waiting for a second (manager2).
    removals.request_removal(
        _ctx(manager), by_name["Riverbend Foster Care"], lot=lots[1], requested_by=manager,
        ground="Twice this year the agency placed children with foster carers its panel had "
               "not yet approved, in breach of the Fostering Services Regulations and clause "
               "12 of the DPS terms, after a formal warning in the spring.")

    # A quality-of-care concern Redbridge raised, now being investigated.
    heron = by_name["Heron Lodge Care"]
    concern = concerns.raise_concern(
        _ctx(redbridge), heron, setting=settings[heron.id],
        category=ConcernCategory.QUALITY_OF_CARE, severity=Severity.MEDIUM,
        description="A 14-year-old we placed has not been in full-time education for six "
                    "weeks and the home has not told the virtual school. Her social worker "
                    "has raised it at two visits.",
        authority_id=redbridge.authority_id)
    db.session.flush()
    concerns.change_status(_ctx(evaluator), concern, "investigate", version=concern.version)

    # A complaint Havering raised, investigated and closed with its outcome.
    beacon = by_name["Beacon House Care"]
    complaint = concerns.raise_concern(
        _ctx(havering), beacon, category=ConcernCategory.COMPLAINT, severity=Severity.LOW,
        description="A parent complained that the home cancelled two planned family contact "
                    "visits at short notice without telling the social worker.",
        authority_id=havering.authority_id)
    db.session.flush()
    concerns.change_status(_ctx(manager), complaint, "investigate", version=complaint.version)
    db.session.flush()
    concerns.change_status(
        _ctx(manager), complaint, "close", version=complaint.version,
        outcome="Upheld. Both visits were cancelled because of staff shortages and the social "
                "worker should have been told. The home has changed its rota so contact "
                "visits are always covered and has apologised to the family. No further "
                "action.")
    db.session.flush()


# The fee review that set this year's prices (effective on the last 1 April):
# closed, every provider agreed. Guidance from the weighted model (70 % staff
# costs x NLW +4.1 % + 30 % other costs x CPIH +3.4 % = 3.89 %). Three in ten
# providers asked for what was agreed; the others asked more on weekly fees
# and accepted a counter-offer at the agreed price. ASKED_ABOVE_AGREED sets how
# much more per lot so the round's report shows London-like cost avoidance
# (2016-17: fostering 3.6 %, residential 8.9 %).
PAST_REVIEW_ASKED_AGREED = {0, 4, 8}
ASKED_ABOVE_AGREED = {1: D("1.053"), 2: D("1.14")}
ASK_VARIATION = ["0.99", "1.01", "0.98", "1.02", "1.00", "1.03", "0.97", "1.00", "1.01", "0.99"]


def build_past_fee_review(dps: Dps, staff: list[User], approved: list[Provider],
                          today: date):
    """The closed round behind the FEE_REVIEW prices build_approved_providers
    added: a submission per approved provider whose lines go from last
    year's price (current) through what it asked to the price in force now
    (agreed). Historical rows, written as they were then, not replayed
    through today's rules (whose deadlines are long past)."""
    from datetime import datetime, time
    from app.domain import audit
    from app.domain.fee_review import refresh_totals
    from app.domain.prices import price_label, price_unit
    from app.domain.states import (FeeReviewStatus, LineDecision, PriceSource,
                                   SubmissionStatus)
    from app.models import (FeeReviewLine, FeeReviewMessage, FeeReviewRound, FeeReviewRoundLot,
                            FeeReviewSubmission, Membership, Price)
    people = {user.email: user for user in staff}
    manager, manager2 = people["manager@newham.example"], people["manager2@newham.example"]
    evaluator = people["evaluator@newham.example"]
    review = last_review_date(today)
    year = review.year

    def at(d: date, hour: int = 10) -> datetime:
        return datetime.combine(d, time(hour))
    opens_on, closes_on = date(year, 1, 6), date(year, 2, 13)
    lots = [lot for lot in dps.lots if lot.number in APPROVED_PROVIDERS]
    round = FeeReviewRound(
        dps_id=dps.id, name=f"Fee review {year}-{(year + 1) % 100:02d}",
        status=FeeReviewStatus.CLOSED, opens_on=opens_on, closes_on=closes_on,
        effective_on=review, guidance_method="model", staff_cost_weight=D("70"),
        nlw_change=D("4.1"), cpih=D("3.4"), guidance_uplift=D("3.89"), cap_uplift=None,
        message="Tell us what your costs have done this year. Show your workings for any "
                "increase above the guidance.",
        created_by_id=manager.id, created_at=at(date(year, 1, 2)), opened_at=at(opens_on, 9),
        opened_by_id=manager.id, closed_at=at(closes_on + timedelta(days=3)),
        lots=[FeeReviewRoundLot(lot_id=lot.id) for lot in lots])
    db.session.add(round)
    db.session.flush()
    rows = db.session.execute(
        sa.select(Price).where(Price.provider_id.in_([p.id for p in approved]))
        .order_by(Price.provider_id, Price.lot_id, Price.id)).scalars().all()
    # Last year's row and this year's for each item: (provider, lot, item) -> [old, new].
    pairs: dict[tuple, list] = {}
    for row in rows:
        item = (row.provider_id, row.lot_id, row.placement_type_id, row.service_item_id)
        pairs.setdefault(item, [None, None])[0 if row.valid_to == review else 1] = row
    # Each provider's place in its lot's list, as build_approved_providers spread prices.
    lot_of = dict(db.session.execute(
        sa.select(Membership.provider_id, Membership.lot_id)
        .where(Membership.provider_id.in_([p.id for p in approved]))).all())
    position = {}
    for lot in lots:
        for i, provider in enumerate(p for p in approved if lot_of.get(p.id) == lot.id):
            position[provider.id] = i
    submissions = []
    for provider in approved:
        i = position[provider.id]
        submitted_on = opens_on + timedelta(days=3 + 3 * i)
        submission = FeeReviewSubmission(
            round=round, provider_id=provider.id, status=SubmissionStatus.AGREED,
            justification="Staff pay follows the National Living Wage; agency cover, energy "
                          "and insurance rose faster than CPIH.",
            invited_at=at(opens_on, 9), submitted_at=at(submitted_on),
            agreed_at=at(closes_on + timedelta(days=10 + i)), prices_from=review,
            agreement_proposed_by_id=evaluator.id, agreed_by_id=manager2.id)
        asked_more = i not in PAST_REVIEW_ASKED_AGREED
        lines = []
        for (pid, lot_id, pt_id, item_id), (old, new) in pairs.items():
            if pid != provider.id or old is None or new is None:
                continue
            lot_number = next(lot.number for lot in lots if lot.id == lot_id)
            weekly = pt_id is not None
            asked = new.amount
            if weekly and asked_more:
                asked = _to_5(new.amount * ASKED_ABOVE_AGREED[lot_number] * D(ASK_VARIATION[i]))
            decided = at(submitted_on + timedelta(days=12))
            line = FeeReviewLine(
                lot_id=lot_id, position=len(lines), price_id=old.id, placement_type_id=pt_id,
                label=price_label(old), unit=price_unit(old), current_amount=old.amount,
                proposed_amount=None if asked == old.amount else asked,
                decision=LineDecision.ACCEPTED, agreed_amount=new.amount,
                decided_by_id=evaluator.id, decided_at=decided)
            if asked != new.amount:
                line.decision = LineDecision.COUNTER_ACCEPTED
                line.counter_amount = new.amount
                line.decision_note = ("We can agree an uplift in line with the other providers "
                                      "on this lot.")
                line.justification = "Night staff pay and agency cover."
            lines.append(line)
        submission.lines = lines
        db.session.add(submission)
        submissions.append((submission, [pairs[k][1] for k in pairs if k[0] == provider.id]))
    db.session.flush()
    for submission, new_rows in submissions:
        refresh_totals(submission)
        submission.updated_at = submission.agreed_at
        for row in new_rows:
            if row is not None and row.source is PriceSource.FEE_REVIEW:
                row.source_id = submission.id
    # A negotiation thread where the provider had an account to answer with.
    for submission, _rows in submissions:
        admin = db.session.execute(sa.select(User).where(
            User.provider_id == submission.provider_id)).scalars().first()
        countered = [ln for ln in submission.lines
                     if ln.decision is LineDecision.COUNTER_ACCEPTED]
        if admin is None or not countered:
            continue
        db.session.add_all([
            FeeReviewMessage(submission_id=submission.id, author_id=evaluator.id,
                             from_provider=False, created_at=countered[0].decided_at,
                             body="Thank you for the breakdown. Your request is well above "
                                  "the guidance; we have offered the uplift agreed with other "
                                  "homes on this lot."),
            FeeReviewMessage(submission_id=submission.id, author_id=admin.id,
                             from_provider=True,
                             created_at=countered[0].decided_at + timedelta(days=2),
                             body="We accept the counter-offer for this year."),
        ])
    db.session.flush()
    ctx = audit.AuditContext(actor_id=manager.id, actor_role=manager.role.value)
    audit.record(ctx, "fee_review.created", "fee_review_round", round.id,
                 after={"name": round.name, "lot_ids": round.lot_ids,
                        "effective_on": review.isoformat()},
                 reason="Fee review before the portal's fee review module (demo data)")
    audit.record(ctx, "fee_review.closed", "fee_review_round", round.id,
                 after={"status": round.status.value, "agreed": len(submissions)})
    return round


def load_demo_data(reset: bool = False) -> str:
    if reset:
        from app.backup import delete_all_rows  # lifts the audit trail's guard
        delete_all_rows(db.session.connection())
    if db.session.execute(sa.select(Dps.id).limit(1)).first():
        return "Demo data is already loaded (use --reset to start again)."
    from app.domain.applications import today
    on = today()
    dps = build_dps()
    staff = build_staff()
    providers = build_providers(dps)
    approved = build_approved_providers(dps, on, not_offered=NOT_OFFERED)
    members = build_authorities(dps, staff, on)
    build_contract_management(dps, staff, approved, on)
    past_review = build_past_fee_review(dps, staff, approved, on)
    db.session.commit()
    return (f"Loaded {dps.name} with {len(dps.lots)} lots, {len(staff)} staff accounts, "
            f"{len(providers)} providers applying (sign in as admin@<provider>.example, "
            f"password '{DEMO_PASSWORD}') and {len(approved)} providers already approved on "
            f"Lots 1 and 2, with their prices and insurance. {len(members)} member authorities "
            "have access agreements; try the rate-card API as Redbridge (Lots 1 and 2) with "
            f"'Authorization: Bearer {DEMO_API_TOKENS['London Borough of Redbridge']}'. "
            "Stonebridge Care is suspended from Lot 2 (safeguarding) and a removal of "
            "Riverbend Foster Care awaits a second manager. Today's `flask --app wsgi "
            "compliance-check` reminds Redwood Children's Homes that its insurance expires in "
            "20 days and makes Maple Grove Homes non-compliant; `flask --app wsgi ofsted-import "
            "app/data/ofsted-sample.csv` downgrades Ashdown Residential Care. "
            f"{past_review.name} is closed with every price agreed (see its report); open a "
            "new round for Lots 1 and 2 to invite the approved providers.")
