"""Forms of the application journey.

Most sections ask one question per ground, placement type, service item or
quality question, so their form classes are built for each application from
its lots. The rules themselves live in app.domain.applications; the fields
here call them, so the error next to a field is the domain's message.
"""
from flask import request
from flask_wtf import FlaskForm
from govuk_frontend_wtf.wtforms_widgets import (GovCheckboxInput, GovCheckboxesInput,
                                                GovRadioInput, GovSelect, GovSubmitInput,
                                                GovTextArea, GovTextInput)
from wtforms import (BooleanField, FieldList, Form, FormField, HiddenField, RadioField,
                     SelectField, SelectMultipleField, StringField, SubmitField, TextAreaField)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, StopValidation, ValidationError

from app.domain import applications as rules
from app.domain.declarations import GROUNDS
from app.domain.reference import ServiceUnit

# Short names of the exclusion grounds, for error messages.
GROUND_NAMES = {
    "corruption": "bribery, corruption or fraud",
    "organised_crime": "organised crime, terrorism, money laundering or human trafficking",
    "tax_evasion": "tax evasion",
    "safeguarding": "disqualification from children's homes or fostering",
    "insolvency": "insolvency",
    "professional_misconduct": "grave professional misconduct",
    "poor_performance": "contracts ended for poor performance",
    "competition": "agreements to distort competition",
    "misrepresentation": "misrepresentation",
}
YES_NO = [SelectChoice("yes", "Yes"), SelectChoice("no", "No")]


def ground_name(code: str) -> str:
    return GROUND_NAMES.get(code, code.replace("_", " "))


def build(form_class, prefill: dict | None = None):
    """On POST the form reads only what was sent (a stored answer must never
    fill a field the person cleared); on GET it shows what is saved."""
    if request.method == "POST":
        return form_class()
    return form_class(data=prefill or {})


class MoneyField(StringField):
    """Pounds and pence as typed; `value` holds the parsed Decimal once valid."""
    widget = GovTextInput()

    def __init__(self, label=None, validators=None, *, noun: str, maximum, required: bool,
                 error_label: str | None = None, **kwargs):
        super().__init__(label, validators, **kwargs)
        self.noun, self.maximum, self.required = noun, maximum, required
        self.error_label = error_label or self.label.text
        self.value = None

    def pre_validate(self, form):
        try:
            self.value = rules.parse_money(self.data, noun=self.noun, label=self.error_label,
                                           maximum=self.maximum, required=self.required)
        except rules.ApplicationError as exc:
            raise StopValidation(str(exc)) from None

    def _value(self):
        return self.data if isinstance(self.data, str) else (
            f"{self.data:.2f}" if self.data is not None else "")


class SectionForm(FlaskForm):
    # The version the page was opened at: a different stored version means a
    # colleague saved in between.
    version = HiddenField()
    submit = SubmitField("Save and continue", widget=GovSubmitInput())


def _section_form(name: str, fields: dict, base=SectionForm):
    return type(name, (base,), fields)


# ------------------------------------------------------------- organisation

class ConfirmOrganisationForm(SectionForm):
    submit = SubmitField("Confirm these details", widget=GovSubmitInput())


# ------------------------------------------------------------- declarations

class _RequiredIfYes:
    def __init__(self, code: str):
        self.code = code

    def __call__(self, form, field):
        answer = form[f"ground_{self.code}"].data
        problem = rules.declaration_problem(answer == "yes" if answer else None, field.data,
                                            ground_name(self.code))
        if answer == "yes" and problem:
            raise ValidationError(problem)


