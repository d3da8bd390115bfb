from datetime import date

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from govuk_frontend_wtf.wtforms_widgets import (GovDateInput, GovFileInput, GovRadioInput,
                                                GovSelect, GovSubmitInput, GovTextInput)
from wtforms import DateField, RadioField, SelectField, StringField, SubmitField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, ValidationError

from app.domain.documents import (ALLOWED_DESCRIPTION, UPLOAD_KINDS, parse_cover_amount,
                                  size_limit_text)
from app.domain.reference import DocumentKind
from app.forms import OneTimeForm


class DayMonthYearField(DateField):
    """A GOV.UK date input (three boxes sharing one name) with our messages.

    GovDateInput unpacks exactly three posted values and fails on anything
    else, so whatever arrives (nothing, or a tampered number of values) is
    normalised to three before the widget sees it.
    """
    widget = GovDateInput()

    def __init__(self, label=None, validators=None, **kwargs):
        super().__init__(label, validators, format="%d %m %Y", **kwargs)

    def process_formdata(self, valuelist):
        parts = [str(v).strip() for v in valuelist][:3]
        parts += [""] * (3 - len(parts))
        self.raw_data = parts
        self.data = None
        if not any(parts):
            return
        day, month, year = parts
        try:
            if len(year) != 4:
                raise ValueError
            self.data = date(int(year), int(month), int(day))
        except ValueError:
            raise ValueError(f"{self.label.text} must be a real date") from None


class ChooseKindForm(FlaskForm):
    """Sent by GET, so it carries no CSRF token: it only chooses what to upload."""
    class Meta:
        csrf = False

    kind = RadioField("What are you uploading?", widget=GovRadioInput(),
                      description="If you already have one, the new file replaces it",
                      choices=[SelectChoice(k.value, k.label) for k in UPLOAD_KINDS],
                      validators=[InputRequired("Select what you are uploading")])
    submit = SubmitField("Continue", widget=GovSubmitInput())


class UploadForm(OneTimeForm):
    file = FileField("Upload a file", widget=GovFileInput())
    setting_id = SelectField(
        "Setting", widget=GovSelect(),
        description="The home, branch or service this certificate is for",
        validators=[InputRequired("Select the setting this certificate is for")])
    insurer = StringField(
        "Insurer", widget=GovTextInput(),
        validators=[InputRequired("Enter the name of the insurer"),
                    Length(max=200, message="Insurer must be 200 characters or fewer")])
    policy_number = StringField(
        "Policy number", widget=GovTextInput(),
        validators=[InputRequired("Enter the policy number"),
                    Length(max=100, message="Policy number must be 100 characters or fewer")])
    cover_amount = StringField(
        "Cover amount", widget=GovTextInput(),
        description="The limit of indemnity in pounds, for example 5,000,000")
    expires_on = DayMonthYearField("Expiry date", description="For example, 31 3 2027")
    submit = SubmitField("Upload file", widget=GovSubmitInput())

    def __init__(self, kind: DocumentKind, settings=None, max_bytes: int = 20 * 1024 * 1024,
                 **kwargs):
        """`settings`: the provider's settings to choose from, or None when the
        setting is already known (or the kind is not per setting)."""
        super().__init__(**kwargs)
        self.kind = kind
        self.file.description = (f"The file must be {ALLOWED_DESCRIPTION}, smaller than "
                                 f"{size_limit_text(max_bytes)}")
        if not kind.is_insurance:
            del self.insurer, self.policy_number, self.cover_amount
            self.expires_on.label.text = "Expiry date (optional)"
            self.expires_on.description = ("If the document is only valid until a date, "
                                           "for example 31 3 2027")
        if settings is None:
            del self.setting_id
        else:
            self.setting_id.choices = [SelectChoice("", "Select a setting")] + [
                SelectChoice(str(s.id), s.name) for s in settings]
        self.cover = None

    def validate_cover_amount(self, field):
        try:
            self.cover = parse_cover_amount(field.data)
        except ValueError as exc:
            raise ValidationError(str(exc)) from None

    def validate_expires_on(self, field):
        # A date that is not real already carries its own error.
        if self.kind.is_insurance and field.data is None and not field.errors:
            raise ValidationError("Enter the expiry date")
