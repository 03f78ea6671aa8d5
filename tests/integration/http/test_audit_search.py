"""Searching the audit trail (SPEC §6): filters and their combinations, pagination, partner
scoping of list, export and statistics, and a user's own security log.

The expected answers come from the whole trail as an admin sees it, filtered here in Python: the
test seeds records spread over five weeks, each at its own instant, so "newest first" is one order."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from auth_service.application.commands.create_admin import CreateAdmin
from auth_service.bootstrap import Container
from auth_service.domain.audit import AuditRecord
from tests.doubles import FixedClock
from tests.integration.http.flows import API, PASSWORD, error_code, login
from tests.integration.http.tenants import ADMIN_EMAIL, Account, Tenancy

ADA, BOB = "USR-" + "ada".ljust(16, "0"), "USR-" + "bob".ljust(16, "0")
COMPANY_A, COMPANY_B = "CMP-" + "a".ljust(16, "0"), "CMP-" + "b".ljust(16, "0")
IPS = ("198.51.100.1", "198.51.100.2", "2001:db8::1")
ACTIONS = ("auth.login_succeeded", "auth.login_failed", "user.updated", "company.updated", "auth.account_locked")
SEEDED = 48
SPACING = timedelta(hours=17)  # 48 records over 34 days: some older than the 30 days of statistics

Item = dict[str, Any]


def _seeded_record(i: int, now: datetime, company_a: str, company_b: str) -> AuditRecord:
    action = ACTIONS[i % len(ACTIONS)]
    target = {"auth": ("session", f"SES-{i:016d}"), "user": ("user", (BOB, ADA)[i % 2]),
              "company": ("company", company_a)}[action.split(".")[0]]
    return AuditRecord(
        action=action, outcome="failure" if action in ("auth.login_failed", "auth.account_locked") else "success",
        occurred_at=now - timedelta(minutes=5) - i * SPACING, actor_id=(ADA, BOB, None)[i % 3],
        target_type=target[0], target_id=target[1], company_id=(company_a, company_b, None, company_a)[i % 4],
        ip=IPS[i % 3], user_agent="seed", trace_id=f"trace-{i}", details={"n": i})


async def seed(container: Container, now: datetime, companies: tuple[str, str] = (COMPANY_A, COMPANY_B)) -> list[str]:
    async with container.uow() as uow:
        records = [_seeded_record(i, now, *companies) for i in range(SEEDED)]
        for record in records:
            await uow.audit.add(record)
        await uow.commit()
    return [record.id for record in records]


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def at(item: Item) -> datetime:
    return datetime.fromisoformat(item["occurred_at"])


async def logs(client: httpx.AsyncClient, account: Account, path: str = "/audit/logs", **params: Any) -> Item:
    response = await client.get(f"{API}{path}", params=params, headers=account.headers)
    assert response.status_code == 200, response.text
    body: Item = response.json()
    return body


async def everything(client: httpx.AsyncClient, admin: Account) -> list[Item]:
    """The whole trail, newest first, as an admin sees it."""
    body = await logs(client, admin, page_size=100)
    assert body["total"] == len(body["items"]), "the tests keep the trail under one page"
    items: list[Item] = body["items"]
    return items


def ids(items: list[Item]) -> list[str]:
    return [item["id"] for item in items]


@pytest.fixture
async def admin(client: httpx.AsyncClient, container: Container, clock: FixedClock) -> Account:
    # Every record at its own instant, so that newest first is a single order.
    admin_id = await container.create_admin(CreateAdmin(ADMIN_EMAIL, PASSWORD))
    clock.advance(1)
    tokens = await login(client, ADMIN_EMAIL)
    clock.advance(1)
    assert admin_id is not None
    return Account(admin_id, ADMIN_EMAIL, tokens)


@pytest.fixture
async def seeded(container: Container, clock: FixedClock, admin: Account) -> list[str]:
    return await seed(container, clock.now())


# -- filters ------------------------------------------------------------------------------------

Predicate = Callable[[Item, datetime], bool]
FILTERS: list[tuple[str, dict[str, Any], Predicate]] = [
    ("one action", {"action": "auth.login_failed"}, lambda r, now: r["action"] == "auth.login_failed"),
    ("a comma list of actions", {"action": "auth.login_failed, auth.account_locked"},
     lambda r, now: r["action"] in ("auth.login_failed", "auth.account_locked")),
    ("outcome", {"outcome": "failure"}, lambda r, now: r["outcome"] == "failure"),
    ("actor", {"actor_id": BOB}, lambda r, now: r["actor_id"] == BOB),
    ("target type", {"target_type": "company"}, lambda r, now: r["target_type"] == "company"),
    ("target id", {"target_id": ADA}, lambda r, now: r["target_id"] == ADA),
    ("company", {"company_id": COMPANY_B}, lambda r, now: r["company_id"] == COMPANY_B),
    ("ip", {"ip": "2001:db8::1"}, lambda r, now: r["ip"] == "2001:db8::1"),
    ("from, inclusive", {"from": timedelta(hours=10 * 17, minutes=5)},  # the time of the 11th record
     lambda r, now: at(r) >= now - timedelta(hours=10 * 17, minutes=5)),
    ("to, exclusive", {"to": timedelta(hours=20 * 17, minutes=5)},  # the time of the 21st record
     lambda r, now: at(r) < now - timedelta(hours=20 * 17, minutes=5)),
    ("action, outcome and company", {"action": "auth.login_succeeded,auth.login_failed", "outcome": "success",
                                     "company_id": COMPANY_A},
     lambda r, now: r["action"] == "auth.login_succeeded" and r["company_id"] == COMPANY_A),
    ("actor, ip and a time window", {"actor_id": ADA, "ip": IPS[0], "from": timedelta(days=20),
                                     "to": timedelta(days=3)},
     lambda r, now: r["actor_id"] == ADA and r["ip"] == IPS[0]
     and now - timedelta(days=20) <= at(r) < now - timedelta(days=3)),
    ("target type and id", {"target_type": "user", "target_id": BOB},
     lambda r, now: (r["target_type"], r["target_id"]) == ("user", BOB)),
]


@pytest.mark.usefixtures("seeded")
@pytest.mark.parametrize(("params", "wanted"), [(p, w) for _, p, w in FILTERS], ids=[n for n, _, _ in FILTERS])
async def test_a_filter_returns_exactly_the_matching_records_newest_first(
        client: httpx.AsyncClient, clock: FixedClock, admin: Account, params: dict[str, Any],
        wanted: Predicate) -> None:
    now = clock.now()
    query = {k: stamp(now - v) if isinstance(v, timedelta) else v for k, v in params.items()}
    expected = [item for item in await everything(client, admin) if wanted(item, now)]

    body = await logs(client, admin, page_size=100, **query)

    assert expected, "a filter that matches nothing proves little"
    assert ids(body["items"]) == ids(expected)
    assert body["total"] == len(expected)


async def test_the_unfiltered_trail_is_every_record_newest_first(
        client: httpx.AsyncClient, container: Container, admin: Account, seeded: list[str]) -> None:
    stored = await _stored_ids(container)

    items = await everything(client, admin)

    assert set(ids(items)) == stored and set(seeded) <= stored
    assert [at(item) for item in items] == sorted((at(item) for item in items), reverse=True)
    assert len({at(item) for item in items}) == len(items)


async def _stored_ids(container: Container) -> set[str]:
    async with container.sessionmaker() as session:
        return set((await session.scalars(text("SELECT id FROM audit_logs"))).all())


@pytest.mark.usefixtures("seeded")
async def test_a_time_without_an_offset_is_read_as_utc(
        client: httpx.AsyncClient, clock: FixedClock, admin: Account) -> None:
    since = clock.now() - timedelta(days=4)
    expected = [item for item in await everything(client, admin) if at(item) >= since]

    body = await logs(client, admin, page_size=100, **{"from": since.replace(tzinfo=None).isoformat()})

    assert ids(body["items"]) == ids(expected)


@pytest.mark.usefixtures("seeded")
async def test_pages_come_newest_first_without_overlap_and_add_up_to_the_total(
        client: httpx.AsyncClient, admin: Account) -> None:
    expected = await everything(client, admin)

    pages = [await logs(client, admin, page=n, page_size=7) for n in range(1, 10)]

    assert all(page["total"] == len(expected) for page in pages)
    assert [len(page["items"]) for page in pages] == [7] * 7 + [len(expected) - 49, 0]
    assert [item["id"] for page in pages for item in page["items"]] == ids(expected)
    assert (pages[0]["page"], pages[0]["page_size"]) == (1, 7)


@pytest.mark.parametrize("path", ["/audit/logs", "/security/audit-log"])
async def test_a_page_size_over_100_is_refused(client: httpx.AsyncClient, admin: Account, path: str) -> None:
    response = await client.get(f"{API}{path}", params={"page_size": 101}, headers=admin.headers)

    assert response.status_code == 422
    assert error_code(response) == "validation_error"


@pytest.mark.parametrize("params", [{"outcome": "maybe"}, {"target_type": "robot"}, {"from": "yesterday"}])
async def test_an_invalid_filter_is_refused(client: httpx.AsyncClient, admin: Account,
                                            params: dict[str, str]) -> None:
    response = await client.get(f"{API}/audit/logs", params=params, headers=admin.headers)

    assert response.status_code == 422
    assert error_code(response) == "validation_error"


# -- partner scoping ----------------------------------------------------------------------------

@pytest.fixture
async def trail(client: httpx.AsyncClient, container: Container, clock: FixedClock, tenancy: Tenancy) -> list[Item]:
    """The tenancy's own records plus seeded ones in companies A and B, as the admin sees them."""
    await seed(container, clock.now(), (tenancy.a.id, tenancy.b.id))
    return await everything(client, tenancy.admin)


