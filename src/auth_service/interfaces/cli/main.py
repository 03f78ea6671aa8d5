"""The `auth-service` command line (SPEC §8)."""

from __future__ import annotations

import asyncio
import getpass
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer

from auth_service.bootstrap import ConfigurationError, Container, Settings, configure_logging, load_settings

app = typer.Typer(help="auth-service: authentication and authorization microservice.", no_args_is_help=True,
                  add_completion=False, pretty_exceptions_enable=False)
keys_app = typer.Typer(help="Signing keys.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
audit_app = typer.Typer(help="The audit trail.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")
secrets_app = typer.Typer(help="Data encrypted at rest with SECRET_KEY.", no_args_is_help=True)
app.add_typer(secrets_app, name="secrets")
keycloak_app = typer.Typer(help="Keycloak identity mode.", no_args_is_help=True)
app.add_typer(keycloak_app, name="keycloak")

T = TypeVar("T")


def _settings() -> Settings:
    try:
        settings = load_settings()
    except ConfigurationError as exc:
        typer.echo(f"auth-service: configuration error: {exc}", err=True)
        raise typer.Exit(2) from None
    configure_logging(settings.log_level, settings.log_format)
    return settings


def _local_keys_only(settings: Settings) -> Settings:
    if settings.identity_provider == "keycloak":
        typer.echo("auth-service: in Keycloak mode Keycloak signs the tokens: rotate its realm keys there",
                   err=True)
        raise typer.Exit(2)
    return settings


def _with_container(settings: Settings, action: Callable[[Container], Awaitable[T]]) -> T:
    async def run() -> T:
        container = Container(settings)
        try:
            return await action(container)
        finally:
            await container.stop()

    return asyncio.run(run())


def _migrate(settings: Settings) -> None:
    """The schema, then the first signing key (SPEC §3: keys are created by `migrate` or the first start)."""
    from auth_service.bootstrap import upgrade_to_head

    upgrade_to_head(settings.database_url)

    async def action(container: Container) -> None:
        await container.ensure_signing_key()

    if settings.identity_provider == "local":  # Keycloak mode signs nothing itself
        _with_container(settings, action)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (SERVER_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (SERVER_PORT).")] = None,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes; more than 1 needs REDIS_URL.")] = 1,
) -> None:
    """Serve the HTTP API."""
    import uvicorn

    settings = _settings()
    if workers > 1 and not settings.redis_url:
        typer.echo("auth-service: configuration error: REDIS_URL: required with --workers > 1 "
                   "(rate limits and revocations must be shared)", err=True)
        raise typer.Exit(2)
    if settings.is_sqlite:
        _migrate(settings)  # the embedded database needs no separate set-up step
    uvicorn.run(
        "auth_service.interfaces.http.asgi:app_factory",
        factory=True,
        host=host or settings.server_host,
        port=port or settings.server_port,
        workers=workers,
        proxy_headers=False,  # the app resolves the client IP from TRUSTED_PROXIES itself
        server_header=False,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=30,
    )


@app.command()
def migrate() -> None:
    """Apply database migrations (creates the database schema)."""
    settings = _settings()
    _migrate(settings)
    typer.echo("migrations applied")


@app.command("create-admin")
def create_admin(
    email: Annotated[str, typer.Option(help="The administrator's e-mail address.")],
    password: Annotated[str | None, typer.Option(help="The password (prefer --password-file or the prompt).")] = None,
    password_file: Annotated[Path | None, typer.Option(help="Read the password from this file.")] = None,
) -> None:
    """Create an active administrator."""
    from auth_service.application.commands.create_admin import CreateAdmin
    from auth_service.domain.errors import DomainError

    settings = _settings()
    if password_file is not None:
        password = password_file.read_text(encoding="utf-8").rstrip("\r\n")
    elif password is None:
        password = getpass.getpass("Password: ")
        if getpass.getpass("Repeat password: ") != password:
            typer.echo("auth-service: the passwords differ", err=True)
            raise typer.Exit(1)
    secret = password

    async def action(container: Container) -> str | None:
        return await container.create_admin(CreateAdmin(email=email, password=secret))

    try:
        user_id = _with_container(settings, action)
    except DomainError as exc:
        reasons = exc.details.get("reasons") if exc.details else None
        typer.echo(f"auth-service: {exc.code}: {exc.message}" + (f" {reasons}" if reasons else ""), err=True)
        raise typer.Exit(1) from None
    typer.echo(f"created admin {user_id}")


