"""A provider's application to join a DPS: starting it, saving each of its
sections, the status of each section (computed from the saved data, never
stored), submission and withdrawal.

Views parse forms and commit once; nothing here reads the request or commits.
Every save bumps the application's version (Application.touch), which is how a
page opened before a colleague's save is detected (`check_version`).
"""
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from app.domain import audit, snapshots
from app.domain.declarations import GROUNDS
from app.domain.evidence import EvidenceProblem, FINANCIAL_KINDS, ORGANISATION_KINDS, \
    current_documents, evidence_problems
from app.domain.reference import DocumentKind, ServiceUnit
from app.domain.states import APPLICATION_EDITABLE, APPLICATION_TRANSITIONS, \
    ApplicationStatus, IllegalTransition, LotOutcome, SectionStatus, next_application_status
from app.extensions import db
from app.models import (Application, ApplicationLot, ApplicationLotSetting, CeilingPrice,
                        DeclarationAnswer, LotEvaluation, QualityAnswer, ServiceRate, utcnow)

LONDON = ZoneInfo("Europe/London")
PENNY = Decimal("0.01")
MAX_SERVICE_RATE = Decimal("5000")
MAX_CUSTOM_ITEMS = 20


def today() -> date:
    """The date in the UK, where deadlines and expiry dates are read."""
    return datetime.now(LONDON).date()


def local_date(moment: datetime) -> date:
    """The UK date of a stored (naive UTC) timestamp."""
    return moment.replace(tzinfo=timezone.utc).astimezone(LONDON).date()


class ApplicationError(Exception):
    """A rule refused the change; the message is written for the provider."""


class NotEditable(Exception):
    """The application is no longer a draft."""


class VersionConflict(Exception):
    """Someone saved the application after this page was opened."""


CONFLICT_MESSAGE = ("This application has been changed by someone else since you opened this "
                    "page. Your changes have not been saved.")


# ---------------------------------------------------------------- sections

@dataclass(frozen=True)
class Section:
    key: str
    title: str


SECTIONS: tuple[Section, ...] = (
    Section("organisation", "Organisation details"),
    Section("declarations", "Declarations"),
    Section("lots", "Lots and settings"),
    Section("prices", "Ceiling prices"),
    Section("services", "Additional services"),
    Section("terms", "Standard terms"),
    Section("evidence", "Evidence"),
    Section("quality", "Quality questions"),
    Section("check", "Check your answers"),
)
SECTION_TITLES = {s.key: s.title for s in SECTIONS}
# What to do to finish each section, said when submission is refused.
TO_COMPLETE = {
    "organisation": "Confirm your organisation details",
    "declarations": "Answer every declaration question, explaining any answer of yes",
    "lots": "Choose at least one setting that meets the criteria for each lot",
    "prices": "Enter a weekly ceiling price for every placement type",
    "services": "Save your additional services (leave a rate blank if you do not offer it)",
    "terms": "Accept the standard terms for each lot",
    "quality": "Answer every quality question within its word limit",
}


# ---------------------------------------------------------------- rules

def money_text(amount: Decimal) -> str:
    """£25,000 for whole pounds, £12.50 otherwise."""
    if amount == amount.to_integral_value():
        return f"£{amount:,.0f}"
    return f"£{amount:,.2f}"


_AMOUNT = re.compile(r"^(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d+))?$")


def parse_money(raw: str | None, *, noun: str, label: str, maximum: Decimal,
                required: bool) -> Decimal | None:
    """Pounds and pence typed by a person ("1,250", "£1250.50") to a Decimal.

    Returns None for a blank optional amount; raises ApplicationError with the
    message to show next to the field otherwise.
    """
    text = (raw or "").strip().replace(" ", "")
    if text.startswith("£"):
        text = text[1:]
    subject = f"{noun[0].upper()}{noun[1:]} for {label}"
    if not text:
        if required:
            raise ApplicationError(f"Enter a {noun} for {label}")
        return None
    negative = text.startswith("-")
    if negative:
        text = text[1:].lstrip("£")
    match = _AMOUNT.match(text)
    if not match or (match.group(1) is not None and len(match.group(1)) > 2):
        raise ApplicationError(f"{subject} must be an amount in pounds and pence, like 1250.00")
    value = Decimal(text.replace(",", "")).quantize(PENNY)
    if negative or value <= 0:
        raise ApplicationError(f"{subject} must be more than £0")
    if value > maximum:
        raise ApplicationError(f"{subject} must be {money_text(maximum)} or less")
    return value


