"""Exporting the audit trail (SPEC §6): a streamed CSV or NDJSON attachment, in constant memory
however many records match, with spreadsheet formulas neutralised.

httpx's own ASGI transport collects the whole body before it returns a response, which would
hide whether the server streams; these tests read the body through a transport that hands each
chunk over as the app sends it, and measure the process's peak allocation with tracemalloc."""

from __future__ import annotations

import asyncio
import csv
import gc
import json
import tracemalloc
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import insert, text

from auth_service.bootstrap import Container
from auth_service.infrastructure.db.tables import AuditLogRow
from auth_service.interfaces.http.routes.audit import CSV_COLUMNS
from tests.doubles import FixedClock
from tests.integration.http.flows import API
from tests.integration.http.tenants import Account, create_admin

RECORDS = 200_000
BULK_COMPANY = "CMP-" + "bulk".ljust(16, "0")
MIB = 1024 * 1024
PEAK_LIMIT = 30 * MIB
ACTIONS = ("auth.login_succeeded", "auth.login_failed", "auth.token_refreshed", "auth.logout", "user.updated")


class _StreamingTransport(httpx.AsyncBaseTransport):
    """An ASGI transport that streams the response body, with back-pressure: the app cannot run
    more than one chunk ahead of the reader."""

    def __init__(self, app: Any) -> None:
        self._app = app

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = b"".join([part async for part in request.stream])  # type: ignore[union-attr]
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": request.method,
                 "headers": [(k.lower(), v) for k, v in request.headers.raw], "scheme": "http",
                 "path": request.url.path, "raw_path": request.url.raw_path.split(b"?")[0],
                 "query_string": request.url.query, "server": ("testserver", 80),
                 "client": ("203.0.113.7", 40000), "root_path": ""}
        started: asyncio.Future[tuple[int, list[tuple[bytes, bytes]]]] = asyncio.get_running_loop().create_future()
        chunks: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=1)
        closed = asyncio.Event()
        request_sent = False

        async def receive() -> dict[str, Any]:
            nonlocal request_sent
            if not request_sent:
                request_sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await closed.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                started.set_result((message["status"], list(message.get("headers", []))))
            elif message["type"] == "http.response.body":
                if message.get("body"):
                    await chunks.put(message["body"])
                if not message.get("more_body"):
                    await chunks.put(None)

        async def run() -> None:
            try:
                await self._app(scope, receive, send)
            except BaseException as exc:
                if not started.done():
                    started.set_exception(exc)
                raise

        task = asyncio.create_task(run())
        status, headers = await started
        return httpx.Response(status, headers=headers, stream=_Body(chunks, task, closed))


class _Body(httpx.AsyncByteStream):
    def __init__(self, chunks: asyncio.Queue[bytes | None], task: asyncio.Task[None], closed: asyncio.Event) -> None:
        self._chunks, self._task, self._closed = chunks, task, closed

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while (chunk := await self._chunks.get()) is not None:
            yield chunk
        await self._task

    async def aclose(self) -> None:
        self._closed.set()
        if not self._task.done():
            self._task.cancel()


@pytest.fixture
async def admin(client: httpx.AsyncClient, container: Container) -> Account:
    return await create_admin(client, container)


@pytest.fixture
async def streaming(container: Container) -> AsyncIterator[httpx.AsyncClient]:
    transport = _StreamingTransport(container.app)  # type: ignore[attr-defined]
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


_ACTION = "CASE i % 5 " + " ".join(f"WHEN {n} THEN '{a}'" for n, a in enumerate(ACTIONS)) + " END"
_BULK_COLUMNS = ("id, seq, mac, occurred_at, action, outcome, actor_id, target_type, target_id, company_id, ip, "
                 "user_agent, trace_id, details")
_BULK_SQL = {
    # SQLite stores times as UTC text, as SQLAlchemy writes them.
    "sqlite": f"""WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < :count - 1)
        INSERT INTO audit_logs ({_BULK_COLUMNS})
        SELECT printf('AUD-%016d', i), 10000000 + i, :mac,
               strftime('%Y-%m-%d %H:%M:%S', :now, '-' || (i + 1) || ' seconds') || '.000000', {_ACTION},
               'success', printf('USR-%016d', i % 5000), 'session', printf('SES-%016d', i), :company, :ip,
               :user_agent, printf('%032x', i), json_object('n', i, 'method', 'password') FROM n""",
    "postgresql": f"""INSERT INTO audit_logs ({_BULK_COLUMNS})
        SELECT 'AUD-' || lpad(i::text, 16, '0'), 10000000 + i, :mac,
               CAST(:now AS timestamptz) - make_interval(secs => i + 1), {_ACTION},
               'success', 'USR-' || lpad((i % 5000)::text, 16, '0'), 'session', 'SES-' || lpad(i::text, 16, '0'),
               :company, :ip, :user_agent, lpad(to_hex(i), 32, '0'),
               jsonb_build_object('n', i, 'method', 'password') FROM generate_series(0, :count - 1) AS i""",
}


async def bulk_insert(container: Container, count: int, now: datetime) -> None:
    """`count` records, one a second back from `now`, generated by the database in one statement,
    already linked (the chain is not under test here)."""
    dialect = container.engine.dialect.name
    params = {"count": count, "mac": "0" * 64, "company": BULK_COMPANY, "ip": "198.51.100.7",
              "user_agent": "Mozilla/5.0 (X11; Linux x86_64) bulk/1.0",
              "now": now.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if dialect == "sqlite" else now}
    async with container.sessionmaker() as session:
        await session.execute(text(_BULK_SQL[dialect]), params)
        await session.commit()


