"""Which lots a person may see: lead-authority staff see every lot; a member
authority officer sees only the lots of their authority's current access
agreements."""
from datetime import date

import sqlalchemy as sa

from app.domain.states import Role
from app.extensions import db
from app.models import AccessAgreement


def visible_lot_ids(user, on: date) -> set[int] | None:
    """None means every lot; otherwise the lot ids this user may see on `on`."""
    if user.role is not Role.MEMBER_OFFICER:
        return None
    if user.authority_id is None:
        return set()
    return set(db.session.execute(
        sa.select(AccessAgreement.lot_id).where(
            AccessAgreement.authority_id == user.authority_id,
            AccessAgreement.starts_on <= on, AccessAgreement.ends_on >= on)
    ).scalars())


def authority_lot_ids(authority_id: int, on: date) -> set[int]:
    return set(db.session.execute(
        sa.select(AccessAgreement.lot_id).where(
            AccessAgreement.authority_id == authority_id,
            AccessAgreement.starts_on <= on, AccessAgreement.ends_on >= on)
    ).scalars())
