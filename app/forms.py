"""Form fields shared by several features, and the one-time form that
creates a record only once however often it is submitted."""
from flask import abort, current_app, flash, redirect, request
from flask_login import current_user
from flask_wtf import FlaskForm
from govuk_frontend_wtf.wtforms_widgets import GovTextInput
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import HTTPException
from wtforms import HiddenField, IntegerField
from wtforms.validators import StopValidation

from app.domain import form_tokens
from app.extensions import db

ALREADY_SENT = "You already sent this form. It was saved once and has not been sent again."


def _files_only_for_file_fields():
    """Flask-WTF hands every uploaded file to the form under its part name,
    so a hand-made request could send a file where a text field is expected
    (no browser does) and the field would get a FileStorage instead of text.
    Keep only the files whose names are file fields of the form, and only
    parts that have a name at all (a line break in a part's header leaves it
    nameless); the rest are dropped, as if not sent. Applies to every
    FlaskForm of the app."""
    from flask_wtf.file import FileField
    from werkzeug.datastructures import CombinedMultiDict, MultiDict

    original = FlaskForm.Meta.wrap_formdata

    def wrap_formdata(self, form, formdata):
        wrapped = original(self, form, formdata)
        if wrapped is not None and formdata is not wrapped and (request.files or request.form):
            file_fields = {f.name for f in form if isinstance(f, FileField)}
            files = MultiDict([(k, v) for k, v in request.files.items(multi=True)
                               if k in file_fields])
            # NUL is never meaningful in text and PostgreSQL cannot store it
            # (found by tests/web/test_form_fuzz.py): drop it, as browsers do.
            fields = MultiDict([(k, v.replace("\x00", "") if isinstance(v, str) else v)
                                for k, v in request.form.items(multi=True)
                                if isinstance(k, str)])
            return CombinedMultiDict((files, fields)) if files else fields
        return wrapped

    FlaskForm.Meta.wrap_formdata = wrap_formdata


_files_only_for_file_fields()


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


class AlreadySubmitted(HTTPException):
    """A repeat of a one-time form: the browser goes to what the first
    submission made. Raised like abort(), so no view needs to handle it."""
    code = 303

    def __init__(self, result_url: str):
        super().__init__()
        self.result_url = result_url

    def get_response(self, environ=None, scope=None):
        if request.headers.get("HX-Request"):
            # htmx would swap the redirected page into its target: send the browser.
            response = current_app.response_class(status=200)
            response.headers["HX-Redirect"] = self.result_url
            return response
        return redirect(self.result_url, code=303)


def _user_id() -> int | None:
    return current_user.id if current_user.is_authenticated else None


def _repeat(token: str) -> AlreadySubmitted:
    spent = form_tokens.spent(token)
    if spent.user_id != _user_id():
        abort(400, "This form was sent from another account. Go back, refresh the page "
                   "and try again.")
    flash(ALREADY_SENT, "info")
    return AlreadySubmitted(spent.result_url)


class OneTimeForm(FlaskForm):
    """A form whose submission creates something (an application, a concern, a
    suspension, an invitation, an API token...) exactly once.

    The page carries a fresh token in `form_token` (render it next to the CSRF
    token). Building the form from a submission whose token is already spent
    sends the browser to what the first submission made, with a message
    (AlreadySubmitted). The view calls `spend_token(form, result_url)` in the
    transaction that writes, before it commits.
    """
    form_token = HiddenField()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.token_sent = form_tokens.well_formed(self.form_token.data)
        if not self.token_sent:
            self.form_token.data = form_tokens.new_token()
        elif self.is_submitted() and form_tokens.spent(self.form_token.data) is not None:
            raise _repeat(self.form_token.data)


def spend_token(form: OneTimeForm, result_url: str) -> None:
    """Spend the form's token in the current transaction; `result_url` is where
    a repeat of this submission is sent. Call it before the write is committed
    (and before anything slow, such as storing a file, when the result is
    already known). A twin submitted at the same moment that spent it first
    makes this one roll back and follow it."""
    if not form.token_sent and current_app.config.get("FORM_TOKENS_REQUIRED",
                                                      not current_app.testing):
        # Every page renders the token, so only a hand-made request lacks it.
        # Nothing the view has written so far may stay.
        db.session.rollback()
        abort(400, "This form could not be sent. Go back, refresh the page and try again.")
    try:
        form_tokens.spend(form.form_token.data, user_id=_user_id(),
                          form=type(form).__name__, result_url=result_url)
    except IntegrityError:
        db.session.rollback()
        if form_tokens.spent(form.form_token.data) is None:
            raise  # some other constraint: not a repeat
        raise _repeat(form.form_token.data) from None
