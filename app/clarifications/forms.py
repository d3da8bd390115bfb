"""Forms for asking and answering clarification questions.

The evaluator's form has up to five question boxes (blank ones are ignored),
shown one more at a time by "Add another question", which works as a plain
form post. The provider's form has one answer box per open question, built
for the questions asked, and an optional supporting document whose file and
details are the evidence library's own upload form (app.evidence.forms).
"""
from govuk_frontend_wtf.wtforms_widgets import GovSelect, GovSubmitInput, GovTextArea
from wtforms import HiddenField, SelectField, SubmitField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length

from app.domain import clarifications as rules
from app.domain.documents import LIBRARY_KINDS
from app.domain.reference import DocumentKind
from app.evidence.forms import UploadForm
from app.forms import OneTimeForm

# An Ofsted certificate belongs to a setting, chosen in the evidence library.
DOCUMENT_KINDS = tuple(k for k in LIBRARY_KINDS if not k.per_setting)
DOCUMENT_PREFIX = "document-"


class AskForm(OneTimeForm):
    version = HiddenField()
    placement_type_id = HiddenField()
    # How many question boxes are shown; "Add another question" adds one.
    rows = HiddenField()
    submit = SubmitField("Send questions to the provider", widget=GovSubmitInput())


for _n in range(1, rules.MAX_QUESTIONS + 1):
    setattr(AskForm, f"question_{_n}", TextAreaField(
        f"Question {_n}", widget=GovTextArea(),
        validators=[Length(max=rules.MAX_QUESTION_CHARS,
                           message=f"Question {_n} must be {rules.MAX_QUESTION_CHARS:,} "
                                   "characters or fewer")]))


def shown_rows(form: AskForm) -> int:
    """The boxes to show: as many as asked for, and never hide one with text."""
    try:
        rows = int(form.rows.data or 1)
    except ValueError:
        rows = 1
    filled = max((n for n in range(1, rules.MAX_QUESTIONS + 1)
                  if (form[f"question_{n}"].data or "").strip()), default=0)
    return min(max(rows, filled, 1), rules.MAX_QUESTIONS)


def asked_questions(form: AskForm) -> list[str]:
    return [form[f"question_{n}"].data or "" for n in range(1, rules.MAX_QUESTIONS + 1)]


def answer_form(open_questions):
    """The provider's answers: one required box per open question.
    `open_questions`: (number on the page, clarification) pairs."""
    class AnswerForm(OneTimeForm):
        version = HiddenField()
        document_kind = SelectField(
            "What is the document?", widget=GovSelect(),
            description="A new document replaces the one of the same kind in your evidence",
            choices=[SelectChoice("", "No document")] + [
                SelectChoice(k.value, k.label) for k in DOCUMENT_KINDS])
        submit = SubmitField("Send your answers", widget=GovSubmitInput())

    for number, c in open_questions:
        setattr(AnswerForm, f"answer_{c.id}", TextAreaField(
            f"Your answer to question {number}", widget=GovTextArea(),
            validators=[DataRequired(f"Enter your answer to question {number}"),
                        Length(max=rules.MAX_ANSWER_CHARS,
                               message=f"Your answer to question {number} must be "
                                       f"{rules.MAX_ANSWER_CHARS:,} characters or fewer")]))
    return AnswerForm


def document_form(kind: DocumentKind | None, max_bytes: int, formdata=None) -> UploadForm:
    """The evidence library's upload form, prefixed inside the answer form (whose
    CSRF token covers it). Without a kind it shows every field, insurance
    details included, for a page that works without JavaScript."""
    kwargs = {} if formdata is None else {"formdata": formdata}
    return UploadForm(kind or DocumentKind.PUBLIC_LIABILITY, settings=None, max_bytes=max_bytes,
                      prefix=DOCUMENT_PREFIX, meta={"csrf": False}, **kwargs)
