"""`fastgw routes FILE`: the route table."""

from __future__ import annotations

from pathlib import Path

from fastgw.config.model import ApiDefinition, Integration, Route
from fastgw.config.openapi import load_definition
from fastgw.config.routes_table import format_route_table, integration_target
from fastgw.errors import Place

FIXTURES = Path(__file__).parent.parent / "fixtures" / "apis"
HERE = Place("api.yaml", "/paths/~1p/get")


def test_fixture_table() -> None:
    table = format_route_table(load_definition(FIXTURES / "unsupported.yaml"))
    assert table.splitlines() == [
        "ROUTE                INTEGRATION",
        "POST /lambda         (none: AWS_PROXY integrations are not supported yet)",
        "GET /private         (none: VPC_LINK integrations are not supported yet)",
        "GET /iam             MOCK",
        "GET /no-integration  (none: no x-amazon-apigateway-integration)",
    ]


def test_http_api_table() -> None:
    table = format_route_table(load_definition(FIXTURES / "route-priority-http.yaml"))
    backend = "http://127.0.0.1:${stageVariables.backendPort}/route"
    assert table == "\n".join(
        [
            "ROUTE               INTEGRATION",
            f"GET /pets/dog/1     HTTP_PROXY GET {backend}/pets-dog-1",
            f"GET /pets/dog/{{id}}  HTTP_PROXY GET {backend}/pets-dog-id/{{id}}",
            f"GET /pets/{{proxy+}}  HTTP_PROXY GET {backend}/pets-proxy/{{proxy}}",
            f"ANY /{{proxy+}}       HTTP_PROXY ANY {backend}/any-proxy/{{proxy}}",
            f"$default            HTTP_PROXY ANY {backend}/default",
        ]
    )


def test_targets() -> None:
    http = Integration(type="HTTP", place=HERE, uri="https://x/p", http_method="POST")
    assert integration_target(Route("GET", "/p", HERE, http)) == "HTTP POST https://x/p"
    assert integration_target(Route("GET", "/p", HERE, Integration(type="MOCK", place=HERE))) == "MOCK"
    assert integration_target(Route("GET", "/p", HERE, None)) == "(none: no integration)"
    assert integration_target(Route("GET", "/p", HERE, None, no_integration_reason="why")) == "(none: why)"


def test_empty_definition() -> None:
    definition = ApiDefinition(source="api.yaml", title="", version="", api_type="REST", routes=())
    assert format_route_table(definition) == "ROUTE  INTEGRATION"
