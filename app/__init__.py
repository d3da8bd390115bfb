"""Application factory: reads like a table of contents."""
import secrets
import uuid

from flask import Flask, g, request
from govuk_frontend_wtf.main import WTFormsHelpers
from jinja2 import ChoiceLoader, FileSystemLoader, PackageLoader, PrefixLoader

from config import INSTANCE_DIR, get_config


def create_app(config=None) -> Flask:
    app = Flask(__name__, instance_path=str(INSTANCE_DIR))
    app.config.from_object(config if config is not None else get_config())
    register_templates(app)
    register_extensions(app)
    register_services(app)
    register_access_control(app)
    register_blueprints(app)
    register_errorhandlers(app)
    register_security_headers(app)
    register_query_counter(app)
    register_cli(app)
    return app


def register_templates(app: Flask) -> None:
    app.jinja_loader = ChoiceLoader([
        FileSystemLoader(str(app.root_path) + "/templates"),
        PrefixLoader({
            "govuk_frontend_jinja": PackageLoader("govuk_frontend_jinja"),
            "govuk_frontend_wtf": PackageLoader("govuk_frontend_wtf"),
        }),
    ])
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True
    WTFormsHelpers(app)
    from app import filters
    filters.register(app)


def register_extensions(app: Flask) -> None:
    from app.extensions import csrf, db, htmx, login_manager, migrate
    from app import models  # noqa: F401  (registers the tables)

    db.init_app(app)
    migrate.init_app(app, db, directory=str(app.root_path) + "/../migrations",
                     render_as_batch=True, compare_type=True)
    csrf.init_app(app)
    htmx.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.sign_in"
    login_manager.login_message = "Sign in to continue."
    login_manager.login_message_category = "info"
    login_manager.session_protection = "basic"
    from app.auth.throttling import limiter
    limiter.init_app(app)
    if app.config.get("TRUSTED_PROXIES"):
        # Rate limits and the audit trail key on the client's address: behind
        # proxies, take it from the X-Forwarded-* headers they add.
        from werkzeug.middleware.proxy_fix import ProxyFix
        hops = app.config["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)

    @login_manager.user_loader
    def load_user(user_id: str):
        from app.models import User
        try:
            uid, version = (int(part) for part in user_id.split(":"))
        except ValueError:
            return None
        user = db.session.get(User, uid)
        # A password change bumps the version, signing out every other session.
        if user is None or user.session_version != version:
            return None
        return user


def register_services(app: Flask) -> None:
    from app import email, jobs, storage
    storage.init_app(app)
    email.init_app(app)
    jobs.init_app(app)


def register_access_control(app: Flask) -> None:
    from app.access import require_login_unless_public
    from app.auth.sessions import enforce_session_rules
    app.before_request(require_login_unless_public)
    # Then: idle sessions end, and staff sessions need the second factor.
    app.before_request(enforce_session_rules)


def register_blueprints(app: Flask) -> None:
    from app.admin import bp as admin_bp
    from app.applications import bp as applications_bp
    from app.auth import bp as auth_bp
    from app.clarifications import bp as clarifications_bp
    from app.dev import bp as dev_bp
    from app.evaluation import bp as evaluation_bp
    from app.evidence import bp as evidence_bp
    from app.main import bp as main_bp
    from app.moderation import bp as moderation_bp
    from app.providers import bp as providers_bp
    from app.staff import bp as staff_bp

    from app.api import bp as api_bp
    from app.authorities import bp as authorities_bp
    from app.compliance import bp as compliance_bp
    from app.concerns import bp as concerns_bp
    from app.contract import bp as contract_bp
    from app.directory import bp as directory_bp
    from app.fee_reviews import bp as fee_reviews_bp
    from app.price_analytics import bp as price_analytics_bp
    from app.resubmission import bp as resubmission_bp

    for bp in (main_bp, auth_bp, providers_bp, applications_bp, evidence_bp,
               staff_bp, evaluation_bp, clarifications_bp, moderation_bp, directory_bp,
               contract_bp, concerns_bp, compliance_bp, authorities_bp, api_bp, admin_bp,
               fee_reviews_bp, price_analytics_bp, resubmission_bp, dev_bp):
        app.register_blueprint(bp)
    from app.privacy import bp as privacy_bp  # "Your data", from the account page
    app.register_blueprint(privacy_bp)
    # GOV.UK Frontend's CSS asks for /assets/fonts/...: serve its assets there.
    from flask import Blueprint
    assets = Blueprint("govuk_assets", __name__, static_folder="static/govuk/assets",
                       static_url_path="/assets")
    app.register_blueprint(assets)


def register_errorhandlers(app: Flask) -> None:
    from flask import render_template
    from flask_wtf.csrf import CSRFError

    def page(code: int, title: str, message: str):
        return render_template("error.html", code=code, title=title, message=message), code

    @app.errorhandler(400)
    def bad_request(e):
        return page(400, "There was a problem with your request", getattr(e, "description", ""))

    @app.errorhandler(CSRFError)
    def csrf_error(e):
        return page(400, "Your session has expired",
                    "For your security, we could not save what you submitted. "
                    "Go back, refresh the page and try again.")

    @app.errorhandler(403)
    def forbidden(e):
        return page(403, "You do not have access to this page",
                    "If you think you should, contact the DPS team.")

    @app.errorhandler(404)
    def not_found(e):
        return page(404, "Page not found",
                    "If you typed the web address, check it is correct.")

    @app.errorhandler(413)
    def too_large(e):
        limit_mb = max(1, app.config["MAX_UPLOAD_BYTES"] // (1024 * 1024))
        body, code = page(413, "The file is too large",
                          f"The selected file must be smaller than {limit_mb}MB. "
                          "Go back and choose a smaller file.")
        # An htmx upload targets a form fragment: show the whole message instead.
        headers = {"HX-Retarget": "#main-content", "HX-Reswap": "outerHTML",
                   "HX-Reselect": "#main-content"} if request.headers.get("HX-Request") else {}
        return body, code, headers

    @app.errorhandler(429)
    def too_many_requests(e):
        body, code = page(429, "Sorry, there have been too many attempts",
                          "For your security, this has been paused for a few minutes. "
                          "Wait a few minutes, then try again.")
        return body, code, getattr(e, "headers", None) or {}

    from sqlalchemy.exc import DataError

    @app.errorhandler(DataError)
    def data_error(e):
        # A value the database cannot hold (a NUL in a query parameter, a
        # number out of range) that no form check caught: the request's fault,
        # and nothing of it is kept.
        from app.extensions import db
        db.session.rollback()
        app.logger.warning("data refused by the database: %s", e.orig)
        return page(400, "There was a problem with your request",
                    "Some of what you sent could not be saved. Go back, check it and try again.")

    @app.errorhandler(500)
    def server_error(e):
        return page(500, "Sorry, there is a problem with the service", "Try again later.")

    register_unavailable_handlers(app)


def register_unavailable_handlers(app: Flask) -> None:
    """A database that is restarting or a storage service that fails mid-upload
    is a passing outage, not a bug: a GOV.UK 503 page (never a stack trace),
    and the next request works again once it is back (pool_pre_ping replaces
    the dead connections). Nothing half-done is kept: the request's transaction
    is rolled back and the storage backends remove a partial upload."""
    from flask import flash, make_response, render_template
    from sqlalchemy import exc as sa_exc

    from app.extensions import db

    title = "Sorry, there is a problem with the service"
    retry_seconds = 30

    def unavailable(e: Exception, what: str):
        app.logger.error("%s unavailable: %s: %s", what, type(e).__name__, e,
                         exc_info=app.debug)
        try:
            db.session.rollback()
        except Exception:  # the connection is gone: the pool replaces it later
            pass
        upload = request.method == "POST" and bool(request.files)
        message = ("Your file was not uploaded and nothing was saved. Try again later."
                   if upload else "Try again later.")
        # The page must not need the database: render it as for a signed-out
        # visitor (loading the signed-in user would query it again).
        g._login_user = app.login_manager.anonymous_user()
        if request.headers.get("HX-Request"):
            # htmx swaps no 5xx: reload the page, which shows this message
            # (kept in the session cookie, not the database) or works again.
            flash(f"{title}. {message}", "error")
            return "", 503, {"HX-Refresh": "true", "Retry-After": str(retry_seconds)}
        response = make_response(render_template("error.html", code=503, title=title,
                                                 message=message), 503)
        response.headers["Retry-After"] = str(retry_seconds)
        return response

    for error in (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError):
        app.register_error_handler(error, lambda e: unavailable(e, "database"))

    storage_errors: list[type[Exception]] = [OSError]
    try:
        from botocore.exceptions import BotoCoreError, ClientError
        storage_errors += [BotoCoreError, ClientError]
    except ImportError:  # boto3 is only needed with STORAGE_BACKEND=s3
        pass
    for error in storage_errors:
        app.register_error_handler(error, lambda e: unavailable(e, "storage"))


def register_security_headers(app: Flask) -> None:
    @app.before_request
    def assign_request_id():
        g.request_id = request.headers.get("X-Request-Id") or uuid.uuid4().hex
        g.csp_nonce = secrets.token_urlsafe(16)

    @app.after_request
    def headers(response):
        nonce = getattr(g, "csp_nonce", "")
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; "
            f"script-src 'self' 'nonce-{nonce}'; style-src 'self'; img-src 'self' data:; "
            "font-src 'self'; connect-src 'self'; form-action 'self'; "
            "frame-ancestors 'none'; base-uri 'self'; object-src 'none'",
        )
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if app.config.get("HSTS_ENABLED"):
            response.headers.setdefault("Strict-Transport-Security",
                                        "max-age=31536000; includeSubDomains")
        response.headers["X-Request-Id"] = getattr(g, "request_id", "")
        response.vary.add("HX-Request")
        return response


def register_query_counter(app: Flask) -> None:
    """Opt-in (QUERY_COUNT_HEADER): the number of SQL statements a request ran,
    as an X-Query-Count header, so the benchmark can show the count per page.
    Statements run while a streamed body is sent come after the header."""
    if not app.config.get("QUERY_COUNT_HEADER"):
        return
    from sqlalchemy import event
    from flask import has_request_context
    from app.extensions import db

    def count(*_args):
        if has_request_context():
            g.query_count = g.get("query_count", 0) + 1

    with app.app_context():
        event.listen(db.engine, "before_cursor_execute", count)

    @app.after_request
    def query_count_header(response):
        response.headers["X-Query-Count"] = str(g.get("query_count", 0))
        return response


def register_cli(app: Flask) -> None:
    from app.cli import register
    register(app)
