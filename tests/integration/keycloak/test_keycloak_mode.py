"""Keycloak identity mode over HTTP (SPEC §9), against the Keycloak emulator: a real HTTP server
speaking Keycloak's REST API. Runs on SQLite and on PostgreSQL like the other integration tests."""

from __future__ import annotations

from typing import Any

import httpx
import jwt
import pytest
from sqlalchemy import inspect, select, text

from auth_service.bootstrap import Container
from auth_service.domain.ids import session_id_for
from tests.doubles import FixedClock, Mailbox
from tests.integration.http.flows import (
    API,
    OTHER_PASSWORD,
    PASSWORD,
    bearer,
    error_code,
    link_token,
    login,
    register,
    register_verified,
)
from tests.integration.http.test_audit_completeness import audit_refuses_registrations  # noqa: F401
from tests.keycloak_emulator import KeycloakEmulator

ADA = "ada@example.com"
BOB = "bob@example.com"
ADMIN = "root@example.com"


@pytest.fixture
def settings_overrides(keycloak: KeycloakEmulator) -> dict[str, Any]:
    return {
        "identity_provider": "keycloak",
        "keycloak_url": keycloak.url,
        "keycloak_realm": keycloak.realm,
        "keycloak_auth_client_id": "auth-client",
        "keycloak_backend_client_id": "backend-admin",
        "keycloak_backend_client_secret": keycloak.client_secret("backend-admin"),
    }


async def users_row(container: Container, email: str) -> dict[str, Any] | None:
    async with container.engine.connect() as connection:
        row = (await connection.execute(text("SELECT * FROM users WHERE email = :email"), {"email": email})).first()
    return dict(row._mapping) if row is not None else None


async def admin_tokens(container: Container, client: httpx.AsyncClient) -> dict[str, Any]:
    from auth_service.application.commands.create_admin import CreateAdmin

    await container.create_admin(CreateAdmin(ADMIN, PASSWORD))
    return await login(client, ADMIN)


# -- registration, verification, login ----------------------------------------------------------
async def test_registration_creates_a_pending_keycloak_user_that_must_verify_its_email(
    client: httpx.AsyncClient, container: Container, keycloak: KeycloakEmulator
) -> None:
    response = await register(client, ADA)

    assert response.status_code == 201, response.text
    kc_user = keycloak.user_by_email(ADA)
    assert kc_user is not None
    assert kc_user["emailVerified"] is False and kc_user["requiredActions"] == ["VERIFY_EMAIL"]
    assert kc_user["enabled"] is True  # not disabled: that would answer before the password check
    assert kc_user["attributes"]["user_id"] == [response.json()["user_id"]]
    assert kc_user["attributes"]["roles"] == ["user"]
    row = await users_row(container, ADA)
    assert row is not None and row["keycloak_id"] == kc_user["id"] and row["status"] == "pending_verification"


async def test_a_pending_user_hears_email_not_verified_only_after_the_correct_password(
    client: httpx.AsyncClient,
) -> None:
    await register(client, ADA)

    wrong = await client.post(f"{API}/auth/login", json={"email": ADA, "password": OTHER_PASSWORD})
    right = await client.post(f"{API}/auth/login", json={"email": ADA, "password": PASSWORD})

    assert (wrong.status_code, error_code(wrong)) == (401, "invalid_credentials")
    assert (right.status_code, error_code(right)) == (403, "email_not_verified")


async def test_verification_marks_the_keycloak_user_verified_and_login_returns_keycloak_tokens(
    client: httpx.AsyncClient, mailbox: Mailbox, keycloak: KeycloakEmulator
) -> None:
    user_id = await register_verified(client, mailbox, ADA)

    kc_user = keycloak.user_by_email(ADA)
    assert kc_user is not None and kc_user["emailVerified"] is True and kc_user["requiredActions"] == []
    tokens = await login(client, ADA)
    claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    assert claims["iss"] == keycloak.issuer and claims["typ"] == "Bearer"
    assert claims["user_id"] == user_id and claims["roles"] == ["user"]
    assert tokens["id_token"] and tokens["session_id"] == session_id_for(claims["sid"])
    me = await client.get(f"{API}/users/me", headers=bearer(tokens["access_token"]))
    assert me.status_code == 200 and me.json()["id"] == user_id
    valid = await client.get(f"{API}/auth/validate-token", headers=bearer(tokens["access_token"]))
    assert valid.status_code == 200 and valid.json()["claims"]["user_id"] == user_id


