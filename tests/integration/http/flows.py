"""Small steps of the account lifecycle that many HTTP tests go through."""

from __future__ import annotations

import re
from typing import Any

import httpx

from auth_service.application.ports import EmailMessage
from tests.doubles import Mailbox

API = "/api/v1"
PASSWORD = "correct horse battery staple"
OTHER_PASSWORD = "purple elephant dancing quietly"


def bearer(access_token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {access_token}"}


def link_token(message: EmailMessage) -> str:
    match = re.search(r"#token=([A-Za-z0-9_-]+)", message.body)
    assert match, message.body
    return match.group(1)


def verification_code(message: EmailMessage) -> str:
    match = re.search(r"^Verification code: (\d{6})$", message.body, re.MULTILINE)
    assert match, message.body
    return match.group(1)


async def register(client: httpx.AsyncClient, email: str, password: str = PASSWORD, **extra: Any) -> httpx.Response:
    return await client.post(f"{API}/auth/register", json={"email": email, "password": password, **extra})


async def register_verified(client: httpx.AsyncClient, mailbox: Mailbox, email: str,
                            password: str = PASSWORD) -> str:
    response = await register(client, email, password)
    assert response.status_code == 201, response.text
    message = await mailbox.wait_for(email, "Verify your email")
    verified = await client.post(f"{API}/auth/verify-email", json={"token": link_token(message)})
    assert verified.status_code == 200, verified.text
    user_id: str = response.json()["user_id"]
    return user_id


async def login(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> dict[str, Any]:
    response = await client.post(f"{API}/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    tokens: dict[str, Any] = response.json()
    return tokens


async def signed_in(client: httpx.AsyncClient, mailbox: Mailbox, email: str,
                    password: str = PASSWORD) -> dict[str, Any]:
    await register_verified(client, mailbox, email, password)
    return await login(client, email, password)


def error_code(response: httpx.Response) -> str:
    code: str = response.json()["error"]["code"]
    return code
