"""Settings for each environment, chosen by the PORTAL_ENV variable.

The embedded default (development) needs nothing installed beyond Python:
SQLite, files on local disk, jobs run in-process, emails to a local outbox.
Production reads every secret and service address from the environment and
refuses to start without them.
"""
import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
INSTANCE_DIR = Path(os.environ.get("PORTAL_INSTANCE_DIR", BASE_DIR / "instance"))


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


class Config:
    SECRET_KEY = os.environ.get("SECRET_KEY", "dev-only-not-secret")
    SQLALCHEMY_DATABASE_URI = os.environ.get(
        "DATABASE_URL", f"sqlite:///{INSTANCE_DIR / 'portal.db'}"
    )
    # Seconds to wait for PostgreSQL to accept a connection: a database that
    # is restarting or unreachable fails a request quickly (503) instead of
    # holding a web worker.
    DATABASE_CONNECT_TIMEOUT = _env_int("DATABASE_CONNECT_TIMEOUT", 5)
    # Uploads: 20 MB default; the request limit leaves room for form fields.
    MAX_UPLOAD_BYTES = _env_int("MAX_UPLOAD_BYTES", 20 * 1024 * 1024)
    STORAGE_BACKEND = os.environ.get("STORAGE_BACKEND", "local")
    STORAGE_DIR = os.environ.get("STORAGE_DIR", str(INSTANCE_DIR / "documents"))
    # STORAGE_BACKEND=s3: credentials come from the standard AWS variables (or
    # an instance role); S3_ENDPOINT_URL only for S3-compatible servers (MinIO).
    S3_BUCKET = os.environ.get("S3_BUCKET")
    S3_ENDPOINT_URL = os.environ.get("S3_ENDPOINT_URL") or None
    S3_REGION = os.environ.get("S3_REGION") or None
    # Empty turns it off, for a MinIO without a KMS (which refuses SSE-S3).
    S3_SERVER_SIDE_ENCRYPTION = os.environ.get("S3_SERVER_SIDE_ENCRYPTION", "AES256") or None
    EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "outbox")
    NOTIFY_API_KEY = os.environ.get("NOTIFY_API_KEY")
    NOTIFY_TEMPLATE_ID = os.environ.get("NOTIFY_TEMPLATE_ID")
    # No REDIS_URL: jobs run in-process (rq's synchronous mode).
    REDIS_URL = os.environ.get("REDIS_URL")
    # Seconds before a Redis connect or reply counts as failed, so an unreachable
    # Redis fails a request (and /healthz) quickly instead of hanging a web worker.
    REDIS_SOCKET_TIMEOUT = float(os.environ.get("REDIS_SOCKET_TIMEOUT", 5))
    SERVICE_NAME = "Children's placements DPS portal"
    TOKEN_MAX_AGE_SECONDS = _env_int("TOKEN_MAX_AGE_SECONDS", 3 * 24 * 3600)
    WTF_CSRF_TIME_LIMIT = None  # tie CSRF to the session, not a clock
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    # Strict-Transport-Security: production only (it pins the host to HTTPS).
    HSTS_ENABLED = False
    # Signing in: sessions end after this much inactivity (staff and providers).
    SESSION_IDLE_MINUTES = _env_int("SESSION_IDLE_MINUTES", 30)
    # Time allowed between the password and the second factor (staff).
    SECOND_FACTOR_PENDING_MINUTES = 10
    # Per email address, whether or not an account has it: this many failed
    # passwords or codes within the window lock the address for LOCKOUT_MINUTES.
    LOCKOUT_MAX_FAILURES = _env_int("LOCKOUT_MAX_FAILURES", 10)
    LOCKOUT_WINDOW_MINUTES = _env_int("LOCKOUT_WINDOW_MINUTES", 15)
    LOCKOUT_MINUTES = _env_int("LOCKOUT_MINUTES", 15)
    # Demo staff accounts get a second factor derived from SECRET_KEY (development only).
    DEMO_SECOND_FACTOR = False
    # Per client address rate limits (Flask-Limiter) on the sign-in forms; shared
    # by every worker through Redis when REDIS_URL is set. If Redis fails, each
    # worker counts in memory rather than refusing people.
    RATE_LIMITS_ENABLED = os.environ.get("RATE_LIMITS_ENABLED", "1").lower() not in ("0", "false", "no")
    RATELIMIT_STORAGE_URI = REDIS_URL or "memory://"
    RATELIMIT_STORAGE_OPTIONS = {"socket_timeout": REDIS_SOCKET_TIMEOUT,
                                 "socket_connect_timeout": REDIS_SOCKET_TIMEOUT}
    RATELIMIT_KEY_PREFIX = "portal-limits"
    RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = True
    RATELIMIT_SWALLOW_ERRORS = True
    RATELIMIT_HEADERS_ENABLED = True
    RATELIMIT_SIGN_IN = os.environ.get("RATELIMIT_SIGN_IN", "10 per minute;100 per hour")
    RATELIMIT_SECOND_FACTOR = os.environ.get("RATELIMIT_SECOND_FACTOR", "10 per minute;60 per hour")
    RATELIMIT_FORGOT_PASSWORD = os.environ.get("RATELIMIT_FORGOT_PASSWORD", "5 per minute;30 per hour")
    RATELIMIT_REGISTER = os.environ.get("RATELIMIT_REGISTER", "5 per minute;30 per hour")
    # Behind a reverse proxy, how many X-Forwarded-* hops to trust for the
    # client's address (rate limits and the audit trail key on it).
    TRUSTED_PROXIES = _env_int("TRUSTED_PROXIES", 0)
    SHOW_OUTBOX = False
    # Links in emails sent by background jobs have no request to take the host
    # from: set these wherever a worker runs (Flask 3.1 does not restrict
    # incoming requests to SERVER_NAME).
    SERVER_NAME = os.environ.get("SERVER_NAME") or None
    PREFERRED_URL_SCHEME = os.environ.get("PREFERRED_URL_SCHEME", "http")
    # X-Query-Count on every response (SQL statements run by the request): for the benchmark.
    QUERY_COUNT_HEADER = os.environ.get("QUERY_COUNT_HEADER", "") in ("1", "true", "yes")

    @property
    def MAX_CONTENT_LENGTH(self):  # noqa: N802 - Flask setting name
        return self.MAX_UPLOAD_BYTES + 1024 * 1024

    @property
    def SQLALCHEMY_ENGINE_OPTIONS(self):  # noqa: N802 - Flask-SQLAlchemy setting name
        # pool_pre_ping: a pooled connection that died (say the database
        # restarted) is replaced on checkout, so the portal recovers by itself.
        options = {"pool_pre_ping": True}
        if self.SQLALCHEMY_DATABASE_URI.startswith("postgresql"):
            options["connect_args"] = {"connect_timeout": self.DATABASE_CONNECT_TIMEOUT}
        return options


