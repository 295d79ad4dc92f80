"""Property-based run of the whole OpenAPI schema against the in-process app.

No input yields a 5xx, and every response matches its documented status codes, content type, headers
and schema. Three default checks are left out on purpose: "positive data acceptance" (a schema-valid
body can still name an unknown model or carry a forged cursor, which are 4xx by design), "negative data
rejection" (it does not count 413, our answer to an over-sized invalid body, as a rejection; the
precise 400/422 answers are asserted in test_bad_input) and the ``Allow`` header of 405 answers
(Starlette lists only the first matching route).
Bounded (a few dozen examples per operation) so it stays well under two minutes on two cores.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    allow_header_conformance,
    negative_data_rejection,
    positive_data_acceptance,
)

from service.app import create_app
from tests.service.conftest import MODEL

MAX_EXAMPLES = 40


# Building the app touches neither the database nor the broker; the conftest already pointed the
# settings at the test resources, which the app uses when requests arrive.
schema = schemathesis.openapi.from_asgi("/openapi.json", create_app())


@pytest.fixture
def admin_with_model(client, admin) -> dict[str, str]:
    r = client.post("/v1/models", json={"name": MODEL, "source": "/models/demo"}, headers=admin)
    assert r.status_code == 201
    return admin


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_server_errors(case, admin_with_model):
    response = case.call_and_validate(
        headers={**(case.headers or {}), **admin_with_model},
        excluded_checks=[positive_data_acceptance, negative_data_rejection, allow_header_conformance],
    )
    assert response.status_code < 500, f"{case.method} {case.path} -> {response.status_code}: {response.text[:300]}"
