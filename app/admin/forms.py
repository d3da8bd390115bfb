from flask_wtf import FlaskForm
from govuk_frontend_wtf.wtforms_widgets import GovRadioInput, GovSubmitInput, GovTextInput
from wtforms import EmailField, RadioField, StringField, SubmitField
from wtforms.validators import Email, InputRequired, Length

from app.domain.states import STAFF_ROLES


class StaffUserForm(FlaskForm):
    full_name = StringField("Full name", widget=GovTextInput(),
                            validators=[InputRequired("Enter the person's full name"), Length(max=200)])
    email = EmailField("Work email address", widget=GovTextInput(),
                       validators=[InputRequired("Enter their work email address"),
                                   Email("Enter an email address in the correct format, like name@example.com"),
                                   Length(max=254)])
    role = RadioField("Role", widget=GovRadioInput(),
                      choices=[(r.value, r.label) for r in STAFF_ROLES],
                      validators=[InputRequired("Select a role")])
    submit = SubmitField("Create account and send invitation", widget=GovSubmitInput())
