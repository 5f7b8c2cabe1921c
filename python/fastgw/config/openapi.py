"""Load an OpenAPI 3.0/3.1 or Swagger 2.0 definition (JSON or YAML, typically exported from AWS with
``x-amazon-apigateway-*`` extensions) into an :class:`~fastgw.config.model.ApiDefinition`.

Reading goes: text -> document (:mod:`~fastgw.config.document`) -> import variables -> version and API type
-> root settings (:mod:`~fastgw.config.aws`) -> base path (:mod:`~fastgw.config.basepath`) -> security
schemes (:mod:`~fastgw.config.security`) -> routes (:mod:`~fastgw.config.operations`). Every problem found
on the way is collected; errors are raised together as one :class:`~fastgw.errors.DefinitionError`, and
warnings (things fastgw does not implement yet) are kept in ``ApiDefinition.warnings``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from fastgw.config import aws
from fastgw.config.basepath import BASEPATH_MODES, BasePathMode, read_base_path, route_prefix
from fastgw.config.collector import collector_paused
from fastgw.config.document import Document, prepare_document, read_document
from fastgw.config.fields import as_mapping, describe, opt_mapping, opt_text
from fastgw.config.findings import Findings
from fastgw.config.model import ApiDefinition, ApiType
from fastgw.config.operations import RouteContext, read_routes
from fastgw.config.security import read_requirements, read_schemes
from fastgw.errors import DefinitionError, Place, Problem

__all__ = ["load_definition", "parse_definition"]

_OPENAPI_VERSION = re.compile(r"3\.[01](\.[0-9]+)?")


def load_definition(
    path: str | os.PathLike[str],
    *,
    api_type: ApiType | None = None,
    basepath: BasePathMode = "ignore",
    region: str = "us-east-1",
    account_id: str = "000000000000",
    partition: str = "aws",
) -> ApiDefinition:
    """Read the definition in file ``path``; see :func:`parse_definition`."""
    source = os.fspath(path)
    try:
        text = Path(source).read_bytes()
    except OSError as err:
        raise DefinitionError(Problem(Place(source), f"cannot read the file: {err.strerror or err}")) from None
    return parse_definition(
        text, source, api_type=api_type, basepath=basepath, region=region, account_id=account_id, partition=partition
    )


@collector_paused()
def parse_definition(
    text: str | bytes,
    source: str,
    *,
    api_type: ApiType | None = None,
    basepath: BasePathMode = "ignore",
    region: str = "us-east-1",
    account_id: str = "000000000000",
    partition: str = "aws",
) -> ApiDefinition:
    """Read a definition from ``text`` (JSON or YAML, told apart by content); ``source`` names it in problems.

    ``api_type`` overrides the type the document declares (HTTP API when it has
    ``x-amazon-apigateway-importexport-version``, else REST). ``basepath`` is AWS's import mode.
    ``${AWS::Region}``, ``${AWS::AccountId}`` and ``${AWS::Partition}`` are replaced in every string.

    Raises :class:`~fastgw.errors.DefinitionError` with every error found.
    """
    if basepath not in BASEPATH_MODES:
        raise ValueError(f"basepath must be one of {', '.join(BASEPATH_MODES)}, not {basepath!r}")
    parsed = read_document(text, source)
    parsed, refs = prepare_document(parsed, region=region, account_id=account_id, partition=partition, source=source)
    if parsed is None:
        raise DefinitionError(Problem(Place(source), "the document is empty"))
    if not isinstance(parsed, dict):
        raise DefinitionError(Problem(Place(source), f"the document must be a mapping, got {describe(parsed)}"))
    findings = Findings()
    doc = Document({str(key): value for key, value in parsed.items()}, source, findings, refs)
    try:
        definition = _read(doc, api_type, basepath)
    except RecursionError:
        raise DefinitionError(Problem(Place(source), "the document is nested too deeply")) from None
    findings.raise_errors()
    return definition


def _read(doc: Document, api_type: ApiType | None, basepath: BasePathMode) -> ApiDefinition:
    findings, place = doc.findings, doc.place
    _check_version(doc)
    findings.raise_errors()  # without a known version nothing else can be read reliably
    api_type = api_type or _declared_api_type(doc)
    if api_type == "HTTP" and doc.is_swagger:
        findings.error(place.child("swagger"), "HTTP APIs import OpenAPI 3.0 only, not Swagger 2.0")
    paths = _paths(doc)
    doc.check_refs()
    settings = aws.read_root_settings(doc.root, place, api_type, findings)
    _check_other_extensions(doc)
    base_path = read_base_path(doc)
    schemes, raw_schemes = read_schemes(doc)
    root_security = doc.root.get("security")
    context = RouteContext(
        doc=doc,
        api_type=api_type,
        prefix=route_prefix(base_path, basepath),
        schemes=schemes,
        root_security=None
        if root_security is None
        else read_requirements(root_security, place.child("security"), schemes, findings),
        validators=settings.request_validators,
        default_validator=settings.default_request_validator,
    )
    info = opt_mapping(doc.root, "info", place, findings) or {}
    title = opt_text(info, "title", place.child("info"), findings) or ""
    version = opt_text(info, "version", place.child("info"), findings) or ""
    routes = tuple(read_routes(context, paths))
    return ApiDefinition(
        source=doc.file,
        title=title,
        version=version,
        api_type=api_type,
        routes=routes,
        warnings=tuple(findings.warnings),
        base_path=base_path,
        binary_media_types=settings.binary_media_types,
        minimum_compression_size=settings.minimum_compression_size,
        api_key_source=settings.api_key_source,
        gateway_responses=settings.gateway_responses,
        request_validators=settings.request_validators,
        default_request_validator=settings.default_request_validator,
        cors=settings.cors,
        models=_models(doc),
        security_schemes=raw_schemes,
        document=doc.root,
    )


def _check_version(doc: Document) -> None:
    """Swagger 2.0, or OpenAPI 3.0.x / 3.1.x."""
    findings, place = doc.findings, doc.place
    swagger = opt_text(doc.root, "swagger", place, findings)
    openapi = opt_text(doc.root, "openapi", place, findings)
    if swagger is not None and openapi is not None:
        findings.error(place, "the document has both 'swagger' and 'openapi': it must be one or the other")
    elif swagger is not None and swagger != "2.0":
        findings.error(place.child("swagger"), f"swagger '{swagger}' is not supported: fastgw reads Swagger 2.0")
    elif openapi is not None and not _OPENAPI_VERSION.fullmatch(openapi):
        findings.error(
            place.child("openapi"), f"openapi '{openapi}' is not supported: fastgw reads OpenAPI 3.0 and 3.1"
        )
    elif swagger is None and openapi is None and not findings.errors:
        findings.error(place, "not an OpenAPI 3 or Swagger 2.0 document: there is no 'openapi' or 'swagger' field")


def _declared_api_type(doc: Document) -> ApiType:
    version = opt_text(doc.root, aws.IMPORTEXPORT_VERSION, doc.place, doc.findings)
    if version is None:
        return "REST"
    if version != "1.0":
        doc.findings.warn(
            doc.place.child(aws.IMPORTEXPORT_VERSION),
            f"version '{version}' is not 1.0, the only one AWS defines: read as 1.0",
        )
    return "HTTP"


def _paths(doc: Document) -> dict[str, Any]:
    if doc.root.get("paths") is None:
        doc.findings.error(doc.place, "there is no 'paths' object: the definition has no routes")
        return {}
    return as_mapping(doc.root["paths"], doc.place.child("paths"), doc.findings, "paths") or {}


def _check_other_extensions(doc: Document) -> None:
    """Extensions on OpenAPI 3 ``components`` and ``servers`` (root ones are checked with the root settings)."""
    findings, place = doc.findings, doc.place
    if doc.is_swagger:
        return
    components = opt_mapping(doc.root, "components", place, findings)
    if components is not None:
        aws.check_extensions(components, place.child("components"), aws.COMPONENTS_EXTENSIONS, findings)
    servers = doc.root.get("servers")
    for index, server in enumerate(servers if isinstance(servers, list) else []):
        if isinstance(server, dict):
            aws.check_extensions(server, place.child("servers", index), aws.SERVER_EXTENSIONS, findings)


def _models(doc: Document) -> dict[str, Any]:
    """Swagger ``definitions`` / OpenAPI 3 ``components/schemas``, as written."""
    if doc.is_swagger:
        return opt_mapping(doc.root, "definitions", doc.place, doc.findings) or {}
    components = opt_mapping(doc.root, "components", doc.place, doc.findings) or {}
    return opt_mapping(components, "schemas", doc.place.child("components"), doc.findings) or {}
