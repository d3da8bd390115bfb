from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from govuk_frontend_wtf.wtforms_widgets import GovFileInput, GovSubmitInput
from wtforms import SubmitField

from app.forms import OneTimeForm


class RunExpiryCheckForm(OneTimeForm):
    """Only the CSRF token, rendered as a plain hidden input (no id), since
    the jobs page has a second form."""


class OfstedImportForm(OneTimeForm):
    # Judged by its content in the view: text, with Ofsted's columns.
    file = FileField("Upload a CSV file", widget=GovFileInput())
    submit = SubmitField("Import Ofsted data", widget=GovSubmitInput())


class VerifyForm(FlaskForm):
    """Only the CSRF token (a plain hidden input on each row): the document
    is in the URL."""
