"""Ceiling prices at a glance: per lot and placement type, the distribution
of the weekly ceiling prices of providers with an active membership, on any
date (today by default), as a box plot drawn on the server with the same
figures in a table; and every price in force, as CSV or XLSX, streamed.

Member authority officers see only the lots of their authority's current
agreements; nothing here changes anything.
"""
from datetime import date

import sqlalchemy as sa
from flask import Response, abort, request, stream_with_context, url_for
from flask_login import current_user
from sqlalchemy.orm import contains_eager, selectinload

from app.domain import exports
from app.domain.applications import today
from app.domain.authorities import visible_lot_ids
from app.domain.pricing import EMPTY, price_distribution
from app.extensions import db
from app.models import Dps, Lot
from app.price_analytics import bp
from app.price_analytics.forms import EARLIEST, LATEST, PricesOnForm
from app.svg_charts import Box, box_plot, describe_boxes
from app.web import render

FORMATS = {"csv": "text/csv",
           "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


def _visible_lots() -> list[Lot]:
    """The lots this person may see (today's agreements for a member
    officer), in DPS and lot order, with their placement types."""
    allowed = visible_lot_ids(current_user, today())
    stmt = (sa.select(Lot).join(Dps, Dps.id == Lot.dps_id)
            .options(contains_eager(Lot.dps), selectinload(Lot.placement_types))
            .order_by(Dps.opens_on, Dps.id, Lot.number))
    if allowed is not None:
        stmt = stmt.where(Lot.id.in_(allowed or [-1]))
    return db.session.execute(stmt).unique().scalars().all()


def _chart(lot: Lot, on: date) -> dict:
    found = price_distribution(lot.id, on)
    rows = []
    for placement_type in lot.placement_types:
        d = found.get(placement_type.id, EMPTY)
        rows.append(Box(placement_type.name, d.count, d.minimum, d.lower_quartile, d.median,
                        d.upper_quartile, d.maximum))
    title = f"Weekly ceiling prices on {lot.title}, {on.day} {on:%B %Y}"
    return {"lot": lot, "rows": rows,
            "svg": box_plot(rows, chart_id=f"prices-lot-{lot.id}", title=title,
                            desc=describe_boxes(rows)),
            "title": title}


@bp.get("/")
def index():
    lots = _visible_lots()
    form = PricesOnForm(request.args)
    on, status = today(), 200
    if "on" in request.args:
        if form.validate():
            on = form.on.data
        else:
            status = 400
    else:
        # Show the date used (the field would otherwise show the empty query).
        form.on.raw_data, form.on.data = None, on
    charts = [_chart(lot, on) for lot in lots]
    return render("price_analytics/index.html", title="Ceiling prices", form=form, on=on,
                  charts=charts, is_today=on == today(), status=status,
                  several_dps=len({lot.dps_id for lot in lots}) > 1)


# ------------------------------------------------------------------ exports

def _export_date() -> date:
    text = request.args.get("on", "")
    if not text:
        return today()
    try:
        on = date.fromisoformat(text)
    except ValueError:
        abort(400, description="The date must be written as YYYY-MM-DD, for example 2025-04-01.")
    if not EARLIEST <= on <= LATEST:
        abort(400, description="The date must be between 2000 and 2100.")
    return on


@bp.get("/export.<fmt>")
def export(fmt: str):
    if fmt not in FORMATS:
        abort(404)
    on = _export_date()
    lots = _visible_lots()
    lot_arg = request.args.get("lot", "")
    if lot_arg:
        chosen = [lot for lot in lots if str(lot.id) == lot_arg]
        if not chosen:
            abort(404)  # not a lot, or not one this person may see
        lots, part = chosen, f"lot-{chosen[0].number}"
    else:
        part = "all-lots"
    rows = exports.price_rows(on, [lot.id for lot in lots])
    filename = f"ceiling-prices-{part}-{on.isoformat()}.{fmt}"
    if fmt == "csv":
        body = stream_with_context(exports.csv_lines(exports.PRICE_HEADER, rows))
    else:
        body = stream_with_context(exports.xlsx_chunks(exports.PRICE_HEADER, rows,
                                                       f"Prices {on.isoformat()}"))
    return Response(body, mimetype=FORMATS[fmt],
                    headers={"Content-Disposition": f'attachment; filename="{filename}"',
                             "Cache-Control": "private, no-store"})


@bp.app_template_global()
def price_export_url(fmt: str, on: date, lot_id: int | None = None) -> str:
    """The export of what the prices page shows, for its download links."""
    params = {"fmt": fmt, "on": on.isoformat()}
    if lot_id is not None:
        params["lot"] = lot_id
    return url_for("price_analytics.export", **params)