def count_words(text: str | None) -> int:
    return len((text or "").split())


def _words(n: int) -> str:
    return f"{n} word" if n == 1 else f"{n} words"


def word_count_message(text: str | None, limit: int) -> tuple[str, bool]:
    """The live count under a quality answer, and whether it is over the limit."""
    left = limit - count_words(text)
    if left >= 0:
        return f"You have {_words(left)} remaining", False
    return f"You have {_words(-left)} too many", True


def quality_answer_problem(text: str | None, limit: int, label: str) -> str | None:
    if not (text or "").strip():
        return f"Enter your answer to {label}"
    if count_words(text) > limit:
        return f"Answer to {label} must be {limit} words or fewer"
    return None


def declaration_problem(answer: bool | None, explanation: str | None, label: str) -> str | None:
    """A yes needs the self-cleaning measures explained; the evaluator decides on it."""
    if answer is None:
        return f"Select yes or no for {label}"
    if answer and not (explanation or "").strip():
        return f"Explain the measures you have taken about {label}"
    return None


def eligible_settings(settings, lot) -> list:
    """The settings whose registration type this lot accepts."""
    return [s for s in settings if s.setting_type.value in (lot.setting_types or [])]


def setting_problem(setting, lot) -> str | None:
    """Why a setting cannot be offered under a lot, or None if it can."""
    if setting.setting_type.value not in (lot.setting_types or []):
        return (f"{setting.name} cannot be offered under {lot.title}: "
                f"{setting.setting_type.label.lower()} settings are not part of this lot")
    if not setting.ofsted_judgement.meets(lot.min_ofsted_judgement):
        return (f"{setting.name} cannot be offered under {lot.title}: its Ofsted judgement "
                f"({setting.ofsted_judgement.label}) is below the minimum of "
                f"{lot.min_ofsted_judgement.label}")
    return None


PROFILE_FIELDS = (
    ("legal_name", "Legal name"),
    ("company_number", "Company number"),
    ("address_line_1", "Address"),
    ("town", "Town or city"),
    ("postcode", "Postcode"),
    ("contact_name", "Contact name"),
    ("contact_phone", "Contact telephone number"),
    ("contact_email", "Contact email address"),
)


def profile_missing(provider) -> list[str]:
    """Labels of the organisation details still to be entered."""
    return [label for name, label in PROFILE_FIELDS if not (getattr(provider, name) or "").strip()]


def organisation_snapshot(provider, application) -> dict:
    """The organisation as submitted: kept with the application for the record."""
    names = ("legal_name", "trading_name", "company_number", "charity_number",
             "address_line_1", "address_line_2", "town", "postcode", "contact_name",
             "contact_phone", "contact_email")
    settings = {}
    for alot in application.lots:
        for link in alot.setting_links:
            s = link.setting
            settings[s.id] = {"id": s.id, "name": s.name, "setting_type": s.setting_type.value,
                              "ofsted_urn": s.ofsted_urn,
                              "ofsted_judgement": s.ofsted_judgement.value,
                              "postcode": s.postcode}
    return {**{n: getattr(provider, n) or "" for n in names},
            "settings": [settings[k] for k in sorted(settings)]}


def reference_for(application, on: date) -> str:
    """e.g. DPS-2026-000123: the DPS prefix, the year submitted, the id."""
    prefix = application.dps.reference_prefix if application.dps else "DPS"
    return f"{prefix or 'DPS'}-{on.year}-{application.id:06d}"


def lot_labels(lots, names) -> dict:
    """Disambiguate a name shared by several lots (e.g. "Therapeutic session")
    by adding the lot number; `names` maps a key to (lot, name)."""
    counts: dict[str, int] = {}
    for lot, name in names.values():
        counts[name] = counts.get(name, 0) + 1
    return {key: (f"{name} (Lot {lot.number})" if counts[name] > 1 and len(lots) > 1 else name)
            for key, (lot, name) in names.items()}


