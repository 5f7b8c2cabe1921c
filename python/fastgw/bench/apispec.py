"""The API definition fastgw serves in the bench: OpenAPI 3 with a realistic table of 1,000 routes.

Fifty resources with twenty operations each: collections, items, nested items, static siblings of parameters
(`/orders/search` beside `/orders/{orderId}`), a greedy `{proxy+}`, a versioned prefix. Every operation is an
`http_proxy` integration to the backend through the `backendPort` stage variable; the one the load hits is
`GET /pets/{id}` (a mock integration answering the backend's body in the mock scenario, requiring an API key in
the realistic one). One more route, `ANY /large`, serves the large-body scenario.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from fastgw.bench.scenarios import BODY, LARGE_PATH

ROUTES = 1000

# (collection, item parameter name)
_RESOURCES: list[tuple[str, str]] = [
    ("pets", "id"),
    *(
        (plural, f"{singular}Id")
        for plural, singular in [
            ("owners", "owner"), ("vets", "vet"), ("visits", "visit"), ("appointments", "appointment"),
            ("orders", "order"), ("invoices", "invoice"), ("payments", "payment"), ("refunds", "refund"),
            ("customers", "customer"), ("accounts", "account"), ("users", "user"), ("groups", "group"),
            ("roles", "role"), ("permissions", "permission"), ("sessions", "session"), ("tokens", "token"),
            ("products", "product"), ("categories", "category"), ("reviews", "review"), ("carts", "cart"),
            ("shipments", "shipment"), ("warehouses", "warehouse"), ("suppliers", "supplier"),
            ("stock-items", "stockItem"), ("coupons", "coupon"), ("campaigns", "campaign"),
            ("subscriptions", "subscription"), ("plans", "plan"), ("notifications", "notification"),
            ("messages", "message"), ("threads", "thread"), ("attachments", "attachment"),
            ("documents", "document"), ("folders", "folder"), ("projects", "project"), ("tasks", "task"),
            ("comments", "comment"), ("labels", "label"), ("teams", "team"), ("events", "event"),
            ("tickets", "ticket"), ("reports", "report"), ("exports", "export"), ("imports", "import"),
            ("webhooks", "webhook"), ("devices", "device"), ("locations", "location"), ("regions", "region"),
            ("stores", "store"),
        ]
    ),
]  # fmt: skip

# Twenty operations per resource; "{r}" is the collection, "{p}" its item parameter.
_OPERATIONS: list[tuple[str, str]] = [
    ("get", "/{r}"),
    ("post", "/{r}"),
    ("get", "/{r}/search"),
    ("get", "/{r}/count"),
    ("get", "/{r}/export"),
    ("get", "/{r}/{{{p}}}"),
    ("put", "/{r}/{{{p}}}"),
    ("patch", "/{r}/{{{p}}}"),
    ("delete", "/{r}/{{{p}}}"),
    ("get", "/{r}/{{{p}}}/history"),
    ("get", "/{r}/{{{p}}}/notes"),
    ("post", "/{r}/{{{p}}}/notes"),
    ("get", "/{r}/{{{p}}}/notes/{{noteId}}"),
    ("delete", "/{r}/{{{p}}}/notes/{{noteId}}"),
    ("get", "/{r}/{{{p}}}/tags"),
    ("put", "/{r}/{{{p}}}/tags/{{tag}}"),
    ("get", "/{r}/{{{p}}}/files/{{proxy+}}"),
    ("post", "/{r}/{{{p}}}/actions/archive"),
    ("post", "/{r}/{{{p}}}/actions/restore"),
    ("get", "/v2/{r}/{{{p}}}"),
]

_PARAM = re.compile(r"\{([A-Za-z0-9_]+)(\+?)\}")


def _operation(method: str, path: str) -> dict[str, Any]:
    params = [m.group(1) for m in _PARAM.finditer(path)]
    backend_path = _PARAM.sub(lambda m: "{" + m.group(1) + "}", path)
    integration: dict[str, Any] = {
        "type": "http_proxy",
        "httpMethod": method.upper(),
        "uri": "http://127.0.0.1:${stageVariables.backendPort}" + backend_path,
    }
    operation: dict[str, Any] = {}
    if params:
        operation["parameters"] = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}} for name in params
        ]
        integration["requestParameters"] = {
            f"integration.request.path.{name}": f"method.request.path.{name}" for name in params
        }
    operation["responses"] = {"200": {"description": "OK"}}
    operation["x-amazon-apigateway-integration"] = integration
    return operation


def _mock(body: bytes) -> dict[str, Any]:
    """A mock integration answering 200 with `body` as application/json."""
    return {
        "responses": {"200": {"description": "OK"}},
        "x-amazon-apigateway-integration": {
            "type": "mock",
            "requestTemplates": {"application/json": '{"statusCode": 200}'},
            "responses": {"default": {"statusCode": "200", "responseTemplates": {"application/json": body.decode()}}},
        },
    }


def api_definition(*, mock: bool = False, api_key_route: tuple[str, str] | None = None) -> dict[str, Any]:
    """The OpenAPI document as plain data. `mock`: GET /pets/{id} answers BODY itself. `api_key_route`: (method,
    path) of the operation that requires the `x-api-key` header (AWS's `api_key` security scheme)."""
    paths: dict[str, dict[str, Any]] = {}
    for collection, param in _RESOURCES:
        for method, template in _OPERATIONS:
            path = template.format(r=collection, p=param)
            paths.setdefault(path, {})[method] = _operation(method, path)
    count = sum(len(ops) for ops in paths.values())
    assert count == ROUTES, count
    if mock:
        paths["/pets/{id}"]["get"] = _mock(BODY)
    paths[LARGE_PATH] = {"x-amazon-apigateway-any-method": _operation("any", LARGE_PATH)}
    document: dict[str, Any] = {
        "openapi": "3.0.1",
        "info": {"title": "fastgw-bench", "version": "1.0"},
        "paths": paths,
    }
    if api_key_route is not None:
        method, path = api_key_route
        paths[path][method]["security"] = [{"api_key": []}]
        document["components"] = {
            "securitySchemes": {"api_key": {"type": "apiKey", "name": "x-api-key", "in": "header"}}
        }
    return document


def write_api(path: Path, *, mock: bool = False, api_key_route: tuple[str, str] | None = None) -> Path:
    path.write_text(yaml.safe_dump(api_definition(mock=mock, api_key_route=api_key_route), sort_keys=False, width=120))
    return path
