"""The ASGI entry point for uvicorn (`factory=True`), so each worker process builds its own app."""

from __future__ import annotations

import gc

from fastapi import FastAPI

from auth_service.bootstrap import build_from_environment
from auth_service.interfaces.http.app import create_app


def app_factory() -> FastAPI:
    app = create_app(build_from_environment())
    # Everything built so far (modules, routes, models, the container) lives as long as the process:
    # out of the collector's generations, a full collection under load walks only what requests made,
    # which keeps its pauses (and the p99 they add) short.
    gc.collect()
    gc.freeze()
    return app
