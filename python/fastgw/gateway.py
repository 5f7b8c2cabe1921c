"""``fastgw.Gateway``: the embedding API, and what ``fastgw serve`` runs.

A gateway is a :class:`~fastgw.config.gateway_file.GatewayConfig` (APIs, stages, listeners, base path mappings,
limits) with every definition loaded and every mapped stage compiled. Build one from a definition file, a
gateway config file, a parsed definition or a document written in code; take its RSGI app, or serve it::

    gateway = Gateway.from_file("examples/petstore.yaml")
    gateway.serve(port=8080)
"""

from __future__ import annotations

import ctypes
import dataclasses
import gc
import json
import logging
import multiprocessing
import os
import select
import signal
import threading
import time
from collections.abc import Callable, Mapping, Sequence
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
from fastgw.shared_cache import SharedStage

log = logging.getLogger("fastgw")
DEFAULT_STAGE = "$default"
RESPAWN_INTERVAL = 1.0
"""Seconds between starting a reloaded worker and stopping the one it replaces (both serve meanwhile)."""


class Gateway:
    """APIs and stages mapped onto listeners, compiled and ready to serve."""

    def __init__(
        self,
        config: GatewayConfig,
        definitions: Mapping[str, ApiDefinition],
        handlers: Mapping[str, Mapping[str, Handler]] | None = None,
        *,
        previous: Gateway | None = None,
    ) -> None:
        """``handlers``: Python handlers by API name, then by route key (``GET /hello/{name}``). ``previous``: the
        gateway this one replaces on a reload; its token buckets carry over, so a reload grants no fresh burst."""
        self.config = config
        self.definitions = dict(definitions)
        mappings = resolve_mappings(config, definitions)
        warnings: list[Problem] = [w for d in definitions.values() for w in d.warnings]
        warnings += unserved_stages(config, mappings)
        self.admission: NodeAdmission = NodeAdmission(
            config.node, throttle=previous.admission.throttle if previous else None
        )
        self.caching = NodeCaching(len(mappings), config.node.redis)
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
                engine_options["cache_stale_seconds"] = float(stage.settings.cache_stale_seconds)
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
                redis = config.node.redis
                if stage.settings.cache_shared_tier and redis is not None:
                    ttls = [route[0] if route is not None else None for route in cache_routes]
                    runtime.shared_cache = SharedStage.for_stage(redis.key_prefix, mapping.api, stage.name, ttls)
                capacity = stage.settings.cache_size_bytes
                self.caching.register(mapping.api, stage.name, runtime.engine, capacity, runtime.shared_cache)
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
    def from_config(cls, config: GatewayConfig, *, previous: Gateway | None = None) -> Gateway:
        """``previous``: the gateway this one replaces on a reload (see :meth:`serve`)."""
        definitions, _ = load_definitions(config)
        return cls(config, definitions, previous=previous)

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
            shared_cache_redis=self.config.node.redis if self.caching.shared else None,
            http2=listener.http2,
        )

    def serve(
        self,
        host: str | None = None,
        port: int | None = None,
        *,
        workers: int = 1,
        reload: Callable[[Gateway], Gateway] | None = None,
    ) -> None:
        """Serves every listener (or just ``host:port``) until SIGINT/SIGTERM; in-flight requests drain first.

        ``reload``: how to build the gateway again (from the files, for ``fastgw serve``). With it, SIGHUP
        reloads: this process builds the new gateway, and only if that succeeds the workers are replaced one by one
        (Granian starts the new worker before stopping the old, and the listening socket never closes). A
        configuration that fails to load is logged, and the running workers stay as they are. With several
        listeners, each listener's server is replaced the same way (see :class:`ListenerProcesses`)."""
        listeners = self.config.listeners
        if host is not None or port is not None:
            first = listeners[0]
            listeners = (dataclasses.replace(first, host=host or first.host, port=port or first.port),)
        if len(listeners) > 1:
            ListenerProcesses(self, listeners, workers, reload).serve()
            return
        live = LiveGateway(self, listeners[0], workers, reload)
        # The metrics, health and admin listener, in this (the parent) process.
        self.observability.start_server({"cache/flush": live.flush_cache})
        try:
            live.serve()
        finally:
            live.current.observability.stop_server()

    def _flush_cache(self, query: Mapping[str, str]) -> dict[str, list[str]]:
        flushed = self.caching.flush(query.get("api"), query.get("stage"))
        answer = {"flushed": [f"{api}/{stage}" for api, stage in flushed]}
        if self.caching.shared_flush_error is not None:
            # The workers are flushed; the shared tier is not (Redis unreachable): say so to the caller.
            answer["sharedTierNotFlushed"] = [
                f"{api}/{stage}" for api, stage in flushed if (api, stage) in self.caching.shared
            ]
        return answer


