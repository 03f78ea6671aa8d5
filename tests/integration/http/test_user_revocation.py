"""SPEC §4: an administrative change to a user takes effect now, not at token expiry; the last
active admin cannot leave. On SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import httpx
import jwt
import pytest

from tests.integration.http.flows import API, PASSWORD, error_code, login
from tests.integration.http.tenants import Account, Tenancy


def _claims(access_token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(access_token, options={"verify_signature": False})
    return claims


async def _me(client: httpx.AsyncClient, account: Account) -> httpx.Response:
    return await client.get(f"{API}/users/me", headers=account.headers)


async def _refresh(client: httpx.AsyncClient, account: Account) -> httpx.Response:
    return await client.post(f"{API}/auth/refresh", json={"refresh_token": account.refresh_token})


def _change(tenancy: Tenancy, change: str, user_id: str) -> tuple[str, str, dict[str, Any] | None]:
    return {
        "role": ("PUT", f"/users/{user_id}/role", {"role": "operator"}),
        "company": ("PUT", f"/users/{user_id}/company", {"company_id": tenancy.b.id}),
        "deactivation": ("PUT", f"/users/{user_id}", {"is_active": False}),
        "deletion": ("DELETE", f"/users/{user_id}", None),
        "network": ("PUT", f"/users/{user_id}", {"network_id": "NET-7"}),
        "station": ("PUT", f"/users/{user_id}", {"station_id": "STN-7"}),
    }[change]


@pytest.mark.parametrize("change", ["role", "company", "deactivation", "deletion", "network", "station"])
async def test_an_admins_change_revokes_the_users_access_and_refresh_tokens_at_once(
        client: httpx.AsyncClient, tenancy: Tenancy, change: str) -> None:
    target, bystander = tenancy.a.user, tenancy.a.operator
    method, path, body = _change(tenancy, change, target.id)

    response = await client.request(method, API + path, json=body, headers=tenancy.admin.headers)

    assert response.status_code in (200, 204), response.text
    me = await _me(client, target)
    assert me.status_code == 401 and error_code(me) == "token_revoked"
    refreshed = await _refresh(client, target)
    assert refreshed.status_code == 401 and error_code(refreshed) == "token_revoked"
    assert (await _me(client, bystander)).status_code == 200


async def test_an_edit_of_names_leaves_the_users_sessions_alone(client: httpx.AsyncClient, tenancy: Tenancy) -> None:
    target = tenancy.a.user

    response = await client.put(f"{API}/users/{target.id}", json={"first_name": "Ada", "phone": "+15550100"},
                                headers=tenancy.a.partner.headers)

    assert response.status_code == 200, response.text
    assert (await _me(client, target)).status_code == 200
    assert (await _refresh(client, target)).status_code == 200


async def test_a_deactivated_user_cannot_log_in_until_reactivated(client: httpx.AsyncClient, tenancy: Tenancy) -> None:
    target = tenancy.a.user
    await client.put(f"{API}/users/{target.id}", json={"is_active": False}, headers=tenancy.a.partner.headers)

    refused = await client.post(f"{API}/auth/login", json={"email": target.email, "password": PASSWORD})
    reactivated = await client.put(f"{API}/users/{target.id}", json={"is_active": True},
                                   headers=tenancy.a.partner.headers)

    assert refused.status_code == 403 and error_code(refused) == "account_disabled"
    assert reactivated.status_code == 200 and reactivated.json()["status"] == "active"
    assert (await login(client, target.email))["user"]["is_active"] is True


async def test_after_a_role_change_a_new_login_carries_the_new_role_and_its_refresh_keeps_it(
        client: httpx.AsyncClient, tenancy: Tenancy) -> None:
    target = tenancy.a.user
    await client.put(f"{API}/users/{target.id}/role", json={"role": "operator"}, headers=tenancy.a.partner.headers)

    tokens = await login(client, target.email)
    promoted = Account(target.id, target.email, tokens)
    refreshed = await _refresh(client, promoted)

    assert _claims(target.access_token)["roles"] == ["user"]
    assert _claims(promoted.access_token)["roles"] == ["operator"]
    assert refreshed.status_code == 200, refreshed.text
    assert _claims(refreshed.json()["access_token"])["roles"] == ["operator"]
    assert (await client.get(f"{API}/users", headers=promoted.headers)).status_code == 200


async def test_after_a_company_change_a_new_login_carries_the_new_company(
        client: httpx.AsyncClient, tenancy: Tenancy) -> None:
    target = tenancy.a.operator
    await client.put(f"{API}/users/{target.id}/company", json={"company_id": tenancy.b.id},
                     headers=tenancy.admin.headers)

    tokens = await login(client, target.email)
    moved = Account(target.id, target.email, tokens)
    b_users = await client.get(f"{API}/users", headers=moved.headers)

    assert _claims(target.access_token)["company_id"] == tenancy.a.id
    assert _claims(moved.access_token)["company_id"] == tenancy.b.id
    assert tenancy.b.user.id in {user["id"] for user in b_users.json()["items"]}


# -- the last active admin ------------------------------------------------------------------------

@pytest.mark.parametrize("leave", ["delete", "deactivate"])
async def test_the_last_active_admin_cannot_delete_or_deactivate_themselves(
        client: httpx.AsyncClient, tenancy: Tenancy, leave: str) -> None:
    admin = tenancy.admin

    if leave == "delete":
        response = await client.delete(f"{API}/users/{admin.id}", headers=admin.headers)
    else:
        response = await client.put(f"{API}/users/{admin.id}", json={"is_active": False}, headers=admin.headers)

    assert response.status_code == 409 and error_code(response) == "last_admin"
    me = await _me(client, admin)
    assert me.status_code == 200 and me.json()["status"] == "active"


async def test_a_disabled_second_admin_does_not_count_as_another_active_admin(
        client: httpx.AsyncClient, tenancy: Tenancy) -> None:
    admin = tenancy.admin
    other = await client.post(f"{API}/users", json={"email": "second-admin@example.com", "role": "admin"},
                              headers=admin.headers)
    await client.put(f"{API}/users/{other.json()['id']}", json={"is_active": False}, headers=admin.headers)

    response = await client.delete(f"{API}/users/{admin.id}", headers=admin.headers)

    assert response.status_code == 409 and error_code(response) == "last_admin"


@pytest.mark.parametrize("leave", ["delete", "deactivate"])
async def test_with_a_second_active_admin_an_admin_may_delete_or_deactivate_themselves(
        client: httpx.AsyncClient, tenancy: Tenancy, leave: str) -> None:
    admin = tenancy.admin
    created = await client.post(f"{API}/users", json={"email": "second-admin@example.com", "role": "admin"},
                                headers=admin.headers)
    assert created.status_code == 201, created.text

    if leave == "delete":
        response = await client.delete(f"{API}/users/{admin.id}", headers=admin.headers)
    else:
        response = await client.put(f"{API}/users/{admin.id}", json={"is_active": False}, headers=admin.headers)

    assert response.status_code in (200, 204), response.text
    me = await _me(client, admin)
    assert me.status_code == 401 and error_code(me) == "token_revoked"
