"""Demo data: a realistic DPS with four lots, staff for every role and
providers at several stages. Figures follow ../shared/DOMAIN.md."""
from datetime import date
from decimal import Decimal

import sqlalchemy as sa

from app.domain.reference import OfstedJudgement, ServiceUnit, SettingType
from app.extensions import db
from app.domain.states import Role
from app.models import Dps, Lot, PlacementType, QualityQuestion, ServiceItem, User, utcnow

D = Decimal
M = D("1000000")  # one million pounds, for insurance cover

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
    ("officer@redbridge.example", "Sam Patel", Role.MEMBER_OFFICER),
]


def build_staff() -> list[User]:
    users = []
    for email, name, role in DEMO_STAFF:
        user = User(email=email, full_name=name, role=role, email_confirmed_at=utcnow())
        user.set_password(DEMO_PASSWORD)
        db.session.add(user)
        users.append(user)
    db.session.flush()
    return users


def load_demo_data(reset: bool = False) -> str:
    if reset:
        for table in reversed(db.metadata.sorted_tables):
            db.session.execute(table.delete())
    if db.session.execute(sa.select(Dps.id).limit(1)).first():
        return "Demo data is already loaded (use --reset to start again)."
    dps = build_dps()
    staff = build_staff()
    db.session.commit()
    return f"Loaded {dps.name} with {len(dps.lots)} lots and {len(staff)} staff accounts."
