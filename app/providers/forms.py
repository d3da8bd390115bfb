import re
from datetime import date, datetime

from flask_wtf import FlaskForm
from govuk_frontend_wtf.wtforms_widgets import (GovCheckboxesInput, GovDateInput, GovRadioInput,
                                                GovSubmitInput, GovTextInput)
from wtforms import (EmailField, Field, IntegerField, RadioField, SelectMultipleField, StringField,
                     SubmitField)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Email, Length, NumberRange, StopValidation

from app.domain import providers as rules
from app.domain.reference import SPECIALISMS, Gender, OfstedJudgement, SettingType
from app.domain.states import Role
from app.filters import LONDON
from app.forms import OneTimeForm

EMAIL_FORMAT = "Enter an email address in the correct format, like name@example.com"


def _strip(value):
    return value.strip() if isinstance(value, str) else value


class Parsed:
    """Run a domain `parse_*` helper: show its message, or keep the tidied value."""

    def __init__(self, parse):
        self.parse = parse

    def __call__(self, form, field):
        try:
            field.data = self.parse(field.data)
        except rules.InvalidValue as exc:
            raise StopValidation(str(exc)) from exc


class Required:
    """For number and date fields, where 0 is an answer and typing errors
    already have their own message."""

    def __init__(self, message: str):
        self.message = message
        self.field_flags = {"required": True}

    def __call__(self, form, field):
        if field.errors:
            raise StopValidation()
        if field.data is None:
            raise StopValidation(self.message)


class WholeNumberField(IntegerField):
    widget = GovTextInput()

    def __init__(self, label=None, validators=None, not_whole: str = "", **kwargs):
        super().__init__(label, validators, **kwargs)
        self.not_whole = not_whole

    def process_formdata(self, valuelist):
        self.data = None
        text = valuelist[0].strip() if valuelist else ""
        if not text:
            return
        if not re.fullmatch(r"-?\d+", text):
            raise ValueError(self.not_whole)
        self.data = int(text)


class GovDateField(Field):
    """Day, month and year boxes, with the GOV.UK date error messages.

    Always leaves three raw values, because GovDateInput unpacks exactly
    three and would fail on a POST that left the boxes out.
    """

    widget = GovDateInput()

    def __init__(self, label=None, validators=None, error_name: str = "Date", **kwargs):
        super().__init__(label, validators, **kwargs)
        self.error_name = error_name

    def _value(self):
        return ""

    def process_formdata(self, valuelist):
        parts = [str(v).strip() for v in valuelist[:3]]
        parts += [""] * (3 - len(parts))
        self.raw_data = parts
        self.data = None
        if not any(parts):
            return
        missing = [name for name, part in zip(("day", "month", "year"), parts) if not part]
        if missing:
            raise ValueError(f"{self.error_name} must include a {' and a '.join(missing)}")
        if not all(part.isdigit() for part in parts):
            raise ValueError(f"{self.error_name} must be a real date")
        if len(parts[2]) != 4:
            raise ValueError("Year must include 4 numbers")
        day, month, year = (int(part) for part in parts)
        try:
            self.data = date(year, month, day)
        except ValueError:
            raise ValueError(f"{self.error_name} must be a real date") from None


def _enum_choices(enum_cls) -> list[SelectChoice]:
    return [SelectChoice(member.value, member.label) for member in enum_cls]


def _enum_radios(label: str, enum_cls, required: str, **kwargs) -> RadioField:
    return RadioField(label, widget=GovRadioInput(), coerce=enum_cls,
                      choices=_enum_choices(enum_cls), validators=[DataRequired(required)],
                      invalid_value_message=required, invalid_choice_message=required, **kwargs)


def _text(label: str, required: str | None = None, max_length: int = 200, extra=(), **kwargs):
    validators = [DataRequired(required)] if required else []
    validators += [Length(max=max_length, message=f"{label.replace(' (optional)', '')} must be "
                                                  f"{max_length} characters or fewer"), *extra]
    return StringField(label, widget=GovTextInput(), filters=[_strip], validators=validators,
                       **kwargs)


def today_in_london() -> date:
    return datetime.now(LONDON).date()


class OrganisationForm(FlaskForm):
    legal_name = _text("Legal name", "Enter the organisation's legal name",
                       description="As registered with Companies House")
    trading_name = _text("Trading name (optional)",
                         description="Only if it is different from the legal name")
    company_number = _text("Companies House number", "Enter the Companies House number",
                           max_length=100, extra=[Parsed(rules.parse_company_number)],
                           description="8 characters, like 01234567 or SC123456")
    charity_number = _text("Charity number (optional)", max_length=100,
                           extra=[Parsed(rules.parse_charity_number)],
                           description="If the organisation is a registered charity")
    address_line_1 = _text("Address line 1", "Enter address line 1, typically the building and street")
    address_line_2 = _text("Address line 2 (optional)")
    town = _text("Town or city", "Enter the town or city", max_length=100)
    postcode = _text("Postcode", "Enter a postcode", max_length=100,
                     extra=[Parsed(rules.parse_postcode)])
    contact_name = _text("Full name", "Enter the main contact's full name")
    contact_phone = _text("Phone number", "Enter a phone number", max_length=30,
                          extra=[Parsed(rules.parse_uk_phone)],
                          description="A UK number, like 020 7946 0000 or 07700 900982")
    contact_email = EmailField("Email address", widget=GovTextInput(), filters=[_strip],
                               validators=[DataRequired("Enter the main contact's email address"),
                                           Email(EMAIL_FORMAT),
                                           Length(max=254, message="Email address must be 254 "
                                                                   "characters or fewer")])
    submit = SubmitField("Save and continue", widget=GovSubmitInput())

    def details(self) -> dict:
        values = {name: getattr(self, name).data or "" for name in rules.PROVIDER_FIELDS}
        values["contact_email"] = values["contact_email"].lower()
        return values


