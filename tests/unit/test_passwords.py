"""New passwords follow the NCSC's guidance: long, no composition rules,
not a common password, not built from the person's email or the service."""
import pytest

from app.demo import DEMO_PASSWORD
from app.domain import passwords
from app.domain.passwords import password_problem
from tests.factories import PASSWORD

SERVICE = "Children's placements DPS portal"


def problem(password, email="amira.khan@brightwater.example"):
    return password_problem(password, email=email, service_name=SERVICE)


def test_the_published_demo_and_test_passwords_are_allowed():
    assert problem(DEMO_PASSWORD, "evaluator@newham.example") is None
    assert problem(PASSWORD) is None


@pytest.mark.parametrize("password", [
    "twelve chars", "all lower case words", "ALLCAPSNODIGITS", "123 Pine Street Leeds",
    "x" * 256,
])
def test_no_composition_rules_only_length(password):
    assert problem(password) is None


def test_length_limits_with_clear_messages():
    assert problem("eleven char") == "Password must be 12 characters or more"
    assert problem("y" * 257) == "Password must be 256 characters or fewer"


def test_the_deny_list_is_a_real_list_of_common_passwords():
    common = passwords.common_passwords()
    assert len(common) > 15000
    assert {"password", "123456", "qwerty", "iloveyou"} <= common


@pytest.mark.parametrize("password", [
    "password1234", "Password1234", "qwertyuiop123", "1q2w3e4r5t6y", "manchesterunited",
    # A common password padded to the length rule is no better.
    "iloveyou12345678", "football!!!!!!!", "2024sunshine2024",
    "pass word 1234",
])
def test_common_passwords_are_refused(password):
    assert problem(password) == passwords.TOO_COMMON


@pytest.mark.parametrize("password", [
    "amira.khan@brightwater.example", "AmiraKhan2024!", "brightwater2025",
    "Children's placements DPS portal", "placements123",
])
def test_passwords_built_from_the_email_or_service_name_are_refused(password):
    assert problem(password) == passwords.TOO_PERSONAL


def test_a_context_word_inside_a_longer_passphrase_is_fine():
    assert problem("my brightwater kayak goes fast") is None


def test_messages_tell_people_what_to_do():
    assert "Try three random words" in passwords.TOO_COMMON
    assert "Try three random words" in passwords.TOO_PERSONAL
    assert "12 characters" in passwords.HINT
