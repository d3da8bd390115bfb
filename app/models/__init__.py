"""Models, one module per aggregate. Importing this registers every table."""
from app.models.base import utcnow  # noqa: F401
from app.models.user import User  # noqa: F401
from app.models.dps import Dps, Lot, PlacementType, ServiceItem, QualityQuestion  # noqa: F401
from app.models.provider import Provider, Setting, SettingSpecialism  # noqa: F401
from app.models.document import Document  # noqa: F401
from app.models.application import (  # noqa: F401
    Application, ApplicationLot, ApplicationLotSetting, CeilingPrice, ServiceRate,
    DeclarationAnswer, QualityAnswer,
)
from app.models.evaluation import (  # noqa: F401
    LotEvaluation, CriterionCheck, QualityScore, ExclusionDecision, Clarification,
    ApplicationSnapshot, SnapshotView,
)
from app.models.membership import Membership, Price  # noqa: F401
from app.models.contract import (  # noqa: F401
    Authority, AccessAgreement, ApiToken, Suspension, Removal, Concern, ExpiryReminder, JobRun,
)
from app.models.fee_review import (  # noqa: F401
    FeeReviewRound, FeeReviewRoundLot, FeeReviewSubmission, FeeReviewLine, FeeReviewMessage,
)
from app.models.audit import AuditEvent  # noqa: F401
from app.models.form_token import FormToken  # noqa: F401
from app.models.outbox import OutboxEmail  # noqa: F401
from app.models.deferred_job import DeferredJob  # noqa: F401
