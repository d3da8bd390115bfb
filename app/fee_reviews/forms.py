"""Forms of the commissioner's side of the fee review. Percentages and money
are typed as text and parsed here, so what was typed is shown again with
the error; the rules (dates in order, lots of the DPS, cap above guidance,
decisions) are the domain's (app.domain.fee_review), whose messages land on
the same fields.

Every form that changes a round or a submission carries its version: a page
opened before a colleague acted is refused (409), never overwrites."""
from decimal import Decimal, InvalidOperation

from flask_wtf import FlaskForm
from govuk_frontend_wtf.wtforms_widgets import (GovCharacterCount, GovCheckboxesInput,
                                                GovRadioInput, GovSelect, GovSubmitInput,
                                                GovTextInput)
from wtforms import (Form, HiddenField, RadioField, SelectField, SelectMultipleField,
                     StringField, SubmitField, TextAreaField)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import (DataRequired, InputRequired, Length, NumberRange, Optional,
                                ValidationError)

from app.domain.states import SubmissionStatus
from app.evidence.forms import DayMonthYearField
from app.forms import OneTimeForm, WholeNumberFilter

MAX_TEXT = 5000
# Far above any percentage or weekly fee; larger figures are typing mistakes
# (and would overflow the arithmetic's precision).
TOO_LARGE = Decimal("1e12")
GUIDANCE_METHODS = [SelectChoice("direct", "Enter the expected uplift"),
                    SelectChoice("model", "Calculate it from staff costs and inflation")]


def parse_decimal(text: str | None) -> Decimal | None:
    """A number as typed ("4.1", "4.1%", "£1,250.00"); None when blank.
    Raises ValueError when it is not a number."""
    text = (text or "").strip().replace(",", "").removeprefix("£").removesuffix("%").strip()
    if not text:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError(text) from None
    if not value.is_finite() or abs(value) >= TOO_LARGE:
        raise ValueError(text)
    return value


class NumberField(StringField):
    """A decimal typed as text; keeps what was typed for the page shown again."""
    widget = GovTextInput()

    def __init__(self, label=None, validators=None, not_a_number: str = "", **kwargs):
        super().__init__(label, validators, **kwargs)
        self.not_a_number = not_a_number

    def process_formdata(self, valuelist):
        self.raw_data = valuelist
        self.data = None
        try:
            self.data = parse_decimal(valuelist[0] if valuelist else "")
        except ValueError:
            raise ValueError(self.not_a_number) from None

    def _value(self):
        if self.raw_data:
            return self.raw_data[0]
        return "" if self.data is None else f"{self.data.normalize():f}"


def _percent(label: str, noun: str, description: str = "") -> NumberField:
    return NumberField(label, description=description,
                       not_a_number=f"{noun} must be a number, like 4.1")


def _text(label: str, description: str = "", required: str = "") -> TextAreaField:
    validators = [Length(max=MAX_TEXT, message=f"{label} must be {MAX_TEXT:,} characters or "
                                               "fewer")]
    if required:
        validators.insert(0, DataRequired(required))
    return TextAreaField(label, widget=GovCharacterCount(), description=description,
                         validators=validators)


# ------------------------------------------------------------------ rounds