@app.command("rotate-keys")
def rotate_keys(
    now: Annotated[bool, typer.Option("--now", help="Sign with the new key at once (emergency).")] = False,
) -> None:
    """Publish a new signing key; it signs after KEY_PREPUBLISH seconds (at once with --now)."""
    settings = _local_keys_only(_settings())

    async def action(container: Container) -> str:
        return await container.rotate_keys(now=now)

    kid = _with_container(settings, action)
    when = "now" if now else f"in {settings.key_prepublish} s"
    typer.echo(f"new signing key {kid} published; it signs {when}")


@keys_app.command("revoke")
def revoke_key(kid: str) -> None:
    """Pull a compromised key: tokens it signed stop validating."""
    settings = _local_keys_only(_settings())

    async def action(container: Container) -> tuple[bool, str | None]:
        if not await container.revoke_key(kid):
            return False, None
        # Pulling the key that signs now must not leave the service unable to sign: put a new one in its place.
        if container.key_store.ring.signing_key is None:
            return True, await container.rotate_keys(now=True)
        return True, None

    revoked, replacement = _with_container(settings, action)
    if not revoked:
        typer.echo(f"auth-service: no active key {kid}", err=True)
        raise typer.Exit(1)
    typer.echo(f"key {kid} revoked")
    if replacement is not None:
        typer.echo(f"new signing key {replacement} published; it signs now")


@keycloak_app.command("sync")
def keycloak_sync() -> None:
    """Create or link a user here for every Keycloak account, and write role, company and scopes back."""
    settings = _settings()
    if settings.identity_provider != "keycloak":
        typer.echo("auth-service: keycloak sync needs IDENTITY_PROVIDER=keycloak", err=True)
        raise typer.Exit(2)

    async def action(container: Container) -> str:
        report = await container.sync_accounts()
        return (f"created {report.created}, linked {report.linked}, updated {report.updated}, "
                f"skipped {report.skipped_unverified} unverified")

    typer.echo(_with_container(settings, action))


@secrets_app.command("reencrypt")
def reencrypt_secrets() -> None:
    """Re-encrypt everything under the current SECRET_KEY (then drop old ones from SECRET_KEY_FALLBACKS)."""
    settings = _settings()

    async def action(container: Container) -> dict[str, int]:
        return await container.reencrypt_secrets()

    counts = _with_container(settings, action)
    typer.echo("re-encrypted: " + ", ".join(f"{table} {count}" for table, count in counts.items()))


@audit_app.command("verify")
def audit_verify() -> None:
    """Check the audit chain: prints "ok", or the first broken record and exits 1."""
    settings = _settings()

    async def action(container: Container) -> tuple[bool, int, str | None, str | None]:
        await container.audit_chain.link_pending()
        report = await container.audit_chain.verify()
        return report.ok, report.checked, report.broken_id, report.reason

    ok, checked, broken_id, reason = _with_container(settings, action)
    if not ok:
        typer.echo(f"broken at {broken_id or 'the checkpoint'}: {reason} (after {checked} good records)")
        raise typer.Exit(1)
    typer.echo(f"ok ({checked} records)")


@audit_app.command("purge")
def audit_purge(
    days: Annotated[int | None, typer.Option(min=0, help="Keep this many days (AUDIT_RETENTION_DAYS).")] = None,
) -> None:
    """Delete audit records older than the retention, leaving a signed checkpoint."""
    settings = _settings()

    async def action(container: Container) -> int:
        return await container.purge_audit(days)

    typer.echo(f"purged {_with_container(settings, action)} records")


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:  # pragma: no cover
        sys.exit(130)
