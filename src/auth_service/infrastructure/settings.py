"""Configuration: environment over {CONFIG_DIR}/{APP_ENV}.toml over {CONFIG_DIR}/default.toml
over the packaged defaults (SPEC §8). Secrets may also come from `<NAME>_FILE`."""

from __future__ import annotations

import ipaddress
import os
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

DEV_SECRET_KEY = "development-only-insecure-secret-key-change-me!"
_SECRET_FIELDS = (
    "secret_key",
    "secret_key_fallbacks",
    "smtp_password",
    "metrics_token",
    "introspection_clients",
    "keycloak_auth_client_secret",
    "keycloak_backend_client_secret",
    "bootstrap_admin_password",
    "database_url",
    "redis_url",
)

CommaList = Annotated[list[str], NoDecode]


class ConfigurationError(Exception):
    """A setting that makes the service unsafe or unable to start; the message names it."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", case_sensitive=False, frozen=True)

    app_env: Literal["development", "test", "production"] = "development"
    database_url: str = "sqlite+aiosqlite:///./var/auth.db"
    redis_url: str | None = None
    server_host: str = "127.0.0.1"
    server_port: int = 3000
    log_level: str = "info"
    log_format: Literal["json", "console"] = "json"
    identity_provider: Literal["local", "keycloak"] = "local"

    jwt_algorithm: Literal["RS256", "ES256", "EdDSA"] = "RS256"
    jwt_issuer: str | None = None
    jwt_audience: str = "auth-service"
    jwt_signing_key_file: str | None = None
    secret_key: str | None = None
    secret_key_fallbacks: CommaList = Field(default_factory=list)
    key_prepublish: int = 300
    key_reload_interval: float = 30.0

    lockout_threshold: int = 5
    lockout_base: int = 60
    lockout_max: int = 900
    lockout_reset: int = 43200
    session_max_lifetime: int = 2592000

    argon2_memory_kib: int = 19456
    argon2_time_cost: int = 2
    argon2_parallelism: int = 1
    argon2_max_concurrent: int = Field(default_factory=lambda: os.cpu_count() or 1)
    argon2_max_queue: int = 256

    introspection_clients: CommaList = Field(default_factory=list)
    metrics_token: str | None = None
    docs_enabled: bool | None = None

    access_token_ttl: int = 900
    refresh_token_ttl: int = 604800
    refresh_reuse_interval: int = 10
    verification_ttl: int = 86400
    resend_cooldown: int = 60
    resend_max: int = 5
    verification_max_attempts: int = 5
    reset_token_ttl: int = 3600
    invitation_ttl: int = 604800

    mail_backend: Literal["console", "smtp"] = "console"
    smtp_host: str = "localhost"
    smtp_port: int = 25
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    smtp_timeout: float = 10.0
    mail_from: str = "no-reply@localhost"
    outbox_poll_interval: float = 1.0
    outbox_max_attempts: int = 10

    public_base_url: str = "http://localhost:3000"
    frontend_url: str | None = None

    rate_limit_enabled: bool = True
    rate_limit_login: str = "10/minute"
    rate_limit_register: str = "5/minute"
    rate_limit_forgot: str = "5/hour"
    rate_limit_refresh: str = "60/minute"
    rate_limit_default: str = "600/minute"
    trusted_proxies: CommaList = Field(default_factory=list)
    cors_origins: CommaList = Field(default_factory=list)

    hibp_enabled: bool = False
    hibp_api_url: str = "https://api.pwnedpasswords.com"
    hibp_timeout: float = 2.0
    audit_retention_days: int = 365
    revocation_poll_interval: float = 2.0

    bootstrap_admin_email: str | None = None
    bootstrap_admin_password: str | None = None

    keycloak_url: str | None = None
    keycloak_realm: str | None = None
    keycloak_auth_client_id: str | None = None
    keycloak_auth_client_secret: str | None = None
    keycloak_backend_client_id: str | None = None
    keycloak_backend_client_secret: str | None = None

    @field_validator("secret_key_fallbacks", "introspection_clients", "trusted_proxies", "cors_origins",
                     mode="before")
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _valid_networks(cls, value: list[str]) -> list[str]:
        for item in value:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError as exc:
                raise ValueError(f"TRUSTED_PROXIES: {item!r} is not an IP address or CIDR") from exc
        return value

    @field_validator("secret_key")
    @classmethod
    def _long_enough(cls, value: str | None) -> str | None:
        if value is not None and len(value) < 32:
            raise ValueError("must be at least 32 characters")
        return value

    # -- derived values ---------------------------------------------------------------------------
    @property
    def issuer(self) -> str:
        return self.jwt_issuer or self.public_base_url.rstrip("/")

    @property
    def frontend_base(self) -> str:
        return (self.frontend_url or self.public_base_url).rstrip("/")

    @property
    def effective_secret_key(self) -> str:
        return self.secret_key or DEV_SECRET_KEY

    @property
    def show_docs(self) -> bool:
        return self.docs_enabled if self.docs_enabled is not None else self.app_env != "production"

    @property
    def introspection_credentials(self) -> dict[str, str]:
        pairs = (item.partition(":") for item in self.introspection_clients)
        return {client: secret for client, _, secret in pairs if client and secret}

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        config_dir = Path(os.environ.get("CONFIG_DIR", "config"))
        app_env = os.environ.get("APP_ENV", "development")
        packaged = resources.files("auth_service") / "data" / "default.toml"
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings, _SecretFileSource(settings_cls)]
        for path in (config_dir / f"{app_env}.toml", config_dir / "default.toml", Path(str(packaged))):
            if path.is_file():
                sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)


class _SecretFileSource(PydanticBaseSettingsSource):
    """`SECRET_KEY_FILE=/run/secrets/key` reads SECRET_KEY from that file (trailing newline dropped)."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:  # pragma: no cover
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name in _SECRET_FIELDS:
            path = os.environ.get(f"{name.upper()}_FILE")
            if path and os.environ.get(name.upper()) is None:
                try:
                    values[name] = Path(path).read_text(encoding="utf-8").rstrip("\r\n")
                except OSError as exc:
                    raise ConfigurationError(f"{name.upper()}_FILE: cannot read {path}: {exc.strerror}") from exc
        return values


