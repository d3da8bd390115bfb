"""Forms for suspending, reinstating and removing a provider. The choice of
lot or setting is one radio question built from the provider's own
memberships and settings, so it needs no script to reveal a second field."""
from datetime import date

from flask_wtf import FlaskForm
from govuk_frontend_wtf.wtforms_widgets import GovCharacterCount, GovRadioInput, GovSubmitInput
from wtforms import HiddenField, RadioField, SubmitField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, ValidationError

from app.domain.states import SuspensionReason
from app.evidence.forms import DayMonthYearField
from app.forms import OneTimeForm

MAX_TEXT = 5000
ALL_LOTS = "all"


def _text(label: str, missing: str, description: str = "", required: bool = True):
    validators = [Length(max=MAX_TEXT, message=f"{label} must be {MAX_TEXT:,} characters or "
                                               "fewer")]
    if required:
        validators.insert(0, DataRequired(missing))  # blank or only spaces
    return TextAreaField(label, widget=GovCharacterCount(), description=description,
                         validators=validators)


def lot_value(lot_id: int) -> str:
    return f"lot-{lot_id}"


def setting_value(setting_id: int) -> str:
    return f"setting-{setting_id}"


def parse_scope(value: str) -> tuple[str, int | None]:
    """("all", None), ("lot", id) or ("setting", id)."""
    if value == ALL_LOTS:
        return ALL_LOTS, None
    kind, _, ident = (value or "").partition("-")
    return kind, int(ident)


def _scope_choices(memberships, settings=()) -> list[SelectChoice]:
    choices = [SelectChoice(lot_value(m.lot_id), m.lot.title) for m in memberships]
    # Every lot also covers any lot the provider joins while suspended.
    choices.append(SelectChoice(ALL_LOTS, "Every lot"))
    choices += [SelectChoice(setting_value(s.id), f"One setting: {s.name} ({s.ofsted_urn})")
                for s in settings]
    return choices


class SuspendForm(OneTimeForm):
    scope = RadioField("What are you suspending the provider from?", widget=GovRadioInput(),
                       validators=[InputRequired("Select what to suspend the provider from")],
                       invalid_choice_message="Select what to suspend the provider from")
    reason = RadioField("Reason", widget=GovRadioInput(),
                        choices=[SelectChoice(r.value, r.label) for r in SuspensionReason],
                        validators=[InputRequired("Select the reason for the suspension")],
                        invalid_choice_message="Select the reason for the suspension")
    description = _text("What has happened?",
                        "Enter a description of why the provider is suspended",
                        "Commissioners and the provider read this.")
    remedy = _text("What must the provider put right?",
                   "Enter what the provider must put right",
                   "Be specific: the provider is shown this and told it by email.")
    starts_on = DayMonthYearField("Start date",
                                  description="Today or later. A later start takes effect on "
                                              "that date; the provider is told now.")
    review_on = DayMonthYearField("Review date",
                                  description="When commissioners will review the suspension, "
                                              "for example 31 3 2026")
    concern_id = HiddenField()
    submit = SubmitField("Suspend the provider", widget=GovSubmitInput())

    def __init__(self, *args, memberships, settings, on: date, **kwargs):
        super().__init__(*args, **kwargs)
        self.on = on
        self.scope.choices = _scope_choices(memberships, settings)

    def validate_starts_on(self, field):
        if field.errors:
            return  # not a real date: its own message is enough
        if field.data is None:
            raise ValidationError("Enter the start date")
        if field.data < self.on:
            raise ValidationError("The start date must be today or in the future")

    def validate_review_on(self, field):
        if field.errors:
            return
        if field.data is None:
            raise ValidationError("Enter the review date")
        if self.starts_on.data and field.data <= self.starts_on.data:
            raise ValidationError("The review date must be after the start date")


class ReinstateForm(FlaskForm):
    note = _text("Why can the provider be reinstated?",
                 "Enter a note saying why the provider can be reinstated",
                 "What has been put right and how you know. The provider is sent this note.")
    submit = SubmitField("Reinstate the provider", widget=GovSubmitInput())


class RequestRemovalForm(OneTimeForm):
    scope = RadioField("Which lots should the provider be removed from?",
                       widget=GovRadioInput(),
                       validators=[InputRequired("Select which lots to remove the provider "
                                                 "from")],
                       invalid_choice_message="Select which lots to remove the provider from")
    ground = _text("Ground for removal", "Enter the ground for removing the provider",
                   "The contractual or legal ground and the facts behind it. It is kept in "
                   "the audit trail and sent to the provider if the removal is confirmed.")
    submit = SubmitField("Request removal", widget=GovSubmitInput())

    def __init__(self, *args, memberships, **kwargs):
        super().__init__(*args, **kwargs)
        self.scope.choices = _scope_choices(memberships)


class DecideRemovalForm(FlaskForm):
    decision = RadioField(
        "Your decision", widget=GovRadioInput(),
        choices=[SelectChoice("confirm", "Confirm: remove the provider"),
                 SelectChoice("cancel", "Cancel: the provider keeps its place")],
        validators=[InputRequired("Select whether to confirm or cancel the removal")],
        invalid_choice_message="Select whether to confirm or cancel the removal")
    note = _text("Note", "", "Required if you cancel the removal.", required=False)
    submit = SubmitField("Save decision", widget=GovSubmitInput())

    def validate_note(self, field):
        if self.decision.data == "cancel" and not (field.data or "").strip():
            raise ValidationError("Enter a note saying why the removal is cancelled")
