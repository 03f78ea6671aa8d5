"""The default request limit of SPEC §7: every /api/v1 request counts against its client IP
(the specific limits of login, register, forgot-password and refresh live in their use cases)."""

from __future__ import annotations

from fastapi import Request

from auth_service.interfaces.http.dependencies import HandlersDep


async def default_rate_limit(request: Request, handlers: HandlersDep) -> None:
    await handlers.rate_limiter.hit("default", getattr(request.state, "client_ip", None))
