"""Staff sign in with a password and then a code from an authenticator app
(TOTP), set up at their first sign-in, with single-use recovery codes."""
import re
import time
from datetime import timedelta

import pyotp
import pytest
import time_machine
from sqlalchemy.orm.attributes import set_committed_value

from app.domain import second_factor
from app.domain.states import Role
from app.extensions import db
from app.models import AuditEvent, User, utcnow
from app.models.user import RecoveryCode
from tests.factories import PASSWORD, login, make_provider, make_user, outbox

SET_UP = "/sign-in/second-factor/set-up"
CODE = "/sign-in/second-factor"
RECOVERY = "/sign-in/recovery-code"


def _password(client, user, **kwargs):
    return client.post("/sign-in", data={"email": user.email, "password": PASSWORD}, **kwargs)


def _key_on_page(html: str) -> str:
    return re.search(r'id="second-factor-key">([A-Z2-7 ]+)<', html).group(1).replace(" ", "")


def _set_up(client, user) -> tuple[str, list[str]]:
    """First sign-in: password, then set up the app; returns its key and the
    recovery codes shown."""
    assert _password(client, user).headers["Location"].endswith(SET_UP)
    secret = _key_on_page(client.get(SET_UP).get_data(as_text=True))
    r = client.post(SET_UP, data={"code": pyotp.TOTP(secret).now()})
    assert r.status_code == 303
    html = client.get(r.headers["Location"]).get_data(as_text=True)
    return secret, re.findall(r"<code>([a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4})</code>", html)


def _enrolled(role=Role.EVALUATOR, **kwargs) -> tuple[User, str]:
    user = make_user(role=role, **kwargs)
    secret = second_factor.new_secret()
    user.totp_secret, user.totp_confirmed_at = secret, utcnow()
    db.session.commit()
    return user, secret


def _signed_in(client) -> bool:
    return client.get("/account").status_code == 200


def _actions(user_id: int) -> list[str]:
    return [e.action for e in AuditEvent.query.filter_by(subject_type="user", subject_id=user_id)
            .order_by(AuditEvent.id)]


@pytest.mark.parametrize("role", [Role.EVALUATOR, Role.MANAGER, Role.MEMBER_OFFICER, Role.ADMIN])
def test_first_sign_in_sets_up_an_authenticator_before_anything_opens(client, app_ctx, role):
    user = make_user(role=role)
    r = _password(client, user)
    assert r.status_code == 303 and r.headers["Location"].endswith(SET_UP)
    # The password alone opens nothing.
    assert not _signed_in(client)
    r = client.get(SET_UP)
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and r.headers["Cache-Control"] == "no-store"
    # The key as text in groups of four, and as a QR code drawn in the page.
    key = re.search(r'id="second-factor-key">([A-Z2-7 ]+)<', html).group(1)
    assert re.fullmatch(r"([A-Z2-7]{4} )+[A-Z2-7]{4}", key)
    assert '<svg role="img"' in html and "QR code to scan" in html
    assert "<img" not in html.split('id="main-content"')[1]
    # A refreshed page shows the same key.
    assert _key_on_page(client.get(SET_UP).get_data(as_text=True)) == key.replace(" ", "")


def test_setting_up_needs_a_correct_code_then_shows_recovery_codes_once(client, app_ctx):
    user = make_user(role=Role.EVALUATOR)
    _password(client, user)
    secret = _key_on_page(client.get(SET_UP).get_data(as_text=True))
    r = client.post(SET_UP, data={"code": "12345"})
    assert r.status_code == 400 and "Enter the code as 6 digits" in r.get_data(as_text=True)
    wrong = f"{(int(pyotp.TOTP(secret).now()) + 1) % 10**6:06d}"
    r = client.post(SET_UP, data={"code": wrong})
    assert r.status_code == 400 and "The code is not correct" in r.get_data(as_text=True)
    assert not _signed_in(client)

    r = client.post(SET_UP, data={"code": pyotp.TOTP(secret).now()})
    assert r.status_code == 303
    page = client.get(r.headers["Location"])
    html = page.get_data(as_text=True)
    codes = re.findall(r"<code>([a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4})</code>", html)
    assert len(set(codes)) == 10 and page.headers["Cache-Control"] == "no-store"
    assert "You will not be shown them again" in html
    assert _signed_in(client)
    # Shown once: not on a second visit, and only hashes are stored.
    again = client.get("/sign-in/recovery-codes")
    assert again.status_code == 303 and codes[0] not in client.get("/account").get_data(as_text=True)
    stored = RecoveryCode.query.filter_by(user_id=user.id).all()
    assert len(stored) == 10 and not {c.code_hash for c in stored} & set(codes)
    assert "account.second_factor_set_up" in _actions(user.id)
    db_user = db.session.get(User, user.id)
    assert db_user.has_second_factor and db_user.totp_secret == secret


