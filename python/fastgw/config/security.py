"""Security schemes and requirements, mapped as AWS maps them on import (reference §3.1 "Security mapping").

fastgw enforces API keys (REST) only. Every other scheme (authorizers, IAM) is reported as a warning,
once per place it is required, and the route is served without it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fastgw.config.aws import AUTH, AUTHORIZER, AUTHTYPE, SECURITY_SCHEME_EXTENSIONS, check_extensions
from fastgw.config.document import Document
from fastgw.config.fields import as_list, as_mapping, describe, opt_choice, opt_mapping
from fastgw.config.findings import Findings
from fastgw.config.model import ApiType
from fastgw.errors import Place

#: The effective security of a route: alternatives, each naming schemes with their scopes.
Requirements = tuple[Mapping[str, tuple[str, ...]], ...]

API_KEY_HEADER = "x-api-key"
_AUTH_TYPES = {"NONE": "NONE", "AWS_IAM": "AWS_IAM"}


@dataclass(frozen=True, slots=True)
class Scheme:
    """A security scheme as far as fastgw cares: is it AWS's API key convention, and if not, what is it."""

    is_api_key: bool
    kind: str
    """What enforces it on AWS, for warnings: ``apiKey``, ``token authorizer``, ``AWS_IAM``, ``oauth2``."""


def read_schemes(doc: Document) -> tuple[dict[str, Scheme], dict[str, Any]]:
    """The security schemes (Swagger ``securityDefinitions`` / OAS3 ``components/securitySchemes``): classified,
    and as written (``$ref``s followed)."""
    if doc.is_swagger:
        container, place = doc.root, doc.place
        key = "securityDefinitions"
    else:
        container = opt_mapping(doc.root, "components", doc.place, doc.findings) or {}
        place, key = doc.place.child("components"), "securitySchemes"
    schemes: dict[str, Scheme] = {}
    raw: dict[str, Any] = {}
    for name, value in (opt_mapping(container, key, place, doc.findings) or {}).items():
        resolved = doc.resolve(value, place.child(key, name))
        if resolved is None:
            continue
        target, where = resolved
        fields = as_mapping(target, where, doc.findings, "a security scheme")
        if fields is not None:
            schemes[name] = _scheme(name, fields, where, doc.findings)
            raw[name] = fields
    return schemes, raw


def _scheme(name: str, fields: Mapping[str, Any], place: Place, findings: Findings) -> Scheme:
    check_extensions(fields, place, SECURITY_SCHEME_EXTENSIONS, findings)
    authorizer = fields.get(AUTHORIZER)
    authtype = fields.get(AUTHTYPE)
    if authorizer is not None:
        kind = f"{_authorizer_type(authorizer)} authorizer"
        findings.warn(
            place.child(AUTHORIZER),
            f"authorizers are not implemented yet: routes that require '{name}' ({kind}) are served without it",
        )
        return Scheme(is_api_key=False, kind=kind)
    if isinstance(authtype, str) and authtype.lower().startswith("aws"):  # awsSigv4: IAM authorization
        return Scheme(is_api_key=False, kind="AWS_IAM")
    is_api_key = (
        fields.get("type") == "apiKey"
        and fields.get("in") == "header"
        and str(fields.get("name", "")).lower() == API_KEY_HEADER
    )
    return Scheme(is_api_key=is_api_key, kind=str(fields.get("type", "unknown type")))


def _authorizer_type(authorizer: Any) -> str:
    kind = authorizer.get("type") if isinstance(authorizer, dict) else None
    return kind.lower() if isinstance(kind, str) else "unknown"


def read_requirements(value: Any, place: Place, schemes: Mapping[str, Scheme], findings: Findings) -> Requirements:
    """An OpenAPI ``security`` list: each requirement maps scheme names (which must be defined) to scopes."""
    requirements: list[Mapping[str, tuple[str, ...]]] = []
    for index, item in enumerate(as_list(value, place, findings, "security") or []):
        where = place.child(index)
        requirement: dict[str, tuple[str, ...]] = {}
        for name, scopes in (as_mapping(item, where, findings, "a security requirement") or {}).items():
            if name not in schemes:
                findings.error(
                    where.child(name), f"security requirement names '{name}', which is not a security scheme"
                )
            requirement[name] = _scopes(scopes, where.child(name), findings)
        requirements.append(requirement)
    return tuple(requirements)


def _scopes(value: Any, place: Place, findings: Findings) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, list) and all(isinstance(scope, str) for scope in value):
        return tuple(value)
    findings.error(place, f"scopes must be a list of strings, got {describe(value)}")
    return ()


def api_key_required(
    requirements: Requirements, place: Place, schemes: Mapping[str, Scheme], api_type: ApiType, findings: Findings
) -> bool:
    """Whether the route requires an API key (any requirement naming AWS's ``x-api-key`` scheme, as AWS
    exports API keys); warns about each required scheme fastgw does not enforce. ``place`` is where the
    requirements are written (the operation's or the root's ``security``)."""
    required = False
    for index, requirement in enumerate(requirements):
        for name in requirement:
            scheme = schemes.get(name)
            if scheme is None:
                continue
            if scheme.is_api_key and api_type == "REST":
                required = True
            elif scheme.is_api_key:
                findings.warn(
                    place.child(index, name), f"API keys are a REST API feature: HTTP APIs do not check '{name}'"
                )
            else:
                findings.warn(
                    place.child(index, name),
                    f"security scheme '{name}' ({scheme.kind}) is not enforced yet: served without it",
                )
    return required


def check_auth(operation: Mapping[str, Any], place: Place, findings: Findings) -> None:
    """``x-amazon-apigateway-auth`` on an operation: ``NONE`` is fine, ``AWS_IAM`` is not implemented yet."""
    auth = opt_mapping(operation, AUTH, place, findings)
    if auth is not None and opt_choice(auth, "type", place.child(AUTH), findings, _AUTH_TYPES) == "AWS_IAM":
        findings.warn(place.child(AUTH), "AWS_IAM authorization is not implemented yet: the route is served without it")
