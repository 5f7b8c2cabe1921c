"""``fastgw.Gateway``: the embedding API, and what ``fastgw serve`` runs.

A gateway is a :class:`~fastgw.config.gateway_file.GatewayConfig` (APIs, stages, listeners, base path mappings,
limits) with every definition loaded and every mapped stage compiled. Build one from a definition file, a
gateway config file, a parsed definition or a document written in code; take its RSGI app, or serve it::

    gateway = Gateway.from_file("examples/petstore.yaml")
    gateway.serve(port=8080)
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import signal
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from fastgw.admission import NodeAdmission, stage_engines
from fastgw.app import GatewayApp, Sites
from fastgw.caching import MAX_CACHED_BODY, NodeCaching, engine_cache_options
from fastgw.config.gateway_file import (
    ApiConfig,
    BasePathMapping,
    GatewayConfig,
    Limits,
    Listener,
    MappingTable,
    StageConfig,
    config_from_cli,
    detect_file_kind,
    load_definitions,
    load_gateway_file,
    resolve_mappings,
    unserved_stages,
)
from fastgw.config.model import ApiDefinition, ApiType
from fastgw.config.settings import check_route_selectors
from fastgw.errors import DefinitionError, Place, Problem
from fastgw.integrations.python import Handler
from fastgw.observability.node import NodeObservability
from fastgw.routing import StageRuntime, compile_stage

log = logging.getLogger("fastgw")
DEFAULT_STAGE = "$default"


class Gateway:
    """APIs and stages mapped onto listeners, compiled and ready to serve."""

    def __init__(
        self,
        config: GatewayConfig,
        definitions: Mapping[str, ApiDefinition],
        handlers: Mapping[str, Mapping[str, Handler]] | None = None,
    ) -> None:
        """``handlers``: Python handlers by API name, then by route key (``GET /hello/{name}``)."""
        self.config = config
        self.definitions = dict(definitions)
        mappings = resolve_mappings(config, definitions)
        warnings: list[Problem] = [w for d in definitions.values() for w in d.warnings]
        warnings += unserved_stages(config, mappings)
        self.admission = NodeAdmission(config.node)
        self.caching = NodeCaching(len(mappings))
        runtimes: dict[tuple[str, str], StageRuntime] = {}
        errors: list[Problem] = []
        for mapping in mappings:
            key = (mapping.api, mapping.stage)
            if key in runtimes:
                continue
            stage = config.apis[mapping.api].stages[mapping.stage]
            definition = definitions[mapping.api]
            errors += check_route_selectors(stage.settings, definition.routes, stage.place)
            errors += self.admission.plan_problems(mapping.api, stage.name, definition)
            engine_options = self.admission.engine_options(mapping.api, stage.name, definition, stage.settings)
            cache_routes, cache_warnings = engine_cache_options(definition, stage.settings)
            warnings += cache_warnings
            if cache_routes is not None:
                index = self.caching.index_for(mapping.api, stage.name)
                capacity = stage.settings.cache_size_bytes
                engine_options["cache"] = (capacity, MAX_CACHED_BODY, cache_routes, self.caching.generations, index)
            runtime, stage_warnings = compile_stage(
                definition,
                stage.name,
                stage.variables,
                limits=config.limits,
                handlers=(handlers or {}).get(mapping.api),
                api_name=mapping.api,
                engine_options=engine_options,
            )
            runtimes[key] = runtime
            if cache_routes is not None:
                runtime.cache_enabled = True
                self.caching.register(mapping.api, stage.name, runtime.engine, stage.settings.cache_size_bytes)
            warnings += stage_warnings
            if definition.api_key_source == "AUTHORIZER" and any(r.api_key_required for r in definition.routes):
                warnings.append(
                    Problem(
                        Place(definition.source).child("x-amazon-apigateway-api-key-source"),
                        "API keys from an authorizer come with authorizers: routes requiring a key are served"
                        " without the key check",
                    )
                )
        if errors:
            raise DefinitionError(errors)
        self.mappings = mappings
        self.stages = runtimes
        self.warnings = list(dict.fromkeys(warnings))
        self.admission.load_store_keys()
        self.admission.install_keys(stage_engines(runtimes.values()))
        self.observability = self._observability(config)

    def _observability(self, config: GatewayConfig) -> NodeObservability:
        node = config.node
        stages = [
            (api, stage, [route.route_key for route in runtime.routes]) for (api, stage), runtime in self.stages.items()
        ]
        formats = {
            (api, stage): settings.access_log_format
            for api, api_config in config.apis.items()
            for stage, stage_config in api_config.stages.items()
            if (settings := stage_config.settings).access_log_format is not None
        }
        try:
            observability = NodeObservability(stages, node.metrics, node.access_logs, formats, node.otlp_endpoint)
        except ValueError as error:  # a bad access-log format
            raise DefinitionError(Problem(Place(config.source or "<command line>"), str(error))) from None
        key_by_slot = self.admission.key_by_slot
        for (api, stage), runtime in self.stages.items():
            runtime.metric_slots = observability.stage_slots(api, stage)
            runtime.key_ids = lambda slot: key.id if (key := key_by_slot.get(slot)) is not None else None
        return observability

    # -- building ---------------------------------------------------------------------------------

    @classmethod
    def from_config(cls, config: GatewayConfig) -> Gateway:
        definitions, _ = load_definitions(config)
        return cls(config, definitions)

    @classmethod
    def from_file(
        cls,
        path: str | os.PathLike[str],
        *,
        api_type: ApiType | None = None,
        stage: str = DEFAULT_STAGE,
        stage_variables: Mapping[str, str] | None = None,
        stage_prefix: bool = False,
    ) -> Gateway:
        """A gateway config file, or one OpenAPI 3 / Swagger 2 definition served at the root."""
        if detect_file_kind(path) == "gateway":
            return cls.from_config(load_gateway_file(path))
        config = config_from_cli(
            [os.fspath(path)],
            api_type=api_type,
            stage=stage,
            stage_variables=stage_variables,
            stage_prefix=stage_prefix,
        )
        return cls.from_config(config)

    @classmethod
    def from_definition(
        cls,
        definition: ApiDefinition,
        *,
        stage: str = DEFAULT_STAGE,
        stage_variables: Mapping[str, str] | None = None,
        stage_prefix: bool = False,
        limits: Limits | None = None,
        listener: Listener | None = None,
        handlers: Mapping[str, Handler] | None = None,
    ) -> Gateway:
        """One loaded definition, served at the root (and under ``/{stage}/`` with ``stage_prefix``).
        ``handlers``: Python functions answering routes, by route key (they may add routes)."""
        place = Place(definition.source)
        stages = {stage: StageConfig(stage, dict(stage_variables or {}), place)}
        api = ApiConfig("api", definition.source, definition.api_type, "ignore", stages, place, stage_prefix)
        mapping = BasePathMapping("api", stage, "", None, place)
        config = GatewayConfig(
            {"api": api}, (listener or Listener(),), (mapping,), limits or Limits(), definition.source
        )
        return cls(config, {"api": definition}, {"api": handlers or {}})

    @classmethod
    def from_document(
        cls,
        document: Mapping[str, Any],
        *,
        source: str = "<document>",
        api_type: ApiType | None = None,
        stage: str = DEFAULT_STAGE,
        stage_variables: Mapping[str, str] | None = None,
        stage_prefix: bool = False,
        limits: Limits | None = None,
        listener: Listener | None = None,
        handlers: Mapping[str, Handler] | None = None,
    ) -> Gateway:
        """A definition written in code: an OpenAPI 3 / Swagger 2 document as a Python mapping."""
        from fastgw.config.openapi import parse_definition

        definition = parse_definition(json.dumps(document), source, api_type=api_type)
        return cls.from_definition(
            definition,
            stage=stage,
            stage_variables=stage_variables,
            stage_prefix=stage_prefix,
            limits=limits,
            listener=listener,
            handlers=handlers,
        )

    # -- serving ----------------------------------------------------------------------------------

    def app(self, listener: Listener | None = None) -> GatewayApp:
        """The RSGI application for one listener (for ``granian --interface rsgi`` or any RSGI server)."""
        listener = listener or self.config.listeners[0]
        sites = Sites(MappingTable(self.mappings), self.stages)
        return GatewayApp(
            sites,
            proto="https" if listener.tls else "http",
            port=listener.port,
            admission=self.admission,
            observability=self.observability,
            respect_backend_cache_control=self.config.node.respect_backend_cache_control,
        )

    def serve(self, host: str | None = None, port: int | None = None, *, workers: int = 1) -> None:
        """Serves every listener (or just ``host:port``) until SIGINT/SIGTERM; in-flight requests drain first."""
        listeners = self.config.listeners
        self.admission.workers = workers
        self.caching.divide_capacity(workers)
        if host is not None or port is not None:
            first = listeners[0]
            listeners = (Listener(host or first.host, port or first.port, first.tls),)
        # The metrics, health and admin listener, in this (the parent) process.
        self.observability.start_server({"cache/flush": self._flush_cache})
        try:
            self._serve_listeners(listeners, workers)
        finally:
            self.observability.stop_server()

    def _flush_cache(self, query: Mapping[str, str]) -> dict[str, list[str]]:
        flushed = self.caching.flush(query.get("api"), query.get("stage"))
        return {"flushed": [f"{api}/{stage}" for api, stage in flushed]}

    def _serve_listeners(self, listeners: tuple[Listener, ...], workers: int) -> None:
        if len(listeners) == 1:
            self._serve_listener(listeners[0], workers)
            return
        # One Granian server per listener, each in its own process; this one forwards signals and waits.
        context = multiprocessing.get_context("fork")
        children = [context.Process(target=self._serve_listener, args=(lst, workers)) for lst in listeners]
        for child in children:
            child.start()

        def forward(signum: int, _frame: object) -> None:
            self.observability.draining.set()  # readiness answers 503 from now on
            for child in children:
                if child.pid is not None and child.is_alive():
                    os.kill(child.pid, signum)

        signal.signal(signal.SIGTERM, forward)
        signal.signal(signal.SIGINT, forward)
        for child in children:
            child.join()

    def _serve_listener(self, listener: Listener, workers: int) -> None:
        log.info("serving %s", listener.url)
        serve_app(
            self.app(listener),
            listener,
            workers=workers,
            max_header_bytes=self.config.limits.max_header_bytes,
            on_interrupt=self.observability.draining.set,
        )


def serve_app(
    app: GatewayApp,
    listener: Listener,
    *,
    workers: int = 1,
    max_header_bytes: int = 10_240,
    on_interrupt: Callable[[], None] | None = None,
) -> None:
    """Runs ``app`` under Granian's RSGI interface: ``workers`` processes, one runtime thread each, uvloop."""
    from granian.constants import Interfaces, Loops
    from granian.http import HTTP1Settings
    from granian.server import Server

    # Granian's read buffer bounds the request head; the gateway checks the exact header limit itself.
    http1 = HTTP1Settings(max_buffer_size=max(8192 + 4096, max_header_bytes + 8192))
    tls: dict[str, Any] = {}
    if listener.tls is not None:
        tls = {
            "ssl_cert": Path(listener.tls.certificate),
            "ssl_key": Path(listener.tls.key),
            "ssl_key_password": listener.tls.key_password,
        }
    server = Server(
        "fastgw:app",
        address=listener.host,
        port=listener.port,
        interface=Interfaces.RSGI,
        workers=workers,
        runtime_threads=1,
        loop=Loops.uvloop,
        websockets=False,
        log_access=False,
        http1_settings=http1,
        **tls,
    )
    if on_interrupt is not None:
        # Granian installs its SIGINT/SIGTERM handler from this attribute when serving starts: chain ours first
        # (readiness turns false while in-flight requests drain).
        granian_handler: Callable[..., None] = server.signal_handler_interrupt

        def interrupted(*args: Any, **kwargs: Any) -> None:
            on_interrupt()
            granian_handler(*args, **kwargs)

        setattr(server, "signal_handler_interrupt", interrupted)  # noqa: B010 (an instance attribute on purpose)
    server.serve(target_loader=lambda: app, wrap_loader=False)