async def test_registering_an_email_keycloak_already_has_is_email_taken(
    client: httpx.AsyncClient, container: Container, keycloak: KeycloakEmulator
) -> None:
    keycloak.add_user(email=ADA, password=PASSWORD)

    response = await register(client, ADA)

    assert (response.status_code, error_code(response)) == (409, "email_taken")
    assert await users_row(container, ADA) is None


async def test_an_expired_verification_answers_410_and_deletes_the_keycloak_user(
    client: httpx.AsyncClient, mailbox: Mailbox, clock: FixedClock, keycloak: KeycloakEmulator
) -> None:
    await register(client, ADA)
    message = await mailbox.wait_for(ADA, "Verify your email")
    clock.advance(24 * 3600 + 1)

    response = await client.post(f"{API}/auth/verify-email", json={"token": link_token(message)})

    assert response.status_code == 410, response.text
    assert keycloak.user_by_email(ADA) is None
    again = await register(client, ADA)  # the address is free again, here and in Keycloak
    assert again.status_code == 201, again.text
    assert keycloak.user_by_email(ADA) is not None


async def test_an_id_token_is_never_accepted_as_a_bearer_token(client: httpx.AsyncClient, mailbox: Mailbox) -> None:
    await register_verified(client, mailbox, ADA)
    tokens = await login(client, ADA)

    for token in (tokens["id_token"], tokens["refresh_token"]):
        response = await client.get(f"{API}/users/me", headers=bearer(token))
        assert (response.status_code, error_code(response)) == (401, "invalid_token")


async def test_a_token_of_another_client_or_issuer_is_refused(
    client: httpx.AsyncClient, mailbox: Mailbox, keycloak: KeycloakEmulator
) -> None:
    user_id = await register_verified(client, mailbox, ADA)
    tokens = await login(client, ADA)
    claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})

    for change in ({"azp": "backend-admin"}, {"iss": "http://evil.example/realms/myrealm"}):
        forged = keycloak.sign({**claims, **change, "user_id": user_id}, typ="JWT")
        response = await client.get(f"{API}/users/me", headers=bearer(forged))
        assert response.status_code == 401, change