class DevelopmentConfig(Config):
    DEBUG = False
    SHOW_OUTBOX = True
    DEMO_SECOND_FACTOR = True


class TestConfig(Config):
    TESTING = True
    SECRET_KEY = "test-secret"
    WTF_CSRF_ENABLED = False
    SQLALCHEMY_DATABASE_URI = os.environ.get("TEST_DATABASE_URL", "sqlite://")
    SHOW_OUTBOX = True
    # Tests sign in far more often than people do; the limiter's own tests turn it on.
    RATE_LIMITS_ENABLED = False
    RATELIMIT_STORAGE_URI = "memory://"
    # Many tests move the clock by days (deadlines, expiry); the idle timeout
    # would sign them out. tests/web/test_sessions.py sets the real 30 minutes.
    SESSION_IDLE_MINUTES = 60 * 24 * 365


class ProductionConfig(Config):
    SESSION_COOKIE_SECURE = True
    REMEMBER_COOKIE_SECURE = True
    HSTS_ENABLED = True
    PREFERRED_URL_SCHEME = os.environ.get("PREFERRED_URL_SCHEME", "https")

    def __init__(self):
        # Fail at start-up, not on the first request, when a secret is missing.
        for name in ("SECRET_KEY", "DATABASE_URL"):
            if not os.environ.get(name):
                raise RuntimeError(f"{name} must be set in production")
        self.SECRET_KEY = os.environ["SECRET_KEY"]
        self.SQLALCHEMY_DATABASE_URI = os.environ["DATABASE_URL"]


CONFIGS = {
    "development": DevelopmentConfig,
    "test": TestConfig,
    "production": ProductionConfig,
}


def get_config(name: str | None = None) -> Config:
    name = name or os.environ.get("PORTAL_ENV", "development")
    try:
        return CONFIGS[name]()
    except KeyError:
        raise RuntimeError(f"Unknown PORTAL_ENV {name!r}; use one of {sorted(CONFIGS)}")
