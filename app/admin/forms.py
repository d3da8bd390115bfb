from flask_wtf import FlaskForm
from govuk_frontend_wtf.wtforms_widgets import (GovRadioInput, GovSelect, GovSubmitInput, GovTextArea,
                                                GovTextInput)
from wtforms import EmailField, RadioField, SelectField, StringField, SubmitField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Email, InputRequired, Length

from app.domain.states import STAFF_ROLES
from app.forms import OneTimeForm


class StaffUserForm(OneTimeForm):
    full_name = StringField("Full name", widget=GovTextInput(),
                            validators=[InputRequired("Enter the person's full name"), Length(max=200)])
    email = EmailField("Work email address", widget=GovTextInput(),
                       validators=[InputRequired("Enter their work email address"),
                                   Email("Enter an email address in the correct format, like name@example.com"),
                                   Length(max=254)])
    role = RadioField("Role", widget=GovRadioInput(),
                      choices=[(r.value, r.label) for r in STAFF_ROLES],
                      validators=[InputRequired("Select a role")])
    authority_id = SelectField(
        "Authority", widget=GovSelect(),
        description="Member authority officers must belong to a member authority: it decides "
                    "which lots they see. Other staff belong to the lead authority, chosen for "
                    "them if you leave this blank.",
        default="", invalid_choice_message="Select an authority from the list")
    submit = SubmitField("Create account and send invitation", widget=GovSubmitInput())

    def __init__(self, authorities, **kwargs):
        super().__init__(**kwargs)
        self.authority_id.choices = [SelectChoice("", "Select an authority")] + [
            SelectChoice(str(a.id), f"{a.name} (lead authority)" if a.is_lead else a.name)
            for a in authorities]


class ResetSecondFactorForm(FlaskForm):
    reason = TextAreaField("Why are you resetting it?", widget=GovTextArea(),
                           description="For example: lost phone, reported by phone call on 3 May",
                           validators=[InputRequired("Enter why you are resetting the second factor"),
                                       Length(max=500, message="Reason must be 500 characters or fewer")])
    submit = SubmitField("Reset second factor", widget=GovSubmitInput())
