from flask_wtf import FlaskForm
from govuk_frontend_wtf.wtforms_widgets import (GovRadioInput, GovSelect, GovSubmitInput,
                                                GovTextArea, GovTextInput)
from wtforms import RadioField, SelectField, StringField, SubmitField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, StopValidation, ValidationError

from app.domain.agreements import AgreementError, parse_fee
from app.forms import OneTimeForm
from app.providers.forms import GovDateField

LEAD, MEMBER = "lead", "member"


class AuthorityForm(OneTimeForm):
    name = StringField("Name", widget=GovTextInput(),
                       description="For example, London Borough of Redbridge",
                       validators=[InputRequired("Enter the authority's name"),
                                   Length(max=200, message="Name must be 200 characters or fewer")])
    kind = RadioField("Type of authority", widget=GovRadioInput(),
                      choices=[SelectChoice(MEMBER, "Member authority"),
                               SelectChoice(LEAD, "Lead authority (runs the DPS; its staff see "
                                                  "every lot)")],
                      validators=[InputRequired("Select the type of authority")],
                      invalid_choice_message="Select the type of authority")
    submit = SubmitField("Save authority", widget=GovSubmitInput())


class AgreementForm(OneTimeForm):
    lot_id = SelectField("Lot", widget=GovSelect(),
                         validators=[InputRequired("Select the lot")],
                         invalid_choice_message="Select a lot from the list")
    annual_fee = StringField("Annual fee, in pounds", widget=GovTextInput(),
                             description="Per lot per year, for example 3,150")
    starts_on = GovDateField("Start date", error_name="Start date",
                             description="For example, 1 4 2025")
    ends_on = GovDateField("End date", error_name="End date",
                           description="The last day of access, for example 31 3 2026")
    submit = SubmitField("Save agreement", widget=GovSubmitInput())

    def __init__(self, lots, **kwargs):
        super().__init__(**kwargs)
        self.lot_id.choices = [SelectChoice("", "Select a lot")] + [
            SelectChoice(str(lot.id), lot.title) for lot in lots]
        self.fee = None

    def validate_annual_fee(self, field):
        try:
            self.fee = parse_fee(field.data)
        except AgreementError as exc:
            raise ValidationError(str(exc)) from None

    def validate_starts_on(self, field):
        _required(field, "Enter the start date")

    def validate_ends_on(self, field):
        _required(field, "Enter the end date")
        if self.starts_on.data and field.data <= self.starts_on.data:
            raise ValidationError("End date must be after the start date")


def _required(field, message):
    """Stop at a missing date; one that is not real already carries its own error."""
    if field.data is None:
        raise StopValidation("" if field.errors else message)


class EndAgreementForm(FlaskForm):
    last_day = GovDateField("Last day of access", error_name="Last day of access",
                            description="Officers and API tokens of the authority lose access "
                                        "to the lot after this day. For example, 31 3 2026")
    reason = TextAreaField("Reason (optional)", widget=GovTextArea(),
                           validators=[Length(max=2000, message="Reason must be 2000 characters "
                                                                "or fewer")])
    submit = SubmitField("End agreement", widget=GovSubmitInput())


class TokenForm(OneTimeForm):
    name = StringField("What is the token for?", widget=GovTextInput(),
                       description="So you can tell tokens apart, for example "
                                   "\"Placements brokerage system\"",
                       validators=[InputRequired("Enter what the token is for"),
                                   Length(max=100, message="Name must be 100 characters or fewer")])
    submit = SubmitField("Issue token", widget=GovSubmitInput())


class ConfirmForm(FlaskForm):
    """A button that posts: only the CSRF token is checked."""
