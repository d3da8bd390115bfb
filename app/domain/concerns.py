"""Concerns and safeguarding alerts raised against a provider or setting.

Visible to the lead and every member authority; they move open ->
investigating -> closed (states.CONCERN_TRANSITIONS). Safeguarding alerts are
hidden from the provider unless a commissioner shares them.
"""
from app.domain import audit
from app.domain.states import ConcernCategory, Severity
from app.extensions import db
from app.models import Concern


def raise_concern(ctx: audit.AuditContext, provider, *, category: ConcernCategory,
                  severity: Severity, description: str, setting=None,
                  raised_by_id: int | None = None, authority_id: int | None = None,
                  source: str = "manual") -> Concern:
    concern = Concern(provider_id=provider.id, setting_id=setting.id if setting else None,
                      category=category, severity=severity, description=description.strip(),
                      raised_by_id=raised_by_id if raised_by_id is not None else ctx.actor_id,
                      authority_id=authority_id, source=source)
    db.session.add(concern)
    db.session.flush()
    audit.record(ctx, "concern.raised", "concern", concern.id, provider_id=provider.id,
                 after={"category": category.value, "severity": severity.value,
                        "setting_id": concern.setting_id, "source": source},
                 internal=True)
    return concern
