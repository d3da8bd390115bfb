from flask import current_app
from flask_wtf import FlaskForm
from govuk_frontend_wtf.wtforms_widgets import GovPasswordInput, GovSubmitInput, GovTextInput
from wtforms import EmailField, PasswordField, StringField, SubmitField
from wtforms.validators import Email, EqualTo, InputRequired, Length, ValidationError

from app.domain import passwords
from app.domain.accounts import password_problem
from app.domain.second_factor import is_well_formed


class NewPasswordMixin:
    """The NCSC rules for a new password. The view sets `account_email` when
    the form has no email field (reset, change, invitation)."""
    account_email = ""

    def validate_password(self, field):
        email = self.email.data if hasattr(self, "email") and self.email.data else self.account_email
        problem = password_problem(field.data or "", email or "",
                                   current_app.config.get("SERVICE_NAME", ""))
        if problem:
            raise ValidationError(problem)


class RegisterForm(NewPasswordMixin, FlaskForm):
    full_name = StringField("Full name", widget=GovTextInput(),
                            validators=[InputRequired("Enter your full name"), Length(max=200)])
    email = EmailField("Work email address", widget=GovTextInput(),
                       description="We will send you a link to confirm it",
                       validators=[InputRequired("Enter your email address"),
                                   Email("Enter an email address in the correct format, like name@example.com"),
                                   Length(max=254)])
    password = PasswordField("Create a password", widget=GovPasswordInput(),
                             description=passwords.HINT,
                             validators=[InputRequired("Enter a password")])
    confirm = PasswordField("Confirm password", widget=GovPasswordInput(),
                            validators=[InputRequired("Confirm your password"),
                                        EqualTo("password", "Passwords must match")])
    submit = SubmitField("Create account", widget=GovSubmitInput())


class SignInForm(FlaskForm):
    email = EmailField("Email address", widget=GovTextInput(),
                       validators=[InputRequired("Enter your email address")])
    password = PasswordField("Password", widget=GovPasswordInput(),
                             validators=[InputRequired("Enter your password")])
    submit = SubmitField("Sign in", widget=GovSubmitInput())


class ForgotPasswordForm(FlaskForm):
    email = EmailField("Email address", widget=GovTextInput(),
                       validators=[InputRequired("Enter your email address"),
                                   Email("Enter an email address in the correct format, like name@example.com")])
    submit = SubmitField("Send reset link", widget=GovSubmitInput())


class ResetPasswordForm(NewPasswordMixin, FlaskForm):
    password = PasswordField("New password", widget=GovPasswordInput(),
                             description=passwords.HINT,
                             validators=[InputRequired("Enter a new password")])
    confirm = PasswordField("Confirm new password", widget=GovPasswordInput(),
                            validators=[InputRequired("Confirm your new password"),
                                        EqualTo("password", "Passwords must match")])
    submit = SubmitField("Save password", widget=GovSubmitInput())


class AcceptInvitationForm(ResetPasswordForm):
    submit = SubmitField("Set password and continue", widget=GovSubmitInput())


class ChangePasswordForm(NewPasswordMixin, FlaskForm):
    current_password = PasswordField("Current password", widget=GovPasswordInput(),
                                     validators=[InputRequired("Enter your current password")])
    password = PasswordField("New password", widget=GovPasswordInput(),
                             description=passwords.HINT,
                             validators=[InputRequired("Enter a new password")])
    confirm = PasswordField("Confirm new password", widget=GovPasswordInput(),
                            validators=[InputRequired("Confirm your new password"),
                                        EqualTo("password", "Passwords must match")])
    submit = SubmitField("Change password", widget=GovSubmitInput())


class ResendConfirmationForm(FlaskForm):
    email = EmailField("Email address", widget=GovTextInput(),
                       validators=[InputRequired("Enter your email address"),
                                   Email("Enter an email address in the correct format, like name@example.com")])
    submit = SubmitField("Send the link again", widget=GovSubmitInput())


class SignOutForm(FlaskForm):
    submit = SubmitField("Sign out", widget=GovSubmitInput())


class SecondFactorForm(FlaskForm):
    code = StringField("Code from your authenticator app",
                       widget=GovTextInput(),
                       description="Enter the 6-digit code your app shows now",
                       validators=[InputRequired("Enter the 6-digit code from your authenticator app")])
    submit = SubmitField("Continue", widget=GovSubmitInput())

    def validate_code(self, field):
        if not is_well_formed(field.data or ""):
            raise ValidationError("Enter the code as 6 digits, like 123456")


class SetUpSecondFactorForm(SecondFactorForm):
    submit = SubmitField("Confirm and continue", widget=GovSubmitInput())


class RecoveryCodeForm(FlaskForm):
    code = StringField("Recovery code", widget=GovTextInput(),
                       description="One of the codes you saved when you set up your "
                                   "authenticator app, like abcd-efgh-jkmn",
                       validators=[InputRequired("Enter a recovery code"), Length(max=40)])
    submit = SubmitField("Continue", widget=GovSubmitInput())

