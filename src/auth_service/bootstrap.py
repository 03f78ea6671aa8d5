"""The composition root: the only module that picks implementations. Nothing is built at import."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Coroutine
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy import text

from auth_service.application.commands.change_company import ChangeCompanyHandler
from auth_service.application.commands.change_password import ChangePasswordHandler
from auth_service.application.commands.change_role import ChangeRoleHandler
from auth_service.application.commands.create_admin import CreateAdmin, CreateAdminHandler
from auth_service.application.commands.create_user import CreateUserHandler
from auth_service.application.commands.delete_user import DeleteUserHandler
from auth_service.application.commands.log_in import LogInHandler, UnitOfWorkLoginStore
from auth_service.application.commands.manage_companies import CompanyAdministration
from auth_service.application.commands.manage_mfa import MfaSettings
from auth_service.application.commands.record_forbidden import RecordForbidden
from auth_service.application.commands.refresh_provider_tokens import ProviderRefreshHandler
from auth_service.application.commands.refresh_tokens import RefreshTokens, RefreshTokensHandler
from auth_service.application.commands.register_user import RegisterUserHandler
from auth_service.application.commands.resend_verification import ResendVerificationHandler
from auth_service.application.commands.reset_password import ForgotPasswordHandler, ResetPasswordHandler
from auth_service.application.commands.revoke_sessions import SessionRevoker
from auth_service.application.commands.sync_accounts import SyncProviderAccounts
from auth_service.application.commands.update_me import UpdateMeHandler
from auth_service.application.commands.update_user import UpdateUserHandler
from auth_service.application.commands.verify_email import VerifyEmailHandler
from auth_service.application.commands.verify_mfa import VerifyMfaHandler
from auth_service.application.config import AuthConfig
from auth_service.application.errors import ServiceUnavailableError
from auth_service.application.lockout import LockoutGuard
from auth_service.application.mfa import SecondFactor
from auth_service.application.ports import (
    AccessTokens,
    Clock,
    IdentityProvider,
    IssuedTokens,
    LoginStore,
    RequestContext,
    UnitOfWork,
)
from auth_service.application.queries.audit import AuditQueries
from auth_service.application.queries.authenticate import Authenticate, Introspect
from auth_service.application.queries.companies import CompanyQueries
from auth_service.application.queries.get_me import GetMe, ListMySessions
from auth_service.application.queries.users import GetUserHandler, ListCompanyUsersHandler, ListUsersHandler
from auth_service.application.token_pairs import TokenMinter
from auth_service.domain.lockout import LockoutPolicy
from auth_service.infrastructure.background import Stopping
from auth_service.infrastructure.clock import SystemClock
from auth_service.infrastructure.db.audit_chain import AuditChain
from auth_service.infrastructure.db.audit_views import SqlAuditViews
from auth_service.infrastructure.db.engine import make_engine, make_sessionmaker, reads_engine
from auth_service.infrastructure.db.errors import DEPENDENCY_ERRORS, is_unavailable
from auth_service.infrastructure.db.fast_logins import AsyncpgLoginStore
from auth_service.infrastructure.db.fast_reads import AsyncpgConnections, AsyncpgUserViews, connections_for
from auth_service.infrastructure.db.migrate import upgrade_to_head
from auth_service.infrastructure.db.reencrypt import reencrypt_all
from auth_service.infrastructure.db.repositories import SqlSessionRepository
from auth_service.infrastructure.db.unit_of_work import CommitHooks, SqlUnitOfWork
from auth_service.infrastructure.db.views import SqlCompanyViews, SqlUserViews
from auth_service.infrastructure.identity import LocalIdentityProvider
from auth_service.infrastructure.keycloak.tokens import KeycloakAccessTokens
from auth_service.infrastructure.logging import AccessLog, configure_logging, request_log_fields
from auth_service.infrastructure.mail.outbox import OutboxWorker
from auth_service.infrastructure.mail.senders import ConsoleSender, MailSender, SmtpSender
from auth_service.infrastructure.metrics import PrometheusMetrics
from auth_service.infrastructure.rate_limit import LimitsRateLimiter
from auth_service.infrastructure.redis_bus import RedisRevocationBus
from auth_service.infrastructure.revocations import InMemoryRevocationList
from auth_service.infrastructure.security.argon2_hasher import Argon2PasswordHasher
from auth_service.infrastructure.security.jwt_tokens import JwtAccessTokens
from auth_service.infrastructure.security.keys import KeyStore
from auth_service.infrastructure.security.password_policy import BreachedList, DefaultPasswordPolicy, HibpClient
from auth_service.infrastructure.security.random_secrets import RandomSecrets
from auth_service.infrastructure.security.secret_box import AesGcmSecretBox
from auth_service.infrastructure.security.totp import PyotpTotp
from auth_service.infrastructure.settings import (
    ConfigurationError,
    Settings,
    keycloak_missing,
    load_settings,
    production_problems,
)

if TYPE_CHECKING:
    from auth_service.infrastructure.keycloak.identity import KeycloakGateway

log = structlog.get_logger(__name__)

SUCCESSOR_SWEEP_INTERVAL = 60.0
AUDIT_LINK_INTERVAL = 1.0
STOP_GRACE = 10.0
AUDIT_PURGE_INTERVAL = 24 * 3600.0


def auth_config(settings: Settings) -> AuthConfig:
    def seconds(value: int) -> timedelta:
        return timedelta(seconds=value)

    return AuthConfig(
        access_token_ttl=seconds(settings.access_token_ttl),
        refresh_token_ttl=seconds(settings.refresh_token_ttl),
        refresh_reuse_interval=seconds(settings.refresh_reuse_interval),
        session_max_lifetime=seconds(settings.session_max_lifetime),
        verification_ttl=seconds(settings.verification_ttl),
        resend_cooldown=seconds(settings.resend_cooldown),
        resend_max=settings.resend_max,
        verification_max_attempts=settings.verification_max_attempts,
        reset_token_ttl=seconds(settings.reset_token_ttl),
        invitation_ttl=seconds(settings.invitation_ttl),
        lockout=LockoutPolicy(threshold=settings.lockout_threshold, base=seconds(settings.lockout_base),
                              maximum=seconds(settings.lockout_max),
                              reset_after=seconds(settings.lockout_reset)),
        frontend_base=settings.frontend_base,
    )


class Container:
    """Everything the entry points need, built once per process (or per test app)."""

    def __init__(self, settings: Settings, clock: Clock | None = None, mail_sender: MailSender | None = None) -> None:
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self.config = config = auth_config(settings)
        self.engine = make_engine(settings.database_url)
        self.sessionmaker = make_sessionmaker(self.engine)
        self.box = AesGcmSecretBox(settings.effective_secret_key, settings.secret_key_fallbacks)
        self.secrets = RandomSecrets(settings.effective_secret_key)
        self.metrics = PrometheusMetrics()
        self.hasher = Argon2PasswordHasher(settings.argon2_memory_kib, settings.argon2_time_cost,
                                           settings.argon2_parallelism, settings.argon2_max_concurrent,
                                           settings.argon2_max_queue)
        self.hibp = HibpClient(settings.hibp_api_url, settings.hibp_timeout) if settings.hibp_enabled else None
        self.policy = DefaultPasswordPolicy(BreachedList(), self.hibp)
        self.key_store = KeyStore(self.box, settings.access_token_ttl)
        self.keycloak: KeycloakGateway | None = None
        self.access_tokens: AccessTokens
        if settings.identity_provider == "keycloak":
            self.keycloak = keycloak = keycloak_gateway(settings)
            self.access_tokens = KeycloakAccessTokens(keycloak.jwks, keycloak.issuer,
                                                      frozenset({keycloak.auth_client_id}), self.clock)
        else:
            self.access_tokens = JwtAccessTokens(self.key_store, settings.issuer, settings.jwt_audience)
        self.revocations = InMemoryRevocationList(self.clock, config.access_token_ttl + timedelta(seconds=60))
        self.rate_limiter = LimitsRateLimiter(
            {"login": settings.rate_limit_login, "register": settings.rate_limit_register,
             "forgot": settings.rate_limit_forgot, "refresh": settings.rate_limit_refresh,
             "default": settings.rate_limit_default},
            enabled=settings.rate_limit_enabled, redis_url=settings.redis_url, metrics=self.metrics)
        sender = mail_sender or (ConsoleSender() if settings.mail_backend == "console" else SmtpSender(
            settings.smtp_host, settings.smtp_port, settings.smtp_username, settings.smtp_password,
            settings.smtp_starttls, settings.mail_from, settings.smtp_timeout))
        self.outbox_worker = OutboxWorker(self.sessionmaker, self.box, self.clock, sender,
                                          settings.outbox_poll_interval, settings.outbox_max_attempts)

        self.audit_chain = AuditChain(self.sessionmaker, self.secrets)
        hooks = CommitHooks(mail_queued=self.outbox_worker.wake, audit_written=self.audit_chain.wake)

        def unit_of_work() -> UnitOfWork:
            return SqlUnitOfWork(self.sessionmaker, self.box, self.clock, hooks)

        self.uow: Callable[[], UnitOfWork] = unit_of_work
        reads_sessionmaker = make_sessionmaker(reads_engine(self.engine))

        def reads() -> UnitOfWork:
            return SqlUnitOfWork(reads_sessionmaker, self.box, self.clock, read_only=True)

        self.reads: Callable[[], UnitOfWork] = reads

        # The hot paths on PostgreSQL (GET /users/me, the login's reads and write) go straight
        # through a few asyncpg connections (fast_reads.py, fast_logins.py).
        self.fast_connections: AsyncpgConnections | None = None
        self.login_store: LoginStore = UnitOfWorkLoginStore(self.uow, self.reads)
        if self.engine.dialect.name == "postgresql":
            self.fast_connections = connections_for(settings.database_url)
            self.login_store = AsyncpgLoginStore(self.fast_connections, self.audit_chain.wake)

        uow, clock = self.uow, self.clock
        lockout = LockoutGuard(uow, self.secrets, clock, config.lockout)
        minter = TokenMinter(self.access_tokens, self.secrets, config, self.metrics)
        # The one place the identity mode is decided: handlers see only the ports (SPEC §9).
        self.identity: IdentityProvider
        self.refresh_tokens: Callable[[RefreshTokens], Awaitable[IssuedTokens]]
        if self.keycloak is not None:
            from auth_service.infrastructure.keycloak.identity import KeycloakIdentityProvider

            keycloak_identity = KeycloakIdentityProvider(self.keycloak, config.session_max_lifetime)
            self.identity = keycloak_identity
            self.refresh_tokens = ProviderRefreshHandler(uow, keycloak_identity, clock, self.rate_limiter)
        else:
            self.identity = LocalIdentityProvider(self.hasher, minter)
            self.refresh_tokens = RefreshTokensHandler(uow, minter, self.box, self.revocations, clock, config,
                                                       self.metrics, self.rate_limiter)
        self.register_user = RegisterUserHandler(uow, self.identity, self.policy, self.secrets, clock, config,
                                                 self.rate_limiter)
        self.verify_email = VerifyEmailHandler(uow, self.secrets, clock, config, self.identity)
        self.resend_verification = ResendVerificationHandler(uow, self.secrets, clock, config)
        self.log_in = LogInHandler(uow, self.login_store, self.identity, lockout, clock, self.metrics, self.secrets,
                                   self.rate_limiter)
        self.sessions = SessionRevoker(uow, minter, self.access_tokens, self.revocations, clock, self.identity)
        self.forgot_password = ForgotPasswordHandler(uow, self.secrets, clock, config, self.rate_limiter)
        self.reset_password = ResetPasswordHandler(uow, self.identity, self.policy, self.secrets, lockout,
                                                   self.revocations, clock)
        self.change_password = ChangePasswordHandler(uow, self.identity, self.policy, lockout, self.revocations,
                                                     clock)
        self.update_me = UpdateMeHandler(uow, clock)
        self.create_admin = CreateAdminHandler(uow, self.identity, self.policy, clock)
        self.authenticate = Authenticate(self.access_tokens, self.revocations, clock)
        self.introspect = Introspect(self.authenticate)
        user_views = SqlUserViews(self.engine)
        self.get_me = GetMe(AsyncpgUserViews(self.fast_connections, user_views) if self.fast_connections
                            else user_views, clock)
        self.list_users = ListUsersHandler(user_views, clock)
        self.list_company_users = ListCompanyUsersHandler(uow, self.list_users)
        self.get_user = GetUserHandler(uow, clock)
        self.create_user = CreateUserHandler(uow, self.identity, self.policy, self.secrets, clock, config)
        self.update_user = UpdateUserHandler(uow, self.identity, self.revocations, clock)
        self.delete_user = DeleteUserHandler(uow, self.identity, self.revocations, clock)
        self.change_role = ChangeRoleHandler(uow, self.identity, self.revocations, clock)
        self.change_company = ChangeCompanyHandler(uow, self.identity, self.revocations, clock)
        self.sync_accounts = SyncProviderAccounts(uow, self.identity, clock)
        self.companies = CompanyQueries(SqlCompanyViews(self.engine))
        self.company_admin = CompanyAdministration(uow, self.revocations, clock)
        self.audit = AuditQueries(SqlAuditViews(self.engine), uow, clock)
        self.record_forbidden = RecordForbidden(uow, clock)
        factor = SecondFactor(self.box, self.secrets, PyotpTotp())
        self.mfa = MfaSettings(uow, self.hasher, lockout, factor, clock)
        self.verify_mfa = VerifyMfaHandler(uow, self.secrets, factor, lockout, minter, clock, self.metrics)
        self.list_my_sessions = ListMySessions(uow, clock)
        self.is_unavailable = is_unavailable
        self.dependency_errors = DEPENDENCY_ERRORS
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = Stopping()
        self._listener: asyncio.Task[None] | None = None
        self.revocation_bus: RedisRevocationBus | None = None
        if settings.redis_url:
            self.revocation_bus = RedisRevocationBus(settings.redis_url, self.revocations, self.uow, self.metrics)
            self.revocations.broadcast_with(self.revocation_bus.publish, self.revocation_bus.subscribed)

    # -- lifecycle --------------------------------------------------------------------------------
    async def start(self) -> None:
        """Load keys (creating the first under a lock) and revocations, then start the workers."""
        settings = self.settings
        if self.keycloak is None:
            await self.ensure_signing_key()
        else:
            await self.access_tokens.reload_keys()  # Keycloak's JWKS, once; later only for an unknown kid
        await self.revocations.sync(self.uow)
        if self.fast_connections is not None:
            await self.fast_connections.warm()
        if settings.bootstrap_admin_email and settings.bootstrap_admin_password:
            try:
                created = await self.create_admin(CreateAdmin(
                    settings.bootstrap_admin_email, settings.bootstrap_admin_password, only_if_no_admin=True))
            except ServiceUnavailableError:  # Keycloak down: serve anyway, the next start tries again
                log.warning("bootstrap_admin_deferred", reason="identity provider unavailable")
            else:
                if created:
                    log.info("bootstrap_admin_created", user_id=created)
        stopping = self._stopping
        self._spawn(self.outbox_worker.run(stopping))
        if self.keycloak is None:
            self._spawn(self.key_store.run_reloader(self.uow, self.clock, settings.key_reload_interval, stopping))
        self._spawn(self.revocations.run_poller(self.uow, settings.revocation_poll_interval, stopping))
        if self.revocation_bus is not None:
            # Not stopped cooperatively: it waits on Redis, not inside a database transaction.
            self._listener = asyncio.create_task(self.revocation_bus.run())
        self._spawn(self._sweep_successors())
        self._spawn(self.audit_chain.run(AUDIT_LINK_INTERVAL, stopping))
        self._spawn(self._purge_daily())

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        self._tasks.append(asyncio.create_task(coroutine))

    async def stop(self) -> None:
        """Let the workers finish their current pass, then cancel what is left (e.g. a Redis read)."""
        self._stopping.set()
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._listener
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=STOP_GRACE)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        if self.hibp is not None:
            await self.hibp.aclose()
        if self.revocation_bus is not None:
            await self.revocation_bus.close()
        self.hasher.close()
        if self.keycloak is not None:
            await self.keycloak.aclose()
        if self.fast_connections is not None:
            await self.fast_connections.close()
        await self.engine.dispose()

    async def _sweep_successors(self) -> None:
        """Erase encrypted refresh successors once their reuse interval is over (SPEC §3)."""
        while True:
            await self._stopping.sleep(SUCCESSOR_SWEEP_INTERVAL)
            if self._stopping.is_set:
                return
            try:
                async with self.uow() as uow:
                    await uow.refresh_tokens.erase_successors(self.clock.now() - self.config.refresh_reuse_interval)
                    await uow.commit()
            except Exception as exc:
                log.warning("successor_sweep_failed", error=type(exc).__name__)

    # -- operations -------------------------------------------------------------------------------
    async def ensure_signing_key(self) -> None:
        """Create the first signing key under a lock, or import JWT_SIGNING_KEY_FILE (start and `migrate`)."""
        pem = None
        if self.settings.jwt_signing_key_file:
            pem = await asyncio.to_thread(Path(self.settings.jwt_signing_key_file).read_bytes)
        await self.key_store.ensure_key(self.uow, self.clock, self.settings.jwt_algorithm, self.box, pem)

    async def rotate_keys(self, *, now: bool) -> str:
        await self.key_store.load(self.uow, self.clock)
        return await self.key_store.rotate(self.uow, self.clock, self.settings.jwt_algorithm, self.box,
                                           self.settings.key_prepublish, now_flag=now)

    async def purge_audit(self, retention_days: int | None = None) -> int:
        days = self.settings.audit_retention_days if retention_days is None else retention_days
        now = self.clock.now()
        return await self.audit_chain.purge(now - timedelta(days=days), now, RequestContext())

    async def _purge_daily(self) -> None:
        """Retention (SPEC §6): every instance tries daily; the chain lock makes one of them do it."""
        while True:
            await self._stopping.sleep(AUDIT_PURGE_INTERVAL)
            if self._stopping.is_set:
                return
            try:
                await self.purge_audit()
            except Exception as exc:
                log.warning("audit_purge_failed", error=type(exc).__name__)

    async def reencrypt_secrets(self) -> dict[str, int]:
        return await reencrypt_all(self.sessionmaker, self.box)

    async def revoke_key(self, kid: str) -> bool:
        return await self.key_store.revoke(self.uow, self.clock, kid)

    def jwks(self) -> dict[str, Any]:
        if isinstance(self.access_tokens, KeycloakAccessTokens):
            return self.access_tokens.jwks()
        return self.key_store.ring.jwks()

    @property
    def issuer(self) -> str:
        return self.keycloak.issuer if self.keycloak is not None else self.settings.issuer

    @property
    def jwks_uri(self) -> str:
        if self.keycloak is not None:
            return f"{self.keycloak.issuer}/protocol/openid-connect/certs"
        return f"{self.settings.public_base_url.rstrip('/')}/.well-known/jwks.json"

    async def readiness(self) -> dict[str, str]:
        checks = {"database": "ok", "cache": "ok"}
        try:
            async with asyncio.timeout(2):
                async with self.engine.connect() as connection:
                    await connection.execute(text("SELECT 1"))
        except Exception:
            checks["database"] = "unavailable"
        if self.revocation_bus is not None and not await self.revocation_bus.ping():
            checks["cache"] = "unavailable"
        return checks

    async def refresh_gauges(self) -> None:
        with contextlib.suppress(Exception):
            async with self.sessionmaker() as session:
                self.metrics.set_active_sessions(await SqlSessionRepository(session).count_live(self.clock.now()))

    @property
    def http_metrics(self) -> PrometheusMetrics:
        return self.metrics


def keycloak_gateway(settings: Settings) -> KeycloakGateway:
    """Imported here: python-keycloak costs about 11 MB per worker, wasted in local mode."""
    from auth_service.infrastructure.keycloak.identity import KeycloakGateway

    missing = keycloak_missing(settings)
    if missing:
        raise ConfigurationError(f"{missing[0]}: required with IDENTITY_PROVIDER=keycloak")
    assert settings.keycloak_url and settings.keycloak_realm and settings.keycloak_auth_client_id
    assert settings.keycloak_backend_client_id and settings.keycloak_backend_client_secret
    return KeycloakGateway(settings.keycloak_url, settings.keycloak_realm, settings.keycloak_auth_client_id,
                           settings.keycloak_auth_client_secret, settings.keycloak_backend_client_id,
                           settings.keycloak_backend_client_secret)


def build_container(settings: Settings, **overrides: Any) -> Container:
    return Container(settings, **overrides)


def build_from_environment() -> Container:
    """Settings from the environment and config files; logging configured once per process."""
    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format)
    return Container(settings)


__all__ = ["AccessLog", "ConfigurationError", "Container", "Settings", "build_container", "build_from_environment",
           "configure_logging", "load_settings", "production_problems", "request_log_fields", "upgrade_to_head"]