def test_set_up_user_signs_in_with_a_code_that_cannot_be_replayed(app, client, app_ctx):
    user, secret = _enrolled()
    r = _password(client, user, query_string={"next": "/staff/"})
    assert r.headers["Location"].endswith(CODE)
    assert not _signed_in(client)
    code = pyotp.TOTP(secret).now()
    r = client.post(CODE, data={"code": code})
    assert r.status_code == 303 and r.headers["Location"] == "/staff/"
    assert _signed_in(client)
    signed_in = AuditEvent.query.filter_by(action="account.signed_in", subject_id=user.id).one()
    assert signed_in.after == {"second_factor": "authenticator app"}

    # Someone who saw the code (and knows the password) cannot use it again.
    other = app.test_client()
    _password(other, user)
    r = other.post(CODE, data={"code": code})
    assert r.status_code == 400
    assert "not correct or has already been used" in r.get_data(as_text=True)
    assert not _signed_in(other)


def test_codes_from_the_step_either_side_are_accepted_for_clock_drift(client, app_ctx):
    user, secret = _enrolled()
    totp = pyotp.TOTP(secret)
    with time_machine.travel(utcnow() + timedelta(hours=1), tick=False):
        now = time.time()
        _password(client, user)
        assert client.post(CODE, data={"code": totp.at(now - 90)}).status_code == 400
        assert client.post(CODE, data={"code": totp.at(now - 30)}).status_code == 303


def test_only_one_of_two_racing_requests_can_use_a_code(app_ctx):
    user, secret = _enrolled()
    code = pyotp.TOTP(secret).now()
    assert second_factor.verify(user, code)
    # A second request that read the user before the first one used the step
    # still loses: the step is claimed in the database, not in memory.
    set_committed_value(user, "totp_last_step", None)
    assert not second_factor.verify(user, code)


def test_a_recovery_code_works_once(app, client, app_ctx):
    user = make_user(role=Role.MANAGER)
    _secret, codes = _set_up(client, user)
    client.post("/sign-out")

    other = app.test_client()
    _password(other, user)
    assert "use a recovery code" in other.get(CODE).get_data(as_text=True)
    r = other.post(RECOVERY, data={"code": codes[3].upper().replace("-", " ")})
    assert r.status_code == 303
    html = other.get("/account").get_data(as_text=True)
    assert "You used a recovery code. You have 9 left" in html and "9 unused" in html
    assert "account.recovery_code_used" in _actions(user.id)

    third = app.test_client()
    _password(third, user)
    r = third.post(RECOVERY, data={"code": codes[3]})
    assert r.status_code == 400 and "not correct or has already been used" in r.get_data(as_text=True)
    assert not _signed_in(third)


def test_the_pending_sign_in_times_out(client, app_ctx):
    user, secret = _enrolled()
    _password(client, user)
    with time_machine.travel(utcnow() + timedelta(minutes=11), tick=False):
        r = client.post(CODE, data={"code": pyotp.TOTP(secret).now()})
        assert r.status_code == 302 and r.headers["Location"].endswith("/sign-in")
        assert "Your sign-in timed out" in client.get("/sign-in").get_data(as_text=True)
        assert not _signed_in(client)


def test_second_factor_pages_need_the_password_first(client, app_ctx):
    for url in (CODE, RECOVERY, SET_UP):
        r = client.get(url)
        assert r.status_code == 302 and r.headers["Location"].endswith("/sign-in")


def test_provider_users_have_no_second_factor(client, app_ctx):
    user = make_user(role=Role.PROVIDER_ADMIN, provider=make_provider())
    r = _password(client, user)
    assert r.status_code == 303 and "second-factor" not in r.headers["Location"]
    assert _signed_in(client)


def test_a_staff_session_without_the_second_factor_is_refused(client, app_ctx):
    # As if a sign-in path forgot the second step: signed in, never passed it.
    user, _secret = _enrolled(role=Role.ADMIN)
    with client.session_transaction() as session:
        session["_user_id"] = user.get_id()
        session["_fresh"] = True
    r = client.get("/admin/users")
    assert r.status_code == 302 and "/sign-in" in r.headers["Location"]
    assert not _signed_in(client)


def test_wrong_codes_count_towards_the_lockout(client, app_ctx):
    user, secret = _enrolled()
    _password(client, user)
    good = pyotp.TOTP(secret).now()
    wrong = f"{(int(good) + 1) % 10**6:06d}"
    statuses = [client.post(CODE, data={"code": wrong}).status_code for _ in range(10)]
    assert statuses == [400] * 9 + [429]
    # Locked: even the right password and code are refused for now.
    r = _password(client, user)
    assert r.status_code == 429 and "too many attempts" in r.get_data(as_text=True)
    assert AuditEvent.query.filter_by(action="account.locked_out").one().after["user_id"] == user.id