def placement_labels(lots) -> dict[int, str]:
    return lot_labels(lots, {pt.id: (lot, pt.name) for lot in lots for pt in lot.placement_types})


def service_labels(lots) -> dict[int, str]:
    return lot_labels(lots, {it.id: (lot, it.name) for lot in lots for it in lot.service_items})


def question_labels(lots) -> dict[int, str]:
    return lot_labels(lots, {q.id: (lot, q.title) for lot in lots for q in lot.quality_questions})


# ---------------------------------------------------------------- reading

def chosen_lots(application) -> list:
    return [alot.lot for alot in application.lots]


def settings_by_lot(application) -> dict[int, list]:
    return {alot.lot_id: sorted((link.setting for link in alot.setting_links),
                                key=lambda s: s.name)
            for alot in application.lots}


@dataclass
class Answers:
    """The saved answers keyed for lookup by templates and status rules."""
    prices: dict[int, Decimal] = field(default_factory=dict)  # placement type id
    rates: dict[int, Decimal] = field(default_factory=dict)  # service item id
    custom: list = field(default_factory=list)  # ServiceRate rows without an item
    declarations: dict[str, object] = field(default_factory=dict)  # ground code
    quality: dict[int, str] = field(default_factory=dict)  # question id


def answers(application) -> Answers:
    return Answers(
        prices={cp.placement_type_id: cp.weekly_price for cp in application.ceiling_prices},
        rates={r.service_item_id: r.rate for r in application.service_rates if r.service_item_id},
        custom=[r for r in application.service_rates if not r.service_item_id],
        declarations={d.ground: d for d in application.declaration_answers},
        quality={q.question_id: q.answer for q in application.quality_answers},
    )


def _status(done: int, total: int) -> SectionStatus:
    if done >= total:  # also when a lot asks nothing of this kind
        return SectionStatus.COMPLETED
    return SectionStatus.IN_PROGRESS if done else SectionStatus.NOT_STARTED


def organisation_status(application) -> SectionStatus:
    confirmed = application.organisation_confirmed_at
    if confirmed is None:
        return SectionStatus.NOT_STARTED
    provider = application.provider
    # Details changed after confirming must be confirmed again.
    if profile_missing(provider) or (provider.updated_at and provider.updated_at > confirmed):
        return SectionStatus.IN_PROGRESS
    return SectionStatus.COMPLETED


def declarations_status(application, saved: Answers) -> SectionStatus:
    if not saved.declarations:
        return SectionStatus.NOT_STARTED
    done = sum(1 for g in GROUNDS if g.code in saved.declarations and declaration_problem(
        saved.declarations[g.code].answer, saved.declarations[g.code].explanation, g.code) is None)
    return _status(done, len(GROUNDS)) if done else SectionStatus.IN_PROGRESS


def lots_status(application) -> SectionStatus:
    fitting = 0
    chosen_any = False
    for alot in application.lots:
        settings = [link.setting for link in alot.setting_links]
        chosen_any = chosen_any or bool(settings)
        if settings and all(setting_problem(s, alot.lot) is None for s in settings):
            fitting += 1
    if not chosen_any:
        return SectionStatus.NOT_STARTED
    return _status(fitting, len(application.lots)) if fitting else SectionStatus.IN_PROGRESS


def prices_status(application, saved: Answers) -> SectionStatus:
    needed = [(lot, pt) for lot in chosen_lots(application) for pt in lot.placement_types]
    done = sum(1 for lot, pt in needed
               if pt.id in saved.prices and 0 < saved.prices[pt.id] <= lot.max_weekly_price)
    return _status(done, len(needed))


def services_status(application, saved: Answers) -> SectionStatus:
    if application.services_saved_at is None:
        return SectionStatus.IN_PROGRESS if application.service_rates else SectionStatus.NOT_STARTED
    lot_ids = {alot.lot_id for alot in application.lots}
    valid = all(r.lot_id in lot_ids and 0 < r.rate <= MAX_SERVICE_RATE
                for r in application.service_rates)
    return SectionStatus.COMPLETED if valid else SectionStatus.IN_PROGRESS


def terms_status(application) -> SectionStatus:
    return _status(sum(1 for alot in application.lots if alot.terms_accepted_at),
                   len(application.lots))