def declarations_form(saved: rules.Answers):
    fields = {}
    for ground in GROUNDS:
        fields[f"ground_{ground.code}"] = RadioField(
            ground.question, choices=YES_NO, widget=GovRadioInput(),
            invalid_choice_message=f"Select yes or no for {ground_name(ground.code)}")
        fields[f"explanation_{ground.code}"] = TextAreaField(
            "Explain what happened and the measures you have taken so it does not happen again",
            widget=GovTextArea(),
            validators=[_RequiredIfYes(ground.code),
                        Length(max=5000, message="Explanation must be 5,000 characters or fewer")])
    prefill = {}
    for code, row in saved.declarations.items():
        prefill[f"ground_{code}"] = "yes" if row.answer else "no"
        prefill[f"explanation_{code}"] = row.explanation
    return _section_form("DeclarationsForm", fields), prefill


# ------------------------------------------------------------- lots

class _SettingsFitLot:
    def __init__(self, lot, settings_by_id: dict):
        self.lot, self.settings_by_id = lot, settings_by_id

    def __call__(self, form, field):
        if not field.data:
            raise ValidationError(f"Select at least one setting for {self.lot.title}")
        for setting_id in field.data:
            if setting_id not in self.settings_by_id:
                raise StopValidation()  # not offered as a choice: already refused
            problem = rules.setting_problem(self.settings_by_id[setting_id], self.lot)
            if problem:
                raise ValidationError(problem)


def lot_settings_form(application, settings):
    by_id = {s.id: s for s in settings}
    fields = {}
    prefill = {}
    for alot in application.lots:
        eligible = rules.eligible_settings(settings, alot.lot)
        fields[f"settings_{alot.lot_id}"] = SelectMultipleField(
            alot.lot.title, coerce=int, widget=GovCheckboxesInput(),
            choices=[SelectChoice(str(s.id), s.name) for s in eligible],
            validators=[_SettingsFitLot(alot.lot, by_id)])
        prefill[f"settings_{alot.lot_id}"] = sorted(alot.setting_ids & set(by_id))
    return _section_form("LotSettingsForm", fields), prefill


def lots_form(lots, submit_label: str, base=FlaskForm):
    """Choose lots (of one or several open DPSs)."""
    fields = {
        "lots": SelectMultipleField(
            "Which lots do you want to apply for?", coerce=int, widget=GovCheckboxesInput(),
            choices=[SelectChoice(str(lot.id), lot.title) for lot in lots],
            validators=[DataRequired("Select at least one lot")]),
        "submit": SubmitField(submit_label, widget=GovSubmitInput()),
    }
    return type("LotsForm", (base,), fields)


# ------------------------------------------------------------- prices

def prices_form(application, saved: rules.Answers):
    lots = rules.chosen_lots(application)
    labels = rules.placement_labels(lots)
    fields = {}
    prefill = {}
    for lot in lots:
        for pt in lot.placement_types:
            fields[f"price_{pt.id}"] = MoneyField(pt.name, noun="weekly price",
                                                  maximum=lot.max_weekly_price, required=True,
                                                  error_label=labels[pt.id])
            if pt.id in saved.prices:
                prefill[f"price_{pt.id}"] = f"{saved.prices[pt.id]:.2f}"
    return _section_form("PricesForm", fields), prefill


# ------------------------------------------------------------- services

UNIT_CHOICES = [SelectChoice("", "Select a unit")] + [
    SelectChoice(u.value, u.label) for u in ServiceUnit]


class CustomItemForm(Form):
    """One of the provider's own additional services. A row left wholly
    blank is ignored rather than refused."""
    name = StringField("Service", widget=GovTextInput(),
                       validators=[Length(max=200, message=(
                           "Service name must be 200 characters or fewer"))])
    unit = SelectField("Unit", choices=UNIT_CHOICES, widget=GovSelect(), validate_choice=False)
    rate = MoneyField("Rate", noun="rate", maximum=rules.MAX_SERVICE_RATE, required=True)
    row_number = 1

    @property
    def blank(self) -> bool:
        return not any((f.data or "").strip() for f in (self.name, self.unit, self.rate))

    def validate(self, extra_validators=None):
        if self.blank:
            return True
        label = (self.name.data or "").strip() or f"item {self.row_number}"
        self.rate.error_label = label
        ok = super().validate(extra_validators)
        if not (self.name.data or "").strip():
            self.name.errors.append(f"Enter the name of item {self.row_number}")
            ok = False
        if self.unit.data not in {u.value for u in ServiceUnit}:
            self.unit.errors = [f"Select a unit for {label}"]
            ok = False
        return ok


