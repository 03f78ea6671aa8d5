"""The signed-in user's own account and sessions."""

from __future__ import annotations

from collections.abc import Callable

from auth_service.application.errors import InvalidTokenError
from auth_service.application.ports import Clock, UnitOfWork, UserViews
from auth_service.application.views import MySessionView, UserView
from auth_service.domain.principal import Principal


class GetMe:
    """Raises InvalidTokenError when the account behind a valid token no longer exists."""

    def __init__(self, views: UserViews, clock: Clock) -> None:
        self._views, self._clock = views, clock

    async def __call__(self, principal: Principal) -> UserView:
        view = await self._views.get(principal.user_id, self._clock.now())
        if view is None:
            raise InvalidTokenError("The account no longer exists.")
        return view


class ListMySessions:
    def __init__(self, uow: Callable[[], UnitOfWork], clock: Clock) -> None:
        self._uow, self._clock = uow, clock

    async def __call__(self, principal: Principal) -> list[MySessionView]:
        async with self._uow() as uow:
            sessions = await uow.sessions.list_live(principal.user_id, self._clock.now())
        return [MySessionView(id=s.id, created_at=s.created_at, last_used_at=s.last_used_at,
                              expires_at=s.expires_at, ip=s.ip, user_agent=s.user_agent,
                              current=s.id == principal.session_id) for s in sessions]
