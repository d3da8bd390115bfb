"""Forms for concerns: the list's filters (a GET form, no CSRF: it changes
nothing), choosing the provider, raising a concern, and the commissioners'
actions, which carry the concern's version."""
from flask_wtf import FlaskForm
from govuk_frontend_wtf.wtforms_widgets import (GovCharacterCount, GovRadioInput, GovSelect,
                                                GovSubmitInput)
from wtforms import Form, HiddenField, RadioField, SelectField, SubmitField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length

from app.domain.states import ConcernCategory, ConcernStatus, Severity
from app.forms import OneTimeForm

ANY = ""
MAX_TEXT = 5000
SEVERITY_HINTS = {
    Severity.LOW: "Noted for the record; no action needed yet",
    Severity.MEDIUM: "Needs looking into",
    Severity.HIGH: "Commissioning managers are emailed at once",
    Severity.CRITICAL: "A child may be at risk: managers are emailed at once",
}
SAFEGUARDING_HINT = ("Commissioning managers are emailed at once. Hidden from the provider "
                     "unless a commissioner shares it.")


def category_hints() -> list[dict]:
    """Per-radio hints, in the order of the choices (GovRadioInput merges by index)."""
    return [{"hint": {"text": SAFEGUARDING_HINT}} if c is ConcernCategory.SAFEGUARDING else {}
            for c in ConcernCategory]


def severity_hints() -> list[dict]:
    return [{"hint": {"text": SEVERITY_HINTS[s]}} for s in Severity]


def _select(label: str, noun: str, **kwargs) -> SelectField:
    return SelectField(label, widget=GovSelect(), default=ANY,
                       invalid_choice_message=f"Select {noun} from the list", **kwargs)


class FilterForm(Form):
    """Read from the query string; every field may be left at "any"."""
    status = _select("Status", "a status", choices=[SelectChoice(ANY, "Any status")] + [
        SelectChoice(s.value, s.label) for s in ConcernStatus])
    category = _select("Category", "a category", choices=[SelectChoice(ANY, "Any category")] + [
        SelectChoice(c.value, c.label) for c in ConcernCategory])
    severity = _select("Severity", "a severity", choices=[SelectChoice(ANY, "Any severity")] + [
        SelectChoice(s.value, s.label) for s in Severity])
    provider = _select("Provider", "a provider")

    def __init__(self, formdata, *, providers):
        super().__init__(formdata)
        self.provider.choices = [SelectChoice(ANY, "Any provider")] + [
            SelectChoice(str(p.id), p.display_name) for p in providers]

    def value(self, name: str):
        """A filter's value, or None when it is "any" or not valid."""
        field = self[name]
        if field.errors or field.data in (None, ANY):
            return None
        return field.data


class ChooseProviderForm(Form):
    """Step one when no provider was given: a GET form to /concerns/new."""
    provider_id = SelectField("Which provider is the concern about?", widget=GovSelect(),
                              validators=[DataRequired("Select the provider")],
                              invalid_choice_message="Select the provider from the list")

    def __init__(self, formdata, *, providers):
        super().__init__(formdata)
        self.provider_id.choices = [SelectChoice("", "Select a provider")] + [
            SelectChoice(str(p.id), p.display_name) for p in providers]


class RaiseConcernForm(OneTimeForm):
    setting_id = SelectField("Which setting is it about?", widget=GovSelect(),
                             description="Leave as it is if the concern is about the "
                                         "organisation as a whole",
                             invalid_choice_message="Select a setting from the list")
    category = RadioField("Category", widget=GovRadioInput(),
                          choices=[SelectChoice(c.value, c.label) for c in ConcernCategory],
                          validators=[InputRequired("Select the category of concern")],
                          invalid_choice_message="Select the category of concern")
    severity = RadioField("Severity", widget=GovRadioInput(),
                          choices=[SelectChoice(s.value, s.label) for s in Severity],
                          validators=[InputRequired("Select how serious the concern is")],
                          invalid_choice_message="Select how serious the concern is")
    description = TextAreaField(
        "Describe the concern", widget=GovCharacterCount(),
        description="What happened, when, and what you have done so far. Do not include a "
                    "child's name.",
        validators=[DataRequired("Enter a description of the concern"),
                    Length(max=MAX_TEXT,
                           message=f"The description must be {MAX_TEXT:,} characters or fewer")])
    submit = SubmitField("Raise concern", widget=GovSubmitInput())

    def __init__(self, *args, settings, **kwargs):
        super().__init__(*args, **kwargs)
        self.setting_id.choices = [SelectChoice("", "The whole organisation")] + [
            SelectChoice(str(s.id), f"{s.name} ({s.ofsted_urn})") for s in settings]


class StatusForm(FlaskForm):
    """Start investigating, or close with an outcome."""
    version = HiddenField()
    action = HiddenField()
    outcome = TextAreaField(
        "Outcome", widget=GovCharacterCount(),
        description="What was found and what was done. Every member authority can read it.",
        validators=[Length(max=MAX_TEXT,
                           message=f"The outcome must be {MAX_TEXT:,} characters or fewer")])
    submit = SubmitField("Close the concern", widget=GovSubmitInput())


class ShareForm(FlaskForm):
    version = HiddenField()
    shared = HiddenField()
