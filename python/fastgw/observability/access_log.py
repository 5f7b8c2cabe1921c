"""AWS-style access logs: a ``$context`` template rendered per request, written off the request path.

A stage's access-log format is a template with ``$context.<name>`` variables, as in API Gateway (reference §11).
:meth:`AccessLogFormat.parse` compiles it once, at load: the template is split into literal text and one getter
per variable, and a name fastgw does not know is a ``ValueError`` naming it (a typo should fail the deploy, not
log ``-`` forever). Names AWS defines that fastgw has no value for (``waf.latency``, ``identity.cognito...``)
are accepted and render ``-``, as absent values do on AWS, so AWS templates load unchanged.

The data plane does not render here: :mod:`fastgw.observability.log_sink` compiles the parsed template for the
Rust sink, which renders each line and writes it from a thread of its own (a bounded queue; a full one drops and
counts lines). :meth:`AccessLogFormat.render` over an :class:`AccessRecord` is the reference rendering of the same
rules, kept for tests and tools.

Escaping: when the template is JSON (it starts with ``{``), every value is JSON-escaped, so a user agent with a
quote cannot break the line. In other templates control characters (newlines included) are escaped as
``\\n``, ``\\u0001``..., so a value cannot forge a second log line.

Secrets: the record has no field for the API key value. ``$context.identity.apiKey`` is accepted (AWS templates
use it) but always renders ``-``; log ``$context.identity.apiKeyId`` instead.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Final

__all__ = ["CLF_FORMAT", "JSON_FORMAT", "AccessLogFormat", "AccessRecord"]

log = logging.getLogger("fastgw.observability")

JSON_FORMAT: Final = (
    '{"requestId":"$context.requestId","ip":"$context.identity.sourceIp",'
    '"requestTime":"$context.requestTime","httpMethod":"$context.httpMethod","routeKey":"$context.routeKey",'
    '"status":"$context.status","protocol":"$context.protocol","responseLength":"$context.responseLength"}'
)
"""The reference's typical JSON access log (one object per line)."""

CLF_FORMAT: Final = (
    "$context.identity.sourceIp - - [$context.requestTime] "
    '"$context.httpMethod $context.routeKey $context.protocol" '
    "$context.status $context.responseLength $context.requestId"
)
"""Common Log Format, as the API Gateway console offers it."""

ABSENT: Final = "-"


@dataclass(slots=True, kw_only=True)
class AccessRecord:
    """The facts of one request that access logs can show. The data plane fills what it knows; ``None`` renders
    ``-``. Times are taken once (``request_time``) and durations are in milliseconds, as AWS logs them."""

    request_id: str
    request_time: float
    """Epoch seconds when the request was received (``time.time()``)."""
    http_method: str
    path: str
    """As AWS logs it: ``/{stage}/resource/path`` for REST APIs, the request path for HTTP APIs."""
    stage: str
    extended_request_id: str | None = None
    api_id: str | None = None
    account_id: str | None = None
    route_key: str | None = None
    resource_path: str | None = None
    protocol: str = "HTTP/1.1"
    source_ip: str | None = None
    user_agent: str | None = None
    api_key_id: str | None = None
    """The id of the API key used, never its value."""
    domain_name: str | None = None
    status: int | None = None
    response_length: int | None = None
    response_latency_ms: int | None = None
    integration_latency_ms: int | None = None
    integration_status: int | None = None
    integration_error: str | None = None
    error_message: str | None = None
    error_response_type: str | None = None
    data_processed: int | None = None
    """Request plus response bytes (HTTP APIs' ``DataProcessed``)."""
    xray_trace_id: str | None = None
    authorizer_principal_id: str | None = None
    authorizer: Mapping[str, str] = field(default_factory=dict)
    """The authorizer's context (``$context.authorizer.<key>``)."""
    authorizer_claims: Mapping[str, str] = field(default_factory=dict)
    """JWT / Cognito claims (``$context.authorizer.claims.<claim>``)."""


Getter = Callable[[AccessRecord], object]

_MONTHS: Final = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


_last_clf_time = (-1, "")


def _clf_time(r: AccessRecord) -> str:
    """``dd/MMM/yyyy:HH:mm:ss +0000``, in UTC, with English month names whatever the locale."""
    global _last_clf_time
    second = int(r.request_time)
    cached_second, text = _last_clf_time
    if second != cached_second:  # a busy gateway logs many requests per second: format each second once
        t = time.gmtime(second)
        text = (
            f"{t.tm_mday:02d}/{_MONTHS[t.tm_mon - 1]}/{t.tm_year}:{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} +0000"
        )
        _last_clf_time = (second, text)
    return text


def _domain_prefix(r: AccessRecord) -> str | None:
    if not r.domain_name:
        return None
    return r.domain_name.partition(".")[0] or None


def _never(_: AccessRecord) -> None:
    return None


class _Json(str):
    """A value that is already JSON (``error.messageString``, a quoted string): rendered without escaping."""

    __slots__ = ()