def _rebuilt(rebuild: Callable[[Gateway], Gateway], old: Gateway) -> Gateway | None:
    """The gateway a reload builds, or ``None`` when the files fail to load (logged; the running one stays)."""
    try:
        new = rebuild(old)
    except DefinitionError as error:
        log.error("reload failed; still serving the previous configuration:\n%s", error)
        return None
    except Exception:  # a reload must never take the serving gateway down
        log.exception("reload failed; still serving the previous configuration")
        return None
    for change in _restart_only_changes(old.config, new.config):
        log.warning("reload: %s changed; that takes a restart (the running value stays)", change)
    return new


class LiveGateway:
    """The gateway a serving process holds for one listener: replaced whole when a reload succeeds."""

    def __init__(
        self,
        gateway: Gateway,
        listener: Listener,
        workers: int,
        reload: Callable[[Gateway], Gateway] | None = None,
    ) -> None:
        self.listener = listener
        self.workers = workers
        self.rebuild = reload
        self.reloads = 0
        self.current = gateway
        self.app = self._prepare(gateway)
        self._freeze_heap()

    def _prepare(self, gateway: Gateway) -> GatewayApp:
        """Before the workers fork: per-worker shares, then the app they will run."""
        gateway.admission.workers = self.workers
        gateway.caching.divide_capacity(self.workers)
        return gateway.app(self.listener)

    @staticmethod
    def _freeze_heap() -> None:
        """Before the workers fork: what this process holds is moved out of the cyclic GC's reach, so that no
        collection in a worker walks (and so copies) the pages it shares with this process. Unfrozen first, so
        that a replaced gateway's cycles are collected."""
        gc.unfreeze()
        gc.collect()
        gc.freeze()

    def serve(self, on_started: Callable[[], None] | None = None) -> None:
        """``on_started``: called once every worker serves (see :class:`ListenerProcesses`)."""
        log.info("serving %s", self.listener.url)
        serve_app(
            lambda: self.app,
            self.listener,
            workers=self.workers,
            limits=self.current.config.limits,
            on_interrupt=lambda: self.current.observability.draining.set(),
            on_reload=self.reload,
            on_started=on_started,
        )

    def reload(self) -> bool:
        """Runs in the serving process on SIGHUP, before Granian replaces the workers (which then fork from the
        new app). False when there is nothing new to serve (the files fail to load, or this process does not
        reload): Granian then keeps the running workers, and their caches stay warm."""
        if self.rebuild is None:
            log.warning("SIGHUP: nothing to reload here; the workers go on as they are")
            return False
        started = time.monotonic()
        old = self.current
        new = _rebuilt(self.rebuild, old)
        if new is None:
            return False
        app = self._prepare(new)
        old.observability.hand_over_server(new.observability)
        self.current, self.app = new, app
        del old
        self._freeze_heap()
        self.reloads += 1
        log.info(
            "reload %d: %d routes loaded in %.0f ms; replacing the workers",
            self.reloads,
            sum(len(runtime.routes) for runtime in new.stages.values()),
            1000 * (time.monotonic() - started),
        )
        return True

    def flush_cache(self, query: Mapping[str, str]) -> dict[str, list[str]]:
        return self.current._flush_cache(query)


