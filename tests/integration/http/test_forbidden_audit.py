"""Refused attempts leave a trail: a 403 to a signed-in caller writes `access.forbidden`."""

from __future__ import annotations

import json

import httpx

from auth_service.bootstrap import Container
from tests.integration.http.flows import API
from tests.integration.http.stored import rows
from tests.integration.http.tenants import Tenancy


async def _forbidden_records(container: Container) -> list[dict[str, object]]:
    return await rows(container, "SELECT actor_id, outcome, company_id, details FROM audit_logs "
                                 "WHERE action = 'access.forbidden'")


async def test_a_user_listing_users_is_refused_and_the_attempt_is_recorded(
        client: httpx.AsyncClient, container: Container, tenancy: Tenancy) -> None:
    user = tenancy.account("A-user")

    response = await client.get(f"{API}/users", headers=user.headers)
    records = await _forbidden_records(container)

    assert response.status_code == 403
    assert len(records) == 1
    record = records[0]
    details = record["details"] if isinstance(record["details"], dict) else json.loads(str(record["details"]))
    assert (record["actor_id"], record["outcome"], record["company_id"]) == (user.id, "failure", tenancy.a.id)
    assert details["method"] == "GET" and details["path"] == "/api/v1/users" and details["role"] == "user"


async def test_a_partner_changing_its_own_role_is_recorded_but_a_hidden_record_is_not(
        client: httpx.AsyncClient, container: Container, tenancy: Tenancy) -> None:
    partner, other_partner = tenancy.account("A-partner"), tenancy.account("B-partner")

    refused = await client.put(f"{API}/users/{tenancy.a.partner.id}/role", json={"role": "user"},
                               headers=partner.headers)
    hidden = await client.get(f"{API}/users/{other_partner.id}", headers=partner.headers)

    assert (refused.status_code, hidden.status_code) == (403, 404)
    assert [r["actor_id"] for r in await _forbidden_records(container)] == [partner.id]
