"""Who may see which evidence.

Providers see and upload only their own organisation's documents; staff of
the lead and member authorities may read any. Anything else is a 404, so a
document id reveals nothing about another provider.
"""
from flask import abort
from flask_login import current_user

from app.access import STAFF_ROLES
from app.extensions import db
from app.models import Document, Setting

MAX_ID = 2**31 - 1  # ids beyond an INTEGER column would be a database error, not a 404


def can_read(document: Document) -> bool:
    if current_user.role in STAFF_ROLES:
        return True
    return (current_user.is_provider and current_user.provider_id is not None
            and document.provider_id == current_user.provider_id)


def load_document_or_404(document_id: int) -> Document:
    if not 0 < document_id <= MAX_ID:
        abort(404)
    document = db.session.get(Document, document_id)
    if document is None or not can_read(document):
        abort(404)
    return document


def load_own_setting_or_404(setting_id: str | int) -> Setting:
    """One of the signed-in provider's settings; another provider's is a 404."""
    try:
        setting_id = int(setting_id)
    except (TypeError, ValueError):
        abort(404)
    if not 0 < setting_id <= MAX_ID:
        abort(404)
    setting = db.session.get(Setting, setting_id)
    if setting is None or setting.provider_id != current_user.provider_id:
        abort(404)
    return setting