# -- sessions ------------------------------------------------------------------------------------
async def test_refresh_logout_and_revocation_go_through_keycloak_and_the_session_rows(
    client: httpx.AsyncClient, mailbox: Mailbox, keycloak: KeycloakEmulator
) -> None:
    await register_verified(client, mailbox, ADA)
    tokens = await login(client, ADA)
    kc_id = keycloak.user_by_email(ADA)["id"]  # type: ignore[index]

    refreshed = await client.post(f"{API}/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 200, refreshed.text
    assert refreshed.json()["session_id"] == tokens["session_id"]
    sessions = await client.get(f"{API}/users/me/sessions", headers=bearer(refreshed.json()["access_token"]))
    assert [s["id"] for s in sessions.json()["items"]] == [tokens["session_id"]]

    out = await client.post(
        f"{API}/auth/logout",
        headers=bearer(refreshed.json()["access_token"]),
        json={"refresh_token": refreshed.json()["refresh_token"]},
    )
    assert out.status_code in (200, 204), out.text
    assert keycloak.sessions_of(kc_id) == []
    for token in (tokens["access_token"], refreshed.json()["access_token"]):
        response = await client.get(f"{API}/users/me", headers=bearer(token))
        assert (response.status_code, error_code(response)) == (401, "token_revoked")
    again = await client.post(f"{API}/auth/refresh", json={"refresh_token": refreshed.json()["refresh_token"]})
    assert again.status_code == 401


async def test_rfc7009_revocation_of_a_keycloak_refresh_token_ends_the_session_in_both_places(
    client: httpx.AsyncClient, mailbox: Mailbox, keycloak: KeycloakEmulator
) -> None:
    await register_verified(client, mailbox, ADA)
    tokens = await login(client, ADA)

    response = await client.post(f"{API}/auth/revoke", data={"token": tokens["refresh_token"]})

    assert response.status_code == 200
    assert keycloak.sessions_of(keycloak.user_by_email(ADA)["id"]) == []  # type: ignore[index]
    me = await client.get(f"{API}/users/me", headers=bearer(tokens["access_token"]))
    assert (me.status_code, error_code(me)) == (401, "token_revoked")


async def test_logout_all_ends_every_keycloak_session(
    client: httpx.AsyncClient, mailbox: Mailbox, keycloak: KeycloakEmulator
) -> None:
    await register_verified(client, mailbox, ADA)
    first, second = await login(client, ADA), await login(client, ADA)
    kc_id = keycloak.user_by_email(ADA)["id"]  # type: ignore[index]
    assert len(keycloak.sessions_of(kc_id)) == 2

    response = await client.post(f"{API}/auth/logout-all", headers=bearer(first["access_token"]))

    assert response.status_code in (200, 204), response.text
    assert keycloak.sessions_of(kc_id) == []
    me = await client.get(f"{API}/users/me", headers=bearer(second["access_token"]))
    assert error_code(me) == "token_revoked"


# -- administration reaches Keycloak ---------------------------------------------------------------
async def test_a_role_change_here_reaches_the_keycloak_users_attributes_and_tokens(
    client: httpx.AsyncClient, container: Container, mailbox: Mailbox, keycloak: KeycloakEmulator
) -> None:
    user_id = await register_verified(client, mailbox, ADA)
    admin = await admin_tokens(container, client)

    response = await client.put(
        f"{API}/users/{user_id}/role", headers=bearer(admin["access_token"]), json={"role": "admin"}
    )

    assert response.status_code == 200, response.text
    assert keycloak.user_by_email(ADA)["attributes"]["roles"] == ["admin"]  # type: ignore[index]
    tokens = await login(client, ADA)
    assert jwt.decode(tokens["access_token"], options={"verify_signature": False})["roles"] == ["admin"]


async def test_deleting_a_user_disables_it_in_keycloak(
    client: httpx.AsyncClient, container: Container, mailbox: Mailbox, keycloak: KeycloakEmulator
) -> None:
    user_id = await register_verified(client, mailbox, ADA)
    admin = await admin_tokens(container, client)

    response = await client.delete(f"{API}/users/{user_id}", headers=bearer(admin["access_token"]))

    assert response.status_code in (200, 204), response.text
    assert keycloak.user_by_email(ADA)["enabled"] is False  # type: ignore[index]
    refused = await client.post(f"{API}/auth/login", json={"email": ADA, "password": PASSWORD})
    assert refused.status_code == 401


# -- passwords -----------------------------------------------------------------------------------
async def test_password_reset_and_change_go_through_the_admin_api(
    client: httpx.AsyncClient, mailbox: Mailbox, keycloak: KeycloakEmulator
) -> None:
    await register_verified(client, mailbox, ADA)
    kc_id = keycloak.user_by_email(ADA)["id"]  # type: ignore[index]

    await client.post(f"{API}/auth/forgot-password", json={"email": ADA})
    message = await mailbox.wait_for(ADA, "Reset your password")
    reset = await client.post(
        f"{API}/auth/reset-password", json={"token": link_token(message), "new_password": OTHER_PASSWORD}
    )
    assert reset.status_code == 200, reset.text
    assert keycloak.check_password(kc_id, OTHER_PASSWORD)
    tokens = await login(client, ADA, OTHER_PASSWORD)

    wrong = await client.post(
        f"{API}/auth/change-password",
        headers=bearer(tokens["access_token"]),
        json={"current_password": PASSWORD, "new_password": PASSWORD},
    )
    assert (wrong.status_code, error_code(wrong)) == (400, "invalid_credentials")
    changed = await client.post(
        f"{API}/auth/change-password",
        headers=bearer(tokens["access_token"]),
        json={"current_password": OTHER_PASSWORD, "new_password": PASSWORD},
    )
    assert changed.status_code == 200, changed.text
    assert keycloak.check_password(kc_id, PASSWORD)


async def test_a_password_change_ends_the_other_keycloak_sessions_and_keeps_this_one(
    client: httpx.AsyncClient, mailbox: Mailbox, keycloak: KeycloakEmulator
) -> None:
    await register_verified(client, mailbox, ADA)
    this, other = await login(client, ADA), await login(client, ADA)
    kc_id = keycloak.user_by_email(ADA)["id"]  # type: ignore[index]

    changed = await client.post(
        f"{API}/auth/change-password",
        headers=bearer(this["access_token"]),
        json={"current_password": PASSWORD, "new_password": OTHER_PASSWORD},
    )

    assert changed.status_code == 200, changed.text
    this_sid = jwt.decode(this["access_token"], options={"verify_signature": False})["sid"]
    assert [s["id"] for s in keycloak.sessions_of(kc_id)] == [this_sid]
    refreshed = await client.post(f"{API}/auth/refresh", json={"refresh_token": this["refresh_token"]})
    assert refreshed.status_code == 200, refreshed.text
    gone = await client.post(f"{API}/auth/refresh", json={"refresh_token": other["refresh_token"]})
    assert gone.status_code == 401


# -- just-in-time creation and sync ----------------------------------------------------------------
async def test_a_keycloak_user_logging_in_for_the_first_time_is_created_here_just_in_time(
    client: httpx.AsyncClient, container: Container, keycloak: KeycloakEmulator
) -> None:
    kc_id = keycloak.add_user(email=BOB, password=PASSWORD, first_name="Bob")

    tokens = await login(client, BOB)

    row = await users_row(container, BOB)
    assert row is not None and row["keycloak_id"] == kc_id and row["status"] == "active"
    assert row["role"] == "user" and row["password_hash"] is None
    claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    assert claims["user_id"] == row["id"]  # the attributes were written, then the tokens refreshed
    me = await client.get(f"{API}/users/me", headers=bearer(tokens["access_token"]))
    assert me.status_code == 200 and me.json()["email"] == BOB


async def test_keycloak_sync_creates_links_and_writes_back(
    client: httpx.AsyncClient, container: Container, mailbox: Mailbox, keycloak: KeycloakEmulator
) -> None:
    keycloak.add_user(email=BOB, password=PASSWORD, attributes={"roles": ["admin"]})
    keycloak.add_user(email="carol@example.com", password=PASSWORD, email_verified=False)
    await register_verified(client, mailbox, ADA)

    report = await container.sync_accounts()

    assert (report.created, report.updated, report.skipped_unverified) == (1, 1, 1)
    bob = await users_row(container, BOB)
    assert bob is not None and bob["role"] == "admin"
    assert keycloak.user_by_email(BOB)["attributes"]["user_id"] == [bob["id"]]  # type: ignore[index]


# -- compensation ----------------------------------------------------------------------------------
async def test_keycloak_failing_on_user_creation_leaves_no_database_user(
    client: httpx.AsyncClient, container: Container, keycloak: KeycloakEmulator
) -> None:
    keycloak.fail_next("create_user", 500)

    response = await register(client, ADA)

    assert (response.status_code, error_code(response)) == (503, "service_unavailable")
    assert await users_row(container, ADA) is None
    assert keycloak.user_by_email(ADA) is None


@pytest.mark.usefixtures("audit_refuses_registrations")
async def test_the_database_failing_after_keycloak_created_the_user_deletes_it_again(
    client: httpx.AsyncClient, container: Container, keycloak: KeycloakEmulator
) -> None:
    response = await register(client, ADA)

    assert response.status_code == 500
    assert keycloak.count("create_user") == 1
    assert keycloak.user_by_email(ADA) is None
    assert await users_row(container, ADA) is None


async def test_keycloak_down_at_login_is_503_not_a_wrong_password(
    client: httpx.AsyncClient, mailbox: Mailbox, keycloak: KeycloakEmulator
) -> None:
    await register_verified(client, mailbox, ADA)
    keycloak.fail_next("token", 503)

    response = await client.post(f"{API}/auth/login", json={"email": ADA, "password": PASSWORD})

    assert (response.status_code, error_code(response)) == (503, "service_unavailable")


# -- JWKS ------------------------------------------------------------------------------------------
async def test_the_jwks_is_fetched_once_for_many_validations(
    client: httpx.AsyncClient, mailbox: Mailbox, keycloak: KeycloakEmulator
) -> None:
    await register_verified(client, mailbox, ADA)
    tokens = [await login(client, ADA) for _ in range(3)]
    fetched = keycloak.jwks_fetches

    for pair in tokens * 5:
        response = await client.get(f"{API}/users/me", headers=bearer(pair["access_token"]))
        assert response.status_code == 200

    assert keycloak.jwks_fetches == fetched == 1


async def test_a_key_rotation_is_picked_up_through_the_unknown_kid_path(
    client: httpx.AsyncClient, mailbox: Mailbox, keycloak: KeycloakEmulator, clock: FixedClock
) -> None:
    await register_verified(client, mailbox, ADA)
    clock.advance(11)  # past the refetch interval of the start-up fetch
    new_kid = keycloak.rotate_key()

    tokens = await login(client, ADA)

    assert jwt.get_unverified_header(tokens["access_token"])["kid"] == new_kid
    me = await client.get(f"{API}/users/me", headers=bearer(tokens["access_token"]))
    assert me.status_code == 200, me.text
    assert keycloak.jwks_fetches == 2


async def test_a_flood_of_unknown_kids_refetches_at_most_once_per_ten_seconds(
    client: httpx.AsyncClient, mailbox: Mailbox, keycloak: KeycloakEmulator, clock: FixedClock
) -> None:
    user_id = await register_verified(client, mailbox, ADA)
    claims = jwt.decode((await login(client, ADA))["access_token"], options={"verify_signature": False})
    clock.advance(11)

    async def flood() -> None:
        for i in range(30):
            forged = keycloak.sign({**claims, "user_id": user_id}, kid=f"unknown-{i}")
            response = await client.get(f"{API}/users/me", headers=bearer(forged))
            assert response.status_code == 401

    await flood()
    assert keycloak.jwks_fetches == 2  # the start-up fetch and one refetch
    clock.advance(5)
    await flood()
    assert keycloak.jwks_fetches == 2
    clock.advance(6)
    await flood()
    assert keycloak.jwks_fetches == 3


# -- what this mode leaves to Keycloak ---------------------------------------------------------------
async def test_mfa_endpoints_answer_404_and_discovery_points_at_keycloak(
    client: httpx.AsyncClient, mailbox: Mailbox, keycloak: KeycloakEmulator
) -> None:
    await register_verified(client, mailbox, ADA)
    tokens = await login(client, ADA)

    mfa = await client.post(f"{API}/auth/mfa/setup", headers=bearer(tokens["access_token"]))
    assert mfa.status_code == 404
    discovery = (await client.get("/.well-known/openid-configuration")).json()
    assert discovery["issuer"] == keycloak.issuer
    assert discovery["jwks_uri"] == f"{keycloak.issuer}/protocol/openid-connect/certs"
    jwks = (await client.get("/.well-known/jwks.json")).json()
    assert keycloak.active_kid in {key["kid"] for key in jwks["keys"]}


async def test_no_password_or_hash_is_ever_written_to_this_database(
    client: httpx.AsyncClient, container: Container, mailbox: Mailbox, keycloak: KeycloakEmulator
) -> None:
    """Every flow that handles a password, then every column of every table is searched."""
    await register_verified(client, mailbox, ADA)
    tokens = await login(client, ADA)
    await client.post(
        f"{API}/auth/change-password",
        headers=bearer(tokens["access_token"]),
        json={"current_password": PASSWORD, "new_password": OTHER_PASSWORD},
    )
    await client.post(f"{API}/auth/forgot-password", json={"email": ADA})
    message = await mailbox.wait_for(ADA, "Reset your password")
    await client.post(f"{API}/auth/reset-password", json={"token": link_token(message), "new_password": PASSWORD})
    await login(client, ADA)
    keycloak.add_user(email=BOB, password=OTHER_PASSWORD)
    await login(client, BOB, OTHER_PASSWORD)
    await client.post(f"{API}/auth/login", json={"email": ADA, "password": "not the password at all"})
    await container.create_admin(
        __import__("auth_service.application.commands.create_admin", fromlist=["CreateAdmin"]).CreateAdmin(
            ADMIN, PASSWORD
        )
    )

    async with container.engine.connect() as connection:
        tables = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
        found: list[str] = []
        for table in tables:
            rows = (await connection.execute(select(text("*")).select_from(text(table)))).all()
            for row in rows:
                for column, value in row._mapping.items():
                    rendered = str(value)
                    if (
                        any(secret in rendered for secret in (PASSWORD, OTHER_PASSWORD, "not the password"))
                        or "$argon2" in rendered
                    ):
                        found.append(f"{table}.{column}")
    assert found == []
    users = await users_row(container, ADA)
    assert users is not None and users["password_hash"] is None
