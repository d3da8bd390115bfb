"""Forms of the provider's fee review. One field per line of the submission,
named as the domain names its errors ("line-<id>-amount"), so a message from
app.domain.fee_review lands next to its field and in the error summary."""
from decimal import Decimal

from flask_wtf import FlaskForm
from govuk_frontend_wtf.wtforms_widgets import (GovCharacterCount, GovRadioInput, GovSelect,
                                                GovTextArea, GovTextInput)
from wtforms import HiddenField, RadioField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional

from app.domain import applications as money_rules
from app.domain.states import DocumentStatus
from app.forms import OneTimeForm

MAX_TEXT = 5000
# parse_money refuses amounts above its maximum; the real limits (the lot's
# maximum weekly price) are the domain's, so the format check uses no limit.
NO_LIMIT = Decimal("1000000000")


def amount_name(line_id: int) -> str:
    return f"line-{line_id}-amount"


def justification_name(line_id: int) -> str:
    return f"line-{line_id}-justification"


def response_name(line_id: int) -> str:
    return f"line-{line_id}-response"


def parse_amount(raw: str | None, label: str) -> Decimal | None:
    """A price as typed ("3,950", "£3950.00") or None when left blank.
    Raises ValueError with the message to show next to the field."""
    try:
        return money_rules.parse_money(raw, noun="new price", label=label, maximum=NO_LIMIT,
                                       required=False)
    except money_rules.ApplicationError as exc:
        raise ValueError(str(exc)) from None


def amount_text(amount: Decimal | None) -> str:
    return "" if amount is None else f"{amount:.2f}"


def _evidence_label(document) -> str:
    return f"{document.kind.label}: {document.original_filename} " \
           f"(uploaded {document.uploaded_at.day} {document.uploaded_at:%B %Y})"


def evidence_choices(documents, chosen_id: int | None) -> list[SelectChoice]:
    """The organisation's documents, newest first; a replaced document only if
    it is the one already chosen."""
    keep = [d for d in documents
            if d.status is not DocumentStatus.SUPERSEDED or d.id == chosen_id]
    keep.sort(key=lambda d: (d.uploaded_at, d.id), reverse=True)
    return [SelectChoice("", "No cost evidence")] + [
        SelectChoice(str(d.id), _evidence_label(d)) for d in keep]


class ProposalBase(FlaskForm):
    # The version the page was opened at: another value means a colleague
    # saved in between, and this save must not silently overwrite theirs.
    version = HiddenField()
    justification = TextAreaField(
        "Why do you need these new prices?", widget=GovCharacterCount(),
        description="For example rises in the National Living Wage, pensions, energy or "
                    "insurance. This explains every price above the guidance that has no "
                    "explanation of its own.",
        validators=[Length(max=MAX_TEXT, message=f"Your justification must be {MAX_TEXT:,} "
                                                 "characters or fewer")])
    evidence = SelectField("Cost evidence (optional)", widget=GovSelect(), validate_choice=False,
                           description="A document from your evidence library, such as your "
                                       "latest accounts or a cost breakdown.")


def proposal_form(lines, documents, chosen_evidence_id: int | None):
    """The form class for one submission: a new price and a justification per line."""
    fields = {}
    for line in lines:
        fields[amount_name(line.id)] = StringField(f"New price for {line.label}",
                                                   widget=GovTextInput())
        fields[justification_name(line.id)] = TextAreaField(
            f"Why do you need a new price for {line.label}?", widget=GovTextArea(),
            validators=[Length(max=MAX_TEXT, message=f"The justification for {line.label} "
                                                     f"must be {MAX_TEXT:,} characters or fewer")])
    form_class = type("ProposalForm", (ProposalBase,), fields)

    def build(**kwargs):
        form = form_class(**kwargs)
        form.evidence.choices = evidence_choices(documents, chosen_evidence_id)
        return form
    return build


def proposal_prefill(submission) -> dict:
    prefill = {"version": submission.version, "justification": submission.justification or "",
               "evidence": str(submission.evidence_document_id or "")}
    for line in submission.lines:
        prefill[amount_name(line.id)] = amount_text(line.proposed_amount)
        prefill[justification_name(line.id)] = line.justification or ""
    return prefill


class SubmitForm(FlaskForm):
    version = HiddenField()


ACCEPT, REPLY = "accept", "reply"


def response_form(lines):
    """Accept or answer each counter-offer, and a message to the commissioners."""
    fields = {}
    for line in lines:
        fields[response_name(line.id)] = RadioField(
            f"Your answer on {line.label}", widget=GovRadioInput(),
            choices=[SelectChoice(ACCEPT, f"Accept the counter-offer of "
                                          f"£{line.counter_amount:,.2f}"),
                     SelectChoice(REPLY, "Reply with another price")],
            # A price typed with no choice made is a reply: the view decides.
            validators=[Optional()],
            invalid_choice_message=f"Select whether you accept the counter-offer on "
                                   f"{line.label}")
        fields[amount_name(line.id)] = StringField(f"Your price for {line.label}",
                                                   widget=GovTextInput())
    fields["message"] = TextAreaField(
        "Message to the commissioning team", widget=GovCharacterCount(),
        description="Needed if you reply with another price: explain the price you ask.",
        validators=[Length(max=MAX_TEXT, message=f"Your message must be {MAX_TEXT:,} "
                                                 "characters or fewer")])
    return type("ResponseForm", (SubmitForm,), fields)


class MessageForm(OneTimeForm):
    """A message to the thread: posted once however often the form is sent."""
    body = TextAreaField("Your message", widget=GovCharacterCount(),
                         validators=[DataRequired("Enter your message"),
                                     Length(max=MAX_TEXT, message=f"Your message must be "
                                                                  f"{MAX_TEXT:,} characters "
                                                                  "or fewer")])
