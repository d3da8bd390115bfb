"""Who may use each route: the authorisation matrix, in one place.

Every endpoint of the app (and, where they differ, each method) against
every actor, with the outcome expected when the URL names organisation A's
objects:

- ok: let through (the page, a redirect elsewhere than sign-in, or the
  form's own answer: 400 for a form with errors, 409 for a page that is
  out of date or an action not allowed in the current state);
- login: sent to sign in (302 to /sign-in...);
- forbidden 403: signed in, but the role may not use the route;
- not found 404: the role may use the route, but not for another
  organisation's object (a provider never learns that an id exists);
- unauthorised 401: the rate-card API, which takes a token, never a session.

tests/web/test_authz_matrix.py walks it; a route without an entry fails
that test, so a new route cannot ship without saying who may use it.
"""
ACTORS = ("anonymous", "provider_user", "provider_admin", "other_provider_admin", "evaluator",
          "manager", "member_officer", "admin")
OK, LOGIN, FORBIDDEN, NOT_FOUND = "ok", "login", "forbidden 403", "not found 404"
UNAUTHORISED, NOT_ALLOWED, SERVER_ERROR = "unauthorised 401", "method not allowed 405", "5xx"

STAFF = ("evaluator", "manager", "member_officer", "admin")
COMMISSIONERS = ("evaluator", "manager", "admin")  # the lead authority's staff
EVALUATORS = ("evaluator", "manager")
MANAGERS = ("manager",)


def _row(default: str, **outcomes) -> dict[str, str]:
    return {actor: outcomes.get(actor, default) for actor in ACTORS}


# Anyone, signed in or not.
EVERYONE = _row(OK)
# Any signed-in account; anonymous users are sent to sign in.
SIGNED_IN = _row(OK, anonymous=LOGIN)
# Only on the way through signing in (a second factor pending): any other
# request, signed in or not, is sent back to sign in.
SIGNING_IN = _row(LOGIN)
# The rate-card API: a member authority's token, never a session.
TOKEN_ONLY = _row(UNAUTHORISED)


def provider(*, own_object: bool = True, admin_only: bool = False) -> dict[str, str]:
    """A provider's page. `own_object`: the URL names one of organisation A's
    objects, which organisation B's administrator must not find."""
    return _row(FORBIDDEN, anonymous=LOGIN, provider_admin=OK,
                provider_user=FORBIDDEN if admin_only else OK,
                other_provider_admin=NOT_FOUND if own_object else OK)


def staff(*actors: str, **others: str) -> dict[str, str]:
    """A staff page that `actors` may use; providers and other staff are
    forbidden unless `others` says otherwise (e.g. member_officer=NOT_FOUND)."""
    return _row(FORBIDDEN, anonymous=LOGIN, **{a: OK for a in actors}, **others)


