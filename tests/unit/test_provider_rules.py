from datetime import date

import pytest

from app.domain import providers as rules
from app.domain.reference import OfstedJudgement, SettingType


@pytest.mark.parametrize("raw, expected", [
    ("01234567", "01234567"),
    ("sc123456", "SC123456"),
    (" OC 123 456 ", "OC123456"),
    ("ni012345", "NI012345"),
])
def test_company_number_is_normalised(raw, expected):
    assert rules.parse_company_number(raw) == expected


@pytest.mark.parametrize("raw, message", [
    ("", "Enter the Companies House number"),
    ("   ", "Enter the Companies House number"),
    ("1234567", "must be 8 characters"),
    ("SC12345", "must be 8 characters"),
    ("123456789", "must be 8 characters"),
    ("S1234567", "correct format"),
    ("SCX23456", "correct format"),
    ("1234567A", "correct format"),
])
def test_company_number_problems(raw, message):
    with pytest.raises(rules.InvalidValue, match=message):
        rules.parse_company_number(raw)


def test_seven_digit_company_number_message_explains_the_leading_zero():
    with pytest.raises(rules.InvalidValue, match="add a 0 at the start"):
        rules.parse_company_number("1234567")


@pytest.mark.parametrize("raw, expected", [
    ("", ""), ("123456", "123456"), ("1123456", "1123456"), ("12345678", "12345678"),
    ("sc012345", "SC012345"), ("SC 012 345", "SC012345"),
])
def test_charity_number_accepted(raw, expected):
    assert rules.parse_charity_number(raw) == expected


@pytest.mark.parametrize("raw", ["12345", "123456789", "SC123456", "SC01234", "AB012345", "12-3456"])
def test_charity_number_refused(raw):
    with pytest.raises(rules.InvalidValue, match="charity number in the correct format"):
        rules.parse_charity_number(raw)


@pytest.mark.parametrize("raw, expected, out", [
    ("e154qz", "E15 4QZ", "E15"),
    ("E15 4QZ", "E15 4QZ", "E15"),
    ("  sw1a   1aa ", "SW1A 1AA", "SW1A"),
    ("M1 1AE", "M1 1AE", "M1"),
    ("W1A0AX", "W1A 0AX", "W1A"),
    ("EC1A 1BB", "EC1A 1BB", "EC1A"),
    ("CR2 6XH", "CR2 6XH", "CR2"),
    ("DN55 1PT", "DN55 1PT", "DN55"),
])
def test_postcode_normalised_and_outcode(raw, expected, out):
    assert rules.parse_postcode(raw) == expected
    assert rules.outcode(raw) == out


@pytest.mark.parametrize("raw", ["E15", "E15 4Q", "12345", "QQ1 1AA", "E15 4CZ", "E15 4QZZ", "Z!1 1AA"])
def test_postcode_refused(raw):
    with pytest.raises(rules.InvalidValue, match="Enter a real postcode"):
        rules.parse_postcode(raw)


def test_postcode_required():
    with pytest.raises(rules.InvalidValue, match="Enter a postcode"):
        rules.parse_postcode("  ")


@pytest.mark.parametrize("raw, expected", [
    ("SC123456", "SC123456"), ("sc123456", "SC123456"), ("2512345", "2512345"),
    ("1234567", "1234567"), (" 2 512 345 ", "2512345"),
])
def test_ofsted_urn_accepted(raw, expected):
    assert rules.parse_ofsted_urn(raw) == expected


@pytest.mark.parametrize("raw", ["SC12345", "SC1234567", "3512345", "251234", "AB123456", "123456"])
def test_ofsted_urn_refused(raw):
    with pytest.raises(rules.InvalidValue, match="Ofsted URN in the correct format"):
        rules.parse_ofsted_urn(raw, SettingType.CHILDRENS_HOME)


def test_special_schools_keep_their_six_digit_urn():
    assert rules.parse_ofsted_urn("131234", SettingType.SPECIAL_SCHOOL) == "131234"
    with pytest.raises(rules.InvalidValue):
        rules.parse_ofsted_urn("131234", SettingType.FOSTERING_AGENCY)


def test_ofsted_urn_required():
    with pytest.raises(rules.InvalidValue, match="Enter the Ofsted unique reference number"):
        rules.parse_ofsted_urn("")


@pytest.mark.parametrize("raw", [
    "020 7946 0000", "02079460000", "07700 900982", "+44 20 7946 0000", "+44 (0)20 7946 0000",
    "(020) 7946-0000", "01632 960001", "0169 77 1234",
])
def test_uk_phone_accepted(raw):
    assert rules.parse_uk_phone(raw) == " ".join(raw.split())


@pytest.mark.parametrize("raw", ["12345", "020 7946 00000 0", "+1 202 555 0143", "0207 946 OOOO",
                                 "7946 0000", "call me"])
def test_uk_phone_refused(raw):
    with pytest.raises(rules.InvalidValue, match="Enter a UK phone number"):
        rules.parse_uk_phone(raw)


def test_uk_phone_required():
    with pytest.raises(rules.InvalidValue, match="Enter a phone number"):
        rules.parse_uk_phone(" ")


TODAY = date(2025, 6, 15)


@pytest.mark.parametrize("judgement, when, problem", [
    (OfstedJudgement.GOOD, date(2025, 6, 15), None),
    (OfstedJudgement.GOOD, date(2024, 1, 1), None),
    (OfstedJudgement.GOOD, None, "Enter the date of the latest Ofsted judgement"),
    (OfstedJudgement.INADEQUATE, date(2025, 6, 16), "must be today or in the past"),
    (OfstedJudgement.NOT_YET_INSPECTED, None, None),
    (None, None, None),
])
def test_judgement_date(judgement, when, problem):
    found = rules.judgement_date_problem(judgement, when, TODAY)
    if problem is None:
        assert found is None
    else:
        assert problem in found


@pytest.mark.parametrize("age_min, age_max, ok", [
    (0, 17, True), (16, 16, True), (18, 17, False), (None, 17, True), (5, None, True),
])
def test_age_range(age_min, age_max, ok):
    assert (rules.age_range_problem(age_min, age_max) is None) is ok
