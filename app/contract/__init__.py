from flask import Blueprint

# Staff act on providers (/staff/providers/...); providers read their own
# suspensions (/suspensions). The blueprint serves both, so each view checks
# its role with `role_required` (tests/web/test_contract.py checks every one).

bp = Blueprint("contract", __name__, url_prefix=None)


from app.contract import views  # noqa: E402,F401
