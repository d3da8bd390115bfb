from datetime import datetime

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from app.domain.states import Role
from app.extensions import db
from app.models.base import enum_column, utcnow


class User(UserMixin, db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)
    full_name: Mapped[str] = mapped_column(sa.String(200))
    role: Mapped[Role] = mapped_column(enum_column(Role))
    provider_id: Mapped[int | None] = mapped_column(sa.ForeignKey("providers.id"), index=True)
    # Staff belong to an authority: the lead, or the member a member officer works for.
    authority_id: Mapped[int | None] = mapped_column(sa.ForeignKey("authorities.id"), index=True)
    password_hash: Mapped[str | None] = mapped_column(sa.String(255))
    email_confirmed_at: Mapped[datetime | None]
    # Changing it signs the user out everywhere and voids old reset links.
    session_version: Mapped[int] = mapped_column(default=1)
    is_active_account: Mapped[bool] = mapped_column(default=True)
    invited_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_sign_in_at: Mapped[datetime | None]
    # Staff second factor (TOTP). Set up once confirmed with a code; the last
    # time step used is kept so a code cannot be used twice.
    totp_secret: Mapped[str | None] = mapped_column(sa.String(64))
    totp_confirmed_at: Mapped[datetime | None]
    totp_last_step: Mapped[int | None] = mapped_column(sa.BigInteger)

    provider = relationship("Provider", back_populates="users", foreign_keys=[provider_id])
    authority = relationship("Authority", foreign_keys=[authority_id])

    def get_id(self) -> str:
        return f"{self.id}:{self.session_version}"

    @property
    def is_active(self) -> bool:
        return self.is_active_account

    def set_password(self, password: str) -> None:
        # Werkzeug's default is scrypt, a memory-hard modern scheme.
        self.password_hash = generate_password_hash(password, method="scrypt")
        self.session_version = (self.session_version or 0) + 1

    def check_password(self, password: str) -> bool:
        return bool(self.password_hash) and check_password_hash(self.password_hash, password)

    @property
    def is_provider(self) -> bool:
        return self.role.is_provider

    @property
    def is_staff(self) -> bool:
        return self.role.is_staff

    def has_role(self, *roles: Role) -> bool:
        return self.role in roles

    @property
    def needs_second_factor(self) -> bool:
        return self.role.is_staff

    @property
    def has_second_factor(self) -> bool:
        return bool(self.totp_secret) and self.totp_confirmed_at is not None


class RecoveryCode(db.Model):
    """A single-use code that stands in for the second factor when the
    authenticator is lost. Only a hash is kept: the code is shown once."""
    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    code_hash: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    used_at: Mapped[datetime | None]


class SignInThrottle(db.Model):
    """Failed sign-ins for one email address, whether or not an account has
    it, named by a keyed hash of the normalised address (so the table holds no
    addresses and says nothing about which accounts exist)."""
    __tablename__ = "sign_in_throttles"

    id: Mapped[int] = mapped_column(primary_key=True)
    key_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    failures: Mapped[int] = mapped_column(default=0)
    window_started_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    locked_until: Mapped[datetime | None]