async def download(client: httpx.AsyncClient, admin: Account, target: Path,
                   **params: str) -> tuple[httpx.Response, int, int]:
    """Stream an export to `target` chunk by chunk; the response, the bytes, and the peak
    number of bytes the process allocated meanwhile (server and client alike)."""
    gc.collect()
    tracemalloc.start()
    try:
        size = 0
        async with client.stream("GET", f"{API}/audit/logs/export", params=params, headers=admin.headers) as response:
            with target.open("wb") as out:
                async for chunk in response.aiter_raw():
                    size += out.write(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return response, size, peak


def csv_rows(path: Path) -> Iterator[list[str]]:
    with path.open(newline="", encoding="utf-8") as source:
        yield from csv.reader(source)


@pytest.mark.slow  # about 30-60 s per format and database, most of it tracemalloc's bookkeeping
@pytest.mark.parametrize("fmt", ["csv", "ndjson"])
async def test_two_hundred_thousand_records_stream_out_in_flat_memory(
        streaming: httpx.AsyncClient, container: Container, clock: FixedClock, admin: Account,
        tmp_path: Path, fmt: str) -> None:
    await bulk_insert(container, RECORDS, clock.now())
    target = tmp_path / f"export.{fmt}"

    response, size, peak = await download(streaming, admin, target, format=fmt, company_id=BULK_COMPANY)

    assert response.status_code == 200
    assert response.headers["content-disposition"] == f'attachment; filename="audit-logs.{fmt}"'
    if fmt == "csv":
        assert response.headers["content-type"].startswith("text/csv")
        assert tuple(next(csv_rows(target))) == CSV_COLUMNS
        assert Counter(len(row) for row in csv_rows(target)) == {len(CSV_COLUMNS): RECORDS + 1}
    else:
        assert response.headers["content-type"].startswith("application/x-ndjson")
        with target.open(encoding="utf-8") as lines:
            assert Counter(json.loads(line)["company_id"] for line in lines) == {BULK_COMPANY: RECORDS}
    # Materialising the export would take at least its own size; streaming takes a few chunks.
    assert peak < min(PEAK_LIMIT, size // 4), f"peak {peak / MIB:.1f} MiB for {size / MIB:.1f} MiB streamed"


async def _stored_record(container: Container, **fields: Any) -> None:
    values = {"id": "AUD-" + "formula".ljust(16, "0"), "seq": None, "mac": None,
              "occurred_at": datetime.now(UTC) - timedelta(days=1), "action": "auth.login_failed",
              "outcome": "failure", "actor_id": None, "target_type": None, "target_id": None, "company_id": None,
              "ip": None, "user_agent": None, "trace_id": None, "details": {}, **fields}
    async with container.sessionmaker() as session:
        await session.execute(insert(AuditLogRow).values(**values))
        await session.commit()


async def test_csv_cells_that_a_spreadsheet_would_run_as_formulas_are_neutralised(
        client: httpx.AsyncClient, container: Container, admin: Account) -> None:
    await _stored_record(container, user_agent="=HYPERLINK(\"http://evil.example\")", target_id="+1+1",
                         trace_id="-2-2", ip="@SUM(A1)", details={"note": "=1+1"})

    response = await client.get(f"{API}/audit/logs/export", params={"format": "csv", "action": "auth.login_failed"},
                                headers=admin.headers)

    rows = list(csv.reader(response.text.splitlines()))
    assert len(rows) == 2
    record = dict(zip(rows[0], rows[1], strict=True))
    assert record["user_agent"] == "'=HYPERLINK(\"http://evil.example\")"
    assert (record["target_id"], record["trace_id"], record["ip"]) == ("'+1+1", "'-2-2", "'@SUM(A1)")
    assert json.loads(record["details"]) == {"note": "=1+1"}  # a JSON object cell starts with "{"


async def test_an_export_holds_the_same_records_as_the_list_with_the_same_filters(
        client: httpx.AsyncClient, container: Container, clock: FixedClock, admin: Account) -> None:
    await bulk_insert(container, 2_500, clock.now())  # more than one chunk of the keyset walk
    params = {"action": "auth.login_failed,auth.logout", "from": (clock.now() - timedelta(hours=1)).isoformat()}
    listed = [(await client.get(f"{API}/audit/logs", params={**params, "page": n, "page_size": 100},
                                headers=admin.headers)).json()["items"] for n in range(1, 12)]

    response = await client.get(f"{API}/audit/logs/export", params={**params, "format": "ndjson"},
                                headers=admin.headers)

    expected = [item["id"] for page in listed for item in page]
    assert len(expected) == 1_000  # 2 of every 5 records
    assert [json.loads(line)["id"] for line in response.text.splitlines()] == expected


async def test_an_export_with_no_match_is_a_csv_header_alone(
        client: httpx.AsyncClient, admin: Account) -> None:
    response = await client.get(f"{API}/audit/logs/export", params={"action": "nothing.happened"},
                                headers=admin.headers)

    assert response.status_code == 200
    assert list(csv.reader(response.text.splitlines())) == [list(CSV_COLUMNS)]
