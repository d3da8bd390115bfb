from decimal import ROUND_HALF_UP, Decimal

from flask import Blueprint

from app.access import COMMISSIONER_ROLES, roles_required

# The commissioner's side of the annual fee review. Lead-authority staff only:
# member officers and providers are refused (providers have /fee-review).
# Each view narrows further: managers and administrators run rounds,
# evaluators and managers review submissions.
bp = Blueprint("fee_reviews", __name__, url_prefix="/fee-reviews")
bp.before_request(roles_required(*COMMISSIONER_ROLES))


@bp.app_template_filter("uplift_percent")
def uplift_percent(value, fixed: bool = False) -> str:
    """A percentage held in percent (4.1 is 4.1 %), to 2 decimal places
    rounded half up: in prose without trailing zeros ("4.1%", "70%"), in
    tables `fixed` so figures line up ("4.10%")."""
    if value is None or value == "":
        return ""
    text = f"{Decimal(value).quantize(Decimal('0.01'), ROUND_HALF_UP):f}"
    if not fixed and "." in text:
        text = text.rstrip("0").rstrip(".")
    return f"{'0' if text == '-0' else text}%"


from app.fee_reviews import views  # noqa: E402,F401
