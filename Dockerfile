# syntax=docker/dockerfile:1
# auth-service: a wheel built in one stage, installed into a virtualenv, copied into a slim
# runtime that runs as a non-root user. Build: docker build -t auth-service .

ARG PYTHON_VERSION=3.11

FROM python:${PYTHON_VERSION}-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /build
COPY pyproject.toml README.md ./
COPY src ./src
RUN python -m pip wheel --no-deps --wheel-dir /wheels . \
 && python -m venv /opt/auth-service \
 && /opt/auth-service/bin/pip install /wheels/*.whl

FROM python:${PYTHON_VERSION}-slim AS runtime
RUN groupadd --system --gid 10001 auth \
 && useradd --system --uid 10001 --gid auth --home-dir /app --no-create-home --shell /usr/sbin/nologin auth \
 && mkdir -p /app && chown auth:auth /app
COPY --from=build /opt/auth-service /opt/auth-service
ENV PATH=/opt/auth-service/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    APP_ENV=production \
    SERVER_HOST=0.0.0.0 \
    SERVER_PORT=3000
WORKDIR /app
USER auth
EXPOSE 3000
# Liveness (SPEC §8 GET /health): no dependency checks, so a database outage does not restart
# every replica at once; readiness (/health/ready) is for the load balancer.
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import os, sys, urllib.request; port = os.environ.get('SERVER_PORT', '3000'); sys.exit(0 if urllib.request.urlopen(f'http://127.0.0.1:{port}/health', timeout=2).status == 200 else 1)"]
# SIGTERM drains in-flight requests (uvicorn's graceful shutdown), then exits.
STOPSIGNAL SIGTERM
ENTRYPOINT ["auth-service"]
CMD ["serve"]
