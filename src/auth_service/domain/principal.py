"""Who is calling: built from a verified access token's claims, never from a database read."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: str
    subject: str
    session_id: str
    email: str
    email_verified: bool
    role: str
    company_id: str | None
    network_id: str
    station_id: str
    expires_at: datetime
    claims: dict[str, Any]
