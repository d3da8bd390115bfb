"""Provider organisations and their settings: identifiers, checks and changes.

The `parse_*` helpers take what a person typed and return the value to store,
or raise `InvalidValue` with the message to show them. The other functions
change providers and settings and audit the change; the caller commits.
"""
import enum
import re
from datetime import date

import sqlalchemy as sa

from app.domain import audit, geo
from app.domain.reference import SPECIALISMS, OfstedJudgement, SettingType
from app.extensions import db
from app.models import Provider, Setting, User


class InvalidValue(ValueError):
    """A value a person entered that cannot be accepted; str() is the message."""


class DuplicateCompany(Exception):
    """Another organisation is already registered with this company number."""


def _compact(raw: str | None) -> str:
    return re.sub(r"\s+", "", raw or "").upper()


# --- Companies House -------------------------------------------------------

# England and Wales companies are 8 digits; the others have a 2-letter
# prefix for the register they are on (SC Scotland, NI Northern Ireland,
# OC limited liability partnerships, ...), then 6 digits.
_COMPANY_NUMBER = re.compile(r"^(\d{8}|[A-Z]{2}\d{6})$")


def parse_company_number(raw: str | None) -> str:
    number = _compact(raw)
    if not number:
        raise InvalidValue("Enter the Companies House number")
    if len(number) != 8:
        raise InvalidValue("Companies House number must be 8 characters, like 01234567 "
                           "or SC123456. If it has 7 digits, add a 0 at the start")
    if not _COMPANY_NUMBER.match(number):
        raise InvalidValue("Enter a Companies House number in the correct format, "
                           "like 01234567 or SC123456")
    return number


# --- Charity Commission / OSCR ----------------------------------------------

# England and Wales charity numbers are 6 or 7 digits (8 allowed for the
# future); Scottish charities (OSCR) are SC0 followed by 5 digits.
_CHARITY_NUMBER = re.compile(r"^(\d{6,8}|SC0\d{5})$")


def parse_charity_number(raw: str | None) -> str:
    """Optional: an empty answer is stored as ""."""
    number = _compact(raw)
    if number and not _CHARITY_NUMBER.match(number):
        raise InvalidValue("Enter a charity number in the correct format, "
                           "like 1123456 or SC012345")
    return number


# --- Postcodes --------------------------------------------------------------

# The published UK postcode pattern (outward code, then inward code).
_POSTCODE = re.compile(
    r"^(GIR0AA|"
    r"([A-PR-UWYZ][0-9][0-9]?|[A-PR-UWYZ][A-HK-Y][0-9][0-9]?|"
    r"[A-PR-UWYZ][0-9][A-HJKPSTUW]|[A-PR-UWYZ][A-HK-Y][0-9][ABEHMNPRVWXY])"
    r"[0-9][ABD-HJLNP-UW-Z]{2})$"
)


def parse_postcode(raw: str | None) -> str:
    """'e154qz' -> 'E15 4QZ'."""
    compact = _compact(raw)
    if not compact:
        raise InvalidValue("Enter a postcode")
    if not _POSTCODE.match(compact):
        raise InvalidValue("Enter a real postcode, like E15 4QZ")
    return f"{compact[:-3]} {compact[-3:]}"


def outcode(postcode: str) -> str:
    """The outward code ('E15') of a postcode, used for distance search."""
    return parse_postcode(postcode).split(" ")[0]


# --- Ofsted -----------------------------------------------------------------

# Children's social care URNs are SC + 6 digits; registrations since about
# 2020 (and supported accommodation) have 7-digit URNs starting 1 or 2.
_SOCIAL_CARE_URN = re.compile(r"^(SC\d{6}|[12]\d{6})$")
# Schools, including independent special schools, keep their 6-digit DfE URN.
_SCHOOL_URN = re.compile(r"^[1-9]\d{5}$")


def parse_ofsted_urn(raw: str | None, setting_type: SettingType | None = None) -> str:
    urn = _compact(raw)
    if not urn:
        raise InvalidValue("Enter the Ofsted unique reference number (URN)")
    if _SOCIAL_CARE_URN.match(urn):
        return urn
    if setting_type is SettingType.SPECIAL_SCHOOL and _SCHOOL_URN.match(urn):
        return urn
    raise InvalidValue("Enter an Ofsted URN in the correct format, like SC123456 or 2512345")


def judgement_date_problem(judgement: OfstedJudgement | None, when: date | None,
                           today: date) -> str | None:
    """A judgement needs the date of the inspection that gave it."""
    if judgement is None or judgement is OfstedJudgement.NOT_YET_INSPECTED:
        return None
    if when is None:
        return "Enter the date of the latest Ofsted judgement"
    if when > today:
        return "Date of the latest Ofsted judgement must be today or in the past"
    return None


# --- Settings: places and ages ----------------------------------------------

MIN_PLACES, MAX_PLACES = 1, 200
MIN_AGE, MAX_AGE = 0, 25


