"""Reference vocabularies of the children's placements market."""
import enum


class OfstedJudgement(str, enum.Enum):
    OUTSTANDING = "outstanding"
    GOOD = "good"
    REQUIRES_IMPROVEMENT = "requires_improvement"
    INADEQUATE = "inadequate"
    NOT_YET_INSPECTED = "not_yet_inspected"

    @property
    def label(self) -> str:
        return JUDGEMENT_LABELS[self]

    @property
    def rank(self) -> int:
        """Higher is better; not yet inspected ranks below every judgement."""
        return {"outstanding": 4, "good": 3, "requires_improvement": 2, "inadequate": 1,
                "not_yet_inspected": 0}[self.value]

    def meets(self, minimum: "OfstedJudgement | None") -> bool:
        return minimum is None or self.rank >= minimum.rank


JUDGEMENT_LABELS = {
    OfstedJudgement.OUTSTANDING: "Outstanding",
    OfstedJudgement.GOOD: "Good",
    OfstedJudgement.REQUIRES_IMPROVEMENT: "Requires improvement to be good",
    OfstedJudgement.INADEQUATE: "Inadequate",
    OfstedJudgement.NOT_YET_INSPECTED: "Not yet inspected",
}


class SettingType(str, enum.Enum):
    FOSTERING_AGENCY = "fostering_agency"
    CHILDRENS_HOME = "childrens_home"
    SUPPORTED_ACCOMMODATION = "supported_accommodation"
    SPECIAL_SCHOOL = "special_school"

    @property
    def label(self) -> str:
        return {
            "fostering_agency": "Independent fostering agency branch",
            "childrens_home": "Children's home",
            "supported_accommodation": "Supported accommodation (16+)",
            "special_school": "Independent special school",
        }[self.value]


class Gender(str, enum.Enum):
    ANY = "any"
    FEMALE = "female"
    MALE = "male"

    @property
    def label(self) -> str:
        return {"any": "Any", "female": "Girls and young women only",
                "male": "Boys and young men only"}[self.value]


SPECIALISMS = {
    "emotional_behavioural": "Emotional and behavioural difficulties",
    "learning_disability": "Learning disabilities",
    "autism": "Autism",
    "physical_disability": "Physical disabilities",
    "cse_risk": "Risk of child sexual exploitation",
    "cce_risk": "Risk of criminal exploitation",
    "parent_and_child": "Parent and child",
    "sibling_groups": "Sibling groups",
    "uasc": "Unaccompanied asylum-seeking children",
    "remand": "Remand",
    "emergency": "Emergency placements",
    "respite": "Short breaks and respite",
    "solo": "Solo placements",
    "mental_health": "Mental health needs",
}


class ServiceUnit(str, enum.Enum):
    HOUR = "hour"
    DAY = "day"
    SESSION = "session"
    MILE = "mile"
    WEEK = "week"

    @property
    def label(self) -> str:
        return f"per {self.value}"


class DocumentKind(str, enum.Enum):
    PUBLIC_LIABILITY = "public_liability"
    EMPLOYERS_LIABILITY = "employers_liability"
    PROFESSIONAL_INDEMNITY = "professional_indemnity"
    MOTOR_INSURANCE = "motor_insurance"
    OFSTED_CERTIFICATE = "ofsted_certificate"
    CREDIT_REPORT = "credit_report"
    ACCOUNTS = "accounts"
    SAFEGUARDING_POLICY = "safeguarding_policy"

    @property
    def label(self) -> str:
        return DOCUMENT_KIND_LABELS[self]

    @property
    def is_insurance(self) -> bool:
        return self in INSURANCE_KINDS

    @property
    def per_setting(self) -> bool:
        return self is DocumentKind.OFSTED_CERTIFICATE


DOCUMENT_KIND_LABELS = {
    DocumentKind.PUBLIC_LIABILITY: "Public liability insurance",
    DocumentKind.EMPLOYERS_LIABILITY: "Employer's liability insurance",
    DocumentKind.PROFESSIONAL_INDEMNITY: "Professional indemnity insurance",
    DocumentKind.MOTOR_INSURANCE: "Motor insurance",
    DocumentKind.OFSTED_CERTIFICATE: "Ofsted registration certificate",
    DocumentKind.CREDIT_REPORT: "Credit report",
    DocumentKind.ACCOUNTS: "Latest accounts",
    DocumentKind.SAFEGUARDING_POLICY: "Safeguarding policy",
}
INSURANCE_KINDS = (
    DocumentKind.PUBLIC_LIABILITY,
    DocumentKind.EMPLOYERS_LIABILITY,
    DocumentKind.PROFESSIONAL_INDEMNITY,
    DocumentKind.MOTOR_INSURANCE,
)
