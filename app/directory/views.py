"""The approved-provider directory: search (a GET form, enhanced with htmx)
and the same search as a streamed CSV file. Member officers see only the
lots of their authority's agreements and never a suspended provider."""
import csv
import io

from flask import Response, abort, request, stream_with_context
from flask_login import current_user

from app.access import COMMISSIONER_ROLES
from app.directory import bp
from app.directory.forms import DirectoryForm
from app.domain import directory
from app.domain.applications import today
from app.domain.authorities import visible_lot_ids
from app.domain.reference import SPECIALISMS
from app.web import pagination, render

RESULTS = "directory-results"


def _access(on) -> directory.Access:
    return directory.access_for(visible_lot_ids(current_user, on),
                                commissioner=current_user.role in COMMISSIONER_ROLES)


def _params() -> dict:
    """The query string without the page number, for links that keep the filters."""
    params = request.args.to_dict(flat=False)
    params.pop("page", None)
    return params


def _form(access: directory.Access, lots) -> tuple[DirectoryForm, directory.Criteria | None]:
    """The form and, when it is valid, the search it asks for."""
    form = DirectoryForm(request.args, lots=lots, sees_suspended=access.sees_suspended)
    if not form.validate():
        return form, None
    return form, form.criteria()


@bp.get("/")
def search():
    on = today()
    access = _access(on)
    lots = directory.visible_lots(access)
    if not lots:
        return render("directory/no_lots.html", title="Your authority has no access to any lots")
    form, criteria = _form(access, lots)
    result = None
    if criteria is not None:
        try:
            result = directory.search(criteria, access, on,
                                      page=request.args.get("page", 1, type=int) or 1)
        except directory.DirectoryError as exc:
            form.lot.errors = [*form.lot.errors, str(exc)]
    params = _params()
    # An htmx search swaps the results only; the placement types follow the
    # lot, so they come along out of band.
    swap_types = request.headers.get("HX-Request") and request.headers.get("HX-Target") == RESULTS
    return render("directory/search.html", title="Find approved providers", form=form,
                  result=result,
                  pagination=(pagination("directory.search", result.page, result.pages, **params)
                              if result else None),
                  params=params, commissioner=access.sees_suspended, specialism_labels=SPECIALISMS,
                  swap_types=bool(swap_types), fragments={RESULTS: "directory/_results.html"},
                  status=200 if result is not None else 400)


# ------------------------------------------------------------------ CSV export

HEADER = ["Provider", "Company number", "Setting", "Ofsted URN", "Setting type",
          "Ofsted judgement", "Ages", "Gender", "Outcode", "Distance (miles)", "Lot",
          "Placement type", "Weekly ceiling price (£)", "Compliance", "Open concerns", "Suspended"]


def _cell(value) -> str:
    """Text as a spreadsheet shows it: never a formula (CSV injection)."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _csv_line(values) -> str:
    out = io.StringIO()
    csv.writer(out).writerow([_cell(v) for v in values])
    return out.getvalue()


def _line(row: directory.Row, lot, placement_type) -> str:
    s = row.setting
    return _csv_line([
        row.provider.display_name, row.provider.company_number, s.name, s.ofsted_urn,
        s.setting_type.label, s.ofsted_judgement.label, f"{s.age_min} to {s.age_max}",
        s.gender.label, s.outcode,
        "" if row.distance_miles is None else f"{row.distance_miles:.1f}",
        lot.title, placement_type.name if placement_type else "",
        "" if row.price is None else f"{row.price:.2f}",
        row.membership.compliance.label, row.open_concerns, "Yes" if row.suspended else "No"])


@bp.get("/export.csv")
def export():
    on = today()
    access = _access(on)
    lots = directory.visible_lots(access)
    if not lots:
        abort(400, description="Your authority does not have access to any lots of the DPS.")
    form, criteria = _form(access, lots)
    if criteria is None:
        abort(400, description=" ".join(m for errors in form.errors.values() for m in errors))
    try:
        lot, placement_type, rows = directory.all_rows(criteria, access, on)
    except directory.DirectoryError as exc:
        abort(400, description=str(exc))

    def lines():
        yield "\ufeff" + _csv_line(HEADER)  # the BOM tells Excel the file is UTF-8
        for row in rows:
            yield _line(row, lot, placement_type)

    filename = f"approved-providers-lot-{lot.number}-{on.isoformat()}.csv"
    return Response(stream_with_context(lines()), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"',
                             "Cache-Control": "no-store"})
