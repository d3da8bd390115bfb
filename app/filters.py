"""Template filters and globals: money, dates in UK time, navigation."""
from datetime import date, datetime, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

from flask import Flask, g, request, url_for
from flask_login import current_user

LONDON = ZoneInfo("Europe/London")


def money(value) -> str:
    if value is None or value == "":
        return ""
    return f"£{Decimal(value):,.2f}"


def uk_date(value) -> str:
    if not value:
        return ""
    if isinstance(value, datetime):
        value = value.replace(tzinfo=timezone.utc).astimezone(LONDON).date()
    return f"{value.day} {value:%B %Y}"


def uk_datetime(value) -> str:
    if not value:
        return ""
    local = value.replace(tzinfo=timezone.utc).astimezone(LONDON)
    return f"{local.day} {local:%B %Y} at {local:%-I:%M%p}".replace("AM", "am").replace("PM", "pm")


def nav_items() -> list[dict]:
    if not current_user.is_authenticated:
        return [{"href": url_for("auth.sign_in"), "text": "Sign in",
                 "active": request.endpoint == "auth.sign_in"}]
    items = []
    if current_user.is_provider:
        items += [
            ("applications.index", "Applications"),
            ("providers.organisation", "Organisation"),
            ("providers.settings_list", "Settings"),
            ("evidence.library", "Evidence"),
            ("resubmission.index", "Fee reviews"),
            ("contract.my_suspensions", "Compliance"),
        ]
        if current_user.role.value == "provider_admin":
            items.append(("providers.team", "Team"))
    else:
        role = current_user.role.value
        if role != "member_officer":
            items.append(("staff.dashboard", "Applications"))
        items += [("directory.search", "Directory"), ("concerns.index", "Concerns")]
        if role in ("evaluator", "manager", "admin"):
            items += [("compliance.dashboard", "Compliance"), ("fee_reviews.index", "Fee reviews")]
        items.append(("price_analytics.index", "Prices"))
        if role == "admin":
            items += [("authorities.index", "Authorities"), ("admin.users", "Staff accounts")]
    if current_app_show_outbox():
        items.append(("dev.outbox", "Outbox"))
    items += [("auth.account", "Your account"), ("auth.sign_out_confirm", "Sign out")]
    bp_of = (request.endpoint or "").split(".")[0]
    return [{"href": url_for(ep), "text": text,
             "active": request.endpoint == ep or (bp_of == ep.split(".")[0]
                                                  and bp_of not in ("providers", "auth", "admin"))}
            for ep, text in items]


def current_app_show_outbox() -> bool:
    from flask import current_app
    return bool(current_app.config.get("SHOW_OUTBOX"))


def register(app: Flask) -> None:
    app.add_template_filter(money)
    app.add_template_filter(uk_date)
    app.add_template_filter(uk_datetime)
    app.add_template_global(nav_items)
    app.add_template_global(lambda: getattr(g, "csp_nonce", ""), "csp_nonce")
    app.add_template_global(date, "date_cls")