class ListenerProcesses:
    """Several listeners (an HTTP and an HTTPS port, say): one Granian server per listener, each in a process forked
    from this one. This process holds the gateway (and so the shared regions its workers count into: metrics,
    cache generations, buckets), serves the metrics and admin listener, forwards SIGTERM/SIGINT and reloads on
    SIGHUP.

    A reload builds the new gateway here, once; only if that succeeds each listener's server is replaced: a new one
    is forked (it inherits the new gateway, as Granian's workers do from theirs) and starts its workers on the same
    port (Granian binds with SO_REUSEPORT, so both serve meanwhile); once they serve, the old server stops
    gracefully (in-flight requests drain). ``/metrics`` and a cache flush keep reaching every worker, since the
    regions stay this process's. Every listener process dies with this one, however it dies (see
    :func:`_exit_with`), so none goes on serving an old configuration."""

    def __init__(
        self,
        gateway: Gateway,
        listeners: Sequence[Listener],
        workers: int,
        rebuild: Callable[[Gateway], Gateway] | None,
    ) -> None:
        self.current = gateway
        self.listeners = tuple(listeners)
        self.workers = workers
        self.rebuild = rebuild
        self.reloads = 0
        self.servers: list[multiprocessing.process.BaseProcess] = []
        """The serving process of each listener, in the order of :attr:`listeners`."""
        self._retiring: list[multiprocessing.process.BaseProcess] = []
        """Replaced servers still draining."""
        self._starting: multiprocessing.process.BaseProcess | None = None
        self._stopping = False
        self._reload_requested = False
        self._wake = threading.Event()
        self._context = multiprocessing.get_context("fork")

    def serve(self) -> None:
        signal.signal(signal.SIGTERM, self._interrupted)
        signal.signal(signal.SIGINT, self._interrupted)
        signal.signal(signal.SIGHUP, self._hang_up)
        self.current.observability.start_server({"cache/flush": self.flush_cache})
        try:
            lives = [LiveGateway(self.current, listener, self.workers) for listener in self.listeners]
            for live in lives:
                if not self._stopping:
                    self.servers.append(self._start(live)[0])
            while any(server.is_alive() for server in (*self.servers, *self._retiring)):
                self._wake.wait(0.5)
                self._wake.clear()
                if self._reload_requested and not self._stopping:
                    self._reload_requested = False
                    self._reload()
                for server in [s for s in self._retiring if not s.is_alive()]:
                    server.join()
                    self._retiring.remove(server)
            for server in (*self.servers, *self._retiring):
                server.join()
        finally:
            self.current.observability.stop_server()

    def flush_cache(self, query: Mapping[str, str]) -> dict[str, list[str]]:
        return self.current._flush_cache(query)

    def _interrupted(self, signum: int, _frame: object) -> None:
        self._stopping = True
        self.current.observability.draining.set()  # readiness answers 503 from now on
        for server in (*self.servers, *self._retiring, self._starting):
            if server is not None and server.pid is not None and server.is_alive():
                os.kill(server.pid, signum)
        self._wake.set()

    def _hang_up(self, _signum: int, _frame: object) -> None:
        if self.rebuild is None:
            log.warning("SIGHUP: this gateway was started without a way to reload; it goes on as it is")
            return
        self._reload_requested = True
        self._wake.set()

    def _start(self, live: LiveGateway) -> tuple[multiprocessing.process.BaseProcess, bool]:
        """Forks the server of one listener; returns it once its workers serve, and whether they do (False: it
        exited first, as when its port or certificate is unusable)."""
        read_fd, write_fd = os.pipe()
        parent = os.getpid()

        def run() -> None:
            # This process's handlers act on its servers: not here. Granian installs its own when it starts (and
            # its SIGHUP does nothing in a listener's server: see LiveGateway.reload).
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            signal.signal(signal.SIGHUP, signal.SIG_IGN)
            os.close(read_fd)
            _exit_with(parent)

            def started() -> None:
                os.write(write_fd, b".")
                os.close(write_fd)

            live.serve(on_started=started)

        server = self._context.Process(target=run, name=f"fastgw {live.listener.url}")
        self._starting = server
        try:
            server.start()
        finally:
            os.close(write_fd)
        try:
            # Readable when the server wrote its byte, or at EOF when it exited without writing.
            ready, _, _ = select.select([read_fd], [], [], WorkerReadiness.TIMEOUT * (self.workers + 1))
            started = bool(ready) and os.read(read_fd, 1) == b"."
        finally:
            os.close(read_fd)
            self._starting = None
        if self._stopping and server.is_alive() and server.pid is not None:
            os.kill(server.pid, signal.SIGTERM)  # SIGTERM came while it started
        return server, started

    def _reload(self) -> None:
        assert self.rebuild is not None
        started = time.monotonic()
        new = _rebuilt(self.rebuild, self.current)
        if new is None:
            return
        lives = [LiveGateway(new, listener, self.workers) for listener in self.listeners]
        self.current.observability.hand_over_server(new.observability)
        self.current = new
        self.reloads += 1
        log.info(
            "reload %d: %d routes loaded in %.0f ms; replacing the servers of %d listeners",
            self.reloads,
            sum(len(runtime.routes) for runtime in new.stages.values()),
            1000 * (time.monotonic() - started),
            len(lives),
        )
        replaced = 0
        for index, live in enumerate(lives):
            if self._stopping:
                return
            replacement, serving = self._start(live)
            if not serving:
                log.error(
                    "reload %d: the new server of %s did not start; the previous one goes on serving the previous"
                    " configuration there (its requests are missing from /metrics until a restart)",
                    self.reloads,
                    live.listener.url,
                )
                replacement.join()
                continue
            previous, self.servers[index] = self.servers[index], replacement
            # As Granian replaces a worker: both serve a while (the new one's sockets are bound just after it says
            # it is ready), then the previous one stops.
            time.sleep(RESPAWN_INTERVAL)
            if previous.is_alive() and previous.pid is not None:
                os.kill(previous.pid, signal.SIGTERM)  # Granian's graceful stop: in-flight requests drain
            self._retiring.append(previous)
            replaced += 1
        log.info("reload %d: %d of %d listeners serve the new configuration", self.reloads, replaced, len(lives))


