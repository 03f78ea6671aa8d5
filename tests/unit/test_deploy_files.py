"""The deployment files hold together (Docker cannot always run where the tests do)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return document


def _dockerfile_instructions() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "") for line in lines]


def test_compose_runs_the_whole_stack(compose: dict[str, Any]) -> None:
    assert {"postgres", "redis", "keycloak", "migrate", "auth-1", "auth-2", "nginx"} <= set(compose["services"])


def test_the_replicas_serve_after_the_migration_with_shared_state(compose: dict[str, Any]) -> None:
    for name in ("auth-1", "auth-2"):
        service = compose["services"][name]
        assert service["command"][0] == "serve"
        assert service["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        env = service["environment"]
        assert env["DATABASE_URL"].startswith("postgresql+asyncpg://") and "@postgres:5432/" in env["DATABASE_URL"]
        assert env["REDIS_URL"].startswith("redis://redis:")
        assert env["TRUSTED_PROXIES"] == compose["networks"]["backend"]["ipam"]["config"][0]["subnet"]
        assert env["IDENTITY_PROVIDER"] == "${IDENTITY_PROVIDER:-local}"
        assert env["KEYCLOAK_URL"] == "http://keycloak:8080" and env["KEYCLOAK_REALM"] == "myrealm"
        assert env["KEYCLOAK_AUTH_CLIENT_ID"] == "auth-client"
        assert env["KEYCLOAK_BACKEND_CLIENT_ID"] == "backend-admin"
    assert compose["services"]["migrate"]["command"] == ["migrate"]


def test_keycloak_imports_the_realm_from_deploy_keycloak(compose: dict[str, Any]) -> None:
    keycloak = compose["services"]["keycloak"]
    image, _, tag = keycloak["image"].partition(":")
    assert image == "quay.io/keycloak/keycloak" and int(tag.split(".")[0]) >= 24
    assert keycloak["command"] == ["start-dev", "--import-realm"]
    assert any(volume.startswith("./deploy/keycloak:/opt/keycloak/data/import") for volume in keycloak["volumes"])


def test_nginx_balances_both_replicas_with_proxy_headers(compose: dict[str, Any]) -> None:
    nginx = compose["services"]["nginx"]
    assert any(volume.startswith("./deploy/nginx/nginx.conf:") for volume in nginx["volumes"])
    config = (ROOT / "deploy/nginx/nginx.conf").read_text()
    upstream = re.search(r"upstream\s+auth_service\s*\{(.*?)\}", config, re.DOTALL)
    assert upstream is not None
    servers = re.findall(r"^\s*server\s+([\w.-]+):3000", upstream.group(1), re.MULTILINE)
    assert servers == ["auth-1", "auth-2"]
    assert "proxy_pass http://auth_service;" in config
    assert "proxy_set_header X-Forwarded-For $remote_addr;" in config


def test_the_image_runs_as_a_non_root_user_with_a_health_check() -> None:
    instructions = _dockerfile_instructions()
    froms = [argument for keyword, argument in instructions if keyword == "FROM"]
    assert len(froms) >= 2  # multi-stage
    users = [argument for keyword, argument in instructions if keyword == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    health = [argument for keyword, argument in instructions if keyword == "HEALTHCHECK"]
    assert health and "/health" in health[-1]
    assert ("ENTRYPOINT", '["auth-service"]') in instructions and ("CMD", '["serve"]') in instructions
    env = " ".join(argument for keyword, argument in instructions if keyword == "ENV")
    assert "SERVER_HOST=0.0.0.0" in env


def test_the_build_context_leaves_local_state_out() -> None:
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    assert {".git", ".venv", "var", "tests"} <= ignored
    assert not {"src", "pyproject.toml", "README.md"} & ignored