def quality_status(application, saved: Answers) -> SectionStatus:
    questions = [q for lot in chosen_lots(application) for q in lot.quality_questions]
    answered = [q for q in questions if (saved.quality.get(q.id) or "").strip()]
    if questions and not answered:
        return SectionStatus.NOT_STARTED
    done = sum(1 for q in answered if count_words(saved.quality[q.id]) <= q.word_limit)
    return _status(done, len(questions)) if done == len(questions) else SectionStatus.IN_PROGRESS


def application_evidence_problems(application, documents, on: date) -> list[EvidenceProblem]:
    return evidence_problems(documents, chosen_lots(application), settings_by_lot(application), on)


@dataclass
class Progress:
    statuses: dict[str, SectionStatus]
    evidence_problems: list[EvidenceProblem]

    @property
    def ready(self) -> bool:
        return all(status is SectionStatus.COMPLETED
                   for key, status in self.statuses.items() if key != "check")


def progress(application, documents, on: date) -> Progress:
    """The status of every section, from the saved data alone."""
    saved = answers(application)
    problems = application_evidence_problems(application, documents, on)
    if problems:
        evidence = SectionStatus.IN_PROGRESS if documents else SectionStatus.NOT_STARTED
    else:
        evidence = SectionStatus.COMPLETED
    statuses = {
        "organisation": organisation_status(application),
        "declarations": declarations_status(application, saved),
        "lots": lots_status(application),
        "prices": prices_status(application, saved),
        "services": services_status(application, saved),
        "terms": terms_status(application),
        "evidence": evidence,
        "quality": quality_status(application, saved),
    }
    if application.status is not ApplicationStatus.DRAFT:
        statuses["check"] = SectionStatus.COMPLETED
    elif all(s is SectionStatus.COMPLETED for s in statuses.values()):
        statuses["check"] = SectionStatus.NOT_STARTED
    else:
        statuses["check"] = SectionStatus.CANNOT_START
    return Progress(statuses, problems)


@dataclass(frozen=True)
class EvidenceItem:
    """One piece of evidence the application needs, with the document that
    currently meets it (if any) and what is wrong with it."""
    kind: DocumentKind
    label: str
    setting: object | None
    document: object | None
    problems: tuple[str, ...]


def evidence_items(application, documents, on: date) -> list[EvidenceItem]:
    docs = current_documents(documents)
    problems = application_evidence_problems(application, documents, on)

    def found(kind, setting_id=None):
        return tuple(p.message for p in problems
                     if p.kind is kind and p.setting_id == setting_id)

    items = [EvidenceItem(kind, kind.label, None, docs.get((kind, None)), found(kind))
             for kind in ORGANISATION_KINDS]
    financial = next((docs[(k, None)] for k in FINANCIAL_KINDS if (k, None) in docs), None)
    items.append(EvidenceItem(financial.kind if financial else DocumentKind.CREDIT_REPORT,
                              "Credit report or latest accounts", None, financial,
                              found(DocumentKind.CREDIT_REPORT)))
    seen = set()
    for lot_settings in settings_by_lot(application).values():
        for setting in lot_settings:
            if setting.id in seen:
                continue
            seen.add(setting.id)
            kind = DocumentKind.OFSTED_CERTIFICATE
            items.append(EvidenceItem(kind, f"{kind.label}: {setting.name}", setting,
                                      docs.get((kind, setting.id)), found(kind, setting.id)))
    return items


@dataclass(frozen=True)
class SubmitProblem:
    message: str
    section: str
    evidence: EvidenceProblem | None = None


def submission_problems(application, documents, on: date) -> list[SubmitProblem]:
    """Everything that stops submission, in task-list order."""
    state = progress(application, documents, on)
    problems = []
    if not application.dps.is_open(on):
        problems.append(SubmitProblem(
            f"{application.dps.name} is not open for applications", "check"))
    for section in SECTIONS:
        if section.key in ("evidence", "check"):
            if section.key == "evidence":
                problems += [SubmitProblem(p.message, "evidence", p)
                             for p in state.evidence_problems]
            continue
        if state.statuses[section.key] is not SectionStatus.COMPLETED:
            problems.append(SubmitProblem(TO_COMPLETE[section.key], section.key))
    return problems


