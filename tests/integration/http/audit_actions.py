"""Every audited action of SPEC §6, as a step a table-driven test can arrange and perform through
the API (or, for keys and retention, through the container as the CLI does). A `Stage` holds what
the steps made, by name, and every secret they saw, so a test can check none reached a record."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
import pyotp

from auth_service.bootstrap import Container
from tests.doubles import FixedClock, Mailbox
from tests.integration.http import flows, tenants
from tests.integration.http.flows import API, OTHER_PASSWORD, PASSWORD, bearer, link_token, login, verification_code
from tests.integration.http.tenants import Account, create_admin, create_member

USER_AGENT = "audit-completeness/1.0"
ADA = "ada@example.com"
WRONG_PASSWORD = "not the right password at all"


@dataclass
class Stage:
    """What a case works with: the app, named ids (`ids["member"]`) and every secret it saw."""

    client: httpx.AsyncClient
    container: Container
    mailbox: Mailbox
    clock: FixedClock
    ids: dict[str, str] = field(default_factory=dict)
    secrets: set[str] = field(default_factory=lambda: {PASSWORD, OTHER_PASSWORD, WRONG_PASSWORD})
    accounts: dict[str, Account] = field(default_factory=dict)

    def saw(self, body: Any) -> None:
        if isinstance(body, dict):
            self.secrets.update(str(body[k]) for k in ("access_token", "refresh_token", "mfa_token", "secret")
                                if body.get(k))
            self.secrets.update(body.get("backup_codes") or ())

    async def post(self, path: str, account: str | None = None, **kwargs: Any) -> httpx.Response:
        return await self.request("POST", path, account, **kwargs)

    async def request(self, method: str, path: str, account: str | None = None, **kwargs: Any) -> httpx.Response:
        headers = {"User-Agent": USER_AGENT, **(bearer(self.token(account)) if account else {})}
        response = await self.client.request(method, f"{API}{path}", headers=headers, **kwargs)
        if response.headers.get("content-type", "").startswith("application/json"):
            self.saw(response.json())
        return response

    def token(self, account: str) -> str:
        return self.accounts[account].access_token

    async def admin(self) -> None:
        if "admin" not in self.accounts:
            self.accounts["admin"] = admin = await create_admin(self.client, self.container)
            self.ids["admin"] = admin.id
            self.saw(admin.tokens)

    async def company(self, label: str) -> str:
        await self.admin()
        if label not in self.ids:
            self.ids[label] = await tenants.create_company(self.client, self.accounts["admin"], f"Company {label}")
        return self.ids[label]

    async def member(self, name: str = "member", role: str = "user", company: str = "A") -> Account:
        """A user of company A (so records have a company to name), signed in."""
        company_id = await self.company(company)
        account = await create_member(self.client, self.accounts["admin"], f"{name}@example.com", role, company_id)
        self.accounts[name], self.ids[name] = account, account.id
        self.ids["session"] = account.tokens["session_id"]
        self.saw(account.tokens)
        return account

    async def registered(self) -> str:
        response = await flows.register(self.client, ADA)
        assert response.status_code == 201, response.text
        self.ids["user"] = response.json()["user_id"]
        message = await self.mailbox.wait_for(ADA, "Verify your email")
        self.secrets.update({link_token(message), verification_code(message)})
        return link_token(message)

    async def mail_token(self, address: str, subject: str) -> str:
        token = link_token(await self.mailbox.wait_for(address, subject))
        self.secrets.add(token)
        return token


Step = Callable[[Stage], Awaitable[httpx.Response | None]]


async def nothing(stage: Stage) -> None:
    return None


async def register(stage: Stage) -> httpx.Response:
    response = await stage.post("/auth/register", json={"email": ADA, "password": PASSWORD})
    stage.ids["user"] = response.json()["user_id"]
    return response


async def pending(stage: Stage) -> None:
    stage.ids["link"] = await stage.registered()


async def verify(stage: Stage) -> httpx.Response:
    return await stage.post("/auth/verify-email", json={"token": stage.ids["link"]})


async def pending_past_cooldown(stage: Stage) -> None:
    await pending(stage)
    stage.clock.advance(61)


async def pending_past_window(stage: Stage) -> None:
    await pending(stage)
    stage.clock.advance(25 * 3600)


async def resend(stage: Stage) -> httpx.Response:
    return await stage.post("/auth/verify-email/resend", json={"email": ADA})


async def member(stage: Stage) -> None:
    await stage.member()


async def log_in(stage: Stage) -> httpx.Response:
    response = await stage.post("/auth/login", json={"email": "member@example.com", "password": PASSWORD})
    stage.ids["new_session"] = response.json()["session_id"]
    return response


async def wrong_password(stage: Stage) -> httpx.Response:
    return await stage.post("/auth/login", json={"email": "member@example.com", "password": WRONG_PASSWORD})


async def unknown_email(stage: Stage) -> httpx.Response:
    # People type passwords into email fields: the typed text must not reach the record.
    stage.secrets.add("nobody-correct-horse@example.com")
    return await stage.post("/auth/login", json={"email": "nobody-correct-horse@example.com", "password": PASSWORD})


async def member_failing_four_times(stage: Stage) -> None:
    await stage.member()
    for _ in range(4):
        assert (await wrong_password(stage)).status_code == 401


async def refresh(stage: Stage) -> httpx.Response:
    return await stage.post("/auth/refresh", json={"refresh_token": stage.accounts["member"].refresh_token})


async def member_refreshed_long_ago(stage: Stage) -> None:
    await stage.member()
    assert (await refresh(stage)).status_code == 200
    stage.clock.advance(11)  # past REFRESH_REUSE_INTERVAL: presenting the old token again is a replay


async def log_out(stage: Stage) -> httpx.Response:
    return await stage.post("/auth/logout", "member")


async def log_out_all(stage: Stage) -> httpx.Response:
    return await stage.post("/auth/logout-all", "member")


async def member_with_a_second_session(stage: Stage) -> None:
    await stage.member()
    second = await login(stage.client, "member@example.com")
    stage.saw(second)
    stage.ids["second_session"] = second["session_id"]


async def revoke_my_other_session(stage: Stage) -> httpx.Response:
    return await stage.request("DELETE", f"/users/me/sessions/{stage.ids['second_session']}", "member")


async def revoke_refresh_token(stage: Stage) -> httpx.Response:
    return await stage.post("/auth/revoke", data={"token": stage.accounts["member"].refresh_token})


async def forgot(stage: Stage) -> httpx.Response:
    return await stage.post("/auth/forgot-password", json={"email": "member@example.com"})


async def member_with_a_reset_link(stage: Stage) -> None:
    await stage.member()
    assert (await forgot(stage)).status_code == 202
    stage.ids["reset"] = await stage.mail_token("member@example.com", "Reset your password")


async def reset(stage: Stage) -> httpx.Response:
    return await stage.post("/auth/reset-password", json={"token": stage.ids["reset"], "new_password": OTHER_PASSWORD})


async def change_password(stage: Stage) -> httpx.Response:
    body = {"current_password": PASSWORD, "new_password": OTHER_PASSWORD}
    return await stage.post("/auth/change-password", "member", json=body)


async def change_password_wrongly(stage: Stage) -> httpx.Response:
    body = {"current_password": WRONG_PASSWORD, "new_password": OTHER_PASSWORD}
    return await stage.post("/auth/change-password", "member", json=body)


async def admin_and_company(stage: Stage) -> None:
    await stage.company("A")


async def create_user(stage: Stage) -> httpx.Response:
    body = {"email": "new@example.com", "role": "operator", "company_id": stage.ids["A"], "password": PASSWORD}
    response = await stage.post("/users", "admin", json=body)
    stage.ids["new_user"] = response.json()["id"]
    return response


async def update_user(stage: Stage) -> httpx.Response:
    return await stage.request("PUT", f"/users/{stage.ids['member']}", "admin", json={"first_name": "Ada"})


async def update_me(stage: Stage) -> httpx.Response:
    return await stage.request("PATCH", "/users/me", "member", json={"first_name": "Ada"})


async def delete_user(stage: Stage) -> httpx.Response:
    return await stage.request("DELETE", f"/users/{stage.ids['member']}", "admin")


async def change_role(stage: Stage) -> httpx.Response:
    return await stage.request("PUT", f"/users/{stage.ids['member']}/role", "admin", json={"role": "operator"})


async def member_and_company_b(stage: Stage) -> None:
    await stage.member()
    await stage.company("B")


async def change_company(stage: Stage) -> httpx.Response:
    body = {"company_id": stage.ids["B"]}
    return await stage.request("PUT", f"/users/{stage.ids['member']}/company", "admin", json=body)


async def create_company(stage: Stage) -> httpx.Response:
    response = await stage.post("/companies", "admin", json={"name": "Initech"})
    stage.ids["new_company"] = response.json()["id"]
    return response


async def update_company(stage: Stage) -> httpx.Response:
    return await stage.request("PUT", f"/companies/{stage.ids['A']}", "admin", json={"description": "Widgets"})


async def delete_company(stage: Stage) -> httpx.Response:
    return await stage.request("DELETE", f"/companies/{stage.ids['A']}", "admin")


async def export(stage: Stage) -> httpx.Response:
    return await stage.request("GET", "/audit/logs/export", "admin", params={"format": "ndjson"})


async def old_records(stage: Stage) -> None:
    await member(stage)
    stage.clock.advance(3 * 86400)


async def purge(stage: Stage) -> None:
    assert await stage.container.purge_audit(1) > 0


async def rotate_keys(stage: Stage) -> None:
    stage.ids["kid"] = await stage.container.rotate_keys(now=False)


async def a_published_key(stage: Stage) -> None:
    await rotate_keys(stage)


async def revoke_key(stage: Stage) -> None:
    assert await stage.container.revoke_key(stage.ids["kid"])


def code(stage: Stage) -> str:
    code = pyotp.TOTP(stage.ids["totp"]).at(stage.clock.now())
    stage.secrets.add(code)
    return code


async def enable_mfa(stage: Stage, password: str = PASSWORD) -> httpx.Response:
    return await stage.post("/auth/mfa/enable", "member", json={"password": password})


async def member_enrolling(stage: Stage) -> None:
    await stage.member()
    response = await enable_mfa(stage)
    assert response.status_code == 200, response.text
    stage.ids["totp"] = response.json()["secret"]


async def confirm_mfa(stage: Stage) -> httpx.Response:
    return await stage.post("/security/mfa/verify", "member", json={"code": code(stage)})


async def enable_mfa_wrongly(stage: Stage) -> httpx.Response:
    return await enable_mfa(stage, WRONG_PASSWORD)


async def member_with_mfa(stage: Stage) -> None:
    await member_enrolling(stage)
    assert (await confirm_mfa(stage)).status_code == 200
    stage.clock.advance(30)  # the next TOTP step: the confirming code is spent


async def member_halfway_through_an_mfa_login(stage: Stage) -> None:
    await member_with_mfa(stage)
    response = await stage.post("/auth/login", json={"email": "member@example.com", "password": PASSWORD})
    assert response.json()["mfa_required"] is True, response.text
    stage.ids["mfa_token"] = response.json()["mfa_token"]


async def answer_the_challenge(stage: Stage) -> httpx.Response:
    response = await stage.post("/auth/mfa/verify", json={"mfa_token": stage.ids["mfa_token"], "code": code(stage)})
    stage.ids["new_session"] = response.json()["session_id"]
    return response


async def answer_the_challenge_wrongly(stage: Stage) -> httpx.Response:
    valid = {pyotp.TOTP(stage.ids["totp"]).at(stage.clock.now() + timedelta(seconds=30 * n)) for n in (-1, 0, 1)}
    wrong = next(code for code in ("000000", "111111", "222222") if code not in valid)
    return await stage.post("/auth/mfa/verify", json={"mfa_token": stage.ids["mfa_token"], "code": wrong})


async def regenerate_backup_codes(stage: Stage) -> httpx.Response:
    return await stage.post("/security/mfa/backup", "member", json={"password": PASSWORD, "code": code(stage)})


async def disable_mfa(stage: Stage) -> httpx.Response:
    return await stage.post("/security/mfa/disable", "member", json={"password": PASSWORD, "code": code(stage)})
