"""The date to show prices on: a GET form (no CSRF: it changes nothing)."""
from datetime import date

from govuk_frontend_wtf.wtforms_widgets import GovSubmitInput
from wtforms import Form, SubmitField
from wtforms.validators import ValidationError

from app.evidence.forms import DayMonthYearField

EARLIEST = date(2000, 1, 1)
LATEST = date(2100, 12, 31)


class PricesOnForm(Form):
    on = DayMonthYearField("Show prices in force on",
                           description="Any date, past or future. For example, 1 4 2025")
    submit = SubmitField("Show prices", widget=GovSubmitInput())

    def validate_on(self, field):
        if field.errors:
            return
        if field.data is None:
            raise ValidationError("Enter the date to show prices on")
        if not EARLIEST <= field.data <= LATEST:
            raise ValidationError("The date must be between 2000 and 2100")
