"""The running services against their OpenAPI descriptions, with schemathesis.

Generated requests (valid ones and, in negative mode, broken ones) must never get a 5xx
and every answer must match the description: bad input is a 4xx with a reason.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import negative_data_rejection, positive_data_acceptance

DOCS = Path(__file__).resolve().parent.parent / "docs" / "openapi"
gateway_schema = schemathesis.openapi.from_path(DOCS / "gateway.yaml")
TOKEN_SCOPES = ["access:services!service=tutor", "custom:tutor:use"]
#: The descriptions bound sizes to keep generated requests small, so they do not list every
#: limit the services enforce: these two checks would flag that, not a fault.
NOT_CHECKED = [negative_data_rejection, positive_data_acceptance]


@pytest.fixture(scope="module")
def gateway_token(hub) -> str:
    return hub.token_for("student2", TOKEN_SCOPES)


@gateway_schema.parametrize()
@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_gateway_matches_its_description(case, hub, gateway_token, fake_anthropic) -> None:
    case.call_and_validate(
        base_url=hub.gateway_url.rstrip("/"),
        headers={"Authorization": f"Bearer {gateway_token}"},
        excluded_checks=NOT_CHECKED,
        timeout=30,
    )
