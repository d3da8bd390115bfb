"""Loading a whole application in a fixed number of queries, whatever its
number of lots, and the context of its read-only summary, which check answers,
the provider's view of a submitted application and the staff view share."""
import sqlalchemy as sa
from sqlalchemy.orm import joinedload, selectinload

from app.domain import applications as rules
from app.domain.declarations import GROUNDS
from app.extensions import db
from app.models import (Application, ApplicationLot, ApplicationLotSetting, Document, Lot,
                        Setting)

_lot = selectinload(Application.lots).selectinload(ApplicationLot.lot)
FULL_LOAD = (
    joinedload(Application.dps),
    joinedload(Application.provider),
    _lot.selectinload(Lot.placement_types),
    _lot.selectinload(Lot.service_items),
    _lot.selectinload(Lot.quality_questions),
    selectinload(Application.lots).selectinload(ApplicationLot.setting_links)
    .selectinload(ApplicationLotSetting.setting),
    selectinload(Application.ceiling_prices),
    selectinload(Application.service_rates),
    selectinload(Application.declaration_answers),
    selectinload(Application.quality_answers),
)

SECTION_ENDPOINTS = {
    "organisation": "applications.organisation",
    "declarations": "applications.declarations",
    "lots": "applications.lots",
    "prices": "applications.prices",
    "services": "applications.services",
    "terms": "applications.terms",
    "evidence": "applications.evidence",
    "quality": "applications.quality",
    "check": "applications.check_answers",
}


def load_application(*criteria) -> Application | None:
    return db.session.execute(
        sa.select(Application).where(*criteria).options(*FULL_LOAD)
    ).unique().scalar_one_or_none()


def provider_documents(provider_id: int) -> list[Document]:
    return db.session.execute(
        sa.select(Document).where(Document.provider_id == provider_id).order_by(Document.id)
    ).scalars().all()


def provider_settings(provider_id: int) -> list[Setting]:
    return db.session.execute(
        sa.select(Setting).where(Setting.provider_id == provider_id).order_by(Setting.name)
    ).scalars().all()


def summary_context(application, documents, *, changeable: bool, downloads: bool) -> dict:
    """What `applications/_summary.html` needs. A submitted application shows
    the organisation as it was when submitted."""
    on = rules.today()
    organisation = application.organisation_snapshot or rules.organisation_snapshot(
        application.provider, application)
    lots = rules.chosen_lots(application)
    return {
        "application": application,
        "organisation": organisation,
        "saved": rules.answers(application),
        "grounds": GROUNDS,
        "settings_by_lot": rules.settings_by_lot(application),
        "evidence": rules.evidence_items(application, documents, on),
        "placement_labels": rules.placement_labels(lots),
        "question_labels": rules.question_labels(lots),
        "changeable": changeable,
        "downloads": downloads,
        "section_endpoints": SECTION_ENDPOINTS,
        "section_titles": rules.SECTION_TITLES,
    }
