from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.domain.reference import Gender, OfstedJudgement, SettingType
from app.extensions import db
from app.models.base import enum_column, utcnow


class Provider(db.Model):
    """A care provider organisation: IFA, children's home operator, etc."""
    __tablename__ = "providers"

    id: Mapped[int] = mapped_column(primary_key=True)
    legal_name: Mapped[str] = mapped_column(sa.String(200))
    trading_name: Mapped[str] = mapped_column(sa.String(200), default="")
    company_number: Mapped[str] = mapped_column(sa.String(8), unique=True)
    charity_number: Mapped[str] = mapped_column(sa.String(20), default="")
    address_line_1: Mapped[str] = mapped_column(sa.String(200))
    address_line_2: Mapped[str] = mapped_column(sa.String(200), default="")
    town: Mapped[str] = mapped_column(sa.String(100))
    postcode: Mapped[str] = mapped_column(sa.String(8))
    contact_name: Mapped[str] = mapped_column(sa.String(200))
    contact_phone: Mapped[str] = mapped_column(sa.String(30))
    contact_email: Mapped[str] = mapped_column(sa.String(254))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    users = relationship("User", back_populates="provider", foreign_keys="User.provider_id")
    settings = relationship("Setting", back_populates="provider", order_by="Setting.name")

    @property
    def display_name(self) -> str:
        return self.trading_name or self.legal_name


class Setting(db.Model):
    """A home, agency branch, supported accommodation service or school."""
    __tablename__ = "settings"
    __table_args__ = (sa.Index("ix_settings_grid", "easting", "northing"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    provider_id: Mapped[int] = mapped_column(sa.ForeignKey("providers.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    setting_type: Mapped[SettingType] = mapped_column(enum_column(SettingType))
    ofsted_urn: Mapped[str] = mapped_column(sa.String(12), index=True)
    ofsted_judgement: Mapped[OfstedJudgement] = mapped_column(enum_column(OfstedJudgement))
    ofsted_judgement_date: Mapped[date | None]
    registered_places: Mapped[int]
    age_min: Mapped[int]
    age_max: Mapped[int]
    gender: Mapped[Gender] = mapped_column(enum_column(Gender))
    postcode: Mapped[str] = mapped_column(sa.String(8))
    # Outward code ("E15") for distance search on outcode centroids.
    outcode: Mapped[str] = mapped_column(sa.String(4), index=True)
    # OSGB grid position (metres) of the postcode, for distance search; from the
    # outcode centroid today, a full postcode lookup later (app.domain.geo).
    easting: Mapped[int | None]
    northing: Mapped[int | None]
    # Denormalised from active setting-level suspensions so search can filter cheaply.
    is_suspended: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    provider = relationship("Provider", back_populates="settings")
    specialism_rows = relationship("SettingSpecialism", cascade="all, delete-orphan",
                                   order_by="SettingSpecialism.code")

    @property
    def specialisms(self) -> list[str]:
        return [s.code for s in self.specialism_rows]

    @specialisms.setter
    def specialisms(self, codes: list[str]) -> None:
        wanted = set(codes)
        self.specialism_rows = [s for s in self.specialism_rows if s.code in wanted]
        have = {s.code for s in self.specialism_rows}
        for code in sorted(wanted - have):
            self.specialism_rows.append(SettingSpecialism(code=code))


class SettingSpecialism(db.Model):
    __tablename__ = "setting_specialisms"

    setting_id: Mapped[int] = mapped_column(sa.ForeignKey("settings.id"), primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(40), primary_key=True, index=True)