def lots_taken(provider_id: int, exclude_application_id: int | None = None) -> dict[int, object]:
    """Lot id -> the provider's active (not withdrawn) application for it. A lot
    rejected by a decision is free again: the provider may apply once more."""
    q = (sa.select(ApplicationLot.lot_id, Application)
         .join(Application, ApplicationLot.application_id == Application.id)
         .outerjoin(LotEvaluation, LotEvaluation.application_lot_id == ApplicationLot.id)
         .where(Application.provider_id == provider_id,
                Application.status != ApplicationStatus.WITHDRAWN,
                sa.or_(Application.status != ApplicationStatus.DECIDED,
                       LotEvaluation.outcome.is_(None),
                       LotEvaluation.outcome != LotOutcome.REJECT)))
    if exclude_application_id is not None:
        q = q.where(Application.id != exclude_application_id)
    return {lot_id: application for lot_id, application in db.session.execute(q).all()}


def taken_message(lot, application) -> str:
    if application.status is ApplicationStatus.DRAFT:
        return (f"You already have a draft application for {lot.title}. "
                "Continue that application instead")
    return (f"You already have an application for {lot.title} "
            f"({application.reference}). You cannot apply for the same lot twice")


def can_withdraw(application) -> bool:
    return (application.status, "withdraw") in APPLICATION_TRANSITIONS


# ---------------------------------------------------------------- guards

def check_editable(application) -> None:
    if application.status not in APPLICATION_EDITABLE:
        raise NotEditable()


def check_version(application, submitted) -> None:
    if str(submitted or "") != str(application.version):
        raise VersionConflict()


def _saved(ctx, application, section: str, **after) -> None:
    application.touch()
    audit.record(ctx, "application.section_saved", "application", application.id,
                 provider_id=application.provider_id, after={"section": section, **after})


# ---------------------------------------------------------------- changes

def _check_lots(application_or_none, provider_id: int, lots, on: date) -> None:
    if not lots:
        raise ApplicationError("Select at least one lot")
    dps = lots[0].dps
    if any(lot.dps_id != dps.id for lot in lots):
        raise ApplicationError("Select lots from one DPS at a time")
    if application_or_none is not None and dps.id != application_or_none.dps_id:
        raise ApplicationError("Select lots of the DPS this application is for")
    if not dps.is_open(on):
        raise ApplicationError(f"{dps.name} is not open for applications")
    taken = lots_taken(provider_id, application_or_none.id if application_or_none else None)
    for lot in lots:
        if lot.id in taken:
            raise ApplicationError(taken_message(lot, taken[lot.id]))


def start_application(ctx: audit.AuditContext, provider, user, lots, on: date) -> Application:
    """A new draft for one or more lots of an open DPS."""
    lots = sorted(lots, key=lambda lot: lot.number)
    _check_lots(None, provider.id, lots, on)
    application = Application(provider_id=provider.id, dps_id=lots[0].dps_id,
                              status=ApplicationStatus.DRAFT, created_by_id=user.id)
    for lot in lots:
        application.lots.append(ApplicationLot(lot_id=lot.id))
    db.session.add(application)
    db.session.flush()
    audit.record(ctx, "application.created", "application", application.id,
                 provider_id=provider.id,
                 after={"status": application.status.value, "lots": [lot.number for lot in lots]})
    return application


def set_lots(ctx: audit.AuditContext, application, lots, on: date) -> None:
    """Add and remove lots of a draft. Answers that belong only to a removed
    lot (settings, prices, services, terms, quality answers) go with it."""
    lots = sorted(lots, key=lambda lot: lot.number)
    _check_lots(application, application.provider_id, lots, on)
    wanted = {lot.id for lot in lots}
    before = sorted(alot.lot.number for alot in application.lots)
    removed = {alot.lot_id for alot in application.lots if alot.lot_id not in wanted}
    added = wanted - {alot.lot_id for alot in application.lots}
    if removed:
        application.lots = [alot for alot in application.lots if alot.lot_id not in removed]
        application.ceiling_prices = [cp for cp in application.ceiling_prices
                                      if cp.placement_type.lot_id not in removed]
        application.service_rates = [r for r in application.service_rates
                                     if r.lot_id not in removed]
        application.quality_answers = [q for q in application.quality_answers
                                       if q.question.lot_id not in removed]
    for lot in lots:
        if lot.id in added:
            application.lots.append(ApplicationLot(lot_id=lot.id, lot=lot))
    if added:
        # The new lot's services have not been looked at yet.
        application.services_saved_at = None
    application.touch()
    audit.record(ctx, "application.lots_changed", "application", application.id,
                 provider_id=application.provider_id, before={"lots": before},
                 after={"lots": [lot.number for lot in lots]})


