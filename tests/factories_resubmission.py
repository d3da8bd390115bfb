"""Helpers for the provider's fee review page tests: read a submission's
lines afresh, build what its pages post, and read a page as a person would."""
import html as htmllib
import re

import sqlalchemy as sa

from app.extensions import db
from app.models import FeeReviewLine, FeeReviewSubmission

__all__ = ["fresh", "lines_of", "form_data", "text_of"]


def fresh(submission) -> FeeReviewSubmission:
    db.session.expire_all()
    return db.session.get(FeeReviewSubmission, submission.id)


def lines_of(submission) -> list[FeeReviewLine]:
    return db.session.execute(sa.select(FeeReviewLine).where(
        FeeReviewLine.submission_id == submission.id)
        .order_by(FeeReviewLine.lot_id, FeeReviewLine.position)).scalars().all()


def form_data(submission, amounts=(), justifications=None, action="save", **extra) -> dict:
    """What the proposal page posts: one amount per line in line order
    ("" leaves it unchanged), the page's version, and the button pressed."""
    lines = lines_of(submission)
    data = {"version": str(fresh(submission).version), "action": action,
            "justification": "", "evidence": ""}
    for line, amount in zip(lines, list(amounts) + [""] * len(lines)):
        data[f"line-{line.id}-amount"] = amount
    for index, text in (justifications or {}).items():
        data[f"line-{lines[index].id}-justification"] = text
    data.update(extra)
    return data


def text_of(response) -> str:
    """The page's text with tags removed and spaces collapsed."""
    text = re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))
    return htmllib.unescape(re.sub(r"\s+", " ", text))
