"""The bare-endpoint floor: one FastAPI route, served like `auth-service serve` serves the service
(uvicorn, same loop/http implementations, same options and worker count), with nothing else.

    python bench/bare_app.py --port 3001 --workers 2
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fastapi import FastAPI

app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)


@app.get("/bare")
async def bare() -> dict[str, bool]:
    return {"active": True}


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    # The options of `auth-service serve` (interfaces/cli/main.py), minus the factory.
    uvicorn.run("bare_app:app", host="127.0.0.1", port=args.port, workers=args.workers, proxy_headers=False,
                server_header=False, log_config=None, access_log=False, timeout_graceful_shutdown=30)


if __name__ == "__main__":
    main()