def _is_plain_http_remote(url: str) -> bool:
    if not url.startswith("http://"):
        return False
    host = url[len("http://"):].split("/", 1)[0].rsplit(":", 1)[0].strip("[]")
    return host not in {"localhost", "127.0.0.1"}


def production_problems(settings: Settings) -> list[str]:
    """What makes these settings unfit for production, one line each naming the variable."""
    problems: list[str] = []
    if settings.is_sqlite:
        problems.append("DATABASE_URL: an embedded SQLite database is not allowed in production")
    if settings.mail_backend == "console":
        problems.append("MAIL_BACKEND: the console mailer is not allowed in production")
    if not settings.redis_url:
        problems.append("REDIS_URL: required in production (shared rate limits and revocations)")
    if not settings.secret_key:
        problems.append("SECRET_KEY: required in production")
    for name, url in (("PUBLIC_BASE_URL", settings.public_base_url), ("FRONTEND_URL", settings.frontend_url),
                      ("JWT_ISSUER", settings.jwt_issuer)):
        if url and _is_plain_http_remote(url):
            problems.append(f"{name}: must use https:// in production")
    if (settings.smtp_username or settings.smtp_password) and not settings.smtp_starttls:
        problems.append("SMTP_STARTTLS: SMTP credentials must not be sent without STARTTLS")
    if not settings.rate_limit_enabled:
        problems.append("RATE_LIMIT_ENABLED: rate limiting cannot be turned off in production")
    return problems


def load_settings(**overrides: Any) -> Settings:
    """Read the configuration; raise ConfigurationError with one clear line when it is unusable."""
    from pydantic import ValidationError

    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = str(first["loc"][0]).upper() if first["loc"] else "configuration"
        message = str(first["msg"]).removeprefix("Value error, ")
        raise ConfigurationError(f"{name}: {message}") from None
    if settings.app_env == "production":
        problems = production_problems(settings)
        if problems:
            raise ConfigurationError(problems[0])
    missing = keycloak_missing(settings)
    if missing:
        raise ConfigurationError(f"{missing[0]}: required with IDENTITY_PROVIDER=keycloak")
    return settings


def keycloak_missing(settings: Settings) -> list[str]:
    """The Keycloak variables that Keycloak mode cannot run without (SPEC §9)."""
    if settings.identity_provider != "keycloak":
        return []
    required = ("keycloak_url", "keycloak_realm", "keycloak_auth_client_id", "keycloak_backend_client_id",
                "keycloak_backend_client_secret")
    return [name.upper() for name in required if not getattr(settings, name)]
