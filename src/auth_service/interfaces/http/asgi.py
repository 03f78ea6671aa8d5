"""The ASGI entry point for uvicorn (`factory=True`), so each worker process builds its own app."""

from __future__ import annotations

from fastapi import FastAPI

from auth_service.bootstrap import build_from_environment
from auth_service.interfaces.http.app import create_app


def app_factory() -> FastAPI:
    return create_app(build_from_environment())
