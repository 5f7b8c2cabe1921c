"""REST integration responses: chosen by a regex on the backend status (``default`` catches the rest).

Shared by the ``HTTP`` and ``MOCK`` integrations. Patterns are Java-style full matches, as AWS applies them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from fastgw.config.model import IntegrationResponse
from fastgw.integrations.base import Request
from fastgw.transforms.parameters import ResponseGetter, compile_response_source

DEFAULT_CONTENT_TYPE = "application/json"


def select_template(templates: Mapping[str, str], content_type: str | None) -> tuple[str, str] | None:
    """The template for a content type (``application/json`` when none is given), else the only one."""
    wanted = (content_type or DEFAULT_CONTENT_TYPE).split(";")[0].strip().lower()
    for name, template in templates.items():
        if name.lower() == wanted:
            return name, template
    if len(templates) == 1 and content_type is None:
        return next(iter(templates.items()))
    return None


def first_media_type(accept: str | None) -> str | None:
    """AWS selects response templates by the first media type of ``Accept`` only (reference §4.4)."""
    if not accept:
        return None
    first = accept.split(",")[0].split(";")[0].strip()
    return None if first in ("*/*", "") else first


@dataclass(frozen=True, slots=True)
class CompiledIntegrationResponse:
    pattern: re.Pattern[str] | None
    """``None`` for ``default``."""
    status: int
    headers: tuple[tuple[str, ResponseGetter], ...]
    templates: Mapping[str, str]

    def template_for(self, accept: str | None) -> tuple[str, str] | None:
        """``(content type, template)`` for the request's ``Accept``, falling back as AWS does."""
        return select_template(self.templates, first_media_type(accept)) or select_template(self.templates, None)

    def response_headers(
        self, request: Request, backend_status: int, backend_headers: list[tuple[str, str]]
    ) -> list[tuple[str, str]]:
        """``method.response.header.X`` mappings evaluated; empty values are not set."""
        headers = []
        for name, getter in self.headers:
            value = getter(request, backend_status, backend_headers)
            if value:
                headers.append((name, value))
        return headers


def compile_integration_responses(
    responses: tuple[IntegrationResponse, ...], stage_variables: Mapping[str, str]
) -> tuple[CompiledIntegrationResponse, ...]:
    """Integration responses in matching order: patterns as written, ``default`` last."""
    compiled: list[CompiledIntegrationResponse] = []
    default: CompiledIntegrationResponse | None = None
    for response in responses:
        headers = tuple(
            (target.removeprefix("method.response.header."), compile_response_source(source, stage_variables))
            for target, source in response.response_parameters.items()
            if target.startswith("method.response.header.")
        )
        is_default = response.selection_pattern in ("default", "")
        pattern = None if is_default else re.compile(response.selection_pattern)
        entry = CompiledIntegrationResponse(pattern, response.status_code, headers, response.response_templates)
        if is_default:
            default = entry
        else:
            compiled.append(entry)
    if default is not None:
        compiled.append(default)
    return tuple(compiled)


def select_response(
    responses: tuple[CompiledIntegrationResponse, ...], status: str
) -> CompiledIntegrationResponse | None:
    for response in responses:
        if response.pattern is None or response.pattern.fullmatch(status):
            return response
    return None