def confirm_organisation(ctx: audit.AuditContext, application) -> None:
    missing = profile_missing(application.provider)
    if missing:
        raise ApplicationError("Complete your organisation details before confirming them: "
                               + ", ".join(label.lower() for label in missing))
    application.organisation_confirmed_at = utcnow()
    _saved(ctx, application, "organisation")


def save_declarations(ctx: audit.AuditContext, application,
                      given: dict[str, tuple[bool, str]]) -> None:
    """Save each answered ground (a yes without an explanation is kept as a
    draft; the section stays in progress until it is explained)."""
    existing = {d.ground: d for d in application.declaration_answers}
    for code, (answer, explanation) in given.items():
        explanation = (explanation or "").strip() if answer else ""
        row = existing.get(code)
        if row is None:
            application.declaration_answers.append(
                DeclarationAnswer(ground=code, answer=answer, explanation=explanation))
        else:
            row.answer, row.explanation = answer, explanation
    application.declarations_saved_at = utcnow()
    _saved(ctx, application, "declarations")


def save_lot_settings(ctx: audit.AuditContext, application, chosen: dict[int, list]) -> None:
    """Replace the settings offered under each lot named in `chosen`."""
    for alot in application.lots:
        if alot.lot_id not in chosen:
            continue
        settings = chosen[alot.lot_id]
        for setting in settings:
            if setting.provider_id != application.provider_id:
                raise ApplicationError("Select one of your own settings")
            problem = setting_problem(setting, alot.lot)
            if problem:
                raise ApplicationError(problem)
        wanted = {s.id for s in settings}
        alot.setting_links = [link for link in alot.setting_links if link.setting_id in wanted]
        have = alot.setting_ids
        for setting in settings:
            if setting.id not in have:
                alot.setting_links.append(ApplicationLotSetting(setting_id=setting.id,
                                                                setting=setting))
    _saved(ctx, application, "lots")


def save_prices(ctx: audit.AuditContext, application, prices: dict[int, Decimal | None]) -> None:
    """Set (or, with None, clear) the weekly ceiling price of placement types."""
    allowed = {pt.id: lot for lot in chosen_lots(application) for pt in lot.placement_types}
    existing = {cp.placement_type_id: cp for cp in application.ceiling_prices}
    for pt_id, price in prices.items():
        if pt_id not in allowed:
            raise ApplicationError("Enter prices only for the lots you are applying for")
        if price is not None and not (0 < price <= allowed[pt_id].max_weekly_price):
            raise ApplicationError("A weekly price is outside the allowed range")
        row = existing.get(pt_id)
        if price is None:
            if row is not None:
                application.ceiling_prices.remove(row)
        elif row is None:
            application.ceiling_prices.append(CeilingPrice(placement_type_id=pt_id,
                                                           weekly_price=price))
        else:
            row.weekly_price = price
    _saved(ctx, application, "prices")


@dataclass(frozen=True)
class CustomItem:
    lot_id: int
    name: str
    unit: ServiceUnit
    rate: Decimal