async def test_a_partner_lists_only_its_own_companys_records(
        client: httpx.AsyncClient, tenancy: Tenancy, trail: list[Item]) -> None:
    expected = [item for item in trail if item["company_id"] == tenancy.a.id]

    body = await logs(client, tenancy.a.partner, page_size=100)
    other = await logs(client, tenancy.a.partner, page_size=100, company_id=tenancy.b.id)

    assert expected and ids(body["items"]) == ids(expected) and body["total"] == len(expected)
    assert (other["items"], other["total"]) == ([], 0)


async def test_a_partner_exports_only_its_own_companys_records(
        client: httpx.AsyncClient, tenancy: Tenancy, trail: list[Item]) -> None:
    expected = [item for item in trail if item["company_id"] == tenancy.a.id]

    mine = await client.get(f"{API}/audit/logs/export", params={"format": "ndjson"},
                            headers=tenancy.a.partner.headers)
    other = await client.get(f"{API}/audit/logs/export", params={"format": "ndjson", "company_id": tenancy.b.id},
                             headers=tenancy.a.partner.headers)

    assert mine.status_code == other.status_code == 200
    exported = [json.loads(line) for line in mine.text.splitlines()]
    # The export is recorded before its stream starts, so it is in it too.
    assert [item["action"] for item in exported if item["id"] not in ids(expected)] == ["audit.exported"]
    assert [item["id"] for item in exported if item["action"] != "audit.exported"] == ids(expected)
    assert other.text == ""


