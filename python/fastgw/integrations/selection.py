"""REST integration responses and mapping-template selection (reference §4.4).

Shared by the ``HTTP`` and ``MOCK`` integrations. Integration responses are chosen by a regex on the backend
status (``default`` catches the rest); patterns are Java-style full matches, as AWS applies them.

Templates are chosen as AWS does:

- a request template by the request's ``Content-Type`` (``application/json`` when it has none; parameters
  such as ``charset`` ignored, case-insensitive), then the ``$default`` template. With none,
  ``passthroughBehavior`` decides: ``WHEN_NO_MATCH`` passes the body through, ``WHEN_NO_TEMPLATES`` answers
  415 when the integration has any request template, ``NEVER`` always answers 415;
- a response template by the first media type of ``Accept`` only (``*/*`` counts as none), then
  ``application/json``, then the first template defined.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeVar

from fastgw.config.model import IntegrationResponse, PassthroughBehavior
from fastgw.errors import UnsupportedMediaTypeError
from fastgw.integrations.base import Request
from fastgw.transforms.parameters import ResponseGetter, compile_response_source, is_response_body_source
from fastgw.transforms.templates import MappingTemplate, compile_templates

DEFAULT_CONTENT_TYPE = "application/json"
DEFAULT_TEMPLATE = "$default"
T = TypeVar("T")


def media_type(content_type: str | None) -> str:
    """``Text/Plain; charset=utf-8`` as ``text/plain``; ``application/json`` when there is none."""
    return (content_type or DEFAULT_CONTENT_TYPE).split(";")[0].strip().lower() or DEFAULT_CONTENT_TYPE


class RequestTemplates:
    """An integration's request templates, parsed once, by lowercase media type."""

    __slots__ = ("by_type", "default", "passthrough")

    def __init__(self, templates: Mapping[str, str], passthrough: PassthroughBehavior) -> None:
        compiled = compile_templates(templates)
        self.by_type = {name.lower(): template for name, template in compiled.items() if name != DEFAULT_TEMPLATE}
        self.default = compiled.get(DEFAULT_TEMPLATE)
        self.passthrough = passthrough

    def __bool__(self) -> bool:
        return bool(self.by_type) or self.default is not None

    @property
    def has_velocity(self) -> bool:
        return any(not t.is_static for t in self.by_type.values()) or (
            self.default is not None and not self.default.is_static
        )

    def select(self, content_type: str | None) -> MappingTemplate | None:
        """The template for a request's ``Content-Type``, or ``None`` to pass the body through. Raises
        :class:`UnsupportedMediaTypeError` (415) when ``passthroughBehavior`` forbids passing it through."""
        template = self.by_type.get(media_type(content_type)) or self.default
        if template is None and (self.passthrough == "NEVER" or (self.passthrough == "WHEN_NO_TEMPLATES" and self)):
            raise UnsupportedMediaTypeError(f"no request template for {media_type(content_type)}")
        return template


def is_binary(content_type: str | None, binary_media_types: tuple[str, ...]) -> bool:
    """Whether a media type is in the API's binary media types (``*/*`` and ``type/*`` match as wildcards)."""
    if not content_type or not binary_media_types:
        return False
    wanted = media_type(content_type)
    kind = wanted.partition("/")[0]
    for binary in binary_media_types:
        binary = binary.strip().lower()
        if binary == wanted or binary == "*/*" or (binary.endswith("/*") and binary[:-2] == kind):
            return True
    return False


def select_template(templates: Mapping[str, T], content_type: str | None) -> tuple[str, T] | None:
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
    templates: Mapping[str, MappingTemplate]
    """Response templates by content type (as written), parsed."""
    content_handling: str | None = None
    reads_body: bool = False
    """A ``method.response.header`` mapping reads ``integration.response.body``: the body is read whole."""

    def template_for(self, accept: str | None) -> MappingTemplate | None:
        """The response template for the request's ``Accept``, falling back as AWS does."""
        templates = self.templates
        if not templates:
            return None
        first = first_media_type(accept)
        found = select_template(templates, first) if first else None
        if found is None:
            found = select_template(templates, DEFAULT_CONTENT_TYPE)
        return found[1] if found is not None else next(iter(templates.values()))

    def response_headers(
        self,
        request: Request,
        backend_status: int,
        backend_headers: list[tuple[str, str]],
        backend_body: bytes | None = None,
    ) -> list[tuple[str, str]]:
        """``method.response.header.X`` mappings evaluated; empty values are not set."""
        headers = []
        for name, getter in self.headers:
            value = getter(request, backend_status, backend_headers, backend_body)
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
            (
                target.removeprefix("method.response.header."),
                compile_response_source(source, stage_variables, with_body=True),
            )
            for target, source in response.response_parameters.items()
            if target.startswith("method.response.header.")
        )
        is_default = response.selection_pattern in ("default", "")
        pattern = None if is_default else re.compile(response.selection_pattern)
        entry = CompiledIntegrationResponse(
            pattern,
            response.status_code,
            headers,
            compile_templates(response.response_templates),
            response.content_handling,
            any(is_response_body_source(source) for source in response.response_parameters.values()),
        )
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
