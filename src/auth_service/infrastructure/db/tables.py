"""The schema, as SQLAlchemy rows. Constraint names follow a naming convention so errors can be
mapped by name (`uq_users_email`); the schema changes only through Alembic revisions."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from auth_service.application.ports import (
    OneTimeToken,
    Registration,
    ResendThrottle,
    StoredSigningKey,
)
from auth_service.domain.companies import Company, company_name_key
from auth_service.domain.lockout import FailureCounter
from auth_service.domain.sessions import RefreshToken, Session
from auth_service.domain.users import Role, Source, User, UserStatus

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on both databases (SQLite stores naive text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


JsonDict = JSON().with_variant(JSONB(), "postgresql")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class CompanyRow(Base):
    __tablename__ = "companies"

    id: Mapped[str] = mapped_column(String(20), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    name_key: Mapped[str] = mapped_column(String(200), unique=True)  # lower-cased: unique ignoring case
    description: Mapped[str | None] = mapped_column(Text)
    owner_user_id: Mapped[str | None] = mapped_column(String(20))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    deleted_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    def to_entity(self) -> Company:
        return Company(id=self.id, name=self.name, description=self.description, owner_user_id=self.owner_user_id,
                       is_active=self.is_active, created_at=self.created_at, updated_at=self.updated_at,
                       deleted_at=self.deleted_at)

    @classmethod
    def from_entity(cls, c: Company) -> CompanyRow:
        return cls(id=c.id, name=c.name, name_key=company_name_key(c.name), description=c.description,
                   owner_user_id=c.owner_user_id, is_active=c.is_active, created_at=c.created_at,
                   updated_at=c.updated_at, deleted_at=c.deleted_at)


class UserRow(Base):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("(deleted_at IS NULL) OR (status = 'deleted')", name="deleted_status"),
        Index("ix_users_company_id_created_at", "company_id", "created_at"),
        Index("ix_users_created_at", "created_at"),
        Index("ix_users_role_created_at", "role", "created_at"),
        Index("ix_users_status_created_at", "status", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(20), primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    username: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    first_name: Mapped[str | None] = mapped_column(String(100))
    last_name: Mapped[str | None] = mapped_column(String(100))
    phone: Mapped[str | None] = mapped_column(String(32))
    photo: Mapped[str | None] = mapped_column(String(2048))
    role: Mapped[str] = mapped_column(String(16))
    company_id: Mapped[str | None] = mapped_column(ForeignKey("companies.id"))
    network_id: Mapped[str] = mapped_column(String(64), default="")
    station_id: Mapped[str] = mapped_column(String(64), default="")
    source: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(32))
    is_verified: Mapped[bool] = mapped_column(Boolean, default=False)
    mfa_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    profile: Mapped[dict[str, Any]] = mapped_column(JsonDict, default=dict)
    pending_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_by: Mapped[str | None] = mapped_column(String(20))
    updated_by: Mapped[str | None] = mapped_column(String(20))
    last_login_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    deleted_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    keycloak_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    totp_secret_enc: Mapped[str | None] = mapped_column(Text)
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)

    def to_entity(self) -> User:
        return User(
            id=self.id, email=self.email, username=self.username, password_hash=self.password_hash,
            role=Role(self.role), status=UserStatus(self.status), source=Source(self.source),
            created_at=self.created_at, updated_at=self.updated_at, is_verified=self.is_verified,
            first_name=self.first_name, last_name=self.last_name, phone=self.phone, photo=self.photo,
            company_id=self.company_id, network_id=self.network_id, station_id=self.station_id,
            profile=dict(self.profile or {}), mfa_enabled=self.mfa_enabled,
            pending_until=self.pending_until, created_by=self.created_by, updated_by=self.updated_by,
            last_login_at=self.last_login_at, deleted_at=self.deleted_at, keycloak_id=self.keycloak_id,
            totp_secret_enc=self.totp_secret_enc, totp_last_step=self.totp_last_step,
        )

    @classmethod
    def from_entity(cls, user: User) -> UserRow:
        return cls(
            id=user.id, email=user.email, username=user.username, password_hash=user.password_hash,
            role=user.role.value, status=user.status.value, source=user.source.value,
            created_at=user.created_at, updated_at=user.updated_at, is_verified=user.is_verified,
            first_name=user.first_name, last_name=user.last_name, phone=user.phone, photo=user.photo,
            company_id=user.company_id, network_id=user.network_id, station_id=user.station_id,
            profile=user.profile, mfa_enabled=user.mfa_enabled, pending_until=user.pending_until,
            created_by=user.created_by, updated_by=user.updated_by, last_login_at=user.last_login_at,
            deleted_at=user.deleted_at, keycloak_id=user.keycloak_id, totp_secret_enc=user.totp_secret_enc,
            totp_last_step=user.totp_last_step,
        )


class RegistrationRow(Base):
    __tablename__ = "registrations"

    id: Mapped[str] = mapped_column(String(20), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    email: Mapped[str] = mapped_column(String(254))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    verified_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    def to_entity(self) -> Registration:
        return Registration(id=self.id, user_id=self.user_id, email=self.email, created_at=self.created_at,
                            expires_at=self.expires_at, token_hash=self.token_hash, code_hash=self.code_hash,
                            status=self.status, verified_at=self.verified_at)

    @classmethod
    def from_entity(cls, r: Registration) -> RegistrationRow:
        return cls(id=r.id, user_id=r.user_id, email=r.email, created_at=r.created_at,
                   expires_at=r.expires_at, token_hash=r.token_hash, code_hash=r.code_hash,
                   status=r.status, verified_at=r.verified_at)


class SessionRow(Base):
    __tablename__ = "sessions"
    __table_args__ = (Index("ix_sessions_revoked_at", "revoked_at"),)

    id: Mapped[str] = mapped_column(String(20), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_used_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    ip: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(512))
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    revoke_reason: Mapped[str | None] = mapped_column(String(64))
    external_sid: Mapped[str | None] = mapped_column(String(128), index=True)

    def to_entity(self) -> Session:
        return Session(id=self.id, user_id=self.user_id, created_at=self.created_at,
                       last_used_at=self.last_used_at, expires_at=self.expires_at, ip=self.ip,
                       user_agent=self.user_agent, revoked_at=self.revoked_at,
                       revoke_reason=self.revoke_reason, external_sid=self.external_sid)

    @classmethod
    def from_entity(cls, s: Session) -> SessionRow:
        return cls(id=s.id, user_id=s.user_id, created_at=s.created_at, last_used_at=s.last_used_at,
                   expires_at=s.expires_at, ip=s.ip, user_agent=s.user_agent, revoked_at=s.revoked_at,
                   revoke_reason=s.revoke_reason, external_sid=s.external_sid)


class RefreshTokenRow(Base):
    __tablename__ = "refresh_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id"), index=True)
    user_id: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    rotated_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    successor_hash: Mapped[str | None] = mapped_column(String(64))
    successor_enc: Mapped[str | None] = mapped_column(Text)

    def to_entity(self) -> RefreshToken:
        return RefreshToken(token_hash=self.token_hash, session_id=self.session_id, user_id=self.user_id,
                            created_at=self.created_at, expires_at=self.expires_at,
                            rotated_at=self.rotated_at, successor_hash=self.successor_hash,
                            successor_enc=self.successor_enc)

    @classmethod
    def from_entity(cls, t: RefreshToken) -> RefreshTokenRow:
        return cls(token_hash=t.token_hash, session_id=t.session_id, user_id=t.user_id,
                   created_at=t.created_at, expires_at=t.expires_at, rotated_at=t.rotated_at,
                   successor_hash=t.successor_hash, successor_enc=t.successor_enc)


class FailureCounterRow(Base):
    __tablename__ = "failure_counters"

    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    level: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_failure_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    def to_entity(self) -> FailureCounter:
        return FailureCounter(key=self.key, failures=self.failures, level=self.level,
                              locked_until=self.locked_until, last_failure_at=self.last_failure_at)


class ResendThrottleRow(Base):
    __tablename__ = "resend_throttles"

    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    last_sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    count: Mapped[int] = mapped_column(Integer, default=0)
    window_ends_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    def to_entity(self) -> ResendThrottle:
        return ResendThrottle(key=self.key, last_sent_at=self.last_sent_at, count=self.count,
                              window_ends_at=self.window_ends_at)


class OneTimeTokenRow(Base):
    __tablename__ = "one_time_tokens"
    __table_args__ = (Index("ix_one_time_tokens_user_id_purpose", "user_id", "purpose"),)

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    def to_entity(self) -> OneTimeToken:
        return OneTimeToken(token_hash=self.token_hash, purpose=self.purpose, user_id=self.user_id,
                            created_at=self.created_at, expires_at=self.expires_at, used_at=self.used_at)


class MfaBackupCodeRow(Base):
    __tablename__ = "mfa_backup_codes"

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class MfaChallengeRow(Base):
    __tablename__ = "mfa_challenges"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    consumed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class AuditLogRow(Base):
    __tablename__ = "audit_logs"
    __table_args__ = (
        Index("ix_audit_logs_occurred_at", "occurred_at"),
        Index("ix_audit_logs_actor_id_occurred_at", "actor_id", "occurred_at"),
        Index("ix_audit_logs_target_id_occurred_at", "target_id", "occurred_at"),
        Index("ix_audit_logs_company_id_occurred_at", "company_id", "occurred_at"),
        Index("ix_audit_logs_action_occurred_at", "action", "occurred_at"),
        Index("ix_audit_logs_ip_occurred_at", "ip", "occurred_at"),
        Index("ix_audit_logs_outcome_occurred_at", "outcome", "occurred_at"),
        Index("ix_audit_logs_unlinked", "occurred_at", "id", postgresql_where=text("seq IS NULL"),
              sqlite_where=text("seq IS NULL")),
    )

    id: Mapped[str] = mapped_column(String(20), primary_key=True)
    # Position in the MAC chain, given by the sequencer after commit (null until linked).
    seq: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime)
    action: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[str | None] = mapped_column(String(20))
    target_type: Mapped[str | None] = mapped_column(String(16))
    target_id: Mapped[str | None] = mapped_column(String(64))
    company_id: Mapped[str | None] = mapped_column(String(20))
    ip: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(512))
    trace_id: Mapped[str | None] = mapped_column(String(128))
    details: Mapped[dict[str, Any]] = mapped_column(JsonDict, default=dict)
    mac: Mapped[str | None] = mapped_column(String(64))


class AuditCheckpointRow(Base):
    """Where the chain starts after a purge: the last purged record's MAC, itself MAC'd."""

    __tablename__ = "audit_checkpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_seq: Mapped[int] = mapped_column(BigInteger)
    last_mac: Mapped[str] = mapped_column(String(64))
    purged_count: Mapped[int] = mapped_column(BigInteger)
    mac: Mapped[str] = mapped_column(String(64))


class OutboxRow(Base):
    __tablename__ = "email_outbox"
    __table_args__ = (Index("ix_email_outbox_sent_at_next_attempt_at", "sent_at", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    payload_enc: Mapped[str | None] = mapped_column(Text)  # recipient, subject and body, encrypted
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    failed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_error: Mapped[str | None] = mapped_column(String(500))


class SigningKeyRow(Base):
    __tablename__ = "signing_keys"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    alg: Mapped[str] = mapped_column(String(8))
    private_key_enc: Mapped[str] = mapped_column(Text)
    public_jwk: Mapped[dict[str, Any]] = mapped_column(JsonDict)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    activates_at: Mapped[datetime] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    def to_entity(self) -> StoredSigningKey:
        return StoredSigningKey(kid=self.kid, alg=self.alg, private_key_enc=self.private_key_enc,
                                public_jwk=dict(self.public_jwk), created_at=self.created_at,
                                activates_at=self.activates_at, revoked_at=self.revoked_at)


class LockRow(Base):
    """Named rows to lock on (`SELECT … FOR UPDATE`) where an advisory lock is not available."""

    __tablename__ = "locks"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
