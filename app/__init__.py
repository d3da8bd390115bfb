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
    app.before_request(require_login_unless_public)


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

    for bp in (main_bp, auth_bp, providers_bp, applications_bp, evidence_bp,
               staff_bp, evaluation_bp, clarifications_bp, moderation_bp, directory_bp,
               contract_bp, concerns_bp, compliance_bp, authorities_bp, api_bp, admin_bp,
               dev_bp):
        app.register_blueprint(bp)
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

    @app.errorhandler(500)
    def server_error(e):
        return page(500, "Sorry, there is a problem with the service", "Try again later.")


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
        if app.config.get("SESSION_COOKIE_SECURE"):
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