class SettingForm(OneTimeForm):
    name = _text("Name of the setting", "Enter the name of the setting",
                 description="As it appears on the Ofsted registration")
    setting_type = _enum_radios("Type of setting", SettingType, "Select the type of setting")
    ofsted_urn = _text("Ofsted unique reference number (URN)", "Enter the Ofsted unique "
                       "reference number (URN)", max_length=100,
                       description="On the registration certificate and inspection reports, "
                                   "like SC123456 or 2512345")
    ofsted_judgement = _enum_radios("Latest Ofsted overall judgement", OfstedJudgement,
                                    "Select the latest Ofsted judgement")
    ofsted_judgement_date = GovDateField(
        "Date of the latest Ofsted judgement", error_name="Date of the latest Ofsted judgement",
        description="For example, 27 3 2025. Leave blank if the setting has not been inspected yet")
    registered_places = WholeNumberField(
        "Registered places", not_whole="Registered places must be a whole number, like 4",
        description="The number of children the setting is registered for",
        validators=[Required("Enter the number of registered places"),
                    NumberRange(rules.MIN_PLACES, rules.MAX_PLACES,
                                f"Registered places must be between {rules.MIN_PLACES} "
                                f"and {rules.MAX_PLACES}")])
    age_min = WholeNumberField(
        "Youngest age accepted", not_whole="Youngest age must be a whole number, like 8",
        description=f"In years, from {rules.MIN_AGE} to {rules.MAX_AGE}",
        validators=[Required("Enter the youngest age accepted"),
                    NumberRange(rules.MIN_AGE, rules.MAX_AGE,
                                f"Youngest age must be between {rules.MIN_AGE} and {rules.MAX_AGE}")])
    age_max = WholeNumberField(
        "Oldest age accepted", not_whole="Oldest age must be a whole number, like 17",
        description=f"In years, from {rules.MIN_AGE} to {rules.MAX_AGE}",
        validators=[Required("Enter the oldest age accepted"),
                    NumberRange(rules.MIN_AGE, rules.MAX_AGE,
                                f"Oldest age must be between {rules.MIN_AGE} and {rules.MAX_AGE}")])
    gender = _enum_radios("Who the setting accepts", Gender, "Select who the setting accepts")
    specialisms = SelectMultipleField(
        "Specialisms (optional)", widget=GovCheckboxesInput(), description="Select all that apply",
        choices=[SelectChoice(code, label) for code, label in SPECIALISMS.items()],
        invalid_choice_message="Select specialisms from the list")
    postcode = _text("Postcode of the setting", "Enter the postcode of the setting", max_length=100,
                     extra=[Parsed(rules.parse_postcode)],
                     description="Used to match the setting to placements nearby")
    submit = SubmitField("Save setting", widget=GovSubmitInput())

    def validate_ofsted_urn(self, field):
        if field.errors or not field.data:
            return
        setting_type = self.setting_type.data if isinstance(self.setting_type.data, SettingType) else None
        try:
            field.data = rules.parse_ofsted_urn(field.data, setting_type)
        except rules.InvalidValue as exc:
            raise StopValidation(str(exc)) from exc

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        judgement, when = self.ofsted_judgement, self.ofsted_judgement_date
        if not judgement.errors and not when.errors:
            problem = rules.judgement_date_problem(judgement.data, when.data, today_in_london())
            if problem:
                when.errors.append(problem)
                valid = False
        if not self.age_min.errors and not self.age_max.errors:
            problem = rules.age_range_problem(self.age_min.data, self.age_max.data)
            if problem:
                self.age_max.errors.append(problem)
                valid = False
        return valid

    def details(self) -> dict:
        values = {name: getattr(self, name).data for name in rules.SETTING_FIELDS}
        values["specialisms"] = list(values["specialisms"] or [])
        return values


PROVIDER_ROLE_CHOICES = [SelectChoice(Role.PROVIDER_USER.value, "Provider user"),
                         SelectChoice(Role.PROVIDER_ADMIN.value, "Provider administrator")]


class TeamInviteForm(OneTimeForm):
    full_name = _text("Full name", "Enter the person's full name")
    email = EmailField("Work email address", widget=GovTextInput(), filters=[_strip],
                       description="We will email them a link to set a password",
                       validators=[DataRequired("Enter their work email address"),
                                   Email(EMAIL_FORMAT),
                                   Length(max=254, message="Email address must be 254 "
                                                           "characters or fewer")])
    role = RadioField("Role", widget=GovRadioInput(), coerce=Role, choices=PROVIDER_ROLE_CHOICES,
                      validators=[DataRequired("Select a role")],
                      invalid_value_message="Select a role", invalid_choice_message="Select a role")
    submit = SubmitField("Send invitation", widget=GovSubmitInput())
