from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from app.domain.evidence import current_documents, evidence_problems
from app.domain.reference import DocumentKind as K
from app.domain.states import DocumentStatus


@dataclass
class Doc:
    kind: K
    cover_amount: Decimal | None = None
    expires_on: date | None = None
    setting_id: int | None = None
    status: DocumentStatus = DocumentStatus.AWAITING_CHECK
    uploaded_at: datetime = field(default_factory=lambda: datetime(2026, 1, 1))


@dataclass
class Lot:
    id: int
    title: str
    minimums: dict

    def insurance_minimums(self):
        return self.minimums


@dataclass
class Setting:
    id: int
    name: str


M = Decimal(1_000_000)
TODAY = date(2026, 11, 24)
LOT = Lot(1, "Lot 1: Independent fostering",
          {K.PUBLIC_LIABILITY: 5 * M, K.EMPLOYERS_LIABILITY: 5 * M, K.PROFESSIONAL_INDEMNITY: 2 * M})
OAK = Setting(7, "Oak House")


def complete_set():
    return [Doc(K.PUBLIC_LIABILITY, 5 * M, date(2027, 3, 31)),
            Doc(K.EMPLOYERS_LIABILITY, 10 * M, date(2027, 3, 31)),
            Doc(K.PROFESSIONAL_INDEMNITY, 2 * M, date(2027, 3, 31)),
            Doc(K.SAFEGUARDING_POLICY), Doc(K.ACCOUNTS),
            Doc(K.OFSTED_CERTIFICATE, setting_id=OAK.id)]


def test_complete_evidence_has_no_problems():
    assert evidence_problems(complete_set(), [LOT], {1: [OAK]}, TODAY) == []


def test_missing_items_are_each_named():
    problems = evidence_problems([], [LOT], {1: [OAK]}, TODAY)
    messages = [p.message for p in problems]
    assert "Upload your public liability insurance" in messages
    assert "Upload a credit report or your latest accounts" in messages
    assert "Upload the Ofsted registration certificate for Oak House" in messages
    assert len(problems) == 6


def test_expired_insurance_is_a_problem():
    docs = complete_set()
    docs[0].expires_on = date(2026, 11, 23)
    [problem] = evidence_problems(docs, [LOT], {1: [OAK]}, TODAY)
    assert problem.kind is K.PUBLIC_LIABILITY and "expired" in problem.message


def test_insurance_expiring_today_is_still_valid():
    docs = complete_set()
    docs[0].expires_on = TODAY
    assert evidence_problems(docs, [LOT], {1: [OAK]}, TODAY) == []


def test_cover_below_the_lot_minimum_names_the_lot_and_figures():
    docs = complete_set()
    docs[2].cover_amount = Decimal(1_000_000)
    [problem] = evidence_problems(docs, [LOT], {1: [OAK]}, TODAY)
    assert problem.message == ("Your professional indemnity insurance cover of £1,000,000 is below "
                               "the £2,000,000 minimum for Lot 1: Independent fostering")


def test_rejected_and_superseded_documents_do_not_count():
    docs = complete_set()
    docs[3].status = DocumentStatus.REJECTED
    docs[4].status = DocumentStatus.SUPERSEDED
    kinds = {p.kind for p in evidence_problems(docs, [LOT], {1: [OAK]}, TODAY)}
    assert kinds == {K.SAFEGUARDING_POLICY, K.CREDIT_REPORT}


def test_newest_upload_is_current():
    old = Doc(K.PUBLIC_LIABILITY, 1 * M, date(2027, 1, 1), uploaded_at=datetime(2025, 1, 1))
    new = Doc(K.PUBLIC_LIABILITY, 5 * M, date(2027, 1, 1), uploaded_at=datetime(2026, 1, 1))
    assert current_documents([old, new])[(K.PUBLIC_LIABILITY, None)] is new
