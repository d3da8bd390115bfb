"""Everything the portal holds about one person, as JSON-ready data.

Used by the account page ("Download your data") and `flask
export-personal-data EMAIL` to answer a subject access request. It knows
nothing of HTTP. Fields are listed one by one (never a whole row), so a
secret added to a model later (a password hash, a second-factor secret, a
token) is never exported by accident.
"""
import enum
from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa

from app.domain import audit
from app.extensions import db
from app.models import (AuditEvent, Clarification, Concern, Document, FeeReviewMessage,
                        OutboxEmail, Provider, User, utcnow)

FORMAT_VERSION = 1


def _plain(value):
    """JSON-ready: times in UTC with a Z, money as text, enums by value."""
    if isinstance(value, datetime):
        return value.isoformat() + "Z"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _rows(query, fields: tuple[str, ...]) -> list[dict]:
    return [{f: _plain(getattr(row, f)) for f in fields}
            for row in db.session.execute(query).scalars()]


def personal_data(user: User) -> dict:
    """The person's account, what they did (audit events), what they wrote,
    what they uploaded and the emails sent to them."""
    invited_by = db.session.get(User, user.invited_by_id) if user.invited_by_id else None
    organisation = db.session.get(Provider, user.provider_id) if user.provider_id else None
    account = {
        "id": user.id, "email": user.email, "full_name": user.full_name,
        "role": user.role.label,
        "organisation": organisation.display_name if organisation else None,
        "authority": user.authority.name if user.authority else None,
        "email_confirmed_at": _plain(user.email_confirmed_at),
        "active": user.is_active_account,
        "second_factor_set_up": user.has_second_factor,
        "invited_by": ({"full_name": invited_by.full_name, "email": invited_by.email}
                       if invited_by else None),
        "created_at": _plain(user.created_at),
        "last_sign_in_at": _plain(user.last_sign_in_at),
    }
    data = {
        "format_version": FORMAT_VERSION,
        "exported_at": _plain(utcnow()),
        "account": account,
        # The organisation's contact details, when this person is its named contact.
        "organisation_contact": None,
        "audit_events": _rows(
            sa.select(AuditEvent).where(AuditEvent.actor_id == user.id).order_by(AuditEvent.id),
            ("occurred_at", "action", "subject_type", "subject_id", "reason", "before", "after",
             "ip_address", "request_id")),
        "clarification_questions_asked": _rows(
            sa.select(Clarification).where(Clarification.asked_by_id == user.id)
            .order_by(Clarification.id),
            ("application_id", "asked_at", "question")),
        "clarification_answers_given": _rows(
            sa.select(Clarification).where(Clarification.answered_by_id == user.id)
            .order_by(Clarification.id),
            ("application_id", "question", "answered_at", "answer")),
        "concerns_raised": _rows(
            sa.select(Concern).where(Concern.raised_by_id == user.id).order_by(Concern.id),
            ("provider_id", "category", "severity", "created_at", "description", "status",
             "outcome")),
        "fee_review_messages": _rows(
            sa.select(FeeReviewMessage).where(FeeReviewMessage.author_id == user.id)
            .order_by(FeeReviewMessage.id),
            ("submission_id", "created_at", "body")),
        "documents_uploaded": _rows(
            sa.select(Document).where(Document.uploaded_by_id == user.id).order_by(Document.id),
            ("kind", "original_filename", "content_type", "size_bytes", "uploaded_at",
             "status")),
        "emails_sent_to_you": _rows(
            sa.select(OutboxEmail).where(sa.func.lower(OutboxEmail.to) == user.email.lower())
            .order_by(OutboxEmail.id),
            ("created_at", "subject", "body")),
    }
    if organisation and (organisation.contact_email or "").lower() == user.email.lower():
        data["organisation_contact"] = {"organisation": organisation.display_name,
                                        "contact_name": organisation.contact_name,
                                        "contact_email": organisation.contact_email,
                                        "contact_phone": organisation.contact_phone}
    return data


def record_export(ctx: audit.AuditContext, user: User) -> None:
    """Audit that a copy of the person's data was given out (the caller commits)."""
    audit.record(ctx, "account.personal_data_exported", "user", user.id,
                 provider_id=user.provider_id)