class RoundForm(FlaskForm):
    version = HiddenField()
    name = StringField("Name of the round", widget=GovTextInput(),
                       description="Providers see this, for example Fee review 2027 to 2028",
                       validators=[DataRequired("Enter the name of the round"),
                                   Length(max=200, message="The name must be 200 characters "
                                                           "or fewer")])
    lot_ids = SelectMultipleField("Lots in this round", widget=GovCheckboxesInput(), coerce=int,
                                  description="Every provider with an active place on one of "
                                              "these lots is invited. Select all that apply.",
                                  validators=[DataRequired("Select at least one lot")],
                                  invalid_choice_message="Select lots from the list",
                                  invalid_value_message="Select lots from the list")
    opens_on = DayMonthYearField("Opening date",
                                 description="When providers can start. For example, 5 1 2027")
    closes_on = DayMonthYearField("Closing date",
                                  description="The last day providers can submit new prices")
    effective_on = DayMonthYearField("Effective date",
                                     description="Agreed prices apply from this date, usually "
                                                 "1 April")
    guidance_method = RadioField("How is the expected uplift set?", widget=GovRadioInput(),
                                 choices=GUIDANCE_METHODS,
                                 validators=[InputRequired("Select how the expected uplift is "
                                                           "set")],
                                 invalid_choice_message="Select how the expected uplift is set")
    guidance_uplift = _percent("Expected uplift (%)", "The expected uplift",
                               "Requests at or below this are accepted without a second "
                               "approval")
    staff_cost_weight = _percent("Share of costs that are staff costs (%)",
                                 "The share of staff costs", "For example, 70")
    nlw_change = _percent("Change in the National Living Wage (%)",
                          "The change in the National Living Wage", "For example, 4.1")
    cpih = _percent("CPIH inflation (%)", "CPIH inflation",
                    "Consumer prices index including owner occupiers' housing costs, for the "
                    "other costs. For example, 3.4")
    cap_uplift = _percent("Maximum uplift (%) (optional)", "The maximum uplift",
                          "Requests above this are refused. Leave it blank for no cap.")
    message = _text("Message to providers (optional)",
                    "Shown on the provider's fee review page and in the invitation email")
    submit = SubmitField("Save the round", widget=GovSubmitInput())

    def __init__(self, *args, lots, **kwargs):
        super().__init__(*args, **kwargs)
        self.lot_ids.choices = [SelectChoice(lot.id, lot.title) for lot in lots]

    def _required_for(self, method: str, field, message: str):
        if self.guidance_method.data == method and not field.errors and field.data is None:
            raise ValidationError(message)

    def validate_guidance_uplift(self, field):
        self._required_for("direct", field, "Enter the expected uplift")

    def validate_staff_cost_weight(self, field):
        self._required_for("model", field, "Enter the share of costs that are staff costs")

    def validate_nlw_change(self, field):
        self._required_for("model", field, "Enter the change in the National Living Wage")

    def validate_cpih(self, field):
        self._required_for("model", field, "Enter CPIH inflation")

    def validate_opens_on(self, field):
        if not field.errors and field.data is None:
            raise ValidationError("Enter the opening date")

    def validate_closes_on(self, field):
        if not field.errors and field.data is None:
            raise ValidationError("Enter the closing date")

    def validate_effective_on(self, field):
        if not field.errors and field.data is None:
            raise ValidationError("Enter the effective date")


class NewRoundForm(OneTimeForm, RoundForm):
    """Creating a round happens once, however often the form is sent."""


class ConfirmForm(FlaskForm):
    """Open or close a round: the version the page showed."""
    version = HiddenField(validators=[DataRequired()])
    submit = SubmitField("Confirm", widget=GovSubmitInput())


# ------------------------------------------------------------------ the queue

ANY = ""
SORTS = {"submitted": "Submitted (oldest first)", "provider": "Provider name (A to Z)",
         "uplift": "Requested uplift (highest first)"}
QUEUE_STATUSES = [SubmissionStatus.SUBMITTED, SubmissionStatus.NEGOTIATING,
                  SubmissionStatus.AWAITING_APPROVAL, SubmissionStatus.AGREED,
                  SubmissionStatus.DRAFT, SubmissionStatus.INVITED, SubmissionStatus.NO_RESPONSE]


def _select(label: str, noun: str, **kwargs) -> SelectField:
    return SelectField(label, widget=GovSelect(),
                       invalid_choice_message=f"Select {noun} from the list", **kwargs)


class QueueFilterForm(Form):
    """Read from the query string; a field with an error is not applied."""
    status = _select("Status", "a status", default=SubmissionStatus.SUBMITTED.value)
    lot = _select("Lot", "a lot", default=ANY)
    above = _select("Requested uplift", "an uplift filter", default=ANY,
                    choices=[SelectChoice(ANY, "Any"),
                             SelectChoice("yes", "Above guidance on any line"),
                             SelectChoice("no", "Within guidance on every line")])
    sort = _select("Sort by", "what to sort by", default="submitted",
                   choices=[SelectChoice(k, v) for k, v in SORTS.items()])

    def __init__(self, formdata, *, lots):
        super().__init__(formdata)
        self.status.choices = [SelectChoice(ANY, "All statuses")] + [
            SelectChoice(s.value, s.label) for s in QUEUE_STATUSES]
        self.lot.choices = [SelectChoice(ANY, "All lots in the round")] + [
            SelectChoice(str(lot.id), lot.title) for lot in lots]

    def filters(self) -> dict:
        def ok(field):
            return not field.errors and field.data not in (None, ANY)
        return {"status": SubmissionStatus(self.status.data) if ok(self.status) else None,
                "lot_id": int(self.lot.data) if ok(self.lot) else None,
                "above_guidance": (self.above.data == "yes") if ok(self.above) else None,
                "sort": self.sort.data if ok(self.sort) else "submitted"}


SELECTED = "selected"
ALL_SUBMITTED = "all"


