"""``fastgw.Gateway``: the embedding API. Build a gateway from a definition file, a parsed document or a
gateway config, get its RSGI app, or serve it with Granian.

>>> gateway = Gateway.from_file("examples/petstore.yaml")   # doctest: +SKIP
>>> gateway.serve(port=8080)                                 # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastgw.app import GatewayApp, SiteMapping, SiteTable
from fastgw.config.model import ApiDefinition, ApiType
from fastgw.errors import Problem
from fastgw.routing import DefaultLimits, LimitsLike, StageRuntime, compile_stage

log = logging.getLogger("fastgw")


@dataclass(frozen=True, slots=True)
class TlsFiles:
    certificate: str
    key: str
    key_password: str | None = None


@dataclass(slots=True)
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    tls: TlsFiles | None = None
    limits: LimitsLike = field(default_factory=DefaultLimits)


class Gateway:
    """A set of API stages mapped onto one listener, ready to serve."""

    def __init__(self, mappings: Sequence[SiteMapping], warnings: Sequence[Problem] = ()) -> None:
        self.mappings = list(mappings)
        self.warnings = list(warnings)

    # -- building ---------------------------------------------------------------------------------

    @classmethod
    def from_definition(
        cls,
        definition: ApiDefinition,
        *,
        stage: str = "$default",
        stage_variables: Mapping[str, str] | None = None,
        stage_prefix: bool = False,
        limits: LimitsLike | None = None,
    ) -> Gateway:
        """Serves one API at the root of the listener (and under ``/{stage}/`` with ``stage_prefix``)."""
        runtime, warnings = compile_stage(definition, stage, stage_variables, limits=limits)
        mappings: list[SiteMapping] = [(None, "", runtime)]
        if stage_prefix:
            mappings.append((None, stage, runtime))
        return cls(mappings, [*definition.warnings, *warnings])

    @classmethod
    def from_file(
        cls,
        path: str | os.PathLike[str],
        *,
        api_type: ApiType | None = None,
        stage: str = "$default",
        stage_variables: Mapping[str, str] | None = None,
        stage_prefix: bool = False,
        limits: LimitsLike | None = None,
    ) -> Gateway:
        """Loads an OpenAPI 3 / Swagger 2 file (AWS extensions included) and serves it."""
        from fastgw.config.openapi import load_definition

        definition = load_definition(path, api_type=api_type)
        return cls.from_definition(
            definition, stage=stage, stage_variables=stage_variables, stage_prefix=stage_prefix, limits=limits
        )

    @classmethod
    def from_document(
        cls,
        document: Mapping[str, Any],
        *,
        source: str = "<document>",
        api_type: ApiType | None = None,
        stage: str = "$default",
        stage_variables: Mapping[str, str] | None = None,
        stage_prefix: bool = False,
    ) -> Gateway:
        """Builds a gateway in code from an OpenAPI/Swagger document given as a Python mapping."""
        import json

        from fastgw.config.openapi import parse_definition

        definition = parse_definition(json.dumps(document), source, api_type=api_type)
        return cls.from_definition(
            definition, stage=stage, stage_variables=stage_variables, stage_prefix=stage_prefix
        )

    @property
    def stages(self) -> list[StageRuntime]:
        return list(dict.fromkeys(runtime for _, _, runtime in self.mappings))

    # -- serving ----------------------------------------------------------------------------------

    def app(self, *, proto: str = "http", port: int = 8080) -> GatewayApp:
        """The RSGI application (for ``granian --interface rsgi`` or any RSGI server)."""
        return GatewayApp(SiteTable(self.mappings), proto=proto, port=port)

    def serve(
        self,
        host: str = "127.0.0.1",
        port: int = 8080,
        *,
        workers: int = 1,
        tls: TlsFiles | None = None,
        max_header_bytes: int = 10_240,
    ) -> None:
        """Serves until SIGINT/SIGTERM (in-flight requests drain first) with Granian."""
        serve_app(self.app(proto="https" if tls else "http", port=port), host=host, port=port, workers=workers, tls=tls, max_header_bytes=max_header_bytes)


def serve_app(
    app: GatewayApp,
    *,
    host: str,
    port: int,
    workers: int = 1,
    tls: TlsFiles | None = None,
    max_header_bytes: int = 10_240,
) -> None:
    """Runs ``app`` under Granian's RSGI interface: ``workers`` processes, one runtime thread each, uvloop."""
    from granian.constants import Interfaces, Loops, TaskImpl
    from granian.http import HTTP1Settings
    from granian.server import Server

    # Granian's read buffer bounds the request head; the gateway checks the exact header limit itself.
    http1 = HTTP1Settings(max_buffer_size=max(8192 + 4096, max_header_bytes + 8192))
    tls_options: dict[str, Any] = {}
    if tls is not None:
        tls_options = {"ssl_cert": Path(tls.certificate), "ssl_key": Path(tls.key), "ssl_key_password": tls.key_password}
    server = Server(
        "fastgw:app",
        address=host,
        port=port,
        interface=Interfaces.RSGI,
        workers=workers,
        runtime_threads=1,
        loop=Loops.uvloop,
        task_impl=TaskImpl(os.environ.get("FASTGW_TASK_IMPL", "asyncio")),
        websockets=False,
        log_access=False,
        http1_settings=http1,
        **tls_options,
    )
    server.serve(target_loader=lambda: app, wrap_loader=False)
