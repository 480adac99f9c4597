"""The running services (the gateway, the student's chat API) against their OpenAPI
descriptions (docs/openapi/), with schemathesis.

Generated requests (valid ones and, in negative mode, broken ones) must never get a 5xx
and every answer must match the description: bad input is a 4xx with a reason.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    missing_required_header,
    negative_data_rejection,
    positive_data_acceptance,
)
from server_harness import STUDENT_SCOPES, serve_student

DOCS = Path(__file__).resolve().parent.parent / "docs" / "openapi"
gateway_schema = schemathesis.openapi.from_path(DOCS / "gateway.yaml")
chat_schema = schemathesis.openapi.from_path(DOCS / "chat.yaml")
#: The descriptions bound sizes to keep generated requests small, so they do not list every
#: limit the services enforce: these two checks would flag that, not a fault.
NOT_CHECKED = [negative_data_rejection, positive_data_acceptance]


@pytest.fixture(scope="module")
def gateway_token(hub) -> str:
    return hub.token_for("student2", STUDENT_SCOPES)


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


@pytest.fixture(scope="module")
def student_server(hub, tmp_path_factory):
    """A Jupyter server with the tutor, talking to the session hub's gateway."""
    yield from serve_student(hub, tmp_path_factory.mktemp("contract-server"), "student1")


@chat_schema.parametrize()
@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
def test_chat_api_matches_its_description(case, student_server, fake_anthropic) -> None:
    case.call_and_validate(
        base_url=student_server.url.rstrip("/") + "/tutor/api",
        headers=student_server.headers(),
        # jupyter_server answers a request without credentials 403, not 401: its rule.
        excluded_checks=[*NOT_CHECKED, missing_required_header],
        timeout=60,
    )
