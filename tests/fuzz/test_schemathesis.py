"""Schemathesis against the service's own OpenAPI document, with the app in-process on SQLite.

Every operation is fuzzed as each role (and anonymously) with schemathesis' checks, among them
`not_a_server_error`, `status_code_conformance`, `content_type_conformance` and
`response_schema_conformance`, plus the checks of this module: every error is the envelope of
SPEC §2, every answered status documents a response schema, and the headers of SPEC §2 and §8.
The budget follows the hypothesis profile (tests/conftest.py): `ci` by default, `make fuzz` more.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from tests.fuzz.service import APP, DOCUMENT, ROLES, Service, start_service
from tests.fuzz.wire_checks import error_envelope, response_schema_documented, security_headers

# Each operation and role runs the explicit examples, schemathesis' coverage cases, then this many fuzzed
# ones: 10 with the `ci` profile (about two minutes), 50 with `fuzz` (about half an hour on 2 cores).
EXAMPLES = min(50, max(3, settings.default.max_examples // 10))

# Valid input that a business rule refuses: weak or breached passwords, unknown companies (422),
# wrong one-time tokens (400), expired verification (410). The schema cannot express these.
BUSINESS_REFUSALS = ["2xx", "400", "401", "403", "404", "409", "410", "422", "429"]

schema = schemathesis.openapi.from_dict(DOCUMENT)
schema.app = APP  # in-process, for the cases and for the probes some checks send
schema.config.seed = 20261122
schema.config.checks.positive_data_acceptance.expected_statuses = BUSINESS_REFUSALS


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    with start_service(tmp_path_factory.mktemp("fuzz")) as running:
        yield running


def _variant(case: Any) -> int:
    """A stable choice per generated case, so that some of them aim at records that exist."""
    return hashlib.sha256(repr(case.path_parameters).encode()).digest()[0] % 2


@pytest.mark.parametrize("role", ROLES)
@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, print_blob=True,
          suppress_health_check=list(HealthCheck))
def test_every_operation_conforms_to_the_document(case: Any, role: str, service: Service) -> None:
    if case.path_parameters and _variant(case):
        case.path_parameters = {**case.path_parameters, **service.known_ids(role, case.path_parameters)}

    headers = service.headers(role)

    response = case.call(headers=headers)

    try:
        case.validate_response(response, headers=headers,
                               additional_checks=[error_envelope, response_schema_documented, security_headers])
    finally:
        service.after(role, case, response)
