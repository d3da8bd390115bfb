"""Form fields shared by several features."""
from govuk_frontend_wtf.wtforms_widgets import GovTextInput
from wtforms import IntegerField
from wtforms.validators import StopValidation


class WholeNumberFilter(IntegerField):
    """An optional whole number in a filter form, with one clear message when
    it is not a number (the range validators then stay quiet)."""
    widget = GovTextInput()

    def __init__(self, label=None, validators=None, not_whole: str = "", **kwargs):
        super().__init__(label, validators, **kwargs)
        self.not_whole = not_whole

    def process_formdata(self, valuelist):
        text = (valuelist[0] if valuelist else "").strip()
        self.data = None
        if text:
            try:
                self.data = int(text)
            except ValueError:
                raise ValueError(self.not_whole) from None

    def pre_validate(self, form):
        if self.process_errors:
            raise StopValidation()