def _restart_only_changes(old: GatewayConfig, new: GatewayConfig) -> list[str]:
    """What a reload cannot change: the sockets already bound and the limits Granian was started with."""
    changes = []
    if old.listeners != new.listeners:
        changes.append("the listeners (host, port, TLS)")
    for name, setting in (
        ("maxHeaderBytes", "max_header_bytes"),
        ("clientHeaderTimeoutSeconds", "client_header_timeout"),
        ("maxConnections", "max_connections"),
    ):
        if getattr(old.limits, setting) != getattr(new.limits, setting):
            changes.append(name)
    old_metrics, new_metrics = old.node.metrics, new.node.metrics
    if (old_metrics and (old_metrics.host, old_metrics.port)) != (new_metrics and (new_metrics.host, new_metrics.port)):
        changes.append("the metrics listener")
    return changes


def serve_app(
    app: Callable[[], GatewayApp],
    listener: Listener,
    *,
    workers: int = 1,
    limits: Limits | None = None,
    on_interrupt: Callable[[], None] | None = None,
    on_reload: Callable[[], bool] | None = None,
    on_started: Callable[[], None] | None = None,
) -> None:
    """Runs the app ``app()`` returns (asked again by every worker Granian starts) under Granian's RSGI interface:
    ``workers`` processes, one runtime thread each, uvloop. ``on_reload`` runs in this process on SIGHUP, before
    the workers are replaced; when it returns False they are not (without it SIGHUP replaces them with the same
    app). ``on_started``: called once the first workers serve.

    The connection limits (issue 18, item 3): each worker holds at most ``limits.max_connections`` connections
    (Granian's backpressure; its default, backlog / workers = 1,024, let about a thousand silent connections lock
    everyone out), and hyper closes a connection that sends nothing, no whole head, or nothing between requests for
    ``limits.client_header_timeout``. That timer runs only under Granian's HTTP/1-only mode: in its auto mode the
    wait for the HTTP/2 preface has no timeout, so HTTP/2 is opt-in per listener."""
    from granian.constants import HTTPModes, Interfaces, Loops
    from granian.http import HTTP1Settings
    from granian.server import Server

    limits = limits or Limits()
    max_connections = _connections_within_open_file_limit(limits.max_connections)
    # Granian's read buffer bounds the request head; the gateway checks the exact header limit itself.
    http1 = HTTP1Settings(
        max_buffer_size=max(8192 + 4096, limits.max_header_bytes + 8192),
        header_read_timeout=int(limits.client_header_timeout * 1000),
    )
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
        http=HTTPModes.auto if listener.http2 else HTTPModes.http1,
        http1_settings=http1,
        backlog=LISTEN_BACKLOG,
        backpressure=max_connections,
        # A worker that dies (a crash, the OOM killer) is replaced; Granian's default stops the whole server, and every
        # other worker's requests with it. A worker dying again within 5.5 s of its replacement still stops it.
        respawn_failed_workers=True,
        respawn_interval=RESPAWN_INTERVAL,
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
    if on_reload is not None:
        _veto_reload(server, on_reload)
    if on_started is not None:
        _report_started(server, on_started)
    readiness = WorkerReadiness(server, app)
    server.serve(target_loader=readiness.load, wrap_loader=False)


LISTEN_BACKLOG = 4096
"""Connections the kernel queues for the workers to accept (capped by ``net.core.somaxconn``; Granian's default is
1,024)."""
#: Open files a process keeps beside its client connections (the listener, backends, Redis, logs, the extension).
_RESERVED_FILES = 256


