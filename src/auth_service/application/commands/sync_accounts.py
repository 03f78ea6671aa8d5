"""`auth-service keycloak sync`: bring the accounts of this database and of the identity provider
together. Every verified provider account gets a user here (as a first login would make it), a
user known by email is linked, and every linked user's role, company and scopes are written back
to the provider, so the token claims match this service's view."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from auth_service.application.accounts import role_from
from auth_service.application.audit import audit_record
from auth_service.application.ports import Clock, IdentityProvider, RequestContext, UnitOfWork
from auth_service.domain.users import User


@dataclass(slots=True)
class SyncReport:
    created: int = 0
    linked: int = 0
    updated: int = 0
    skipped_unverified: int = 0


class SyncProviderAccounts:
    def __init__(self, uow: Callable[[], UnitOfWork], identity: IdentityProvider, clock: Clock) -> None:
        self._uow, self._identity, self._clock = uow, identity, clock

    async def __call__(self) -> SyncReport:
        report = SyncReport()
        async for account in self._identity.accounts():
            now = self._clock.now()
            async with self._uow() as uow:
                user = (await uow.users.get_by_keycloak_id(account.subject)
                        or await uow.users.get_by_email(account.email))
                if user is None:
                    if not account.email_verified:
                        report.skipped_unverified += 1  # its registration runs through this service
                        continue
                    user = User.from_provider(account.subject, account.email, account.username,
                                              role=role_from(account), now=now, first_name=account.first_name,
                                              last_name=account.last_name)
                    await uow.users.add(user)
                    await uow.audit.add(audit_record("user.created", RequestContext(), now, target_type="user",
                                                     target_id=user.id, role=user.role.value, via="keycloak_sync"))
                    report.created += 1
                elif user.keycloak_id != account.subject:
                    user.keycloak_id = account.subject
                    await uow.users.save(user)
                    report.linked += 1
                else:
                    report.updated += 1
                await self._identity.sync(user)
                await uow.commit()
        return report