class BulkAcceptForm(FlaskForm):
    """Which submissions to accept within guidance. The checkboxes sit in the
    queue's rows, so they are read from the request by the view."""
    scope = RadioField("Which submissions?", widget=GovRadioInput(),
                       choices=[SelectChoice(SELECTED, "The submissions I selected"),
                                SelectChoice(ALL_SUBMITTED, "Every submitted submission in "
                                                            "this round")],
                       validators=[InputRequired("Select which submissions to accept")],
                       invalid_choice_message="Select which submissions to accept")
    confirmed = HiddenField()
    submit = SubmitField("Accept lines within guidance", widget=GovSubmitInput())


# ------------------------------------------------------------------ a submission

ACCEPT, COUNTER, REJECT = "accepted", "countered", "rejected"
DECISIONS = [SelectChoice(ACCEPT, "Accept the requested price"),
             SelectChoice(COUNTER, "Make a counter-offer"),
             SelectChoice(REJECT, "Reject: the current price stands")]


def decision_form(lines, *, formdata, data: dict | None = None) -> FlaskForm:
    """One radio question per line to decide, with a counter-offer price
    revealed under "counter-offer" and a note; field names follow the
    domain's error keys ("line-<id>-decision", "-counter", "-note").
    `formdata` is the request's form, or None to show `data` (always given:
    on a page answering another form's POST the decisions must not be read
    from that POST)."""
    class DecisionForm(FlaskForm):
        version = HiddenField()
        submit = SubmitField("Save decisions", widget=GovSubmitInput())

    for line in lines:
        setattr(DecisionForm, f"line-{line.id}-decision", RadioField(
            f"Your decision on {line.label}", widget=GovRadioInput(), choices=DECISIONS,
            validators=[Optional()],
            invalid_choice_message="Select accept, counter-offer or reject"))
        setattr(DecisionForm, f"line-{line.id}-counter", NumberField(
            "Counter-offer (£)", not_a_number="The counter-offer must be an amount in pounds, "
                                              "like 1,050.00"))
        setattr(DecisionForm, f"line-{line.id}-note", TextAreaField(
            "Note to the provider", widget=GovCharacterCount(),
            description="Required for a counter-offer or a rejection",
            validators=[Length(max=MAX_TEXT, message=f"The note must be {MAX_TEXT:,} "
                                                     "characters or fewer")]))
    return DecisionForm(formdata=formdata, data=data or {})


class MessageForm(OneTimeForm):
    body = _text("Message", "The provider sees it in the thread and is emailed",
                 required="Enter your message")
    submit = SubmitField("Send message", widget=GovSubmitInput())


class ExtensionForm(FlaskForm):
    version = HiddenField()
    until = DayMonthYearField("New deadline for this provider",
                              description="Today or later. For example, 14 2 2027")
    reason = _text("Reason", "Kept in the audit trail and sent to the provider",
                   required="Enter the reason for the extension")
    submit = SubmitField("Grant the extension", widget=GovSubmitInput())

    def validate_until(self, field):
        if not field.errors and field.data is None:
            raise ValidationError("Enter the new deadline")


APPROVE, RETURN = "approve", "return"


class ApprovalForm(FlaskForm):
    version = HiddenField()
    decision = RadioField("Do you approve this agreement?", widget=GovRadioInput(),
                          choices=[SelectChoice(APPROVE, "Yes, approve it: the agreed prices "
                                                         "apply from the effective date"),
                                   SelectChoice(RETURN, "No, return it for the decisions to "
                                                        "be looked at again")],
                          validators=[InputRequired("Select whether to approve or return the "
                                                    "agreement")],
                          invalid_choice_message="Select whether to approve or return the "
                                                 "agreement")
    reason = _text("Why are you returning it?", "The colleague who proposed it reads this")
    submit = SubmitField("Save and continue", widget=GovSubmitInput())

    def validate_reason(self, field):
        if self.decision.data == RETURN and not (field.data or "").strip():
            raise ValidationError("Enter why you are returning the agreement")


MAX_WEEKS = 10_000_000


def report_form(lots, formdata) -> Form:
    """Annual placement weeks per lot ("weeks-<lot id>"), from the query
    string (GET: it changes nothing). Blank means the page's default."""
    class ReportForm(Form):
        pass

    for lot in lots:
        setattr(ReportForm, f"weeks-{lot.id}", WholeNumberFilter(
            f"{lot.title}: placement weeks a year",
            not_whole=f"Placement weeks for Lot {lot.number} must be a whole number, like 520",
            validators=[Optional(), NumberRange(
                min=0, max=MAX_WEEKS,
                message=f"Placement weeks for Lot {lot.number} must be between 0 and "
                        f"{MAX_WEEKS:,}")]))
    return ReportForm(formdata)