def _connections_within_open_file_limit(wanted: int) -> int:
    """Raises this process's open-file limit to its hard limit (as nginx's ``worker_rlimit_nofile`` and Go programs
    do; the workers inherit it), and returns the per-worker connection cap that fits in it: ``wanted``, or less with
    a warning when each worker's connections would run out of file descriptors first (``accept`` would then fail
    with EMFILE, and Granian would spin on it)."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as error:
            log.warning("could not raise the open-file limit from %d: %s", soft, error)
    fits = max(1, soft - _RESERVED_FILES)
    if wanted > fits:
        log.warning(
            "maxConnections %d per worker does not fit in the open-file limit (%d): %d per worker; raise the limit"
            " (ulimit -n, LimitNOFILE=) to allow more",
            wanted,
            soft,
            fits,
        )
        return fits
    return wanted


class _KeepWorkers(Exception):
    """Raised by the reload hook to stop Granian's reload before it replaces the workers."""


def _veto_reload(server: Any, on_reload: Callable[[], bool]) -> None:
    """Granian's SIGHUP (``_reload``) clears its flags, runs the reload hooks, then replaces every worker; it has no
    way for a hook to say "keep them". The hook raises :class:`_KeepWorkers` when ``on_reload`` returns False, and
    ``_reload``, wrapped on this one server instance, stops there: the running workers stay, caches and all."""
    reload_workers = server._reload

    def reload_or_keep(*args: Any, **kwargs: Any) -> Any:
        try:
            return reload_workers(*args, **kwargs)
        except _KeepWorkers:
            return None

    def hook() -> None:
        if not on_reload():
            raise _KeepWorkers

    server._reload = reload_or_keep
    server.on_reload(hook)


def _report_started(server: Any, on_started: Callable[[], None]) -> None:
    """Calls ``on_started`` when Granian's first workers are started (with :class:`WorkerReadiness`, serving):
    Granian has a hook before it starts them, none after, so its ``_spawn_workers`` is wrapped on this instance."""
    spawn_workers = server._spawn_workers

    def spawn_then_report(*args: Any, **kwargs: Any) -> Any:
        spawned = spawn_workers(*args, **kwargs)
        on_started()
        return spawned

    server._spawn_workers = spawn_then_report


class WorkerReadiness:
    """Starting a worker returns once the worker has its app (or died trying), not as soon as it is forked.

    Granian replaces a worker (SIGHUP, a crash) by starting its successor and stopping the old one a fixed
    interval later; a successor slow to start (a large table, a busy CPU) would leave no worker accepting, and
    with SO_REUSEPORT the old socket's queued connections are reset when it closes. With this, the interval
    counts from the moment the successor is ready. Granian's ``_spawn_worker`` is wrapped on this one server
    instance (its workers are plain objects with a ``start`` method)."""

    TIMEOUT = 120.0  # at most this many seconds waiting for a worker to load

    def __init__(self, server: Any, app: Callable[[], GatewayApp]) -> None:
        self._app = app
        self._parent = os.getpid()
        self._ready_fd: int | None = None  # in a forked worker: where to say it is ready
        spawn = server._spawn_worker

        def spawn_and_wait_when_started(*args: Any, **kwargs: Any) -> Any:
            worker = spawn(*args, **kwargs)
            start = worker.start

            def start_and_wait() -> None:
                read_fd, self._ready_fd = os.pipe()
                try:
                    start()  # forks: the worker inherits the pipe
                finally:
                    os.close(self._ready_fd)
                    self._ready_fd = None
                try:
                    # Readable when the worker wrote its byte, or at EOF when it died without writing.
                    select.select([read_fd], [], [], self.TIMEOUT)
                finally:
                    os.close(read_fd)

            worker.start = start_and_wait
            return worker

        server._spawn_worker = spawn_and_wait_when_started

    def load(self) -> GatewayApp:
        """Granian's target loader, run in the worker: the app, which says it is ready at the end of its
        ``__rsgi_init__`` (Granian then binds and serves at once)."""
        _exit_with(self._parent)
        app = self._app()
        app.on_worker_ready = self._ready
        return app

    def _ready(self) -> None:
        if self._ready_fd is not None:
            os.write(self._ready_fd, b".")
            os.close(self._ready_fd)
            self._ready_fd = None


def _exit_with(parent: int) -> None:
    """In a worker: killed when the serving process dies, even killed outright, so that no orphaned worker goes on
    serving an old configuration on the shared port (Linux; elsewhere nothing). SIGKILL, not a graceful SIGTERM:
    the node is going down anyway, and Granian's graceful stop can hang on a logging lock when it is signalled
    while a runtime thread logs (seen here)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # it died before the request took effect
        os.kill(os.getpid(), signal.SIGKILL)


PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
