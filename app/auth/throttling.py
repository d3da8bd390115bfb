"""Per-address rate limits on the sign-in, second-factor, password-reset and
registration forms (Flask-Limiter). Counts live in Redis when REDIS_URL is
set, so every web worker shares them; otherwise in this process's memory.

RATE_LIMITS_ENABLED turns them off (the test suite signs in far more often
than any person would); the tests of the limits turn it back on.
"""
from flask import current_app
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

limiter = Limiter(key_func=get_remote_address)


@limiter.request_filter
def _switched_off() -> bool:
    return not current_app.config.get("RATE_LIMITS_ENABLED", True)


def limit(setting: str):
    """Limit POSTs to a view by client address, e.g. "10 per minute;100 per hour"
    read from the `setting` config value."""
    return limiter.limit(lambda: current_app.config[setting], methods=["POST"])