async def test_a_partners_statistics_count_only_its_own_companys_records(
        client: httpx.AsyncClient, clock: FixedClock, tenancy: Tenancy, trail: list[Item]) -> None:
    recent = [item for item in trail if at(item) >= clock.now() - timedelta(days=30)]

    mine = await logs(client, tenancy.a.partner, "/audit/statistics")
    other = await logs(client, tenancy.a.partner, "/audit/statistics", company_id=tenancy.b.id)

    assert mine["total"] == len([item for item in recent if item["company_id"] == tenancy.a.id]) > 0
    assert other["total"] == 0 and other["by_action"] == {}


@pytest.mark.parametrize("path", ["/audit/logs", "/audit/logs/export", "/audit/statistics"])
@pytest.mark.parametrize("who", ["A-operator", "A-user", "loner"])
async def test_operators_and_users_may_not_read_the_audit_trail(
        client: httpx.AsyncClient, tenancy: Tenancy, path: str, who: str) -> None:
    response = await client.get(f"{API}{path}", headers=tenancy.account(who).headers)

    assert response.status_code == 403
    assert error_code(response) == "forbidden"


# -- a user's own log ---------------------------------------------------------------------------

async def test_my_security_log_holds_what_i_did_and_what_was_done_to_me_without_the_others_whereabouts(
        client: httpx.AsyncClient, tenancy: Tenancy) -> None:
    me = tenancy.a.user
    edited = await client.put(f"{API}/users/{me.id}", json={"first_name": "Ada"},
                              headers={**tenancy.admin.headers, "User-Agent": "admin-console"})
    assert edited.status_code == 200, edited.text
    expected = [item for item in await everything(client, tenancy.admin)
                if item["actor_id"] == me.id or (item["target_type"], item["target_id"]) == ("user", me.id)]

    body = await logs(client, me, "/security/audit-log", page_size=100)

    assert ids(body["items"]) == ids(expected) and body["total"] == len(expected)
    mine = [item for item in body["items"] if item["actor_id"] == me.id]
    others = [item for item in body["items"] if item["actor_id"] != me.id]
    assert mine and all(item["ip"] == "203.0.113.7" and item["user_agent"] for item in mine)
    assert {item["action"] for item in others} == {"user.created", "user.updated"}
    assert all(item["ip"] is None and item["user_agent"] is None for item in others)


