"""Exclusion grounds asked of every applicant (Procurement Act 2023 / PCR 2015).

A "yes" to any ground needs an explanation of the self-cleaning measures taken;
the evaluator then decides whether the ground is excluding.
"""
from dataclasses import dataclass


@dataclass(frozen=True)
class Ground:
    code: str
    mandatory: bool
    question: str


GROUNDS: tuple[Ground, ...] = (
    Ground("corruption", True,
           "Has the organisation, or any director or person with powers of control, been "
           "convicted of bribery, corruption or fraud?"),
    Ground("organised_crime", True,
           "Has the organisation, or any director or person with powers of control, been "
           "convicted of an offence connected with organised crime, terrorism, money laundering "
           "or human trafficking?"),
    Ground("tax_evasion", True,
           "Has the organisation been found to have evaded tax or social security contributions "
           "in the last 5 years?"),
    Ground("safeguarding", True,
           "Has the organisation, or any person who manages it, been disqualified from "
           "carrying on, managing or being employed in a children's home or fostering agency?"),
    Ground("insolvency", False,
           "Is the organisation bankrupt, insolvent, in administration or being wound up, or has "
           "it entered into an arrangement with its creditors?"),
    Ground("professional_misconduct", False,
           "Has the organisation, or any director, committed grave professional misconduct in "
           "the last 3 years?"),
    Ground("poor_performance", False,
           "Has the organisation had a public contract ended early, or paid damages, because of "
           "significant or persistent poor performance in the last 3 years?"),
    Ground("competition", False,
           "Has the organisation entered into an agreement with other suppliers intended to "
           "distort competition?"),
    Ground("misrepresentation", False,
           "Has the organisation misrepresented information or withheld information required to "
           "assess its suitability in any procurement?"),
)
GROUNDS_BY_CODE = {g.code: g for g in GROUNDS}
