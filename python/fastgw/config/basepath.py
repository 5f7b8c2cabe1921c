"""The definition's base path and AWS's ``basepath`` import modes (reference §3.1).

Source: Swagger ``basePath``; OpenAPI 3 ``servers[0].variables.basePath.default``, else the path of
``servers[0].url`` (with its ``{variables}`` replaced by their defaults). Modes: ``ignore`` leaves route
paths alone, ``prepend`` puts the base path in front, ``split`` drops its first segment and puts the rest
in front (``/base-url/part`` + ``/test`` -> ``/part/test``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import urlsplit

from fastgw.config.document import Document
from fastgw.config.fields import as_mapping, opt_list, opt_mapping, opt_str
from fastgw.config.findings import Findings
from fastgw.errors import Place

BasePathMode = Literal["ignore", "prepend", "split"]
BASEPATH_MODES: tuple[BasePathMode, ...] = ("ignore", "prepend", "split")

_SLASHES = re.compile(r"/{2,}")
_TEMPLATE = re.compile(r"\{([^{}]*)\}")


def normalise(path: str) -> str:
    """``//`` collapsed, no trailing ``/``, a leading ``/``; ``""`` for an empty or root path."""
    return _SLASHES.sub("/", "/" + path).rstrip("/")


def read_base_path(doc: Document) -> str:
    """The definition's base path, normalised (``/v1``), or ``""`` when it has none."""
    if doc.is_swagger:
        return normalise(opt_str(doc.root, "basePath", doc.place, doc.findings) or "")
    servers = opt_list(doc.root, "servers", doc.place, doc.findings)
    if not servers:
        return ""
    place = doc.place.child("servers", 0)
    server = as_mapping(servers[0], place, doc.findings, "a server")
    return "" if server is None else _server_base_path(server, place, doc.findings)


def _server_base_path(server: Mapping[str, Any], place: Place, findings: Findings) -> str:
    defaults = _variable_defaults(server, place, findings)
    if "basePath" in defaults:
        return normalise(defaults["basePath"])
    url = _TEMPLATE.sub(lambda match: defaults.get(match.group(1), ""), opt_str(server, "url", place, findings) or "")
    try:
        return normalise(urlsplit(url).path)
    except ValueError as err:  # e.g. an unclosed IPv6 bracket in the host
        findings.error(place.child("url"), f"server url '{url}' is not a URL: {err}")
        return ""


def _variable_defaults(server: Mapping[str, Any], place: Place, findings: Findings) -> dict[str, str]:
    defaults: dict[str, str] = {}
    for name, variable in (opt_mapping(server, "variables", place, findings) or {}).items():
        where = place.child("variables", name)
        fields = as_mapping(variable, where, findings, "a server variable")
        default = None if fields is None else opt_str(fields, "default", where, findings)
        if default is not None:
            defaults[name] = default
    return defaults


def route_prefix(base_path: str, mode: BasePathMode) -> str:
    """What goes in front of every route path for ``mode``."""
    if mode == "prepend":
        return base_path
    if mode == "split":
        return normalise("/".join(base_path.strip("/").split("/")[1:]))
    return ""


def join(prefix: str, path: str) -> str:
    """A route path behind ``prefix`` (``/base`` + ``/`` is ``/base``), with ``//`` collapsed."""
    if prefix and path == "/":
        return prefix
    path = prefix + path
    return _SLASHES.sub("/", path) if "//" in path else path