_VARIABLES: Final[Mapping[str, Getter]] = {
    "requestId": lambda r: r.request_id,
    "extendedRequestId": lambda r: r.extended_request_id or r.request_id,
    "awsEndpointRequestId": lambda r: r.request_id,
    "accountId": lambda r: r.account_id,
    "apiId": lambda r: r.api_id,
    "stage": lambda r: r.stage,
    "domainName": lambda r: r.domain_name,
    "domainPrefix": _domain_prefix,
    "httpMethod": lambda r: r.http_method,
    "routeKey": lambda r: r.route_key,
    "resourcePath": lambda r: r.resource_path,
    "path": lambda r: r.path,
    "protocol": lambda r: r.protocol,
    "requestTime": _clf_time,
    "requestTimeEpoch": lambda r: int(r.request_time * 1000),
    "status": lambda r: r.status,
    "responseLength": lambda r: r.response_length,
    "responseLatency": lambda r: r.response_latency_ms,
    "dataProcessed": lambda r: r.data_processed,
    "identity.sourceIp": lambda r: r.source_ip,
    "identity.userAgent": lambda r: r.user_agent,
    "identity.apiKeyId": lambda r: r.api_key_id,
    "identity.apiKey": _never,  # a secret: never logged (module docs)
    "integrationLatency": lambda r: r.integration_latency_ms,
    "integration.latency": lambda r: r.integration_latency_ms,
    "integrationStatus": lambda r: r.integration_status,
    "integration.status": lambda r: r.integration_status,
    "integration.integrationStatus": lambda r: r.integration_status,
    "integration.error": lambda r: r.integration_error,
    "integrationErrorMessage": lambda r: r.integration_error,
    "error.message": lambda r: r.error_message,
    "error.messageString": lambda r: None if r.error_message is None else _Json(json.dumps(r.error_message)),
    "error.responseType": lambda r: r.error_response_type,
    "xrayTraceId": lambda r: r.xray_trace_id,
    "authorizer.principalId": lambda r: r.authorizer_principal_id,
}

# Names AWS defines (reference §11) that fastgw has no value for: accepted, rendered "-".
_AWS_ONLY: Final = frozenset(
    """
    awsEndpointRequestId2 customDomain.basePathMatched authorizer.error error.validationErrorString
    identity.accountId identity.caller identity.cognitoAuthenticationProvider identity.cognitoAuthenticationType
    identity.cognitoIdentityId identity.cognitoIdentityPoolId identity.principalOrgId identity.user
    identity.userArn identity.clientCert.clientCertPem identity.clientCert.subjectDN identity.clientCert.issuerDN
    identity.clientCert.serialNumber identity.clientCert.validity.notBefore identity.clientCert.validity.notAfter
    integration.requestId resourceId wafResponseCode webaclArn
    authorize.error authorize.latency authorize.status authenticate.error authenticate.latency authenticate.status
    authorizer.integrationLatency authorizer.integrationStatus authorizer.latency authorizer.requestId
    authorizer.status waf.error waf.latency waf.status
    """.split()
)

_VARIABLE: Final = re.compile(r"\$context\.([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_-]*)*)")


def _getter(name: str) -> Getter | None:
    if name in _VARIABLES:
        return _VARIABLES[name]
    if name in _AWS_ONLY:
        return _never
    if name.startswith("authorizer.claims."):
        claim = name.removeprefix("authorizer.claims.")
        return lambda r: r.authorizer_claims.get(claim)
    if name.startswith("authorizer."):
        key = name.removeprefix("authorizer.")
        return lambda r: r.authorizer.get(key)
    return None


_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]")
_JSON_SPECIAL: Final = re.compile(r'[\x00-\x1f"\\]')
_json_string: Final = json.JSONEncoder(ensure_ascii=False).encode


def _escape_text(value: str) -> str:
    """Control characters as JSON escapes, so a value stays on its line."""
    return _CONTROL.sub(lambda m: json.dumps(m.group())[1:-1], value) if _CONTROL.search(value) else value


def _escape_json(value: str) -> str:
    """The inside of a JSON string literal (non-ASCII left as is: log lines are UTF-8)."""
    return _json_string(value)[1:-1] if _JSON_SPECIAL.search(value) else value


@dataclass(frozen=True, slots=True)
class AccessLogFormat:
    """A compiled access-log template. Build with :meth:`parse`."""

    template: str
    is_json: bool
    literals: tuple[str, ...]
    """The text around the variables: one more than :attr:`getters`."""
    getters: tuple[Getter, ...]
    variables: tuple[str, ...]
    """The ``$context`` names, in template order."""

    @classmethod
    def parse(cls, template: str) -> AccessLogFormat:
        """Compiles ``template``; ``ValueError`` names every unknown ``$context`` variable."""
        if "\n" in template or "\r" in template:
            raise ValueError("an access-log format must be a single line")
        names = [m.group(1) for m in _VARIABLE.finditer(template)]
        getters = {name: _getter(name) for name in names}
        unknown = [name for name, getter in getters.items() if getter is None]
        if unknown:
            listed = ", ".join(f"$context.{name}" for name in unknown)
            raise ValueError(f"unknown access-log variable{'s' if len(unknown) > 1 else ''}: {listed}")
        return cls(
            template=template,
            is_json=template.lstrip().startswith("{"),
            literals=tuple(_VARIABLE.split(template)[::2]),
            getters=tuple(g for g in (getters[name] for name in names) if g is not None),
            variables=tuple(names),
        )

    def render(self, record: AccessRecord) -> str:
        """One log line (without the newline)."""
        escape = _escape_json if self.is_json else _escape_text
        literals = self.literals
        parts = [literals[0]]
        for i, getter in enumerate(self.getters, start=1):
            value = getter(record)
            if value is None:
                parts.append(ABSENT)
            elif type(value) is str:
                parts.append(escape(value))
            else:  # numbers and _Json need no escaping
                parts.append(str(value))
            parts.append(literals[i])
        return "".join(parts)