def age_range_problem(age_min: int | None, age_max: int | None) -> str | None:
    if age_min is not None and age_max is not None and age_min > age_max:
        return "Oldest age must be the same as or older than the youngest age"
    return None


# --- Phone numbers ----------------------------------------------------------

def parse_uk_phone(raw: str | None) -> str:
    """Accept the ways people write UK numbers ('+44 (0)20 7946 0000',
    '020-7946-0000'); store what they typed, tidied."""
    text = re.sub(r"\s+", " ", (raw or "").strip())
    if not text:
        raise InvalidValue("Enter a phone number")
    digits = re.sub(r"[\s()\-.]", "", text)
    if digits.startswith("+44"):
        rest = digits[3:]
        digits = rest if rest.startswith("0") else "0" + rest
    if not digits.isdigit() or not digits.startswith("0") or len(digits) not in (10, 11):
        raise InvalidValue("Enter a UK phone number, like 020 7946 0000 or 07700 900982")
    return text


# --- Changing organisations and settings ------------------------------------

PROVIDER_FIELDS = ("legal_name", "trading_name", "company_number", "charity_number",
                   "address_line_1", "address_line_2", "town", "postcode",
                   "contact_name", "contact_phone", "contact_email")
SETTING_FIELDS = ("name", "setting_type", "ofsted_urn", "ofsted_judgement",
                  "ofsted_judgement_date", "registered_places", "age_min", "age_max",
                  "gender", "postcode", "specialisms")


def _plain(value):
    """A value the audit trail's JSON can hold."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return sorted(value)
    return value


def _apply(obj, fields: tuple[str, ...], details: dict) -> tuple[dict, dict]:
    """Set each field; return (before, after) of the fields that changed."""
    before, after = {}, {}
    for name in fields:
        old, new = _plain(getattr(obj, name)), _plain(details[name])
        if old != new:
            before[name], after[name] = old, new
            setattr(obj, name, details[name])
    return before, after


def find_by_company_number(company_number: str) -> Provider | None:
    return db.session.execute(
        sa.select(Provider).where(Provider.company_number == company_number)
    ).scalar_one_or_none()


def register_provider(ctx: audit.AuditContext, user: User, details: dict) -> Provider:
    """The first admin registers the organisation and becomes its member."""
    if find_by_company_number(details["company_number"]):
        raise DuplicateCompany(details["company_number"])
    provider = Provider(**{name: details[name] for name in PROVIDER_FIELDS})
    db.session.add(provider)
    db.session.flush()
    user.provider_id = provider.id
    audit.record(ctx, "provider.registered", "provider", provider.id, provider_id=provider.id,
                 after={name: _plain(details[name]) for name in PROVIDER_FIELDS})
    return provider


def update_provider(ctx: audit.AuditContext, provider: Provider, details: dict) -> dict:
    """Returns the fields that changed (empty when nothing did: no audit event)."""
    number = details["company_number"]
    if number != provider.company_number:
        other = find_by_company_number(number)
        if other is not None and other.id != provider.id:
            raise DuplicateCompany(number)
    before, after = _apply(provider, PROVIDER_FIELDS, details)
    if after:
        audit.record(ctx, "provider.updated", "provider", provider.id, provider_id=provider.id,
                     before=before, after=after)
    return after


def _check_specialisms(details: dict) -> None:
    unknown = set(details["specialisms"]) - set(SPECIALISMS)
    if unknown:
        raise ValueError(f"unknown specialisms: {sorted(unknown)}")


def _setting_values(details: dict) -> dict:
    values = {name: details[name] for name in SETTING_FIELDS}
    values["postcode"] = parse_postcode(details["postcode"])
    if values["ofsted_judgement"] is OfstedJudgement.NOT_YET_INSPECTED:
        values["ofsted_judgement_date"] = None  # no inspection, so no date
    return values


def place_setting(setting: Setting) -> None:
    """Give the setting its grid position for distance search (None if unknown)."""
    place = geo.locate(setting.postcode)
    setting.easting = place.easting if place else None
    setting.northing = place.northing if place else None


def create_setting(ctx: audit.AuditContext, provider_id: int, details: dict) -> Setting:
    _check_specialisms(details)
    values = _setting_values(details)
    specialisms = values.pop("specialisms")
    setting = Setting(provider_id=provider_id, outcode=outcode(values["postcode"]), **values)
    place_setting(setting)
    setting.specialisms = specialisms
    db.session.add(setting)
    db.session.flush()
    audit.record(ctx, "setting.created", "setting", setting.id, provider_id=provider_id,
                 after={name: _plain(value) for name, value in
                        {**values, "specialisms": specialisms}.items()})
    return setting


def update_setting(ctx: audit.AuditContext, setting: Setting, details: dict) -> dict:
    _check_specialisms(details)
    values = _setting_values(details)
    before, after = _apply(setting, SETTING_FIELDS, values)
    setting.outcode = outcode(setting.postcode)
    place_setting(setting)
    if after:
        audit.record(ctx, "setting.updated", "setting", setting.id,
                     provider_id=setting.provider_id, before=before, after=after)
    return after
