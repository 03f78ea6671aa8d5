"""SPEC §2 lists and §4 GET /users: pagination under every sort, filters, and what lists leave
out. On SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from auth_service.bootstrap import Container
from tests.doubles import FixedClock
from tests.integration.http.flows import API, error_code, login, register
from tests.integration.http.tenants import Account, Tenancy, create_admin

PAGE_SIZE = 7


async def _list(client: httpx.AsyncClient, caller: Account, **params: Any) -> dict[str, Any]:
    response = await client.get(f"{API}/users", params=params, headers=caller.headers)
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


async def _ids(client: httpx.AsyncClient, caller: Account, **params: Any) -> set[str]:
    return {user["id"] for user in (await _list(client, caller, page_size=100, **params))["items"]}


async def _create_users(client: httpx.AsyncClient, admin: Account, clock: FixedClock, count: int) -> None:
    """`count` users, several created in the same instant: created_at has ties."""
    for n in range(count):
        if n % 5 == 0:
            clock.advance(1)
        # Same shape for every address, so the database's collation and Python agree on the order.
        body = {"email": f"user-{(n * 7) % count:02d}@example.com", "role": "user"}
        response = await client.post(f"{API}/users", json=body, headers=admin.headers)
        assert response.status_code == 201, response.text


@pytest.mark.parametrize("sort", ["created_at", "-created_at", "email", "-email"])
async def test_pages_neither_overlap_nor_skip_under_each_sort(
        client: httpx.AsyncClient, container: Container, clock: FixedClock, sort: str) -> None:
    admin = await create_admin(client, container)
    await _create_users(client, admin, clock, 25)

    pages = [await _list(client, admin, sort=sort, page=n, page_size=PAGE_SIZE) for n in range(1, 6)]
    whole = await _list(client, admin, sort=sort, page_size=100)

    walked = [user for page in pages for user in page["items"]]
    assert [page["total"] for page in pages] == [26] * 5
    assert [len(page["items"]) for page in pages] == [7, 7, 7, 5, 0]
    assert [(page["page"], page["page_size"]) for page in pages] == [(n, PAGE_SIZE) for n in range(1, 6)]
    assert [user["id"] for user in walked] == [user["id"] for user in whole["items"]]
    assert len({user["id"] for user in walked}) == 26
    key = sort.lstrip("-")
    assert [user[key] for user in walked] == sorted((user[key] for user in walked), reverse=sort.startswith("-"))


@pytest.mark.parametrize("params", [{"page_size": 101}, {"page_size": 0}, {"page": 0}, {"sort": "password_hash"},
                                    {"role": "root"}, {"status": "everything"}])
async def test_a_page_or_filter_out_of_range_is_a_validation_error(
        client: httpx.AsyncClient, container: Container, params: dict[str, Any]) -> None:
    admin = await create_admin(client, container)

    response = await client.get(f"{API}/users", params=params, headers=admin.headers)

    assert response.status_code == 422 and error_code(response) == "validation_error"


async def test_lists_filter_by_role_company_and_search_text(client: httpx.AsyncClient, tenancy: Tenancy) -> None:
    admin = tenancy.admin
    await client.put(f"{API}/users/{tenancy.b.user.id}", json={"first_name": "Grace", "last_name": "Hopper"},
                     headers=admin.headers)

    operators = await _ids(client, admin, role="operator")
    in_a = await _ids(client, admin, company_id=tenancy.a.id)
    partners_of_b = await _ids(client, admin, role="partner", company_id=tenancy.b.id)
    by_email = await _ids(client, admin, q="OPERATOR@A.")
    by_name = await _ids(client, admin, q="grace hop")
    by_domain = await _ids(client, admin, q="@b.example")
    wildcard = await _ids(client, admin, q="%")

    assert operators == {tenancy.a.operator.id, tenancy.b.operator.id}
    assert in_a == {tenancy.a.partner.id, tenancy.a.operator.id, tenancy.a.user.id}
    assert partners_of_b == {tenancy.b.partner.id}
    assert by_email == {tenancy.a.operator.id}
    assert by_name == {tenancy.b.user.id}
    assert by_domain == {tenancy.b.partner.id, tenancy.b.operator.id, tenancy.b.user.id}
    assert wildcard == set()


async def test_a_partners_filters_only_narrow_its_own_company(client: httpx.AsyncClient, tenancy: Tenancy) -> None:
    partner = tenancy.a.partner

    users = await _ids(client, partner, role="user")
    everyone = await _list(client, partner)

    assert users == {tenancy.a.user.id}
    assert everyone["total"] == 3


async def test_deleted_users_leave_lists_unless_asked_for_but_stay_readable_by_id(
        client: httpx.AsyncClient, tenancy: Tenancy) -> None:
    partner, target = tenancy.a.partner, tenancy.a.user.id
    await client.delete(f"{API}/users/{target}", headers=partner.headers)

    listed = await _ids(client, partner)
    deleted = await _ids(client, partner, status="deleted")
    by_id = await client.get(f"{API}/users/{target}", headers=partner.headers)
    company_users = await client.get(f"{API}/companies/{tenancy.a.id}/users", headers=partner.headers)

    assert target not in listed and len(listed) == 2
    assert deleted == {target}
    assert by_id.status_code == 200
    assert (by_id.json()["status"], by_id.json()["is_active"]) == ("deleted", False)
    assert target not in {user["id"] for user in company_users.json()["items"]}


async def test_status_filters_see_the_effective_status_of_a_registration_past_its_window(
        client: httpx.AsyncClient, tenancy: Tenancy, clock: FixedClock) -> None:
    admin = tenancy.admin
    pending_id = (await register(client, "late@example.com")).json()["user_id"]
    await client.put(f"{API}/users/{tenancy.a.user.id}", json={"is_active": False}, headers=admin.headers)
    pending_in_time = await _ids(client, admin, status="pending_verification")

    clock.advance(24 * 3600 + 1)
    admin = Account(admin.id, admin.email, await login(client, admin.email))  # the old token has expired
    pending = await _ids(client, admin, status="pending_verification")
    expired = await _list(client, admin, status="verification_expired")
    disabled = await _ids(client, admin, status="disabled")
    active = await _ids(client, admin, status="active")

    assert pending_in_time == {pending_id}
    assert pending == set()
    assert [(user["id"], user["status"]) for user in expired["items"]] == [(pending_id, "verification_expired")]
    assert disabled == {tenancy.a.user.id}
    assert pending_id not in active and tenancy.a.user.id not in active and tenancy.loner.id in active
