"""The directory's search form: a GET form read from the query string (no
CSRF: it changes nothing). `criteria()` turns a valid form into the domain's
Criteria; the lot choices are only the lots this person may see, so a lot id
edited into the address is an invalid choice."""
from govuk_frontend_wtf.wtforms_widgets import (GovCheckboxInput, GovCheckboxesInput,
                                                GovRadioInput, GovSelect, GovTextInput)
from wtforms import BooleanField, Form, RadioField, SelectField, SelectMultipleField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import NumberRange, Optional, ValidationError

from app.domain import directory, geo
from app.domain.providers import MAX_AGE, MIN_AGE
from app.domain.reference import SPECIALISMS, Gender, OfstedJudgement
from app.forms import WholeNumberFilter

ANY = ""
UNKNOWN_POSTCODE = "Enter a real postcode, like HA1 1AA"


class DirectoryForm(Form):
    lot = SelectField("Lot", widget=GovSelect(),
                      invalid_choice_message="Select a lot from the list")
    # Choices follow the lot; a type of another lot (the lot was just changed)
    # falls back to the lot's first type rather than failing.
    placement_type = SelectField("Placement type", widget=GovSelect(), validate_choice=False,
                                 description="The price shown is the weekly ceiling price "
                                             "for this placement type")
    postcode = StringField("Postcode", widget=GovTextInput(),
                           description="A full postcode or the first part, like HA1 or HA1 1AA")
    radius = SelectField("Within", widget=GovSelect(),
                         default=str(directory.DEFAULT_RADIUS_MILES),
                         choices=[SelectChoice(str(m), f"{m} miles")
                                  for m in directory.RADII_MILES],
                         invalid_choice_message="Select a distance from the list")
    sort = RadioField("Sort by", widget=GovRadioInput(), default=directory.SORT_PRICE,
                      choices=[SelectChoice(k, v) for k, v in directory.SORTS.items()],
                      invalid_choice_message="Select how to sort the results")
    judgement = SelectField(
        "Ofsted judgement at least", widget=GovSelect(), default=ANY,
        choices=[SelectChoice(ANY, "Any judgement")] + [
            SelectChoice(j.value, j.label if j is OfstedJudgement.OUTSTANDING
                         else f"{j.label} or better") for j in directory.MINIMUM_JUDGEMENTS],
        invalid_choice_message="Select an Ofsted judgement from the list")
    age = WholeNumberFilter("Child's age", not_whole="Age must be a whole number, like 14", validators=[
        Optional(), NumberRange(MIN_AGE, MAX_AGE, f"Age must be between {MIN_AGE} and {MAX_AGE}")])
    gender = SelectField("Child's gender", widget=GovSelect(), default=ANY,
                         choices=[SelectChoice(ANY, "Any"),
                                  SelectChoice(Gender.FEMALE.value, "Female"),
                                  SelectChoice(Gender.MALE.value, "Male")],
                         invalid_choice_message="Select a gender from the list")
    specialisms = SelectMultipleField(
        "Specialisms", widget=GovCheckboxesInput(),
        description="Show only settings with every specialism selected",
        choices=[SelectChoice(code, label) for code, label in SPECIALISMS.items()],
        invalid_choice_message="Select specialisms from the list")
    show_suspended = BooleanField("Show suspended providers and settings (staff only)",
                                  widget=GovCheckboxInput())

    def __init__(self, formdata, *, lots, sees_suspended: bool):
        super().__init__(formdata)
        self.place: geo.Place | None = None
        self._lots = {str(lot.id): lot for lot in lots}
        self.lot.choices = [SelectChoice(str(lot.id), lot.title) for lot in lots]
        if not self.lot.data and lots:
            self.lot.data = str(lots[0].id)
        if not sees_suspended:
            del self.show_suspended
        chosen = self.chosen_lot() or (lots[0] if lots else None)
        types = chosen.placement_types if chosen else []
        self.placement_type.choices = [SelectChoice(str(pt.id), pt.name) for pt in types]
        if self.placement_type.data not in {str(pt.id) for pt in types}:
            self.placement_type.data = str(types[0].id) if types else None

    def chosen_lot(self):
        """The lot asked for, if it is one this person may see."""
        return self._lots.get(self.lot.data or "")

    def validate_postcode(self, field):
        text = " ".join((field.data or "").split()).upper()
        field.data = text
        if not text:
            if self.sort.data == directory.SORT_DISTANCE:
                raise ValidationError("Enter a postcode to sort by distance")
            return
        self.place = geo.locate(text)
        if self.place is None:
            raise ValidationError(UNKNOWN_POSTCODE)

    def criteria(self) -> directory.Criteria:
        """The search a valid form asks for."""
        return directory.Criteria(
            lot_id=int(self.lot.data),
            placement_type_id=int(self.placement_type.data) if self.placement_type.data else None,
            min_judgement=OfstedJudgement(self.judgement.data) if self.judgement.data else None,
            age=self.age.data,
            gender=Gender(self.gender.data) if self.gender.data else None,
            specialisms=tuple(self.specialisms.data or ()),
            near=self.place,
            radius_miles=int(self.radius.data),
            sort=self.sort.data,
            show_suspended=bool(getattr(self, "show_suspended", None) and self.show_suspended.data))
