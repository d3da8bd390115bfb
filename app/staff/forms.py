"""Staff forms: the queue's filters (a GET form, no CSRF: it changes nothing)
and the take / assign actions, which carry the application version."""
from flask_wtf import FlaskForm
from govuk_frontend_wtf.wtforms_widgets import GovSelect, GovSubmitInput
from wtforms import Form, HiddenField, SelectField, SubmitField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, NumberRange, Optional

from app.domain import queue
from app.domain.states import ApplicationStatus
from app.forms import WholeNumberFilter

ANY = ""
UNASSIGNED = "unassigned"
ME = "me"


def _select(label: str, noun: str, **kwargs) -> SelectField:
    """A select whose unknown value (from an edited address) says what to do."""
    return SelectField(label, widget=GovSelect(),
                       invalid_choice_message=f"Select {noun} from the list", **kwargs)


class QueueFilterForm(Form):
    """Read from the query string; every field may be left at "any"."""
    lot = _select("Lot", "a lot", default=ANY)
    status = _select("Status", "a status", default=ANY)
    evaluator = _select("Evaluator", "an evaluator", default=ANY)
    waiting_over = WholeNumberFilter(
        "Waiting longer than (days)", not_whole="Days waiting must be a whole number, like 5",
        validators=[
            Optional(),
            NumberRange(min=0, max=3650, message="Days waiting must be between 0 and 3650")])
    sort = _select("Sort by", "what to sort by", default="submitted",
                   choices=[SelectChoice(k, v) for k, v in queue.SORTS.items()])
    order = _select("Order", "an order", default="desc",
                    choices=[SelectChoice("desc", "Descending (newest, longest, Z to A)"),
                             SelectChoice("asc", "Ascending (oldest, shortest, A to Z)")])

    def __init__(self, formdata, *, lots, evaluators):
        super().__init__(formdata)
        self.lot.choices = [SelectChoice(ANY, "All lots")] + [
            SelectChoice(str(lot.id), lot.title) for lot in lots]
        self.status.choices = [SelectChoice(ANY, "All statuses")] + [
            SelectChoice(s.value, s.label) for s in queue.QUEUE_STATUSES]
        self.evaluator.choices = [SelectChoice(ANY, "Anyone"),
                                  SelectChoice(UNASSIGNED, "Unassigned"),
                                  SelectChoice(ME, "Me")] + [
            SelectChoice(str(u.id), u.full_name) for u in evaluators]

    def filters(self, user_id: int, page: int) -> queue.QueueFilters:
        """The valid filters (a field with an error is not applied)."""
        def ok(field):
            return not field.errors and field.data not in (None, ANY)
        evaluator = self.evaluator.data if ok(self.evaluator) else None
        return queue.QueueFilters(
            lot_id=int(self.lot.data) if ok(self.lot) else None,
            status=ApplicationStatus(self.status.data) if ok(self.status) else None,
            evaluator_id=(user_id if evaluator == ME else
                          int(evaluator) if evaluator not in (None, UNASSIGNED) else None),
            unassigned=evaluator == UNASSIGNED,
            waiting_over_days=self.waiting_over.data if ok(self.waiting_over) else None,
            sort=self.sort.data if ok(self.sort) else "submitted",
            descending=not (ok(self.order) and self.order.data == "asc"),
            page=page)


class TakeForm(FlaskForm):
    version = HiddenField(validators=[DataRequired()])
    submit = SubmitField("Take this application", widget=GovSubmitInput())


class AssignForm(FlaskForm):
    version = HiddenField(validators=[DataRequired()])
    evaluator = SelectField(
        "Assign to", widget=GovSelect(),
        validators=[DataRequired(message="Select who should evaluate this application")],
        invalid_choice_message="Select an evaluator or commissioning manager from the list")
    submit = SubmitField("Assign", widget=GovSubmitInput())

    def __init__(self, *args, evaluators, **kwargs):
        super().__init__(*args, **kwargs)
        self.evaluator.choices = [SelectChoice("", "Select an evaluator")] + [
            SelectChoice(str(u.id), f"{u.full_name} ({u.role.label})") for u in evaluators]
