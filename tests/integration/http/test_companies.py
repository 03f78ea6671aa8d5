"""SPEC §5 companies: unique names, user_count, deletion, deactivation and a partner's limits,
each change with its audit record. On SQLite and PostgreSQL."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import text

from auth_service.bootstrap import Container
from tests.integration.http.flows import API, PASSWORD, error_code
from tests.integration.http.stored import rows
from tests.integration.http.tenants import Account, Tenancy


async def _company(client: httpx.AsyncClient, tenancy: Tenancy, company_id: str) -> httpx.Response:
    return await client.get(f"{API}/companies/{company_id}", headers=tenancy.admin.headers)


async def _log_in(client: httpx.AsyncClient, account: Account, password: str = PASSWORD) -> httpx.Response:
    return await client.post(f"{API}/auth/login", json={"email": account.email, "password": password})


async def _set_active(client: httpx.AsyncClient, tenancy: Tenancy, company_id: str, active: bool) -> None:
    response = await client.put(f"{API}/companies/{company_id}", json={"is_active": active},
                                headers=tenancy.admin.headers)
    assert response.status_code == 200 and response.json()["is_active"] is active, response.text


# -- names and counts -----------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["company a", "COMPANY A", "  Company A  "])
async def test_a_company_name_is_taken_whatever_its_case(
        client: httpx.AsyncClient, tenancy: Tenancy, name: str) -> None:
    response = await client.post(f"{API}/companies", json={"name": name}, headers=tenancy.admin.headers)

    assert response.status_code == 409 and error_code(response) == "company_name_taken"
    listed = await client.get(f"{API}/companies", headers=tenancy.admin.headers)
    assert listed.json()["total"] == 2


async def test_renaming_a_company_to_a_taken_name_is_refused(client: httpx.AsyncClient, tenancy: Tenancy) -> None:
    response = await client.put(f"{API}/companies/{tenancy.b.id}", json={"name": "COMPANY a"},
                                headers=tenancy.admin.headers)

    assert response.status_code == 409 and error_code(response) == "company_name_taken"
    assert (await _company(client, tenancy, tenancy.b.id)).json()["name"] == "Company B"


async def test_renaming_a_company_to_another_case_of_its_own_name_is_allowed(
        client: httpx.AsyncClient, tenancy: Tenancy) -> None:
    response = await client.put(f"{API}/companies/{tenancy.a.id}", json={"name": "COMPANY A"},
                                headers=tenancy.a.partner.headers)

    assert response.status_code == 200, response.text
    assert response.json()["name"] == "COMPANY A"


async def test_user_count_counts_the_members_that_are_not_deleted(
        client: httpx.AsyncClient, tenancy: Tenancy) -> None:
    await client.delete(f"{API}/users/{tenancy.a.user.id}", headers=tenancy.admin.headers)
    await client.put(f"{API}/users/{tenancy.a.operator.id}", json={"is_active": False}, headers=tenancy.admin.headers)

    a = await _company(client, tenancy, tenancy.a.id)
    listed = await client.get(f"{API}/companies", headers=tenancy.admin.headers)

    assert a.json()["user_count"] == 2
    assert {c["name"]: c["user_count"] for c in listed.json()["items"]} == {"Company A": 2, "Company B": 3}


async def test_a_new_company_has_its_fields_and_no_users(client: httpx.AsyncClient, tenancy: Tenancy) -> None:
    body = {"name": "  Initech ", "description": "Printers", "owner_user_id": tenancy.b.partner.id}

    response = await client.post(f"{API}/companies", json=body, headers=tenancy.admin.headers)

    assert response.status_code == 201, response.text
    company = response.json()
    assert company["id"].startswith("CMP-") and len(company["id"]) == 20
    assert {k: company[k] for k in ("name", "description", "owner_user_id", "is_active", "user_count")} == {
        "name": "Initech", "description": "Printers", "owner_user_id": tenancy.b.partner.id, "is_active": True,
        "user_count": 0}


async def test_a_company_name_of_only_spaces_is_refused(client: httpx.AsyncClient, tenancy: Tenancy) -> None:
    response = await client.post(f"{API}/companies", json={"name": "   "}, headers=tenancy.admin.headers)

    assert response.status_code == 422 and error_code(response) == "validation_error"
    assert response.json()["error"]["details"]["fields"][0]["loc"] == ["body", "name"]


async def test_an_owner_that_does_not_exist_is_refused_on_owner_user_id(
        client: httpx.AsyncClient, tenancy: Tenancy) -> None:
    response = await client.post(f"{API}/companies", json={"name": "Initech", "owner_user_id": "USR-0000000000000000"},
                                 headers=tenancy.admin.headers)

    assert response.status_code == 422 and error_code(response) == "validation_error"
    assert response.json()["error"]["details"]["fields"][0]["loc"] == ["body", "owner_user_id"]


# -- deletion -------------------------------------------------------------------------------------

async def test_a_company_with_active_users_cannot_be_deleted(client: httpx.AsyncClient, tenancy: Tenancy) -> None:
    response = await client.delete(f"{API}/companies/{tenancy.a.id}", headers=tenancy.admin.headers)

    assert response.status_code == 409 and error_code(response) == "company_has_users"
    assert (await _company(client, tenancy, tenancy.a.id)).status_code == 200


async def test_a_company_can_be_deleted_once_its_users_are_moved_or_deleted_and_is_then_gone(
        client: httpx.AsyncClient, tenancy: Tenancy) -> None:
    admin = tenancy.admin.headers
    await client.put(f"{API}/users/{tenancy.a.partner.id}/company", json={"company_id": tenancy.b.id}, headers=admin)
    await client.put(f"{API}/users/{tenancy.a.operator.id}/company", json={"company_id": tenancy.b.id},
                     headers=admin)
    await client.delete(f"{API}/users/{tenancy.a.user.id}", headers=admin)

    response = await client.delete(f"{API}/companies/{tenancy.a.id}", headers=admin)

    assert response.status_code == 204
    for method, path in [("GET", ""), ("PUT", ""), ("DELETE", ""), ("GET", "/users")]:
        gone = await client.request(method, f"{API}/companies/{tenancy.a.id}{path}", headers=admin,
                                    json={"name": "Zombie"} if method == "PUT" else None)
        assert gone.status_code == 404 and error_code(gone) == "not_found", (method, path)
    listed = await client.get(f"{API}/companies", headers=admin)
    assert [c["id"] for c in listed.json()["items"]] == [tenancy.b.id]
    moved_in = await client.put(f"{API}/users/{tenancy.loner.id}/company", json={"company_id": tenancy.a.id},
                                headers=admin)
    assert moved_in.status_code == 422 and error_code(moved_in) == "validation_error"


# -- deactivation ---------------------------------------------------------------------------------

async def test_deactivating_a_company_revokes_its_members_sessions_and_only_theirs(
        client: httpx.AsyncClient, tenancy: Tenancy) -> None:
    await _set_active(client, tenancy, tenancy.a.id, False)

    for member in (tenancy.a.partner, tenancy.a.operator, tenancy.a.user):
        me = await client.get(f"{API}/users/me", headers=member.headers)
        assert me.status_code == 401 and error_code(me) == "token_revoked", member.email
        refreshed = await client.post(f"{API}/auth/refresh", json={"refresh_token": member.refresh_token})
        assert refreshed.status_code == 401, member.email
    for outsider in (tenancy.b.user, tenancy.loner, tenancy.admin):
        assert (await client.get(f"{API}/users/me", headers=outsider.headers)).status_code == 200


async def test_a_member_of_an_inactive_company_cannot_log_in_until_it_is_active_again(
        client: httpx.AsyncClient, tenancy: Tenancy) -> None:
    member = tenancy.a.operator
    await _set_active(client, tenancy, tenancy.a.id, False)

    wrong_password = await _log_in(client, member, "not the password at all")
    refused = await _log_in(client, member)
    await _set_active(client, tenancy, tenancy.a.id, True)
    welcome = await _log_in(client, member)

    assert wrong_password.status_code == 401 and error_code(wrong_password) == "invalid_credentials"
    assert refused.status_code == 403 and error_code(refused) == "account_disabled"
    assert welcome.status_code == 200, welcome.text
    assert (await _log_in(client, tenancy.b.operator)).status_code == 200


async def test_a_session_that_outlived_its_companys_deactivation_cannot_be_refreshed(
        client: httpx.AsyncClient, tenancy: Tenancy, container: Container) -> None:
    member = tenancy.a.user
    # Deactivated behind the service's back: no revocation, only the refresh's own check is left.
    async with container.sessionmaker() as session:
        await session.execute(text("UPDATE companies SET is_active = false WHERE id = :id"), {"id": tenancy.a.id})
        await session.commit()

    refreshed = await client.post(f"{API}/auth/refresh", json={"refresh_token": member.refresh_token})

    assert refreshed.status_code == 401 and error_code(refreshed) == "invalid_token"


# -- a partner and its company --------------------------------------------------------------------

async def test_a_partner_may_rename_and_describe_its_own_company(client: httpx.AsyncClient, tenancy: Tenancy) -> None:
    body = {"name": "Acme", "description": "Anvils"}

    response = await client.put(f"{API}/companies/{tenancy.a.id}", json=body, headers=tenancy.a.partner.headers)

    assert response.status_code == 200, response.text
    assert (response.json()["name"], response.json()["description"]) == ("Acme", "Anvils")


@pytest.mark.parametrize("fields", ["is_active", "owner_user_id", "name+is_active"])
async def test_a_partner_may_not_deactivate_its_company_or_change_its_owner(
        client: httpx.AsyncClient, tenancy: Tenancy, fields: str) -> None:
    values = {"name": "Acme", "is_active": False, "owner_user_id": tenancy.a.partner.id}
    body = {field: values[field] for field in fields.split("+")}
    before = (await _company(client, tenancy, tenancy.a.id)).json()

    response = await client.put(f"{API}/companies/{tenancy.a.id}", json=body, headers=tenancy.a.partner.headers)

    assert response.status_code == 403 and error_code(response) == "forbidden"
    assert (await _company(client, tenancy, tenancy.a.id)).json() == before


async def test_a_partner_cannot_touch_company_b(client: httpx.AsyncClient, tenancy: Tenancy) -> None:
    response = await client.put(f"{API}/companies/{tenancy.b.id}", json={"name": "Hijacked"},
                                headers=tenancy.a.partner.headers)

    assert response.status_code == 404 and error_code(response) == "not_found"
    assert (await _company(client, tenancy, tenancy.b.id)).json()["name"] == "Company B"


# -- audit ----------------------------------------------------------------------------------------

async def test_every_company_change_writes_its_audit_record_with_actor_target_and_company(
        client: httpx.AsyncClient, tenancy: Tenancy, container: Container) -> None:
    admin, partner = tenancy.admin, tenancy.a.partner
    created = await client.post(f"{API}/companies", json={"name": "Initech"}, headers=admin.headers)
    company_id = created.json()["id"]

    await client.put(f"{API}/companies/{company_id}", json={"description": "Printers"}, headers=admin.headers)
    await client.put(f"{API}/companies/{tenancy.a.id}", json={"name": "Acme"}, headers=partner.headers)
    await client.delete(f"{API}/companies/{company_id}", headers=admin.headers)

    records = await rows(container, "SELECT action, actor_id, target_type, target_id, company_id FROM audit_logs"
                                    " WHERE action LIKE 'company.%' AND target_id <> :b", b=tenancy.b.id)
    assert sorted(tuple(r.values()) for r in records) == sorted([
        ("company.created", admin.id, "company", tenancy.a.id, tenancy.a.id),
        ("company.created", admin.id, "company", company_id, company_id),
        ("company.updated", admin.id, "company", company_id, company_id),
        ("company.updated", partner.id, "company", tenancy.a.id, tenancy.a.id),
        ("company.deleted", admin.id, "company", company_id, company_id),
    ])


async def test_a_refused_company_change_writes_no_audit_record(
        client: httpx.AsyncClient, tenancy: Tenancy, container: Container) -> None:
    await client.post(f"{API}/companies", json={"name": "company b"}, headers=tenancy.admin.headers)
    await client.put(f"{API}/companies/{tenancy.a.id}", json={"is_active": False}, headers=tenancy.a.partner.headers)
    await client.delete(f"{API}/companies/{tenancy.a.id}", headers=tenancy.admin.headers)

    records = await rows(container, "SELECT action FROM audit_logs WHERE action LIKE 'company.%'")

    assert sorted(r["action"] for r in records) == ["company.created", "company.created"]