def services_form(application, saved: rules.Answers):
    lots = rules.chosen_lots(application)
    labels = rules.service_labels(lots)
    lot_choices = [SelectChoice(str(lot.id), lot.title) for lot in lots]
    item_form = type("CustomItem", (CustomItemForm,), {
        "lot": SelectField("Lot", coerce=int, choices=lot_choices, widget=GovSelect(),
                           invalid_choice_message="Select the lot this item is for")})
    fields = {"custom": FieldList(FormField(item_form), max_entries=rules.MAX_CUSTOM_ITEMS)}
    prefill = {"custom": [{"lot": r.lot_id, "name": r.custom_name, "unit": r.custom_unit.value,
                           "rate": f"{r.rate:.2f}"} for r in saved.custom]}
    for lot in lots:
        for item in lot.service_items:
            fields[f"rate_{item.id}"] = MoneyField(item.name, noun="rate",
                                                   maximum=rules.MAX_SERVICE_RATE,
                                                   required=False, error_label=labels[item.id])
            if item.id in saved.rates:
                prefill[f"rate_{item.id}"] = f"{saved.rates[item.id]:.2f}"
    return _section_form("ServicesForm", fields), prefill


def number_rows(form) -> None:
    for i, entry in enumerate(form.custom.entries, start=1):
        entry.form.row_number = i


# ------------------------------------------------------------- terms

def terms_form(application):
    fields = {}
    prefill = {}
    for alot in application.lots:
        fields[f"accept_{alot.lot_id}"] = BooleanField(
            "I accept these terms", widget=GovCheckboxInput(),
            validators=[DataRequired(f"Accept the standard terms for {alot.lot.title}")])
        prefill[f"accept_{alot.lot_id}"] = alot.terms_accepted_at is not None
    return _section_form("TermsForm", fields), prefill


# ------------------------------------------------------------- quality

class _Answer:
    def __init__(self, limit: int, label: str):
        self.limit, self.label = limit, label

    def __call__(self, form, field):
        problem = rules.quality_answer_problem(field.data, self.limit, self.label)
        if problem:
            raise StopValidation(problem)


def quality_form(application, saved: rules.Answers):
    lots = rules.chosen_lots(application)
    labels = rules.question_labels(lots)
    fields = {}
    prefill = {}
    for lot in lots:
        for q in lot.quality_questions:
            fields[f"answer_{q.id}"] = TextAreaField(
                q.title, widget=GovTextArea(), validators=[_Answer(q.word_limit, labels[q.id])])
            prefill[f"answer_{q.id}"] = saved.quality.get(q.id, "")
    return _section_form("QualityForm", fields), prefill


# ------------------------------------------------------------- submit, withdraw

class FinalDeclarationForm(FlaskForm):
    full_name = StringField("Your full name", widget=GovTextInput(),
                            validators=[DataRequired("Enter your full name"),
                                        Length(max=200, message=(
                                            "Full name must be 200 characters or fewer"))])
    confirm = BooleanField("I confirm the information is true and complete",
                           widget=GovCheckboxInput(),
                           validators=[DataRequired(
                               "Confirm the information is true and complete")])
    submit = SubmitField("Submit application", widget=GovSubmitInput())


class WithdrawForm(FlaskForm):
    reason = TextAreaField("Why are you withdrawing this application?", widget=GovTextArea(),
                           validators=[Length(max=2000, message=(
                               "Reason must be 2,000 characters or fewer"))])
    submit = SubmitField("Withdraw application", widget=GovSubmitInput())
