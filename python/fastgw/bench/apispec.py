"""The API definition fastgw serves in the bench: OpenAPI 3 with a realistic table of 1,000 routes.

Fifty resources with twenty operations each: collections, items, nested items, static siblings of parameters
(`/orders/search` beside `/orders/{orderId}`), a greedy `{proxy+}`, a versioned prefix. Every operation is an
`http_proxy` integration to the backend through the `backendPort` stage variable; the one the load hits is
`GET /pets/{id}`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

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


def api_definition() -> dict[str, Any]:
    """The OpenAPI document as plain data."""
    paths: dict[str, dict[str, Any]] = {}
    for collection, param in _RESOURCES:
        for method, template in _OPERATIONS:
            path = template.format(r=collection, p=param)
            paths.setdefault(path, {})[method] = _operation(method, path)
    count = sum(len(ops) for ops in paths.values())
    assert count == ROUTES, count
    return {
        "openapi": "3.0.1",
        "info": {"title": "fastgw-bench", "version": "1.0"},
        "paths": paths,
    }


def write_api(path: Path) -> Path:
    path.write_text(yaml.safe_dump(api_definition(), sort_keys=False, width=120))
    return path
