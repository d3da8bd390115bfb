import re

import pyotp

from app.domain.states import Role
from app.models import User
from tests.factories import PASSWORD, login, make_user, outbox


def _link(email) -> str:
    return re.search(r"http://localhost(/\S+)", email.body).group(1)


def test_register_confirm_and_sign_in(client, app_ctx):
    r = client.post("/register", data={"full_name": "Amira Khan", "email": "Amira@Example.com",
                                       "password": PASSWORD, "confirm": PASSWORD})
    assert r.status_code == 303
    [email] = outbox("amira@example.com")
    assert email.subject == "Confirm your email address"
    # Before confirming, sign-in is refused with a clear message.
    r = client.post("/sign-in", data={"email": "amira@example.com", "password": PASSWORD})
    assert b"Confirm your email address first" in r.data
    r = client.get(_link(email))
    assert r.status_code == 303
    r = client.post("/sign-in", data={"email": "amira@example.com", "password": PASSWORD})
    assert r.status_code == 303
    # A new provider account is sent to register its organisation.
    assert client.get("/").headers["Location"].endswith("/organisation/new")


def test_register_keeps_input_and_shows_error_summary(client, app_ctx):
    r = client.post("/register", data={"full_name": "Amira Khan", "email": "not-an-email",
                                       "password": "short", "confirm": "short"})
    assert r.status_code == 400
    html = r.data.decode()
    assert "There is a problem" in html
    assert "Enter an email address in the correct format" in html
    assert "Password must be 12 characters or more" in html
    assert 'value="Amira Khan"' in html


def test_register_with_existing_email_reveals_nothing(client, app_ctx):
    user = make_user(email="taken@example.com")
    r = client.post("/register", data={"full_name": "X", "email": "taken@example.com",
                                       "password": PASSWORD, "confirm": PASSWORD})
    assert r.status_code == 303 and r.headers["Location"].endswith("/register/check-email")
    assert outbox(user.email)[0].subject == "You already have an account"
    assert User.query.filter_by(email="taken@example.com").count() == 1


def test_wrong_password_and_unknown_email_get_the_same_message(client, app_ctx):
    make_user(email="known@example.com")
    a = client.post("/sign-in", data={"email": "known@example.com", "password": "wrong password"})
    b = client.post("/sign-in", data={"email": "nobody@example.com", "password": "wrong password"})
    assert a.status_code == b.status_code == 400
    assert b"Enter a correct email address and password" in a.data
    assert b"Enter a correct email address and password" in b.data


def test_reset_password_link_works_once(client, app_ctx):
    user = make_user(email="reset@example.com")
    client.post("/forgot-password", data={"email": "reset@example.com"})
    [email] = outbox("reset@example.com")
    link = _link(email)
    new = "a brand new passphrase"
    r = client.post(link, data={"password": new, "confirm": new})
    assert r.status_code == 303
    r = client.post(link, data={"password": new, "confirm": new})
    assert r.status_code == 400 and b"expired or was already used" in r.data
    r = client.post("/sign-in", data={"email": "reset@example.com", "password": new})
    assert r.status_code == 303


def test_forgot_password_for_unknown_email_sends_nothing(client, app_ctx):
    r = client.post("/forgot-password", data={"email": "ghost@example.com"})
    assert r.status_code == 200 and b"Check your email" in r.data
    assert outbox() == []


def test_change_password_signs_out_other_sessions(app, client, app_ctx):
    user = make_user()
    other = app.test_client()
    login(client, user)
    login(other, user)
    new = "another long passphrase"
    r = client.post("/account/password", data={"current_password": PASSWORD,
                                               "password": new, "confirm": new})
    assert r.status_code == 303
    assert client.get("/account").status_code == 200
    assert other.get("/account").status_code == 302  # signed out


def test_change_password_refuses_wrong_current_password(client, app_ctx):
    user = make_user()
    login(client, user)
    r = client.post("/account/password", data={"current_password": "nope nope nope",
                                               "password": "x" * 12, "confirm": "x" * 12})
    assert r.status_code == 400 and b"Your current password is not correct" in r.data


def test_common_password_is_refused(client, app_ctx):
    r = client.post("/register", data={"full_name": "A", "email": "a@example.com",
                                       "password": "password1234", "confirm": "password1234"})
    assert r.status_code == 400 and b"too easy to guess" in r.data


def test_staff_accounts_are_created_by_an_administrator(client, app_ctx):
    admin = make_user(role=Role.ADMIN)
    evaluator = make_user(role=Role.EVALUATOR)
    login(client, evaluator)
    assert client.get("/admin/users/new").status_code == 403
    login(client, admin)
    r = client.post("/admin/users/new", data={"full_name": "Evie Lu", "email": "evie@newham.example",
                                              "role": "evaluator"})
    assert r.status_code == 303
    [email] = outbox("evie@newham.example")
    client.get("/sign-out")
    client.post("/sign-out")
    pw = "a long enough passphrase"
    r = client.post(_link(email), data={"password": pw, "confirm": pw})
    # Staff are signed in only once they have set up their second factor.
    assert r.status_code == 303 and r.headers["Location"].endswith("/sign-in/second-factor/set-up")
    html = client.get(r.headers["Location"]).get_data(as_text=True)
    secret = re.search(r'id="second-factor-key">([A-Z2-7 ]+)<', html).group(1).replace(" ", "")
    r = client.post("/sign-in/second-factor/set-up", data={"code": pyotp.TOTP(secret).now()})
    assert r.status_code == 303
    assert client.get("/").headers["Location"].endswith("/staff/")


def test_sign_out_needs_a_post(client, app_ctx):
    user = make_user()
    login(client, user)
    assert client.get("/sign-out").status_code == 200  # a confirmation page, not a sign-out
    assert client.get("/account").status_code == 200
    client.post("/sign-out")
    assert client.get("/account").status_code == 302


def test_healthz_reports_database(client):
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.get_json()["checks"]["database"] == "ok"


def test_next_redirect_stays_on_site(client, app_ctx):
    make_user(email="n@example.com")
    r = client.post("/sign-in?next=//evil.example/", data={"email": "n@example.com", "password": PASSWORD})
    assert r.headers["Location"] == "/"
