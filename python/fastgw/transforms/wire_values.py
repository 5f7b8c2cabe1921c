"""Mapped values on their way to the wire: encoded or refused here, where they are produced (issue 18, items 1
and 6). The upstream head writer in ``gateway_core`` refuses what slips through, as a second line.

A mapping's source may be a decoded value the client chose (a query-string parameter, a header, a body field,
a template's ``$context.requestOverride``). Written raw into a request line, ``a HTTP/1.1\\r\\nHost: evil`` would
end it and start a second request; written into a path, ``../admin`` would climb out of the integration's
prefix. So:

- a value for a path variable is percent-encoded (:func:`path_value`): a ``{name}`` variable's value is one
  segment (its ``/`` is ``%2F``), a greedy ``{name+}`` value keeps its ``/`` but its dot segments are removed
  within it, so that it never climbs above its place; a one-segment value that is ``.`` or ``..`` is written
  ``%2E`` / ``%2E%2E`` (data, not a path step). Values from the request's own path
  (``method.request.path.x``, ``$request.path``) are already encoded and normalised, and pass as they are.
- a header value with a control character other than HTAB (a decoded ``%00``, ``%0d``, ``%1b``, ``%7f``) refuses
  the request with ``400 BAD_REQUEST_PARAMETERS`` (:func:`header_value`). AWS documents nothing here; fastgw
  refuses rather than drops the header, so that the backend never gets a request other than the one mapped.
"""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import quote

from fastgw.errors import InvalidParameterValueError

#: Characters a path segment keeps unencoded besides letters, digits and ``-._~`` (RFC 3986 ``pchar``).
_SEGMENT_SAFE: Final = "!$&'()*+,;=:@"
_CONTROL: Final = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def path_value(value: str, *, greedy: bool) -> str:
    """A decoded ``value`` encoded for a URI template variable (``greedy``: a ``{name+}`` variable)."""
    if not greedy:
        return _segment(value)
    kept: list[str] = []
    for segment in value.split("/"):
        if segment == "..":
            if kept:
                kept.pop()
        elif segment != ".":
            kept.append(segment)
    return "/".join(_segment(segment) for segment in kept)


def _segment(value: str) -> str:
    if value in (".", ".."):
        return value.replace(".", "%2E")
    return quote(value, safe=_SEGMENT_SAFE)


def header_value(name: str, value: str) -> str:
    """``value`` when it may be sent in header ``name``; else raises ``InvalidParameterValueError`` (400)."""
    if _CONTROL.search(value) is not None:
        raise InvalidParameterValueError(f"mapped header {name}: a control character in its value")
    return value
