"""Secrets fastgw is given: API key values, a Redis URL with a password, the admin token.

A command line is readable by every local user (``ps``, ``/proc/PID/cmdline``), so every secret can also come
from the environment or from a file of its own (a Docker or Kubernetes secret is a file), and a secret given on
the command line is warned about once, at startup:

==================  ===========================================================================================
API key values      ``--api-key-file PATH`` (repeatable), ``FASTGW_API_KEYS``; in a gateway file ``valueSha256``
                    keeps only the hash
Redis URL           ``--redis-url-file PATH``, ``FASTGW_REDIS_URL``; in a gateway file ``redis.urlFile`` or
                    ``redis.passwordFile`` (only the password, put into ``redis.url``)
Admin token         ``FASTGW_ADMIN_TOKEN`` (the gateway reads only that)
==================  ===========================================================================================

Files are read at startup and again on every reload (SIGHUP), so a secret rotates without a restart. A secret is
never logged or echoed in an error: problems name the file or the variable, and a Redis URL is shown only
through :func:`redacted`.
"""

from __future__ import annotations

import os
import re
from urllib.parse import quote, urlsplit, urlunsplit

from fastgw.errors import DefinitionError, Place, Problem

API_KEYS_ENV = "FASTGW_API_KEYS"
REDIS_URL_ENV = "FASTGW_REDIS_URL"
#: A secret file larger than this is not a secret file (a wrong path, most likely): refused unread.
MAX_SECRET_FILE_BYTES = 65_536


def read_secret_file(path: str, place: Place, what: str) -> str:
    """The content of a secret file, without surrounding whitespace (a trailing newline, say). A problem names
    ``place`` and never the content."""
    try:
        with open(path, "rb") as file:
            data = file.read(MAX_SECRET_FILE_BYTES + 1)
    except OSError as error:
        raise DefinitionError(Problem(place, f"cannot read the {what} file {path}: {error.strerror}")) from None
    if len(data) > MAX_SECRET_FILE_BYTES:
        raise DefinitionError(Problem(place, f"the {what} file {path} is larger than {MAX_SECRET_FILE_BYTES} bytes"))
    try:
        text = data.decode().strip()
    except UnicodeDecodeError:
        raise DefinitionError(Problem(place, f"the {what} file {path} is not UTF-8 text")) from None
    if not text:
        raise DefinitionError(Problem(place, f"the {what} file {path} is empty"))
    return text


def key_values(text: str) -> list[str]:
    """API key values from a file or ``FASTGW_API_KEYS``: separated by commas, spaces or newlines; a line starting
    with ``#`` is a comment."""
    lines = (line for line in text.splitlines() if not line.lstrip().startswith("#"))
    return [value for line in lines for value in re.split(r"[\s,]+", line) if value]


def has_password(url: str) -> bool:
    try:
        return urlsplit(url).password is not None
    except ValueError:  # a malformed port: the URL is refused elsewhere
        return False


def redacted(url: str) -> str:
    """The URL with its password replaced by ``***``: what may be logged."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
    except ValueError:
        return "<a malformed URL>"
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def with_password(url: str, password: str) -> str:
    """``url`` with ``password`` in it (percent-encoded: a password may hold ``@``, ``/`` or ``:``)."""
    parts = urlsplit(url)
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}:{quote(password, safe='')}@{host}"))


def from_environment(name: str) -> str | None:
    """An environment variable's value, ``None`` when unset or blank."""
    value = os.environ.get(name, "").strip()
    return value or None
