"""Helpers shared by the views: htmx-aware rendering, redirects, audit context."""
from flask import g, redirect, render_template, request, url_for
from flask_login import current_user

from app.domain.audit import AuditContext


def render(page: str, fragments: dict[str, str] | None = None, status: int = 200, **ctx):
    """Render the full page, or only the fragment an htmx request targets.

    `fragments` maps a fragment's root element id to its template; the page
    includes the same template, so both paths render identical markup.
    """
    if fragments and request.headers.get("HX-Request") and not request.headers.get("HX-Boosted"):
        target = request.headers.get("HX-Target")
        if target in fragments:
            return render_template(fragments[target], **ctx), status
    return render_template(page, **ctx), status


def redirect_303(endpoint: str, **values):
    """After a successful POST: See Other, so a refresh never re-posts."""
    return redirect(url_for(endpoint, **values), code=303)


def audit_ctx() -> AuditContext:
    user = current_user if current_user.is_authenticated else None
    return AuditContext(
        actor_id=user.id if user else None,
        actor_role=user.role.value if user else None,
        request_id=getattr(g, "request_id", None),
        ip_address=request.remote_addr,
    )


def safe_next(default_endpoint: str) -> str:
    """Only follow a `next` that stays on this site."""
    target = request.args.get("next") or request.form.get("next") or ""
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for(default_endpoint)


def pagination(endpoint: str, page: int, pages: int, **params) -> dict | None:
    """Parameters for the GOV.UK pagination component, keeping every filter in
    the links: first, last and the pages either side of this one."""
    if pages < 2:
        return None

    def href(n: int) -> str:
        return url_for(endpoint, **params, page=n)
    items: list[dict] = []
    for n in range(1, pages + 1):
        if n in (1, pages) or abs(n - page) <= 1:
            items.append({"number": n, "href": href(n), "current": n == page})
        elif items and not items[-1].get("ellipsis"):
            items.append({"ellipsis": True})
    return {"items": items,
            "previous": {"href": href(page - 1)} if page > 1 else None,
            "next": {"href": href(page + 1)} if page < pages else None}
