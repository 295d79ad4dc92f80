"""Property-based run of the whole OpenAPI schema against the in-process app: no input yields a 5xx.

Bounded (a few dozen examples per operation) so it stays well under two minutes on two cores.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

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
    response = case.call(headers={**(case.headers or {}), **admin_with_model})
    assert response.status_code < 500, f"{case.method} {case.path} -> {response.status_code}: {response.text[:300]}"