def test_an_administrator_resets_a_lost_second_factor(app, client, app_ctx):
    admin, _ = _enrolled(role=Role.ADMIN)
    evaluator = make_user(role=Role.EVALUATOR, full_name="Tom Okafor")
    own = app.test_client()
    _set_up(own, evaluator)
    assert _signed_in(own)

    login(client, admin)
    listing = client.get("/admin/users").get_data(as_text=True)
    assert "Reset<span class=\"govuk-visually-hidden\"> second factor for Tom Okafor" in listing
    url = f"/admin/users/{evaluator.id}/second-factor/reset"
    r = client.post(url, data={"reason": ""})
    assert r.status_code == 400 and "Enter why you are resetting" in r.get_data(as_text=True)
    r = client.post(url, data={"reason": "Lost phone; called back on the desk number"})
    assert r.status_code == 303
    event = AuditEvent.query.filter_by(action="account.second_factor_reset").one()
    assert (event.actor_id, event.subject_id) == (admin.id, evaluator.id)
    assert event.reason == "Lost phone; called back on the desk number"
    assert outbox(evaluator.email)[-1].subject == "Your second factor has been reset"
    # Signed out everywhere; sets up a new app at the next sign-in.
    assert not _signed_in(own)
    assert RecoveryCode.query.filter_by(user_id=evaluator.id).count() == 0
    assert _password(app.test_client(), evaluator).headers["Location"].endswith(SET_UP)


def test_second_factor_reset_is_for_administrators_and_staff_accounts_only(client, app_ctx):
    admin, _ = _enrolled(role=Role.ADMIN)
    manager, _ = _enrolled(role=Role.MANAGER)
    provider_user = make_user(role=Role.PROVIDER_ADMIN, provider=make_provider())
    login(client, manager)
    assert client.get(f"/admin/users/{admin.id}/second-factor/reset").status_code == 403
    login(client, admin)
    assert client.get(f"/admin/users/{provider_user.id}/second-factor/reset").status_code == 404
    # Not their own: that would let a stolen password undo the second factor.
    r = client.post(f"/admin/users/{admin.id}/second-factor/reset", data={"reason": "mine"})
    assert r.status_code == 400 and "Ask another administrator" in r.get_data(as_text=True)
    assert db.session.get(User, admin.id).has_second_factor


def test_staff_accepting_an_invitation_set_up_the_second_factor(client, app_ctx):
    admin, _ = _enrolled(role=Role.ADMIN)
    login(client, admin)
    client.post("/admin/users/new", data={"full_name": "Evie Lu", "email": "evie@newham.example",
                                          "role": "manager"})
    link = re.search(r"http://localhost(/\S+)", outbox("evie@newham.example")[0].body).group(1)
    client.post("/sign-out")
    r = client.post(link, data={"password": "a long enough passphrase",
                                "confirm": "a long enough passphrase"})
    assert r.headers["Location"].endswith(SET_UP)
    assert not _signed_in(client)


def test_demo_codes_page_lets_a_visitor_sign_in_as_demo_staff(app, client, app_ctx, monkeypatch):
    monkeypatch.setitem(app.config, "DEMO_SECOND_FACTOR", True)
    from app.demo import DEMO_PASSWORD, build_staff
    build_staff()
    db.session.commit()
    # Not for anyone passing by: only part-way through signing in (or signed in).
    assert client.get("/dev/second-factor-codes").status_code == 302
    r = client.post("/sign-in", data={"email": "evaluator@newham.example", "password": DEMO_PASSWORD})
    assert r.headers["Location"].endswith(CODE)
    assert "demo codes page" in client.get(CODE).get_data(as_text=True)
    html = client.get("/dev/second-factor-codes").get_data(as_text=True)
    code = re.search(r"evaluator@newham.example</td>\s*<td[^>]*>[^<]*</td>\s*<td[^>]*><code>(\d{6})",
                     html).group(1)
    assert client.post(CODE, data={"code": code}).status_code == 303
    assert _signed_in(client)
    # The code was used: the page now shows the one that works next.
    html = client.get("/dev/second-factor-codes").get_data(as_text=True)
    assert f"<code>{code}</code>" not in html.split("evaluator@newham.example")[1][:200]


def test_demo_staff_have_no_second_factor_outside_development(app_ctx):
    from app.demo import build_staff
    users = build_staff()
    assert not any(u.has_second_factor for u in users)
