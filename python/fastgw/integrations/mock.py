"""REST ``MOCK`` integration: the gateway answers by itself (reference §4.4).

The request template's output must be JSON with an integer ``statusCode`` (``{"statusCode": 200}``; AWS also
accepts the unquoted ``{statusCode: 200}`` CDK writes). That status selects an integration response, whose
``responseParameters`` give the headers and whose response template gives the body.

A request template with no Velocity in it is fixed text, so its status (and the integration response it
selects) is computed once, at load. A template with Velocity is rendered per request (it may choose the status
from a query parameter or the body), as are response templates with Velocity; ``$context.responseOverride``
can then change the status and headers. Request templates are selected by Content-Type and
``passthroughBehavior`` applies as for ``HTTP`` integrations (415 when no template may be used).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import orjson

from fastgw.config.model import Integration
from fastgw.errors import GatewayError
from fastgw.integrations.base import Request, Response
from fastgw.integrations.http import ApiConfigurationError
from fastgw.integrations.selection import (
    DEFAULT_CONTENT_TYPE,
    CompiledIntegrationResponse,
    RequestTemplates,
    compile_integration_responses,
    is_binary,
    select_response,
    select_template,
)
from fastgw.transforms.templates import MappingTemplate, TemplateInput, body_text

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
    """A compiled mock: with fixed request templates, the selected integration response is fixed at load."""

    def __init__(self, integration: Integration, stage_variables: Mapping[str, str]) -> None:
        self.integration = integration
        self.request_templates = RequestTemplates(integration.request_templates, integration.passthrough_behavior)
        self.dynamic = self.request_templates.has_velocity
        """A request template has Velocity: the status is found per request."""
        self.check_passthrough = integration.passthrough_behavior != "WHEN_NO_MATCH"
        template = select_template(integration.request_templates, None)
        self.status_code = 200
        if not self.dynamic:
            self.status_code = mock_status_code(template[1] if template else None)
        self.responses = compile_integration_responses(integration.responses, stage_variables)
        self.selected: CompiledIntegrationResponse | None = select_response(self.responses, str(self.status_code))

    def describe(self) -> str:
        return "MOCK"

    async def invoke(self, request: Request) -> Response:
        variables: TemplateInput | None = None
        status_code = self.status_code
        selected = self.selected
        if self.dynamic or self.check_passthrough:
            template = self.request_templates.select(request.header("content-type"))  # raises 415
            if self.dynamic:
                status_code = 200
                if template is not None:
                    variables = TemplateInput.from_request(request)
                    status_code = await self._render_status(request, template, variables)
                selected = select_response(self.responses, str(status_code))
        if selected is None:
            raise ApiConfigurationError(f"no integration response for mock status {status_code}")
        headers = selected.response_headers(request, status_code, [])
        template = selected.template_for(request.header("accept"))
        content_type = template.content_type if template is not None else DEFAULT_CONTENT_TYPE
        status = selected.status
        if template is None:
            body = ""
        elif template.is_static:
            body = template.text
        else:
            variables = variables or TemplateInput.from_request(request)
            try:
                body = template.render(variables, "")
            except Exception as error:  # airspeed's TemplateError, or a $util failure
                raise GatewayError(f"response template failed: {error}") from None
            status = variables.override_status() or status
            overrides = variables.override_headers()
            if overrides:
                names = {name.lower() for name, _ in overrides}
                headers = [(n, v) for n, v in headers if n.lower() not in names] + overrides
        if not any(name.lower() == "content-type" for name, _ in headers):
            headers.append(("content-type", content_type))
        return Response(status, headers, body.encode())

    @staticmethod
    async def _render_status(request: Request, template: MappingTemplate, variables: TemplateInput) -> int:
        """The ``statusCode`` the request template renders; AWS answers 500 when it has none."""
        body = b""
        if not template.is_static:
            body = await request.read_body()
        binary = is_binary(request.header("content-type"), request.stage.definition.binary_media_types)
        try:
            return mock_status_code(template.render(variables, body_text(body, binary)))
        except Exception as error:  # not JSON with a statusCode, or the template failed
            raise GatewayError(f"mock request template: {error}") from None
