"""Companies: the tenants that partners and operators belong to (SPEC §5)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from auth_service.domain.ids import new_company_id


def company_name_key(name: str) -> str:
    """Names are unique ignoring case (and surrounding spaces)."""
    return name.strip().casefold()


@dataclass(slots=True)
class Company:
    id: str
    name: str
    created_at: datetime
    updated_at: datetime
    description: str | None = None
    owner_user_id: str | None = None
    is_active: bool = True
    deleted_at: datetime | None = None

    @classmethod
    def create(cls, name: str, *, now: datetime, description: str | None = None,
               owner_user_id: str | None = None) -> Company:
        return cls(id=new_company_id(), name=name.strip(), created_at=now, updated_at=now, description=description,
                   owner_user_id=owner_user_id)

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None
