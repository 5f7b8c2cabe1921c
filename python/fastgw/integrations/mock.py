"""REST ``MOCK`` integration: the gateway answers by itself (reference §4.4).

The request template's output must be JSON with an integer ``statusCode`` (``{"statusCode": 200}``; AWS also
accepts the unquoted ``{statusCode: 200}`` CDK writes). That status selects an integration response, whose
``responseParameters`` give the headers and whose response template gives the body. A template with no
Velocity in it is fixed text, so the whole answer except per-request mappings is computed once, at load.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import orjson

from fastgw.config.model import Integration
from fastgw.integrations.base import Request, Response
from fastgw.integrations.http import ApiConfigurationError
from fastgw.integrations.selection import (
    DEFAULT_CONTENT_TYPE,
    CompiledIntegrationResponse,
    compile_integration_responses,
    select_response,
    select_template,
)

_UNQUOTED_KEY = re.compile(r"([{,]\s*)([A-Za-z_][A-Za-z0-9_]*)\s*:")


def mock_status_code(template: str | None) -> int:
    """The ``statusCode`` a mock request template produces; AWS defaults to 200 without a template."""
    if template is None or not template.strip():
        return 200
    try:
        document = orjson.loads(template)
    except orjson.JSONDecodeError:
        try:
            document = orjson.loads(_UNQUOTED_KEY.sub(r'\1"\2":', template))
        except orjson.JSONDecodeError:
            raise ValueError(f"mock request template is not JSON with a statusCode: {template!r}") from None
    status = document.get("statusCode") if isinstance(document, dict) else None
    if isinstance(status, str) and status.isdigit():
        status = int(status)
    if not isinstance(status, int) or isinstance(status, bool):
        raise ValueError(f"mock request template has no integer statusCode: {template!r}")
    return status


class MockIntegration:
    """A compiled mock: the selected integration response is fixed at load."""

    def __init__(self, integration: Integration, stage_variables: Mapping[str, str]) -> None:
        self.integration = integration
        template = select_template(integration.request_templates, None)
        self.status_code = mock_status_code(template[1] if template else None)
        responses = compile_integration_responses(integration.responses, stage_variables)
        self.selected: CompiledIntegrationResponse | None = select_response(responses, str(self.status_code))

    def describe(self) -> str:
        return "MOCK"

    async def invoke(self, request: Request) -> Response:
        selected = self.selected
        if selected is None:
            raise ApiConfigurationError(f"no integration response for mock status {self.status_code}")
        headers = selected.response_headers(request, self.status_code, [])
        template = selected.template_for(request.header("accept"))
        content_type, body = template if template is not None else (DEFAULT_CONTENT_TYPE, "")
        if not any(name.lower() == "content-type" for name, _ in headers):
            headers.append(("content-type", content_type))
        return Response(selected.status, headers, body.encode())
