"""/api/v1/users/me: the signed-in user's own account and sessions (SPEC §4)."""

from __future__ import annotations

from fastapi import APIRouter, Path, Response

from auth_service.application.commands.revoke_sessions import RevokeMySession
from auth_service.application.commands.update_me import UpdateMe
from auth_service.interfaces.http.dependencies import ContextDep, HandlersDep, PrincipalDep
from auth_service.interfaces.http.openapi import errors
from auth_service.interfaces.http.schemas import (
    SessionListResponse,
    SessionResponse,
    UpdateMeRequest,
    UserResponse,
)

router = APIRouter(prefix="/users/me", tags=["me"])


@router.get("", responses=errors(401))
async def get_me(principal: PrincipalDep, handlers: HandlersDep) -> UserResponse:
    return UserResponse.of(await handlers.get_me(principal))


@router.patch("", responses=errors(401, 409, 422))
async def update_me(body: UpdateMeRequest, principal: PrincipalDep, handlers: HandlersDep,
                    ctx: ContextDep) -> UserResponse:
    changes = body.model_dump(exclude_unset=True)
    return UserResponse.of(await handlers.update_me(UpdateMe(principal=principal, changes=changes, ctx=ctx)))


@router.get("/sessions", responses=errors(401))
async def list_sessions(principal: PrincipalDep, handlers: HandlersDep) -> SessionListResponse:
    return SessionListResponse(items=[SessionResponse.of(s) for s in await handlers.list_my_sessions(principal)])


@router.delete("/sessions/{session_id}", status_code=204, responses=errors(401, 404))
async def revoke_session(principal: PrincipalDep, handlers: HandlersDep, ctx: ContextDep,
                         session_id: str = Path(max_length=64)) -> Response:
    await handlers.sessions.revoke_my_session(RevokeMySession(principal=principal, session_id=session_id, ctx=ctx))
    return Response(status_code=204)
