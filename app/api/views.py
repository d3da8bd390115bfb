"""The read-only rate-card API for member authorities' brokerage tools.

Every view is @public (no session, never a redirect to sign-in); the
blueprint checks the `Authorization: Bearer <token>` header itself and
answers in JSON. A lot outside the authority's current agreements is refused
with 403 when asked for by number, and simply absent otherwise.
"""
from datetime import datetime, timezone

import sqlalchemy as sa
from flask import current_app, g, jsonify, request, url_for

from app.access import public
from app.api import bp, openapi, serialise
from app.domain import api_tokens, rate_card
from app.domain.applications import today
from app.extensions import db
from app.models import Lot

REALM = 'Bearer realm="DPS rate card"'
NO_TOKEN_ATTR = "_api_no_token"


def no_token(view):
    """A public API view that needs no token (the API's own description)."""
    setattr(view, NO_TOKEN_ATTR, True)
    return view


def error(status: int, message: str, headers: dict | None = None):
    response = jsonify({"error": message})
    response.status_code = status
    response.headers.update(headers or {})
    return response


@bp.before_request
def authenticate():
    view = current_app.view_functions.get(request.endpoint or "")
    if view is None or getattr(view, NO_TOKEN_ATTR, False):
        return None
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        return error(401, "Send your API token in the Authorization header: "
                          "'Authorization: Bearer <token>'", {"WWW-Authenticate": REALM})
    token = api_tokens.authenticate(credentials.strip())
    if token is None:
        return error(401, "This API token is not valid, or has been revoked",
                     {"WWW-Authenticate": f'{REALM}, error="invalid_token"'})
    if api_tokens.mark_used(token):
        db.session.commit()
    g.api_token = token
    return None


@bp.after_request
def private(response):
    # Rate cards are for the token holder only: no shared cache keeps them.
    response.headers["Cache-Control"] = "no-store"
    return response


class BadParameter(Exception):
    pass


def _int_arg(name: str, default: int, minimum: int, maximum: int | None = None) -> int:
    raw = request.args.get(name, "").strip()
    if not raw:
        return default
    value = int(raw) if raw.isdigit() else None
    if value is None or value < minimum or (maximum is not None and value > maximum):
        allowed = (f"between {minimum} and {maximum}" if maximum is not None
                   else f"{minimum} or more")
        raise BadParameter(f"{name} must be a whole number {allowed}")
    return value


def _since_arg() -> datetime | None:
    raw = request.args.get("updated_since", "").strip()
    if not raw:
        return None
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise BadParameter("updated_since must be an ISO 8601 date or date and time, like "
                           "2025-04-01 or 2025-04-01T09:30:00Z") from None
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return moment  # stored times are naive UTC; a time without an offset is read as UTC


def _visible_lots(on):
    lots = rate_card.lots_for(g.api_token.authority, on)
    if not lots:
        return None, error(403, "Your authority has no current access agreement for any lot")
    return lots, None


@bp.get("/providers")
@public
def providers():
    on = today()
    lots, refused = _visible_lots(on)
    if refused:
        return refused
    try:
        page = _int_arg("page", 1, 1)
        per_page = _int_arg("per_page", rate_card.DEFAULT_PER_PAGE, 1, rate_card.MAX_PER_PAGE)
        since = _since_arg()
        lot_number = _int_arg("lot", 0, 1) if request.args.get("lot") else None
    except BadParameter as exc:
        return error(400, str(exc))
    if lot_number is not None:
        chosen = [lot for lot in lots if lot.number == lot_number]
        if not chosen:
            exists = db.session.execute(
                sa.select(Lot.id).where(Lot.number == lot_number).limit(1)).first()
            if not exists:
                return error(400, f"There is no lot {lot_number}")
            return error(403, f"Your authority has no current access agreement for lot "
                              f"{lot_number}")
        lots = chosen
    result = rate_card.providers_page(lots, on, page=page, per_page=per_page,
                                      updated_since=since)

    def page_url(number):
        args = {k: v for k, v in request.args.items() if k != "page"}
        return url_for("api.providers", page=number, _external=True, **args)

    return jsonify({
        "data": [serialise.provider(card) for card in result.cards],
        "meta": {
            "page": result.page, "per_page": result.per_page, "total": result.total,
            "next": page_url(result.page + 1) if result.has_next else None,
            "prev": page_url(result.page - 1) if result.has_prev else None,
            "lots": [lot.number for lot in lots], "as_of": on.isoformat(),
        },
    })


@bp.get("/providers/<int:provider_id>")
@public
def provider(provider_id: int):
    on = today()
    lots, refused = _visible_lots(on)
    if refused:
        return refused
    card = rate_card.provider_card(provider_id, lots, on)
    if card is None:
        return error(404, "There is no provider with this id on your authority's lots")
    return jsonify({"data": serialise.provider(card),
                    "meta": {"lots": [lot.number for lot in lots], "as_of": on.isoformat()}})


@bp.get("/openapi.json", endpoint="openapi")
@public
@no_token
def openapi_document():
    return jsonify(openapi.document(url_for("api.providers", _external=True)
                                    .rsplit("/providers", 1)[0]))