MATRIX: dict[str, dict] = {
    # --- public pages and assets ---------------------------------------------
    "main.home": EVERYONE,  # signed-in users are sent on to their own start page
    "main.healthz": EVERYONE,
    "main.accessibility": EVERYONE,
    "main.privacy": EVERYONE,
    "static": EVERYONE,
    "govuk_assets.static": EVERYONE,

    # --- accounts --------------------------------------------------------------
    "auth.register": EVERYONE,
    "auth.check_email": EVERYONE,
    "auth.confirm_email": EVERYONE,  # the token decides (400 for a bad one)
    "auth.resend_confirmation": EVERYONE,
    "auth.sign_in": EVERYONE,  # a signed-in user is sent on
    "auth.forgot_password": EVERYONE,
    "auth.reset_password": EVERYONE,
    "auth.accept_invitation": EVERYONE,
    "auth.second_factor_code": SIGNING_IN,
    "auth.set_up_second_factor": SIGNING_IN,
    "auth.recovery_code": SIGNING_IN,
    "auth.new_recovery_codes": SIGNED_IN,  # shown once, straight after setting up
    "auth.account": SIGNED_IN,
    "auth.change_password": SIGNED_IN,
    "auth.sign_out_confirm": SIGNED_IN,
    # Everything held about the signed-in user, for them alone (no id in the URL).
    "privacy.your_data": SIGNED_IN,
    "privacy.download": SIGNED_IN,
    # Signing out ends on the sign-in page: every outcome is that redirect.
    "auth.sign_out": SIGNING_IN,

    # --- development only: 404 unless SHOW_OUTBOX (tests check that too) ------
    # The outbox is where someone trying the demo finds the link that confirms
    # the account they just registered, before they can sign in.
    "dev.outbox": EVERYONE,
    "dev.outbox_email": EVERYONE,
    "dev.second_factor_codes": SIGNED_IN,

    # --- a provider's organisation, settings, team and evidence ----------------
    "providers.organisation": provider(own_object=False),
    # Only an account without an organisation registers one; the others are sent on.
    "providers.organisation_new": provider(own_object=False, admin_only=True),
    "providers.organisation_edit": provider(own_object=False, admin_only=True),
    "providers.settings_list": provider(own_object=False),
    "providers.setting_new": provider(own_object=False),
    "providers.setting_detail": provider(),
    "providers.setting_edit": provider(),
    "providers.team": provider(own_object=False, admin_only=True),
    "providers.team_invite": provider(own_object=False, admin_only=True),
    "evidence.library": provider(own_object=False),
    "evidence.upload": provider(own_object=False),
    # Staff of the lead and member authorities may read any provider's evidence.
    "evidence.detail": {**provider(), **{a: OK for a in STAFF}},
    "evidence.download": {**provider(), **{a: OK for a in STAFF}},

    # --- the application journey (a draft of organisation A) -------------------
    "applications.index": provider(own_object=False),
    "applications.new": provider(own_object=False),
    "applications.task_list": provider(),
    "applications.organisation": provider(),
    "applications.lots": provider(),
    "applications.lots_change": provider(),
    "applications.declarations": provider(),
    "applications.prices": provider(),
    "applications.services": provider(),
    "applications.quality": provider(),
    "applications.word_count": provider(),
    "applications.terms": provider(),
    "applications.evidence": provider(),
    "applications.check_answers": provider(),
    "applications.submit": provider(),
    "applications.confirmation": provider(),
    "applications.withdraw": provider(),
    "applications.history": provider(),
    "clarifications.respond": provider(),
    "moderation.outcome": provider(),
    "contract.my_suspensions": provider(own_object=False),

    # --- the annual fee review, provider side ---------------------------------
    "resubmission.index": provider(own_object=False),
    "resubmission.show": provider(),
    "resubmission.calculate": provider(),
    "resubmission.respond": provider(),
    "resubmission.check": provider(),
    "resubmission.submit": provider(),
    "resubmission.confirmation": provider(),
    "resubmission.post_message": provider(),

    # --- evaluation (an application of organisation A being evaluated) ---------
    "staff.dashboard": staff(*STAFF),
    # Member officers never see applications: not found rather than forbidden.
    "staff.application": staff(*COMMISSIONERS, member_officer=NOT_FOUND),
    "staff.history": staff(*COMMISSIONERS, member_officer=NOT_FOUND),
    "staff.take": staff(*EVALUATORS),
    "staff.assign": staff(*MANAGERS),
    "evaluation.lot": staff(*COMMISSIONERS),
    "evaluation.save_criteria": staff(*EVALUATORS),
    "evaluation.save_scores": staff(*EVALUATORS),
    # Administrators read evaluations; only evaluators and managers change them.
    "evaluation.documents": {"GET": staff(*COMMISSIONERS), "POST": staff(*EVALUATORS)},
    "evaluation.exclusions": {"GET": staff(*COMMISSIONERS), "POST": staff(*EVALUATORS)},
    "clarifications.ask": staff(*EVALUATORS),
    "clarifications.changes": staff(*COMMISSIONERS),
    "moderation.recommend": staff(*EVALUATORS),
    "moderation.review": staff(*MANAGERS),  # four eyes: a manager confirms

    # --- contract management ---------------------------------------------------
    "directory.search": staff(*STAFF),
    "directory.export": staff(*STAFF),
    "contract.provider": staff(*STAFF),  # a member officer: providers on their lots
    "contract.suspend": staff(*EVALUATORS),
    "contract.reinstate": staff(*EVALUATORS),
    "contract.request_removal": staff(*EVALUATORS),
    "contract.decide_removal": staff(*MANAGERS),
    "concerns.index": staff(*STAFF),
    "concerns.detail": staff(*STAFF),
    "concerns.new": staff(*STAFF),  # any member officer may raise one
    "concerns.change_status": staff(*COMMISSIONERS),
    "concerns.share": staff(*COMMISSIONERS),
    "compliance.dashboard": staff(*COMMISSIONERS),
    "compliance.list": staff(*COMMISSIONERS),
    "compliance.jobs": staff(*COMMISSIONERS),
    "compliance.job": staff(*COMMISSIONERS),
    "compliance.job_problems": staff(*COMMISSIONERS),
    "compliance.start_expiry_check": staff(*COMMISSIONERS),
    "compliance.start_ofsted_import": staff(*COMMISSIONERS),
    "compliance.verify_document": staff(*EVALUATORS),
    "price_analytics.index": staff(*STAFF),
    "price_analytics.export": staff(*STAFF),

    # --- the annual fee review, staff side --------------------------------------
    "fee_reviews.index": staff(*COMMISSIONERS),
    "fee_reviews.round_page": staff(*COMMISSIONERS),
    "fee_reviews.queue": staff(*COMMISSIONERS),
    "fee_reviews.submission": staff(*COMMISSIONERS),
    "fee_reviews.report": staff(*COMMISSIONERS),
    "fee_reviews.download": staff(*COMMISSIONERS),
    "fee_reviews.post_message": staff(*COMMISSIONERS),
    "fee_reviews.approval": staff(*COMMISSIONERS),
    "fee_reviews.decide": staff(*EVALUATORS),
    "fee_reviews.bulk_accept": staff(*EVALUATORS),
    # Setting up and running a round: managers and administrators.
    "fee_reviews.new_round": staff("manager", "admin"),
    "fee_reviews.edit_round": staff("manager", "admin"),
    "fee_reviews.open_round": staff("manager", "admin"),
    "fee_reviews.close_round": staff("manager", "admin"),
    "fee_reviews.resend_invitations": staff("manager", "admin"),
    "fee_reviews.extend": staff("manager", "admin"),

    # --- administration --------------------------------------------------------
    "admin.users": staff("admin"),
    "admin.new_user": staff("admin"),
    "admin.reset_second_factor": staff("admin"),
    "authorities.index": staff("admin"),
    "authorities.new": staff("admin"),
    "authorities.edit": staff("admin"),
    "authorities.agreement_new": staff("admin"),
    "authorities.agreement_edit": staff("admin"),
    "authorities.agreement_end": staff("admin"),
    "authorities.token_new": staff("admin"),
    "authorities.token_revoke": staff("admin"),

    # --- the rate-card API --------------------------------------------------------
    "api.providers": TOKEN_ONLY,
    "api.provider": TOKEN_ONLY,
    "api.openapi": EVERYONE,  # the description of the API is public
}


def expected(endpoint: str, method: str) -> dict[str, str] | None:
    """The expected outcome per actor, or None when the route has no entry."""
    entry = MATRIX.get(endpoint)
    if entry is None:
        return None
    if method in entry:  # an entry per method
        return entry[method]
    if set(entry) == set(ACTORS):
        return entry
    return None
