"""The permission table of SPEC §4 and §5, written out as data: each role by each endpoint, aimed
at company A (the caller's own, for every role but admin) and at company B. On SQLite and
PostgreSQL.

Each caller walks its rows on a tenancy of its own. The rows are chosen so that none changes the
answer of another: creations use fresh e-mails and names, edits touch harmless fields, role and
company changes never make a later target invisible to that caller, and deletions run last, each
on its own target."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, NamedTuple

import httpx
import pytest

from tests.integration.http.flows import API
from tests.integration.http.tenants import Account, Tenancy


class Row(NamedTuple):
    caller: str  # admin, or the partner, operator or user of company A
    endpoint: str
    target: str  # a user (self, admin, loner, A-partner, B-user, ...) or a company (A, B; - for none)
    status: int

    def __str__(self) -> str:
        return f"{self.caller:<8} {self.endpoint:<38} {self.target:<10} {self.status}"


MATRIX = [Row(*row) for row in [
    # caller    endpoint                                target        status
    ("admin", "GET /users?company_id=", "A", 200),
    ("admin", "GET /users?company_id=", "B", 200),
    ("admin", "POST /users {role: user}", "A", 201),
    ("admin", "POST /users {role: user}", "B", 201),
    ("admin", "POST /users {role: partner}", "B", 201),
    ("admin", "POST /users {role: admin}", "-", 201),
    ("admin", "GET /users/{id}", "A-partner", 200),
    ("admin", "GET /users/{id}", "B-user", 200),
    ("admin", "GET /users/{id}", "loner", 200),
    ("admin", "PUT /users/{id}", "A-partner", 200),
    ("admin", "PUT /users/{id}", "B-operator", 200),
    ("admin", "PUT /users/{id}", "self", 200),
    ("admin", "PUT /users/{id}/role {role: partner}", "A-user", 200),
    ("admin", "PUT /users/{id}/role {role: operator}", "B-user", 200),
    ("admin", "PUT /users/{id}/role {role: user}", "self", 403),
    ("admin", "PUT /users/{id}/company", "A-operator", 200),
    ("admin", "PUT /users/{id}/company", "B-operator", 200),
    ("admin", "DELETE /users/{id}", "A-partner", 204),
    ("admin", "DELETE /users/{id}", "B-user", 204),
    ("admin", "GET /companies", "-", 200),
    ("admin", "POST /companies", "-", 201),
    ("admin", "GET /companies/{id}", "A", 200),
    ("admin", "GET /companies/{id}", "B", 200),
    ("admin", "PUT /companies/{id}", "A", 200),
    ("admin", "PUT /companies/{id}", "B", 200),
    ("admin", "DELETE /companies/{id}", "A", 409),  # allowed, but members remain: 204 in test_companies
    ("admin", "DELETE /companies/{id}", "B", 409),
    ("admin", "GET /companies/{id}/users", "A", 200),
    ("admin", "GET /companies/{id}/users", "B", 200),

    ("partner", "GET /users?company_id=", "A", 200),
    ("partner", "GET /users?company_id=", "B", 200),  # with no items
    ("partner", "POST /users {role: user}", "A", 201),
    ("partner", "POST /users {role: user}", "B", 422),
    ("partner", "POST /users {role: operator}", "A", 201),
    ("partner", "POST /users {role: partner}", "A", 403),
    ("partner", "POST /users {role: admin}", "A", 403),
    ("partner", "GET /users/{id}", "self", 200),
    ("partner", "GET /users/{id}", "A-operator", 200),
    ("partner", "GET /users/{id}", "A-user", 200),
    ("partner", "GET /users/{id}", "B-partner", 404),
    ("partner", "GET /users/{id}", "B-user", 404),
    ("partner", "GET /users/{id}", "admin", 404),
    ("partner", "GET /users/{id}", "loner", 404),
    ("partner", "PUT /users/{id}", "self", 403),
    ("partner", "PUT /users/{id}", "A-operator", 200),
    ("partner", "PUT /users/{id}", "A-user", 200),
    ("partner", "PUT /users/{id}", "B-user", 404),
    ("partner", "PUT /users/{id}", "admin", 404),
    ("partner", "PUT /users/{id}/role {role: operator}", "A-user", 200),
    ("partner", "PUT /users/{id}/role {role: user}", "A-operator", 200),
    ("partner", "PUT /users/{id}/role {role: partner}", "A-user", 403),
    ("partner", "PUT /users/{id}/role {role: admin}", "A-user", 403),
    ("partner", "PUT /users/{id}/role {role: user}", "self", 403),
    ("partner", "PUT /users/{id}/role {role: operator}", "B-user", 404),
    ("partner", "PUT /users/{id}/company", "A-user", 403),
    ("partner", "PUT /users/{id}/company", "B-user", 403),
    ("partner", "DELETE /users/{id}", "A-operator", 204),
    ("partner", "DELETE /users/{id}", "A-user", 204),
    ("partner", "DELETE /users/{id}", "self", 403),
    ("partner", "DELETE /users/{id}", "B-operator", 404),
    ("partner", "DELETE /users/{id}", "admin", 404),
    ("partner", "GET /companies", "-", 200),
    ("partner", "POST /companies", "-", 403),
    ("partner", "GET /companies/{id}", "A", 200),
    ("partner", "GET /companies/{id}", "B", 404),
    ("partner", "PUT /companies/{id}", "A", 200),
    ("partner", "PUT /companies/{id}", "B", 404),
    ("partner", "DELETE /companies/{id}", "A", 403),
    ("partner", "DELETE /companies/{id}", "B", 403),
    ("partner", "GET /companies/{id}/users", "A", 200),
    ("partner", "GET /companies/{id}/users", "B", 404),

    ("operator", "GET /users?company_id=", "A", 200),
    ("operator", "GET /users?company_id=", "B", 200),  # with no items
    ("operator", "POST /users {role: user}", "A", 403),
    ("operator", "POST /users {role: user}", "B", 403),
    ("operator", "GET /users/{id}", "self", 200),
    ("operator", "GET /users/{id}", "A-partner", 200),
    ("operator", "GET /users/{id}", "A-user", 200),
    ("operator", "GET /users/{id}", "B-user", 404),
    ("operator", "GET /users/{id}", "loner", 404),
    ("operator", "PUT /users/{id}", "self", 403),
    ("operator", "PUT /users/{id}", "A-user", 403),
    ("operator", "PUT /users/{id}", "B-user", 403),
    ("operator", "PUT /users/{id}/role {role: operator}", "A-user", 403),
    ("operator", "PUT /users/{id}/role {role: operator}", "B-user", 403),
    ("operator", "PUT /users/{id}/company", "A-user", 403),
    ("operator", "PUT /users/{id}/company", "B-user", 403),
    ("operator", "DELETE /users/{id}", "A-user", 403),
    ("operator", "DELETE /users/{id}", "B-user", 403),
    ("operator", "GET /companies", "-", 200),
    ("operator", "POST /companies", "-", 403),
    ("operator", "GET /companies/{id}", "A", 200),
    ("operator", "GET /companies/{id}", "B", 404),
    ("operator", "PUT /companies/{id}", "A", 403),
    ("operator", "PUT /companies/{id}", "B", 403),
    ("operator", "DELETE /companies/{id}", "A", 403),
    ("operator", "DELETE /companies/{id}", "B", 403),
    ("operator", "GET /companies/{id}/users", "A", 200),
    ("operator", "GET /companies/{id}/users", "B", 404),

    ("user", "GET /users?company_id=", "A", 403),
    ("user", "GET /users?company_id=", "B", 403),
    ("user", "POST /users {role: user}", "A", 403),
    ("user", "POST /users {role: user}", "B", 403),
    ("user", "GET /users/{id}", "self", 200),
    ("user", "GET /users/{id}", "A-operator", 404),
    ("user", "GET /users/{id}", "B-user", 404),
    ("user", "PUT /users/{id}", "self", 403),
    ("user", "PUT /users/{id}", "A-operator", 403),
    ("user", "PUT /users/{id}", "B-user", 403),
    ("user", "PUT /users/{id}/role {role: operator}", "self", 403),
    ("user", "PUT /users/{id}/role {role: operator}", "A-operator", 403),
    ("user", "PUT /users/{id}/role {role: operator}", "B-user", 403),
    ("user", "PUT /users/{id}/company", "A-operator", 403),
    ("user", "PUT /users/{id}/company", "B-user", 403),
    ("user", "DELETE /users/{id}", "A-operator", 403),
    ("user", "DELETE /users/{id}", "B-user", 403),
    ("user", "GET /companies", "-", 403),
    ("user", "POST /companies", "-", 403),
    ("user", "GET /companies/{id}", "A", 403),
    ("user", "GET /companies/{id}", "B", 403),
    ("user", "PUT /companies/{id}", "A", 403),
    ("user", "PUT /companies/{id}", "B", 403),
    ("user", "DELETE /companies/{id}", "A", 403),
    ("user", "DELETE /companies/{id}", "B", 403),
    ("user", "GET /companies/{id}/users", "A", 403),
    ("user", "GET /companies/{id}/users", "B", 403),
]]


class Call(NamedTuple):
    method: str
    path: str
    body: dict[str, Any] | None = None


def _user_id(t: Tenancy, caller: Account, target: str) -> str:
    return caller.id if target == "self" else t.account(target).id


def _company_id(t: Tenancy, target: str) -> str | None:
    return None if target == "-" else t.tenant(target[0]).id


def _other_company_id(t: Tenancy, target: str) -> str:
    return t.b.id if target.startswith("A") else t.a.id


def _new_user(role: str) -> Callable[[Tenancy, Account, str], Call]:
    def call(t: Tenancy, caller: Account, target: str) -> Call:
        email = f"new-{uuid.uuid4().hex[:10]}@example.com"
        return Call("POST", "/users", {"email": email, "role": role, "company_id": _company_id(t, target)})
    return call


def _set_role(role: str) -> Callable[[Tenancy, Account, str], Call]:
    def call(t: Tenancy, caller: Account, target: str) -> Call:
        return Call("PUT", f"/users/{_user_id(t, caller, target)}/role", {"role": role})
    return call


ENDPOINTS: dict[str, Callable[[Tenancy, Account, str], Call]] = {
    "GET /users?company_id=": lambda t, me, target: Call("GET", f"/users?company_id={_company_id(t, target)}"),
    "POST /users {role: user}": _new_user("user"),
    "POST /users {role: operator}": _new_user("operator"),
    "POST /users {role: partner}": _new_user("partner"),
    "POST /users {role: admin}": _new_user("admin"),
    "GET /users/{id}": lambda t, me, target: Call("GET", f"/users/{_user_id(t, me, target)}"),
    "PUT /users/{id}": lambda t, me, target: Call("PUT", f"/users/{_user_id(t, me, target)}",
                                                  {"first_name": "Matrix"}),
    "DELETE /users/{id}": lambda t, me, target: Call("DELETE", f"/users/{_user_id(t, me, target)}"),
    "PUT /users/{id}/role {role: user}": _set_role("user"),
    "PUT /users/{id}/role {role: operator}": _set_role("operator"),
    "PUT /users/{id}/role {role: partner}": _set_role("partner"),
    "PUT /users/{id}/role {role: admin}": _set_role("admin"),
    "PUT /users/{id}/company": lambda t, me, target: Call("PUT", f"/users/{_user_id(t, me, target)}/company",
                                                          {"company_id": _other_company_id(t, target)}),
    "GET /companies": lambda t, me, target: Call("GET", "/companies"),
    "POST /companies": lambda t, me, target: Call("POST", "/companies", {"name": f"New {uuid.uuid4().hex[:10]}"}),
    "GET /companies/{id}": lambda t, me, target: Call("GET", f"/companies/{_company_id(t, target)}"),
    "PUT /companies/{id}": lambda t, me, target: Call("PUT", f"/companies/{_company_id(t, target)}",
                                                      {"description": "Matrix"}),
    "DELETE /companies/{id}": lambda t, me, target: Call("DELETE", f"/companies/{_company_id(t, target)}"),
    "GET /companies/{id}/users": lambda t, me, target: Call("GET", f"/companies/{_company_id(t, target)}/users"),
}


def _caller(t: Tenancy, caller: str) -> Account:
    return t.admin if caller == "admin" else t.account(f"A-{caller}")


async def _answer(client: httpx.AsyncClient, t: Tenancy, row: Row) -> int:
    caller = _caller(t, row.caller)
    call = ENDPOINTS[row.endpoint](t, caller, row.target)
    response = await client.request(call.method, API + call.path, json=call.body, headers=caller.headers)
    return response.status_code


def test_the_matrix_covers_every_endpoint_for_every_role_in_both_companies() -> None:
    covered = {(row.caller, row.endpoint.split(" {")[0], row.target[0]) for row in MATRIX}

    expected = {(caller, endpoint.split(" {")[0], company)
                for caller in ("admin", "partner", "operator", "user")
                for endpoint in ENDPOINTS if "{role: user}" in endpoint or " {" not in endpoint
                for company in (("-",) if endpoint in ("GET /companies", "POST /companies") else ("A", "B"))}

    assert expected - covered == set()


@pytest.mark.parametrize("caller", ["admin", "partner", "operator", "user"])
async def test_every_role_gets_exactly_the_status_of_the_permission_table(
        client: httpx.AsyncClient, tenancy: Tenancy, caller: str) -> None:
    # Deletions last, so every other row still finds its target in place.
    rows = sorted((row for row in MATRIX if row.caller == caller), key=lambda row: row.endpoint.startswith("DELETE"))

    answers = [await _answer(client, tenancy, row) for row in rows]

    wrong = [f"{row}  but got {answer}" for row, answer in zip(rows, answers, strict=True) if answer != row.status]
    assert wrong == [], "\n" + "\n".join(wrong)