def save_services(ctx: audit.AuditContext, application, rates: dict[int, Decimal | None],
                  custom: list[CustomItem] | None, complete: bool) -> None:
    """Catalogue rates by service item id (None: not offered) and, unless
    `custom` is None, the full list of the provider's own items. `complete`
    marks the section saved without errors."""
    items = {it.id: lot for lot in chosen_lots(application) for it in lot.service_items}
    lot_ids = {alot.lot_id for alot in application.lots}
    existing = {r.service_item_id: r for r in application.service_rates if r.service_item_id}
    for item_id, rate in rates.items():
        if item_id not in items:
            raise ApplicationError("Enter rates only for the lots you are applying for")
        if rate is not None and not (0 < rate <= MAX_SERVICE_RATE):
            raise ApplicationError("A rate is outside the allowed range")
        row = existing.get(item_id)
        if rate is None:
            if row is not None:
                application.service_rates.remove(row)
        elif row is None:
            application.service_rates.append(ServiceRate(lot_id=items[item_id].id,
                                                         service_item_id=item_id, rate=rate))
        else:
            row.rate = rate
    if custom is not None:
        if len(custom) > MAX_CUSTOM_ITEMS:
            raise ApplicationError(f"You can add up to {MAX_CUSTOM_ITEMS} items of your own")
        for item in custom:
            if item.lot_id not in lot_ids or not (0 < item.rate <= MAX_SERVICE_RATE):
                raise ApplicationError("An additional item is not valid")
        application.service_rates = (
            [r for r in application.service_rates if r.service_item_id] +
            [ServiceRate(lot_id=i.lot_id, custom_name=i.name.strip(), custom_unit=i.unit,
                         rate=i.rate) for i in custom])
    application.services_saved_at = utcnow() if complete else None
    _saved(ctx, application, "services")


def save_terms(ctx: audit.AuditContext, application, user, accepted: dict[int, bool]) -> None:
    """Record (or withdraw) acceptance of each lot's standard terms."""
    for alot in application.lots:
        if alot.lot_id not in accepted:
            continue
        if accepted[alot.lot_id]:
            if alot.terms_accepted_at is None:
                alot.terms_accepted_at = utcnow()
                alot.terms_accepted_by_id = user.id
        else:
            alot.terms_accepted_at = None
            alot.terms_accepted_by_id = None
    _saved(ctx, application, "terms",
           accepted=[alot.lot.number for alot in application.lots if alot.terms_accepted_at])


def save_quality_answers(ctx: audit.AuditContext, application, given: dict[int, str]) -> None:
    """Keep every answer typed, even one over its word limit, so nothing is
    lost; the section stays in progress until each answer fits."""
    questions = {q.id for lot in chosen_lots(application) for q in lot.quality_questions}
    existing = {q.question_id: q for q in application.quality_answers}
    for question_id, text in given.items():
        if question_id not in questions:
            raise ApplicationError("Answer only the questions of the lots you are applying for")
        text = (text or "").strip()
        row = existing.get(question_id)
        if not text:
            if row is not None:
                application.quality_answers.remove(row)
        elif row is None:
            application.quality_answers.append(QualityAnswer(question_id=question_id, answer=text))
        else:
            row.answer = text
    _saved(ctx, application, "quality")


class SubmitRefused(Exception):
    def __init__(self, problems: list[SubmitProblem]):
        super().__init__("; ".join(p.message for p in problems))
        self.problems = problems


def submit(ctx: audit.AuditContext, application, user, documents, on: date, *,
           full_name: str) -> None:
    """Submit a complete draft: give it its reference and keep a snapshot of
    the organisation as it was. Raises SubmitRefused listing what is missing."""
    if not (full_name or "").strip():
        raise ApplicationError("Enter your full name")
    problems = submission_problems(application, documents, on)
    if problems:
        raise SubmitRefused(problems)
    before = application.status
    application.status = next_application_status(before, "submit")
    application.submitted_at = utcnow()
    application.submitted_by_id = user.id
    application.final_declaration_name = full_name.strip()
    application.reference = reference_for(application, on)
    application.organisation_snapshot = organisation_snapshot(application.provider, application)
    application.touch()
    audit.record(ctx, "application.submitted", "application", application.id,
                 provider_id=application.provider_id,
                 before={"status": before.value},
                 after={"status": application.status.value, "reference": application.reference,
                        "lots": [alot.lot.number for alot in application.lots]})
    snapshots.take_snapshot(application, "submitted")


def withdraw(ctx: audit.AuditContext, application, reason: str) -> None:
    """Withdraw wherever the state table allows it; the reason is audited."""
    before = application.status
    try:
        application.status = next_application_status(before, "withdraw")
    except IllegalTransition as exc:
        raise ApplicationError(str(exc)) from None
    application.withdrawn_at = utcnow()
    application.withdrawal_reason = (reason or "").strip() or None
    application.touch()
    audit.record(ctx, "application.withdrawn", "application", application.id,
                 provider_id=application.provider_id, before={"status": before.value},
                 after={"status": application.status.value},
                 reason=application.withdrawal_reason)
