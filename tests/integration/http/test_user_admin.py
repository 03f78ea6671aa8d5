"""SPEC §4 user administration: the partner's limits, mass assignment, the company rules for
partners and operators, conflicts, and the audit record of every change. On SQLite and
PostgreSQL. Revocation and lists have files of their own."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from auth_service.bootstrap import Container
from tests.doubles import Mailbox
from tests.integration.http.flows import API, error_code, register
from tests.integration.http.stored import rows
from tests.integration.http.tenants import Tenancy, create_member


async def _user(client: httpx.AsyncClient, tenancy: Tenancy, user_id: str) -> dict[str, Any]:
    """The user as an admin sees it."""
    response = await client.get(f"{API}/users/{user_id}", headers=tenancy.admin.headers)
    assert response.status_code == 200, response.text
    user: dict[str, Any] = response.json()
    return user


def _error_fields(response: httpx.Response) -> list[str]:
    return [field["loc"][-1] for field in response.json()["error"]["details"]["fields"]]


async def _audit(container: Container, action: str, target_id: str) -> list[dict[str, Any]]:
    return await rows(container, "SELECT actor_id, target_type, company_id, outcome, details FROM audit_logs"
                                 " WHERE action = :action AND target_id = :target_id",
                      action=action, target_id=target_id)


# -- a partner's reach ----------------------------------------------------------------------------

@pytest.mark.parametrize("role", ["admin", "partner"])
async def test_a_partner_cannot_create_an_admin_or_a_partner(
        client: httpx.AsyncClient, tenancy: Tenancy, role: str) -> None:
    body = {"email": "climber@a.example.com", "role": role}

    response = await client.post(f"{API}/users", json=body, headers=tenancy.a.partner.headers)

    assert response.status_code == 403 and error_code(response) == "forbidden"
    found = await client.get(f"{API}/users?q=climber", headers=tenancy.admin.headers)
    assert found.json()["total"] == 0


@pytest.mark.parametrize("role", ["admin", "partner"])
async def test_a_partner_cannot_promote_a_user_of_its_company_to_admin_or_partner(
        client: httpx.AsyncClient, tenancy: Tenancy, role: str) -> None:
    target = tenancy.a.user.id

    response = await client.put(f"{API}/users/{target}/role", json={"role": role}, headers=tenancy.a.partner.headers)

    assert response.status_code == 403 and error_code(response) == "forbidden"
    assert (await _user(client, tenancy, target))["role"] == "user"


async def test_a_partner_cannot_edit_demote_or_delete_another_partner_of_its_company(
        client: httpx.AsyncClient, tenancy: Tenancy) -> None:
    other = await create_member(client, tenancy.admin, "second-partner@a.example.com", "partner", tenancy.a.id)
    partner = tenancy.a.partner.headers

    edit = await client.put(f"{API}/users/{other.id}", json={"first_name": "Mallory"}, headers=partner)
    demote = await client.put(f"{API}/users/{other.id}/role", json={"role": "user"}, headers=partner)
    delete = await client.delete(f"{API}/users/{other.id}", headers=partner)

    assert [edit.status_code, demote.status_code, delete.status_code] == [403, 403, 403]
    after = await _user(client, tenancy, other.id)
    assert (after["first_name"], after["role"], after["status"]) == (None, "partner", "active")


async def test_a_partner_cannot_edit_an_admin_who_is_in_no_company(
        client: httpx.AsyncClient, tenancy: Tenancy) -> None:
    response = await client.put(f"{API}/users/{tenancy.admin.id}", json={"first_name": "Mallory"},
                                headers=tenancy.a.partner.headers)

    assert response.status_code == 404 and error_code(response) == "not_found"
    assert (await _user(client, tenancy, tenancy.admin.id))["first_name"] is None


async def test_a_partner_cannot_move_a_user_to_another_company(
        client: httpx.AsyncClient, tenancy: Tenancy) -> None:
    target = tenancy.a.user.id

    response = await client.put(f"{API}/users/{target}/company", json={"company_id": tenancy.b.id},
                                headers=tenancy.a.partner.headers)

    assert response.status_code == 403 and error_code(response) == "forbidden"
    assert (await _user(client, tenancy, target))["company_id"] == tenancy.a.id


async def test_a_partner_sees_nothing_of_company_b_by_id_filter_search_or_company_users(
        client: httpx.AsyncClient, tenancy: Tenancy) -> None:
    partner = tenancy.a.partner.headers

    by_id = await client.get(f"{API}/users/{tenancy.b.user.id}", headers=partner)
    by_filter = await client.get(f"{API}/users", params={"company_id": tenancy.b.id}, headers=partner)
    by_search = await client.get(f"{API}/users", params={"q": "b.example.com"}, headers=partner)
    unfiltered = await client.get(f"{API}/users", headers=partner)
    company_users = await client.get(f"{API}/companies/{tenancy.b.id}/users", headers=partner)

    assert by_id.status_code == 404 and error_code(by_id) == "not_found"
    assert by_filter.status_code == 200 and by_filter.json()["items"] == [] and by_filter.json()["total"] == 0
    assert by_search.status_code == 200 and by_search.json()["items"] == [] and by_search.json()["total"] == 0
    assert {user["id"] for user in unfiltered.json()["items"]} == {
        tenancy.a.partner.id, tenancy.a.operator.id, tenancy.a.user.id}
    assert company_users.status_code == 404 and error_code(company_users) == "not_found"


async def test_a_user_a_partner_creates_without_a_company_lands_in_the_partners_company(
        client: httpx.AsyncClient, tenancy: Tenancy) -> None:
    body = {"email": "new@a.example.com", "role": "operator"}

    response = await client.post(f"{API}/users", json=body, headers=tenancy.a.partner.headers)

    assert response.status_code == 201, response.text
    created = response.json()
    assert (created["company_id"], created["role"], created["created_by"]) == (
        tenancy.a.id, "operator", tenancy.a.partner.id)
    assert (created["source"], created["status"], created["is_verified"]) == ("internal", "active", True)


@pytest.mark.parametrize("company", ["B", "unknown"])
async def test_a_user_created_in_a_company_the_caller_cannot_see_is_refused_on_company_id(
        client: httpx.AsyncClient, tenancy: Tenancy, company: str) -> None:
    company_id = tenancy.b.id if company == "B" else "CMP-0000000000000000"
    body = {"email": "new@b.example.com", "role": "user", "company_id": company_id}

    response = await client.post(f"{API}/users", json=body, headers=tenancy.a.partner.headers)

    assert response.status_code == 422 and error_code(response) == "validation_error"
    assert _error_fields(response) == ["company_id"]
    found = await client.get(f"{API}/users?q=new@b", headers=tenancy.admin.headers)
    assert found.json()["total"] == 0


async def test_a_username_of_only_spaces_is_refused(client: httpx.AsyncClient, tenancy: Tenancy) -> None:
    body = {"email": "blank@a.example.com", "role": "user", "username": "   "}

    response = await client.post(f"{API}/users", json=body, headers=tenancy.admin.headers)

    assert response.status_code == 422 and error_code(response) == "validation_error"
    assert _error_fields(response) == ["username"]


async def test_a_username_that_is_the_own_email_in_another_case_becomes_the_email(
        client: httpx.AsyncClient, tenancy: Tenancy) -> None:
    body = {"email": "ada@a.example.com", "role": "user", "username": "Ada@A.example.com"}

    response = await client.post(f"{API}/users", json=body, headers=tenancy.admin.headers)

    assert response.status_code == 201, response.text
    assert response.json()["username"] == "ada@a.example.com"


# -- mass assignment ------------------------------------------------------------------------------

FORBIDDEN_FIELDS = [("role", "admin"), ("company_id", "B"), ("is_verified", False), ("status", "disabled"),
                    ("email", "mallory@example.com"), ("source", "web")]


def _smuggled(tenancy: Tenancy, field: str, value: Any) -> dict[str, Any]:
    return {"first_name": "Mallory", field: tenancy.b.id if value == "B" else value}


@pytest.mark.parametrize(("field", "value"), FORBIDDEN_FIELDS)
async def test_patching_me_with_a_field_i_may_not_set_is_refused_and_changes_nothing(
        client: httpx.AsyncClient, tenancy: Tenancy, field: str, value: Any) -> None:
    me = tenancy.a.user
    before = await _user(client, tenancy, me.id)

    response = await client.patch(f"{API}/users/me", json=_smuggled(tenancy, field, value), headers=me.headers)

    assert response.status_code == 422 and error_code(response) == "validation_error"
    assert field in _error_fields(response)
    assert await _user(client, tenancy, me.id) == before


@pytest.mark.parametrize(("field", "value"), FORBIDDEN_FIELDS)
async def test_putting_a_user_with_a_field_put_does_not_list_is_refused_and_changes_nothing(
        client: httpx.AsyncClient, tenancy: Tenancy, field: str, value: Any) -> None:
    target = tenancy.a.user.id
    before = await _user(client, tenancy, target)

    response = await client.put(f"{API}/users/{target}", json=_smuggled(tenancy, field, value),
                                headers=tenancy.admin.headers)

    assert response.status_code == 422 and error_code(response) == "validation_error"
    assert field in _error_fields(response)
    assert await _user(client, tenancy, target) == before


# -- roles, companies and conflicts ---------------------------------------------------------------

@pytest.mark.parametrize("caller", ["admin", "A-partner", "A-operator", "A-user"])
async def test_no_one_changes_their_own_role(client: httpx.AsyncClient, tenancy: Tenancy, caller: str) -> None:
    me = tenancy.account(caller)
    role_before = (await _user(client, tenancy, me.id))["role"]

    response = await client.put(f"{API}/users/{me.id}/role", json={"role": "user" if caller == "admin" else "admin"},
                                headers=me.headers)

    assert response.status_code == 403 and error_code(response) == "forbidden"
    assert (await _user(client, tenancy, me.id))["role"] == role_before


@pytest.mark.parametrize("role", ["partner", "operator"])
async def test_a_partner_or_operator_cannot_be_created_without_a_company(
        client: httpx.AsyncClient, tenancy: Tenancy, role: str) -> None:
    body = {"email": "homeless@example.com", "role": role}

    response = await client.post(f"{API}/users", json=body, headers=tenancy.admin.headers)

    assert response.status_code == 422 and error_code(response) == "validation_error"
    assert _error_fields(response) == ["company_id"]


@pytest.mark.parametrize("role", ["partner", "operator"])
async def test_a_user_without_a_company_cannot_become_a_partner_or_operator(
        client: httpx.AsyncClient, tenancy: Tenancy, role: str) -> None:
    response = await client.put(f"{API}/users/{tenancy.loner.id}/role", json={"role": role},
                                headers=tenancy.admin.headers)

    assert response.status_code == 422 and error_code(response) == "validation_error"
    assert (await _user(client, tenancy, tenancy.loner.id))["role"] == "user"


@pytest.mark.parametrize("member", ["A-partner", "A-operator"])
async def test_a_partner_or_operator_cannot_be_taken_out_of_every_company(
        client: httpx.AsyncClient, tenancy: Tenancy, member: str) -> None:
    target = tenancy.account(member).id

    response = await client.put(f"{API}/users/{target}/company", json={"company_id": None},
                                headers=tenancy.admin.headers)

    assert response.status_code == 422 and error_code(response) == "validation_error"
    assert (await _user(client, tenancy, target))["company_id"] == tenancy.a.id


async def test_a_plain_user_can_be_taken_out_of_every_company(client: httpx.AsyncClient, tenancy: Tenancy) -> None:
    response = await client.put(f"{API}/users/{tenancy.a.user.id}/company", json={"company_id": None},
                                headers=tenancy.admin.headers)

    assert response.status_code == 200, response.text
    assert response.json()["company_id"] is None


async def test_reactivating_a_deleted_user_is_a_conflict_and_the_user_stays_deleted(
        client: httpx.AsyncClient, tenancy: Tenancy) -> None:
    target = tenancy.a.user.id
    await client.delete(f"{API}/users/{target}", headers=tenancy.admin.headers)

    response = await client.put(f"{API}/users/{target}", json={"is_active": True}, headers=tenancy.admin.headers)

    assert response.status_code == 409 and error_code(response) == "conflict"
    after = await _user(client, tenancy, target)
    assert (after["status"], after["is_active"]) == ("deleted", False)


@pytest.mark.parametrize("is_active", [True, False])
async def test_is_active_on_a_pending_user_is_a_conflict(
        client: httpx.AsyncClient, tenancy: Tenancy, is_active: bool) -> None:
    pending_id = (await register(client, "pending@example.com")).json()["user_id"]

    response = await client.put(f"{API}/users/{pending_id}", json={"is_active": is_active},
                                headers=tenancy.admin.headers)

    assert response.status_code == 409 and error_code(response) == "conflict"
    assert (await _user(client, tenancy, pending_id))["status"] == "pending_verification"


async def test_a_user_created_without_a_password_is_invited_to_set_one(
        client: httpx.AsyncClient, tenancy: Tenancy, mailbox: Mailbox) -> None:
    body = {"email": "invited@a.example.com", "role": "user"}

    response = await client.post(f"{API}/users", json=body, headers=tenancy.a.partner.headers)

    assert response.status_code == 201, response.text
    invitation = await mailbox.wait_for("invited@a.example.com", "You have been invited")
    assert "#token=" in invitation.body


# -- audit ----------------------------------------------------------------------------------------

async def test_every_user_change_writes_its_audit_record_with_actor_target_and_company(
        client: httpx.AsyncClient, tenancy: Tenancy, container: Container) -> None:
    admin, partner = tenancy.admin, tenancy.a.partner
    created = await client.post(f"{API}/users", json={"email": "audited@a.example.com", "role": "user"},
                                headers=partner.headers)
    target = created.json()["id"]

    await client.put(f"{API}/users/{target}", json={"first_name": "Ada"}, headers=partner.headers)
    await client.put(f"{API}/users/{target}/role", json={"role": "operator"}, headers=partner.headers)
    await client.put(f"{API}/users/{target}/company", json={"company_id": tenancy.b.id}, headers=admin.headers)
    await client.delete(f"{API}/users/{target}", headers=admin.headers)

    expected = [("user.created", partner, tenancy.a.id), ("user.updated", partner, tenancy.a.id),
                ("user.role_changed", partner, tenancy.a.id), ("user.company_changed", admin, tenancy.b.id),
                ("user.deleted", admin, tenancy.b.id)]
    for action, actor, company_id in expected:
        records = await _audit(container, action, target)
        assert [(r["actor_id"], r["target_type"], r["company_id"], r["outcome"]) for r in records] == [
            (actor.id, "user", company_id, "success")], action


async def test_a_refused_change_writes_no_audit_record(
        client: httpx.AsyncClient, tenancy: Tenancy, container: Container) -> None:
    target = tenancy.a.user.id

    await client.put(f"{API}/users/{target}/role", json={"role": "partner"}, headers=tenancy.loner.headers)
    await client.put(f"{API}/users/{target}/company", json={"company_id": None}, headers=tenancy.a.partner.headers)
    await client.put(f"{API}/users/{target}", json={"username": "x", "role": "admin"}, headers=tenancy.admin.headers)

    for action in ("user.role_changed", "user.company_changed", "user.updated"):
        assert await _audit(container, action, target) == [], action
