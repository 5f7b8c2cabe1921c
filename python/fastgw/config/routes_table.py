"""The route table of a definition, as ``fastgw routes FILE`` prints it: AWS route keys and their targets."""

from __future__ import annotations

from fastgw.config.model import ApiDefinition, Route

_HEADER = ("ROUTE", "INTEGRATION")


def integration_target(route: Route) -> str:
    """``HTTP_PROXY GET http://host/pets/{id}``, ``MOCK``, or ``(none: <why>)``."""
    integration = route.integration
    if integration is None:
        return f"(none: {route.no_integration_reason or 'no integration'})"
    if integration.type == "MOCK":
        return "MOCK"
    return f"{integration.type} {integration.http_method} {integration.uri}"


def format_route_table(definition: ApiDefinition) -> str:
    """One line per route in definition order, route key and integration target in aligned columns, under a
    header line."""
    rows = [_HEADER, *((route.route_key, integration_target(route)) for route in definition.routes)]
    width = max(len(key) for key, _ in rows)
    return "\n".join(f"{key:<{width}}  {target}" for key, target in rows)
