"""Forms of the evaluation pages. The criteria and scores forms are built for
each lot from its findings and questions; the document and exclusion forms
appear once per document or ground, told apart by a prefix."""
from flask import request
from flask_wtf import FlaskForm
from govuk_frontend_wtf.wtforms_widgets import GovRadioInput, GovSubmitInput, GovTextArea
from wtforms import HiddenField, RadioField, SubmitField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length, StopValidation

from app.domain.states import ExclusionOutcome

MAX_TEXT = 5000
_TOO_LONG = "{} must be 5,000 characters or fewer"


def build(form_class, prefill: dict, *, posted: bool = True, **kwargs):
    """The form as sent when this is the POST it was sent with; otherwise
    (GET, or another form of the same page) what is stored."""
    if request.method == "POST" and posted:
        return form_class(**kwargs)
    return form_class(formdata=None, data=prefill, **kwargs)


class VersionedForm(FlaskForm):
    # The version the page was opened at; another version means someone else
    # changed it since.
    version = HiddenField()


# ------------------------------------------------------------- minimum criteria

class _NoteIfOverridden:
    def __init__(self, row):
        self.row = row

    def __call__(self, form, field):
        chosen = form[f"result_{self.row.field}"].data
        if chosen in ("pass", "fail") and (chosen == "pass") != self.row.finding.passed \
                and not (field.data or "").strip():
            raise StopValidation(f"Explain why you are overriding {self.row.finding.label}")


def criteria_form(rows):
    """One pass/fail choice and note per criterion; the system's finding is
    offered as "Confirm", the other answer as "Override"."""
    fields = {}
    prefill = {}
    for row in rows:
        f = row.finding
        if f.passed:
            choices = [SelectChoice("pass", "Confirm: meets this criterion"),
                       SelectChoice("fail", "Override: does not meet this criterion")]
        else:
            choices = [SelectChoice("fail", "Confirm: does not meet this criterion"),
                       SelectChoice("pass", "Override: meets this criterion")]
        fields[f"result_{row.field}"] = RadioField(
            f.label, choices=choices, widget=GovRadioInput(),
            invalid_choice_message=f"Select whether {f.label} is met")
        fields[f"note_{row.field}"] = TextAreaField(
            "Note (needed when you override)", widget=GovTextArea(),
            validators=[_NoteIfOverridden(row),
                        Length(max=MAX_TEXT, message=_TOO_LONG.format("Note"))])
        check = row.check
        # After the evidence changed, offer the new finding rather than the old answer.
        passed = f.passed if check is None or row.evidence_changed else check.confirmed_passed
        prefill[f"result_{row.field}"] = "pass" if passed else "fail"
        prefill[f"note_{row.field}"] = (check.note or "") if check is not None else ""
    fields["submit"] = SubmitField("Save minimum criteria", widget=GovSubmitInput())
    return type("CriteriaForm", (VersionedForm,), fields), prefill


def criteria_choices(form, rows) -> dict[str, tuple[bool, str]]:
    return {row.finding.code: (form[f"result_{row.field}"].data == "pass",
                               form[f"note_{row.field}"].data or "")
            for row in rows}


# ------------------------------------------------------------- quality scores

class _Comment:
    def __init__(self, title: str):
        self.title = title

    def __call__(self, form, field):
        if not (field.data or "").strip():
            raise StopValidation(f"Enter a comment on {self.title}")


def scores_form(lot, saved: dict):
    """A score from 0 to the lot's scale and a comment for each question;
    `saved`: question id -> QualityScore."""
    scale = [SelectChoice(str(n), str(n)) for n in range(lot.quality_scale_max + 1)]
    fields, prefill = {}, {}
    for q in lot.quality_questions:
        fields[f"score_{q.id}"] = RadioField(
            f"Score for {q.title}", choices=scale, widget=GovRadioInput(),
            invalid_choice_message=f"Select a score for {q.title}")
        fields[f"comment_{q.id}"] = TextAreaField(
            f"Comment on {q.title}", widget=GovTextArea(),
            validators=[_Comment(q.title),
                        Length(max=MAX_TEXT, message=_TOO_LONG.format(f"Comment on {q.title}"))])
        if q.id in saved:
            prefill[f"score_{q.id}"] = str(saved[q.id].score)
            prefill[f"comment_{q.id}"] = saved[q.id].comment
    fields["submit"] = SubmitField("Save scores", widget=GovSubmitInput())
    return type("ScoresForm", (VersionedForm,), fields), prefill


def given_scores(form, lot) -> dict[int, tuple[int, str]]:
    return {q.id: (int(form[f"score_{q.id}"].data), form[f"comment_{q.id}"].data or "")
            for q in lot.quality_questions}


# ------------------------------------------------------------- documents

class _ReasonIfRejected:
    def __call__(self, form, field):
        if form.decision.data == "rejected" and not (field.data or "").strip():
            raise StopValidation("Enter the reason for rejecting this document")


class DocumentDecisionForm(VersionedForm):
    decision = RadioField("Decision", widget=GovRadioInput(),
                          choices=[SelectChoice("verified", "Verified"),
                                   SelectChoice("rejected", "Rejected")],
                          invalid_choice_message="Select verified or rejected")
    reason = TextAreaField("Reason for rejecting (the provider will see this)",
                           widget=GovTextArea(),
                           validators=[_ReasonIfRejected(),
                                       Length(max=MAX_TEXT, message=_TOO_LONG.format("Reason"))])
    submit = SubmitField("Save decision", widget=GovSubmitInput())


# ------------------------------------------------------------- exclusions

class _Required:
    def __init__(self, message: str):
        self.message = message

    def __call__(self, form, field):
        if not (field.data or "").strip():
            raise StopValidation(self.message)


class ExclusionForm(VersionedForm):
    evidence = TextAreaField(
        "Evidence considered", widget=GovTextArea(),
        validators=[_Required("Enter the evidence you considered"),
                    Length(max=MAX_TEXT, message=_TOO_LONG.format("Evidence"))])
    representations = TextAreaField(
        "The provider's representations", widget=GovTextArea(),
        validators=[_Required("Enter the provider's representations"),
                    Length(max=MAX_TEXT, message=_TOO_LONG.format("Representations"))])
    outcome = RadioField("Decision", widget=GovRadioInput(),
                         choices=[SelectChoice(o.value, o.label) for o in ExclusionOutcome],
                         invalid_choice_message="Select a decision")
    submit = SubmitField("Save decision", widget=GovSubmitInput())

