"""A realistic tenancy seeded through the real API (SPEC §4, §5): an admin, companies A and B
each with a partner, an operator and a user, and a self-registered user without a company,
every one of them signed in."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from auth_service.application.commands.create_admin import CreateAdmin
from auth_service.bootstrap import Container
from tests.doubles import Mailbox
from tests.integration.http.flows import API, PASSWORD, bearer, login, register_verified

ADMIN_EMAIL = "admin@example.com"
LONER_EMAIL = "loner@example.com"
MEMBER_ROLES = ("partner", "operator", "user")


@dataclass(frozen=True, slots=True)
class Account:
    id: str
    email: str
    tokens: dict[str, Any]

    @property
    def access_token(self) -> str:
        token: str = self.tokens["access_token"]
        return token

    @property
    def refresh_token(self) -> str:
        token: str = self.tokens["refresh_token"]
        return token

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.access_token)


@dataclass(frozen=True, slots=True)
class Tenant:
    id: str
    name: str
    partner: Account
    operator: Account
    user: Account


@dataclass(frozen=True, slots=True)
class Tenancy:
    admin: Account
    a: Tenant
    b: Tenant
    loner: Account  # self-registered, in no company

    def account(self, label: str) -> Account:
        """`admin`, `loner`, or `<A|B>-<partner|operator|user>`."""
        if label in ("admin", "loner"):
            account: Account = getattr(self, label)
            return account
        company, role = label.split("-")
        member: Account = getattr(self.tenant(company), role)
        return member

    def tenant(self, label: str) -> Tenant:
        return {"A": self.a, "B": self.b}[label]


async def create_company(client: httpx.AsyncClient, admin: Account, name: str) -> str:
    response = await client.post(f"{API}/companies", json={"name": name}, headers=admin.headers)
    assert response.status_code == 201, response.text
    company_id: str = response.json()["id"]
    return company_id


async def create_member(client: httpx.AsyncClient, creator: Account, email: str, role: str,
                        company_id: str | None, password: str = PASSWORD) -> Account:
    """POST /users with a password, then log in as the new user."""
    body = {"email": email, "role": role, "company_id": company_id, "password": password}
    response = await client.post(f"{API}/users", json=body, headers=creator.headers)
    assert response.status_code == 201, response.text
    return Account(response.json()["id"], email, await login(client, email, password))


async def create_admin(client: httpx.AsyncClient, container: Container, email: str = ADMIN_EMAIL) -> Account:
    admin_id = await container.create_admin(CreateAdmin(email, PASSWORD))
    assert admin_id is not None
    return Account(admin_id, email, await login(client, email))


async def seed_tenancy(client: httpx.AsyncClient, container: Container, mailbox: Mailbox) -> Tenancy:
    admin = await create_admin(client, container)
    tenants = []
    for label in ("A", "B"):
        company_id = await create_company(client, admin, f"Company {label}")
        members = [await create_member(client, admin, f"{role}@{label.lower()}.example.com", role, company_id)
                   for role in MEMBER_ROLES]
        tenants.append(Tenant(company_id, f"Company {label}", *members))
    loner_id = await register_verified(client, mailbox, LONER_EMAIL)
    loner = Account(loner_id, LONER_EMAIL, await login(client, LONER_EMAIL))
    return Tenancy(admin, tenants[0], tenants[1], loner)
