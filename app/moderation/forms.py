"""Forms for recommending a lot and for moderating the recommendation. Each
carries the lot evaluation's version, so a page opened before a colleague
acted is refused rather than overwriting what they did."""
from flask_wtf import FlaskForm
from govuk_frontend_wtf.wtforms_widgets import (GovCharacterCount, GovRadioInput, GovSubmitInput)
from wtforms import HiddenField, RadioField, SubmitField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, ValidationError

from app.domain.decisions import MAX_TEXT

_TOO_LONG = f"must be {MAX_TEXT:,} characters or fewer"


class RecommendForm(FlaskForm):
    version = HiddenField()
    recommendation = RadioField(
        "What do you recommend for this lot?",
        choices=[SelectChoice("approve", "Approve: the provider joins this lot"),
                 SelectChoice("reject", "Reject: the provider does not join this lot")],
        widget=GovRadioInput(),
        invalid_choice_message="Select whether to recommend approval or rejection")
    reasons = TextAreaField(
        "Your reasons", widget=GovCharacterCount(),
        validators=[DataRequired(message="Enter your reasons for the recommendation"),
                    Length(max=MAX_TEXT, message=f"Reasons {_TOO_LONG}")])
    feedback = TextAreaField(
        "Feedback for the provider", widget=GovCharacterCount(),
        validators=[DataRequired(message="Enter the feedback for the provider"),
                    Length(max=MAX_TEXT, message=f"Feedback {_TOO_LONG}")])
    submit = SubmitField("Send for moderation", widget=GovSubmitInput())


class ModerateForm(FlaskForm):
    version = HiddenField()
    decision = RadioField(
        "Do you confirm this recommendation?",
        choices=[SelectChoice("confirm", "Yes, confirm it as the decision"),
                 SelectChoice("return", "No, return it to the evaluator")],
        widget=GovRadioInput(),
        invalid_choice_message="Select whether to confirm or return the recommendation")
    comment = TextAreaField(
        "Comments", widget=GovCharacterCount(),
        validators=[Length(max=MAX_TEXT, message=f"Comments {_TOO_LONG}")])
    submit = SubmitField("Save and continue", widget=GovSubmitInput())

    def validate_comment(self, field):
        if self.decision.data == "return" and not (field.data or "").strip():
            raise ValidationError("Enter your comments for the evaluator")
