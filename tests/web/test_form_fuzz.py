"""Property-based: arbitrary values posted to every form of the app never
cause a server error, and a rejected submission changes nothing.

The forms are found by reading the pages (every GET page an actor may open,
its <form method="post"> fields by name), for every POST route of the URL
map; each is posted by an actor the authorisation matrix lets through, with
values hypothesis draws: text of any script, control characters, huge
strings, numbers, nothing, several values for one name, a file where text
is expected and text where a file is, and names the form never had.
"""
import io
from urllib.parse import urlparse

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.extensions import db
from app.models import User
from tests import authz_matrix as M
from tests.factories import login
from tests.web.test_authz_matrix import (RULES, CommittedWrites, _build_world,
                                         _empty_every_table, _url)
from tests.web.test_double_submit import FormReader

# Who posts each form: the first of these the matrix lets through.
POSTERS = ("provider_admin", "provider_user", "manager", "evaluator", "admin", "member_officer",
           "anonymous")
# Rejections that must still write: a failed sign-in is counted (lockout)
# and may be audited; asking for a reset or a new confirmation link writes
# nothing the attacker can see, whatever the address.
WRITES_WHEN_REJECTED = {
    "auth.sign_in": {"audit_events", "sign_in_attempts", "users"},
    "auth.second_factor_code": {"audit_events", "sign_in_attempts", "users"},
    "auth.recovery_code": {"audit_events", "sign_in_attempts", "users"},
}
EXAMPLES = 5


@pytest.fixture(autouse=True)
def _clean_database():
    """One world for the module (see the world fixture)."""
    yield


@pytest.fixture(scope="module")
def world(app):
    ctx = app.app_context()
    ctx.push()
    try:
        yield _build_world()
    finally:
        db.session.remove()
        ctx.pop()
        _empty_every_table(app)


def _poster(endpoint: str) -> str | None:
    row = M.expected(endpoint, "POST")
    return next((a for a in POSTERS if row and row[a] == M.OK), None)


POST_ROUTES = [r for r in RULES if "POST" in r.methods and _poster(r.endpoint)]


# POST-only routes and the page whose form posts to them.
FORM_PAGES = {
    "applications.submit": "applications.check_answers",
    "applications.word_count": "applications.quality",
    "staff.take": "staff.application", "staff.assign": "staff.application",
    "evaluation.save_criteria": "evaluation.lot", "evaluation.save_scores": "evaluation.lot",
    "concerns.change_status": "concerns.detail", "concerns.share": "concerns.detail",
    "compliance.start_expiry_check": "compliance.jobs",
    "compliance.start_ofsted_import": "compliance.jobs",
    "compliance.verify_document": "compliance.list",
    "authorities.token_revoke": "authorities.index",
    "auth.sign_out": "auth.sign_out_confirm",
    "resubmission.calculate": "resubmission.show", "resubmission.submit": "resubmission.check",
    "resubmission.post_message": "resubmission.show",
    "fee_reviews.approval": "fee_reviews.submission", "fee_reviews.decide": "fee_reviews.submission",
    "fee_reviews.extend": "fee_reviews.submission",
    "fee_reviews.post_message": "fee_reviews.submission",
    "fee_reviews.bulk_accept": "fee_reviews.queue",
    "fee_reviews.resend_invitations": "fee_reviews.round_page",
}


@pytest.fixture(scope="module")
def fields_by_action(app, world) -> dict[tuple[str, str], set[str]]:
    """(actor, form action path) -> the field names of the forms on the page
    of each POST route (the route itself, or the page that holds its form)."""
    by_endpoint = {r.endpoint: r for r in RULES if "GET" in r.methods}
    found: dict[tuple[str, str], set[str]] = {}
    for rule in POST_ROUTES:
        actor = _poster(rule.endpoint)
        page = by_endpoint.get(FORM_PAGES.get(rule.endpoint, rule.endpoint))
        if page is None:
            continue
        url = _url(page, world)
        response = _client(app, world, actor).get(url)
        db.session.remove()
        if response.status_code != 200 or "text/html" not in response.content_type:
            continue
        reader = FormReader()
        reader.feed(response.data.decode())
        for form in reader.forms:
            action = urlparse(form["action"] or url).path
            found.setdefault((actor, action), set()).update(form["fields"])
    return found


def _client(app, world, actor):
    client = app.test_client()
    if actor != "anonymous":
        login(client, db.session.get(User, world["actors"][actor]))
    return client


TEXT = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=200),
    st.text(alphabet=st.characters(max_codepoint=0x9f), max_size=30),  # control characters
    st.sampled_from(["", " ", "0", "-1", "1e309", "NaN", "£1,000.005", "31/02/2026",
                     "9" * 40, "../../etc/passwd", "<script>alert(1)</script>",
                     "' OR 1=1 --", "\x00", "\u202e", "𝕏" * 10]),
    st.integers(min_value=-2**70, max_value=2**70).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.just("x" * 100_000),  # huge
)
VALUE = st.one_of(
    TEXT,
    st.lists(TEXT, min_size=2, max_size=4),  # one name sent several times
    st.binary(max_size=300).map(lambda b: (io.BytesIO(b), "upload.pdf")),  # a file
)


def form_data(names: set[str]):
    known = sorted(names - {"csrf_token"})
    extra = st.dictionaries(st.text(min_size=1, max_size=12), TEXT, max_size=2)
    if not known:
        return extra
    return st.tuples(st.fixed_dictionaries({}, optional={n: VALUE for n in known}), extra) \
        .map(lambda both: {**both[1], **both[0]})


def _rejected(response) -> bool:
    body = response.get_data(as_text=True) if response.content_type.startswith("text/") else ""
    return response.status_code >= 400 or "There is a problem" in body


@pytest.mark.parametrize("rule", POST_ROUTES, ids=[f"POST {r.rule}" for r in POST_ROUTES])
@settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large, HealthCheck.large_base_example])
@given(data=st.data())
def test_arbitrary_values_never_break_a_form(app, world, fields_by_action, rule, data):
    actor = _poster(rule.endpoint)
    url = _url(rule, world)
    names = fields_by_action.get((actor, urlparse(url).path), set())
    values = data.draw(form_data(names), label="form")
    client = _client(app, world, actor)
    with CommittedWrites(db.engine) as writes:
        response = client.post(url, data=values, content_type="multipart/form-data")
    assert response.status_code < 500, response.get_data(as_text=True)[:2000]
    if _rejected(response):
        changed = writes.tables - WRITES_WHEN_REJECTED.get(rule.endpoint, set())
        assert not changed, f"rejected ({response.status_code}) yet changed {sorted(changed)}"


def test_forms_were_found(fields_by_action):
    """The fuzzing reaches real fields, not only made-up names."""
    for path in ("/concerns/new", "/evidence/upload", "/admin/users/new", "/settings/new"):
        assert any(action == path and fields for (_, action), fields
                   in fields_by_action.items()), path
