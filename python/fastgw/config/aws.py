"""The ``x-amazon-apigateway-*`` extensions: where each may appear, the integration object, and the root-level
settings (validators, gateway responses, CORS, binary media types, ...).

What fastgw does not implement yet is reported as a warning naming the extension; the definition still
loads (see reference §3.2 for the extensions and their fields).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

from fastgw.config.fields import (
    as_mapping,
    opt_bool,
    opt_choice,
    opt_int,
    opt_mapping,
    opt_str,
    opt_str_mapping,
    opt_str_tuple,
    opt_text,
    str_mapping,
)
from fastgw.config.findings import Findings
from fastgw.config.model import (
    ANY_METHODS,
    ApiType,
    Integration,
    IntegrationResponse,
    IntegrationType,
    PassthroughBehavior,
)
from fastgw.errors import Place
from fastgw.transforms.http_api_mapping import check_http_api_mapping, http_api_mapping_warnings
from fastgw.transforms.parameters import check_request_parameters

PREFIX = "x-amazon-apigateway-"
ANY_METHOD = PREFIX + "any-method"
API_KEY_SOURCE = PREFIX + "api-key-source"
AUTH = PREFIX + "auth"
AUTHORIZER = PREFIX + "authorizer"
AUTHTYPE = PREFIX + "authtype"
BINARY_MEDIA_TYPES = PREFIX + "binary-media-types"
CORS = PREFIX + "cors"
DOCUMENTATION = PREFIX + "documentation"
ENDPOINT_ACCESS_MODE = PREFIX + "endpoint-access-mode"
ENDPOINT_CONFIGURATION = PREFIX + "endpoint-configuration"
GATEWAY_RESPONSES = PREFIX + "gateway-responses"
IMPORTEXPORT_VERSION = PREFIX + "importexport-version"
INTEGRATION = PREFIX + "integration"
INTEGRATIONS = PREFIX + "integrations"
MINIMUM_COMPRESSION_SIZE = PREFIX + "minimum-compression-size"
POLICY = PREFIX + "policy"
REQUEST_VALIDATOR = PREFIX + "request-validator"
REQUEST_VALIDATORS = PREFIX + "request-validators"
SECURITY_POLICY = PREFIX + "security-policy"
TAG_VALUE = PREFIX + "tag-value"

#: The extensions fastgw reads, by the object they belong to (``documentation`` is read and ignored).
ROOT_EXTENSIONS = frozenset(
    {
        API_KEY_SOURCE,
        BINARY_MEDIA_TYPES,
        CORS,
        DOCUMENTATION,
        GATEWAY_RESPONSES,
        IMPORTEXPORT_VERSION,
        MINIMUM_COMPRESSION_SIZE,
        REQUEST_VALIDATOR,
        REQUEST_VALIDATORS,
    }
)
PATH_ITEM_EXTENSIONS = frozenset({ANY_METHOD})
OPERATION_EXTENSIONS = frozenset({AUTH, INTEGRATION, REQUEST_VALIDATOR})
COMPONENTS_EXTENSIONS = frozenset({INTEGRATIONS})
SECURITY_SCHEME_EXTENSIONS = frozenset({AUTHORIZER, AUTHTYPE})
SERVER_EXTENSIONS: frozenset[str] = frozenset()

#: Known extensions fastgw does not implement yet, with what that means for the served API.
_NOT_IMPLEMENTED = {
    POLICY: "resource policies are not implemented yet: the policy is not enforced",
    ENDPOINT_CONFIGURATION: "endpoint configuration is not implemented yet: ignored",
    ENDPOINT_ACCESS_MODE: "endpoint access modes are not implemented yet: ignored",
    SECURITY_POLICY: "TLS security policies are not implemented yet: ignored",
}
#: Where each known extension belongs, for the warning when it is found elsewhere.
_BELONGS_ON = {
    **dict.fromkeys(ROOT_EXTENSIONS, "the root object"),
    ANY_METHOD: "a path item",
    **dict.fromkeys(OPERATION_EXTENSIONS - {REQUEST_VALIDATOR}, "an operation"),
    REQUEST_VALIDATOR: "the root object or an operation",
    INTEGRATIONS: "components (HTTP APIs)",
    AUTHORIZER: "a security scheme",
    AUTHTYPE: "a security scheme",
    TAG_VALUE: "a tag",
}
REST_ONLY = frozenset(
    {
        API_KEY_SOURCE,
        BINARY_MEDIA_TYPES,
        GATEWAY_RESPONSES,
        MINIMUM_COMPRESSION_SIZE,
        REQUEST_VALIDATOR,
        REQUEST_VALIDATORS,
    }
)
HTTP_ONLY = frozenset({CORS})


def check_extensions(obj: Mapping[str, Any], place: Place, allowed: Collection[str], findings: Findings) -> None:
    """Warn about each ``x-amazon-apigateway-*`` member of ``obj`` that is not in ``allowed``: unknown, not
    implemented yet, or in the wrong place."""
    for key in obj:
        if not key.startswith(PREFIX) or key in allowed:
            continue
        if key in _NOT_IMPLEMENTED:
            message = f"{key}: {_NOT_IMPLEMENTED[key]}"
        elif key in _BELONGS_ON:
            message = f"{key} belongs on {_BELONGS_ON[key]}, not here: ignored"
        else:
            message = f"unknown extension {key}: ignored"
        findings.warn(place.child(key), message)


def applicable(obj: Mapping[str, Any], place: Place, api_type: ApiType, findings: Findings) -> dict[str, Any]:
    """The members of ``obj`` without the extensions that only apply to the other API type (each one left
    out is warned about)."""
    result: dict[str, Any] = {}
    for key, value in obj.items():
        only_for = "HTTP" if key in HTTP_ONLY else "REST" if key in REST_ONLY else api_type
        if only_for == api_type:
            result[key] = value
        else:
            findings.warn(place.child(key), f"{key} applies to {only_for} APIs only: ignored")
    return result


def status_code(value: Any, place: Place, findings: Findings) -> int | None:
    """A status code written as ``"200"`` or ``200``; an error unless it is three digits (100-599)."""
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if isinstance(text, str) and re.fullmatch(r"[1-5][0-9]{2}", text):
        return int(text)
    if value is None:
        findings.error(place, "statusCode is missing")
    else:
        findings.error(place, f"status code {value!r} is not a 3-digit HTTP status code")
    return None


# --- x-amazon-apigateway-integration ---------------------------------------------------------------------

_TYPES = {"aws": "AWS", "aws_proxy": "AWS_PROXY", "http": "HTTP", "http_proxy": "HTTP_PROXY", "mock": "MOCK"}
_SUPPORTED: dict[str, IntegrationType] = {"HTTP": "HTTP", "HTTP_PROXY": "HTTP_PROXY", "MOCK": "MOCK"}
_PASSTHROUGH: dict[str, PassthroughBehavior] = {
    "WHEN_NO_MATCH": "WHEN_NO_MATCH",
    "WHEN_NO_TEMPLATES": "WHEN_NO_TEMPLATES",
    "NEVER": "NEVER",
}
_CONTENT_HANDLING = {"CONVERT_TO_TEXT": "CONVERT_TO_TEXT", "CONVERT_TO_BINARY": "CONVERT_TO_BINARY"}
_CONNECTION_TYPES = {"INTERNET": "INTERNET", "VPC_LINK": "VPC_LINK"}
_TRANSFER_MODES = {"BUFFERED": "BUFFERED", "STREAM": "STREAM"}
_STAGE_VARIABLE = re.compile(r"\$\{stageVariables\.[A-Za-z0-9_]+\}")
_HTTP_METHODS = frozenset((*ANY_METHODS, "ANY"))
_REST_MAX_TIMEOUT_MS = 29_000
_HTTP_MAX_TIMEOUT_MS = 30_000
_MIN_TIMEOUT_MS = 50


@dataclass(frozen=True, slots=True)
class NoIntegration:
    """Why a route has no integration fastgw can run (a warning or error has been reported)."""

    reason: str


def parse_integration(raw: Any, place: Place, api_type: ApiType, findings: Findings) -> Integration | NoIntegration:
    """Read an ``x-amazon-apigateway-integration`` object (``$ref``s already followed) found at ``place``."""
    fields = as_mapping(raw, place, findings, INTEGRATION)
    if fields is None:
        return NoIntegration("invalid integration")
    kind = opt_choice(fields, "type", place, findings, _TYPES, label="integration type")
    if kind is None:
        if fields.get("type") is None:
            findings.error(place.child("type"), f"integration type is missing (one of {', '.join(_TYPES)})")
        return NoIntegration("invalid integration")
    skipped = _unsupported(kind, fields, place, api_type, findings)
    if skipped is not None:
        return skipped
    integration = _integration(_SUPPORTED[kind], fields, place, api_type, findings)
    if api_type == "HTTP":
        # AWS refuses a definition that maps a reserved header (or has a malformed mapping).
        for problem in check_http_api_mapping(integration):
            findings.error(problem.place, problem.message)
        for problem in http_api_mapping_warnings(integration):
            findings.warn(problem.place, problem.message)
    else:
        for problem in check_request_parameters(integration):
            findings.warn(problem.place, problem.message)
    return integration


def _unsupported(
    kind: str, fields: dict[str, Any], place: Place, api_type: ApiType, findings: Findings
) -> NoIntegration | None:
    if kind not in _SUPPORTED:
        findings.warn(place.child("type"), f"integration type {kind} is not supported yet: the route answers 500")
        return NoIntegration(f"{kind} integrations are not supported yet")
    if opt_choice(fields, "connectionType", place, findings, _CONNECTION_TYPES) == "VPC_LINK":
        findings.warn(
            place.child("connectionType"),
            "connectionType VPC_LINK (private integration) is not supported yet: the route answers 500",
        )
        return NoIntegration("VPC_LINK integrations are not supported yet")
    if api_type == "HTTP" and kind != "HTTP_PROXY":
        findings.warn(
            place.child("type"),
            f"HTTP APIs support only proxy integrations (HTTP_PROXY, AWS_PROXY), not {kind}: the route answers 500",
        )
        return NoIntegration(f"{kind} integrations are not available in HTTP APIs")
    return None


def _integration(
    kind: IntegrationType, fields: dict[str, Any], place: Place, api_type: ApiType, findings: Findings
) -> Integration:
    if opt_choice(fields, "responseTransferMode", place, findings, _TRANSFER_MODES) == "STREAM":
        findings.warn(
            place.child("responseTransferMode"), "response streaming is not supported yet: responses are buffered"
        )
    tls = opt_mapping(fields, "tlsConfig", place, findings)
    return Integration(
        type=kind,
        place=place,
        uri=_uri(kind, fields, place, findings),
        http_method=_http_method(kind, fields, place, findings),
        request_parameters=opt_str_mapping(fields, "requestParameters", place, findings),
        request_templates=opt_str_mapping(fields, "requestTemplates", place, findings, null_is_empty=True),
        responses=_responses(fields, place, findings),
        response_parameters=_status_mappings(fields, place, findings),
        passthrough_behavior=opt_choice(fields, "passthroughBehavior", place, findings, _PASSTHROUGH)
        or "WHEN_NO_MATCH",
        timeout_ms=_timeout(fields, place, api_type, findings),
        payload_format_version=_payload_format_version(kind, fields, place, findings),
        content_handling=opt_choice(fields, "contentHandling", place, findings, _CONTENT_HANDLING),
        cache_namespace=opt_str(fields, "cacheNamespace", place, findings),
        cache_key_parameters=opt_str_tuple(fields, "cacheKeyParameters", place, findings),
        tls_insecure_skip_verification=tls is not None
        and bool(opt_bool(tls, "insecureSkipVerification", place.child("tlsConfig"), findings)),
    )


def _uri(kind: IntegrationType, fields: dict[str, Any], place: Place, findings: Findings) -> str:
    uri = opt_str(fields, "uri", place, findings)
    if kind == "MOCK":
        return uri or ""
    if uri is None:
        if fields.get("uri") is None:
            findings.error(place.child("uri"), f"{kind} integration needs a uri (an absolute http:// or https:// URL)")
        return ""
    if not is_http_url(uri):
        findings.error(place.child("uri"), f"uri '{uri}' is not an absolute http:// or https:// URL")
    return uri


def is_http_url(uri: str) -> bool:
    """Whether ``uri`` is an absolute http(s) URL, as far as can be told before stage variables are known:
    ``http://${stageVariables.host}/pets`` passes, and a uri that starts with a stage variable
    (``${stageVariables.url}/pets``) is left for the per-stage check."""
    if uri.startswith("${stageVariables."):
        return True
    # Only the scheme and the host decide, and the host ends by the first "/" after "//" at the latest: what comes
    # before it is all that is parsed, and routes to one backend share it (parsed once). urlsplit drops tabs and
    # line breaks wherever they are (even inside "//"), so a uri with one is parsed whole.
    end = uri.find("/", uri.find("//") + 2)
    whole = end < 0 or "\t" in uri or "\n" in uri or "\r" in uri
    return _is_http_origin(uri if whole else uri[:end])


@functools.lru_cache(maxsize=256)
def _is_http_origin(origin: str) -> bool:
    try:
        parts = urlsplit(_STAGE_VARIABLE.sub("stagevariable", origin))
        return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)
    except ValueError:  # e.g. an unclosed IPv6 bracket
        return False


def _http_method(kind: IntegrationType, fields: dict[str, Any], place: Place, findings: Findings) -> str:
    method = opt_str(fields, "httpMethod", place, findings)
    if method is None:
        if kind != "MOCK" and fields.get("httpMethod") is None:
            findings.warn(
                place.child("httpMethod"), f"{kind} integration has no httpMethod: ANY (the client's method) is used"
            )
        return "ANY"
    if method.upper() not in _HTTP_METHODS:
        findings.error(place.child("httpMethod"), f"httpMethod '{method}' is not one of {', '.join(ANY_METHODS)}, ANY")
    return method.upper()


def _timeout(fields: dict[str, Any], place: Place, api_type: ApiType, findings: Findings) -> int:
    maximum = _REST_MAX_TIMEOUT_MS if api_type == "REST" else _HTTP_MAX_TIMEOUT_MS
    value = opt_int(fields, "timeoutInMillis", place, findings)
    if value is None:
        return maximum  # AWS's default is the maximum, for both API types
    where = place.child("timeoutInMillis")
    if value < _MIN_TIMEOUT_MS:
        findings.error(where, f"timeoutInMillis {value} is below the minimum of {_MIN_TIMEOUT_MS}")
    elif value > maximum and api_type == "HTTP":
        findings.error(where, f"timeoutInMillis {value} is above the HTTP API maximum of {maximum}")
    elif value > maximum:
        findings.warn(where, f"timeoutInMillis {value} is above AWS's default REST maximum of {maximum}: kept")
    return value


def _payload_format_version(
    kind: IntegrationType, fields: dict[str, Any], place: Place, findings: Findings
) -> str | None:
    version = opt_text(fields, "payloadFormatVersion", place, findings)
    if version is None or version == "1.0":
        return version
    where = place.child("payloadFormatVersion")
    if version == "2.0":
        findings.error(where, f"payloadFormatVersion 2.0 is for Lambda integrations: {kind} integrations use 1.0")
    else:
        findings.error(where, f"payloadFormatVersion '{version}' is not 1.0 or 2.0")
    return version


def _responses(fields: dict[str, Any], place: Place, findings: Findings) -> tuple[IntegrationResponse, ...]:
    """REST integration ``responses``: selection pattern -> response, in document order."""
    members = opt_mapping(fields, "responses", place, findings)
    if not members:
        return ()
    place = place.child("responses")
    responses = (_response(pattern, raw, place.child(pattern), findings) for pattern, raw in members.items())
    return tuple(response for response in responses if response is not None)


def _response(pattern: str, raw: Any, place: Place, findings: Findings) -> IntegrationResponse | None:
    fields = as_mapping(raw, place, findings, "an integration response")
    if fields is None:
        return None
    try:
        re.compile(pattern)
    except (re.error, OverflowError) as err:  # OverflowError: a repetition count like {4294967296}
        findings.error(place, f"selection pattern '{pattern}' is not a valid regular expression: {err}")
    status = status_code(fields.get("statusCode"), place.child("statusCode"), findings)
    if status is None:
        return None
    return IntegrationResponse(
        selection_pattern=pattern,
        status_code=status,
        response_parameters=opt_str_mapping(fields, "responseParameters", place, findings),
        response_templates=opt_str_mapping(fields, "responseTemplates", place, findings, null_is_empty=True),
        content_handling=opt_choice(fields, "contentHandling", place, findings, _CONTENT_HANDLING),
    )


def _status_mappings(fields: dict[str, Any], place: Place, findings: Findings) -> dict[str, dict[str, str]]:
    """HTTP API ``responseParameters``: backend status code -> parameter mapping."""
    members = opt_mapping(fields, "responseParameters", place, findings)
    if not members:
        return {}
    place = place.child("responseParameters")
    result: dict[str, dict[str, str]] = {}
    for status, mapping in members.items():
        if status_code(status, place.child(status), findings) is not None:
            result[status] = str_mapping(mapping, place.child(status), findings, "responseParameters")
    return result


# --- root-level settings ---------------------------------------------------------------------------------

#: REST gateway response types (reference §2.2).
GATEWAY_RESPONSE_TYPES = frozenset(
    {
        "ACCESS_DENIED",
        "API_CONFIGURATION_ERROR",
        "AUTHORIZER_CONFIGURATION_ERROR",
        "AUTHORIZER_FAILURE",
        "BAD_REQUEST_PARAMETERS",
        "BAD_REQUEST_BODY",
        "DEFAULT_4XX",
        "DEFAULT_5XX",
        "EXPIRED_TOKEN",
        "INTEGRATION_FAILURE",
        "INTEGRATION_TIMEOUT",
        "INVALID_API_KEY",
        "INVALID_SIGNATURE",
        "MISSING_AUTHENTICATION_TOKEN",
        "QUOTA_EXCEEDED",
        "REQUEST_TOO_LARGE",
        "RESOURCE_NOT_FOUND",
        "THROTTLED",
        "UNAUTHORIZED",
        "UNSUPPORTED_MEDIA_TYPE",
        "WAF_FILTERED",
    }
)
_API_KEY_SOURCES: dict[str, Literal["HEADER", "AUTHORIZER"]] = {"HEADER": "HEADER", "AUTHORIZER": "AUTHORIZER"}
_MAX_COMPRESSION_SIZE = 10_485_760


@dataclass(frozen=True, slots=True)
class RootSettings:
    """The root-level extensions that shape the API (each later capability reads its own)."""

    binary_media_types: tuple[str, ...] = ()
    minimum_compression_size: int | None = None
    api_key_source: Literal["HEADER", "AUTHORIZER"] = "HEADER"
    #: response type -> ``{"statusCode": int | None, "responseParameters": {...}, "responseTemplates": {...}}``
    gateway_responses: Mapping[str, Any] = field(default_factory=dict)
    #: name -> ``{"validateRequestBody": bool, "validateRequestParameters": bool}``
    request_validators: Mapping[str, Any] = field(default_factory=dict)
    default_request_validator: str | None = None
    cors: Mapping[str, Any] | None = None


def read_root_settings(root: Mapping[str, Any], place: Place, api_type: ApiType, findings: Findings) -> RootSettings:
    check_extensions(root, place, ROOT_EXTENSIONS, findings)
    present = applicable(root, place, api_type, findings)
    validators = _request_validators(present.get(REQUEST_VALIDATORS), place.child(REQUEST_VALIDATORS), findings)
    return RootSettings(
        binary_media_types=opt_str_tuple(present, BINARY_MEDIA_TYPES, place, findings),
        minimum_compression_size=_compression_size(present, place, findings),
        api_key_source=opt_choice(present, API_KEY_SOURCE, place, findings, _API_KEY_SOURCES) or "HEADER",
        gateway_responses=_gateway_responses(present.get(GATEWAY_RESPONSES), place.child(GATEWAY_RESPONSES), findings),
        request_validators=validators,
        default_request_validator=validator_name(present, place, validators, findings),
        cors=opt_mapping(present, CORS, place, findings),
    )


def validator_name(
    obj: Mapping[str, Any], place: Place, validators: Mapping[str, Any], findings: Findings
) -> str | None:
    """The ``x-amazon-apigateway-request-validator`` of ``obj``, which must name a defined validator."""
    name = opt_str(obj, REQUEST_VALIDATOR, place, findings)
    if name is not None and name not in validators:
        findings.error(
            place.child(REQUEST_VALIDATOR), f"request validator '{name}' is not defined in {REQUEST_VALIDATORS}"
        )
    return name


def _compression_size(root: Mapping[str, Any], place: Place, findings: Findings) -> int | None:
    size = opt_int(root, MINIMUM_COMPRESSION_SIZE, place, findings)
    if size is not None and not 0 <= size <= _MAX_COMPRESSION_SIZE:
        findings.error(place.child(MINIMUM_COMPRESSION_SIZE), f"{size} is outside 0..{_MAX_COMPRESSION_SIZE}")
        return None
    return size


def _request_validators(value: Any, place: Place, findings: Findings) -> dict[str, dict[str, bool]]:
    result: dict[str, dict[str, bool]] = {}
    members = None if value is None else as_mapping(value, place, findings, REQUEST_VALIDATORS)
    for name, raw in (members or {}).items():
        fields = as_mapping(raw, place.child(name), findings, "a request validator")
        if fields is not None:
            result[name] = {
                key: bool(opt_bool(fields, key, place.child(name), findings))
                for key in ("validateRequestBody", "validateRequestParameters")
            }
    return result


def _gateway_responses(value: Any, place: Place, findings: Findings) -> dict[str, dict[str, Any]]:
    result: dict[str, dict[str, Any]] = {}
    members = None if value is None else as_mapping(value, place, findings, GATEWAY_RESPONSES)
    for response_type, raw in (members or {}).items():
        where = place.child(response_type)
        if response_type not in GATEWAY_RESPONSE_TYPES:
            findings.error(where, f"'{response_type}' is not a gateway response type")
            continue
        fields = as_mapping(raw, where, findings, "a gateway response")
        if fields is None:
            continue
        status = fields.get("statusCode")
        result[response_type] = {
            "statusCode": None if status is None else status_code(status, where.child("statusCode"), findings),
            "responseParameters": opt_str_mapping(fields, "responseParameters", where, findings),
            "responseTemplates": opt_str_mapping(fields, "responseTemplates", where, findings, null_is_empty=True),
        }
    return result