async def test_my_security_log_needs_a_signed_in_caller(client: httpx.AsyncClient) -> None:
    response = await client.get(f"{API}/security/audit-log")

    assert response.status_code == 401
    assert error_code(response) == "unauthenticated"


# -- statistics ---------------------------------------------------------------------------------

async def _set_time_zone(container: Container, zone: str | None) -> None:
    setting = f"SET timezone TO '{zone}'" if zone else "RESET timezone"
    async with container.engine.begin() as connection:
        name = (await connection.execute(text("SELECT current_database()"))).scalar_one()
        await connection.execute(text(f'ALTER DATABASE "{name}" {setting}'))
    await container.engine.dispose()  # new connections take the new zone


@pytest.fixture
async def far_from_utc(container: Container) -> AsyncIterator[None]:
    """On PostgreSQL, sessions in UTC+14: days must still be counted in UTC (SQLite has no zone)."""
    if container.engine.dialect.name == "sqlite":
        yield
        return
    await _set_time_zone(container, "Pacific/Kiritimati")
    try:
        yield
    finally:
        await _set_time_zone(container, None)


def _statistics(items: list[Item]) -> dict[str, Any]:
    by_action, by_outcome = Counter(i["action"] for i in items), Counter(i["outcome"] for i in items)
    days = Counter(at(i).astimezone(UTC).date().isoformat() for i in items)
    return {"total": len(items), "by_action": dict(by_action), "by_outcome": dict(by_outcome),
            "by_day": [{"date": day, "count": days[day]} for day in sorted(days)],
            "failed_logins": by_action["auth.login_failed"], "locked_accounts": by_action["auth.account_locked"]}


@pytest.mark.usefixtures("seeded", "far_from_utc")
async def test_statistics_cover_the_last_30_days_by_default(
        client: httpx.AsyncClient, clock: FixedClock, admin: Account) -> None:
    everything_ = await everything(client, admin)
    recent = [item for item in everything_ if at(item) >= clock.now() - timedelta(days=30)]

    body = await logs(client, admin, "/audit/statistics")

    assert len(recent) < len(everything_)
    assert body == _statistics(recent)


@pytest.mark.usefixtures("seeded", "far_from_utc")
async def test_statistics_count_the_records_of_the_window_asked_for(
        client: httpx.AsyncClient, clock: FixedClock, admin: Account) -> None:
    since, until = clock.now() - timedelta(days=33), clock.now() - timedelta(days=10)
    window = [item for item in await everything(client, admin) if since <= at(item) < until]

    body = await logs(client, admin, "/audit/statistics", **{"from": stamp(since), "to": stamp(until)})

    assert body == _statistics(window)
