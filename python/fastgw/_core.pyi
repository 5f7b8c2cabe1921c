"""fastgw._core: the Rust hot path (route trie, upstream HTTP/1.1 byte work), built by maturin from src/."""

from typing import Any, Literal, final

__all__ = [
    "AccessLogSink",
    "BodyValidator",
    "CacheGenerations",
    "CacheKey",
    "Cached",
    "Engine",
    "Forward",
    "Metrics",
    "Reject",
    "RequestIds",
    "ResponseParser",
    "RouteConfigError",
    "Throttle",
    "UpstreamProtocolError",
    "UpstreamTarget",
    "__version__",
    "encode_chunk",
    "normalize_path",
]

__version__: str

class RouteConfigError(ValueError):
    """A route table the engine refuses to build. ``args == (message, route_index)``."""

class UpstreamProtocolError(ValueError):
    """An upstream response that is not valid HTTP/1.1, or was cut short."""

@final
class Forward:
    """The decision "send this request to route ``route_id``" with the path parameters it captured."""

    @property
    def route_id(self) -> int: ...
    @property
    def params(self) -> dict[str, str]: ...
    @property
    def path(self) -> str:
        """The path as matched, percent-encoded again (Granian hands it over decoded)."""
    @property
    def head(self) -> bytes | None:
        """For a plain HTTP proxy route: the upstream request head, written with AWS's header rules."""
    @property
    def body_length(self) -> int | None:
        """The request body's framing: ``None`` (no body), ``-1`` (chunked) or its Content-Length."""
    @property
    def key_slot(self) -> int | None:
        """The API key's slot, when the route requires a key."""
    @property
    def plan_slot(self) -> int | None:
        """The key's usage plan slot, when the route requires a key."""
    @property
    def cache_key(self) -> CacheKey | None:
        """A cached route's miss, or its stale entry: the key to store the response under
        (:meth:`Engine.cache_store`)."""
    @property
    def stale(self) -> Cached | None:
        """Stale-while-revalidate: an expired entry within the stage's stale window, to answer with at once while
        a response fetched in the background replaces it under :attr:`cache_key`."""
    @property
    def cache_refresh(self) -> bool:
        """The client asked for a refresh (``Cache-Control: max-age=0``) and may: no cached copy answers it, a
        shared tier's included."""
    @property
    def body_model(self) -> BodyValidator | None:
        """The route's request validator checks the body against this model (chosen by the Content-Type)."""
    @property
    def trace(self) -> tuple[str, str] | None:
        """``(traceparent, X-Amzn-Trace-Id)`` for the backend, when ``admit`` was given the request id."""
    @property
    def deferred_throttle(self) -> list[tuple[int, float, int]] | None:
        """With ``throttle_mode="deferred"``: the levels ``(bucket, rate, burst)`` to check in a shared store."""

@final
class Cached:
    """A response served from the stage cache."""

    @property
    def route_id(self) -> int: ...
    @property
    def status(self) -> int: ...
    @property
    def headers(self) -> list[tuple[str, str]]: ...
    @property
    def body(self) -> bytes: ...
    @property
    def warn(self) -> bool:
        """An unauthorized ``Cache-Control: max-age=0`` was ignored (``SUCCEED_WITH_RESPONSE_HEADER``)."""
    @property
    def body_model(self) -> BodyValidator | None:
        """As :attr:`Forward.body_model`: request validation comes before the cache."""
    @property
    def key_slot(self) -> int | None:
        """As :attr:`Forward.key_slot`: a hit counts against the key's quota like any request."""
    @property
    def plan_slot(self) -> int | None: ...
    @property
    def deferred_throttle(self) -> list[tuple[int, float, int]] | None:
        """As :attr:`Forward.deferred_throttle`: a hit is throttled in the shared store like any request."""

@final
class CacheKey:
    """The cache key of a miss."""

    @property
    def id(self) -> bytes:
        """The key's bytes: equal keys have equal bytes."""

@final
class CacheGenerations:
    """A flush generation per stage in memory shared by the workers."""

    def __new__(cls, stages: int) -> CacheGenerations: ...
    def bump(self, stage: int) -> None: ...

@final
class Throttle:
    """The node's token buckets in memory shared by every worker process: create it before they fork."""

    def __new__(cls, capacity_keys: int, *, fail_open: bool = True) -> Throttle:
        """Room for ``capacity_keys`` buckets; ``fail_open``: a key that finds the table full is admitted."""
    @property
    def memory_bytes(self) -> int: ...
    def __len__(self) -> int: ...

@final
class Reject:
    """The decision "answer with the gateway response ``response_type``" (an AWS gateway response type)."""

    @property
    def response_type(self) -> str: ...
    @property
    def route_id(self) -> int | None:
        """The matched route, when the request was refused after routing (API key, throttle, cache refresh,
        request validation)."""
    @property
    def message(self) -> str | None:
        """The gateway response's message when it is the request's own (missing request parameters)."""

@final
class Engine:
    """One API stage's route table, built once; :meth:`admit` is the one per-request call into Rust."""

    def __new__(
        cls,
        api_type: Literal["REST", "HTTP"],
        routes: list[tuple[str, str]],
        *,
        ignore_trailing_slash: bool | None = None,
        max_header_bytes: int | None = None,
        max_body_bytes: int | None = None,
        proxies: list[tuple[str, str, str, str, str | None, str, bool, list[tuple[str, str, str]]] | None]
        | None = None,
        throttle: Throttle | None = None,
        throttle_mode: Literal["local", "deferred", "off"] = "local",
        stage_id: int = 0,
        gateway_limit: tuple[float, int] | None = None,
        route_limits: list[tuple[float, int] | None] | None = None,
        api_key_required: list[bool] | None = None,
        cache: tuple[
            int, int, list[tuple[float, str, list[tuple[str, str]], bool, str] | None], CacheGenerations | None, int
        ]
        | None = None,
        cache_stale_seconds: float = 0.0,
        validators: list[tuple[list[tuple[str, str]], list[tuple[str, BodyValidator]]] | None] | None = None,
    ) -> Engine:
        """``routes``: ``(method, path)`` pairs (``ANY``, ``$default`` allowed); a route's id is its index.
        Raises :class:`RouteConfigError` for conflicting routes, with AWS's messages. Admission: API keys
        for the routes in ``api_key_required``, and the throttle levels (``(rate, burst)`` limits) in the
        node's ``throttle``. ``cache_stale_seconds``: how long after its TTL an entry is still answered, as
        :attr:`Forward.stale`, while it is refreshed (0: never, as on AWS). ``validators``: per route, a REST
        request validator's required parameters ``(location, name)`` (``header``, ``path``, ``querystring``; in
        AWS's order) and body models ``(lowercase media type or $default, model)``: a request missing parameters
        is a :class:`Reject` (``BAD_REQUEST_PARAMETERS`` with AWS's message), else :attr:`Forward.body_model`
        is the model for its Content-Type."""

    def set_keys(
        self, keys: list[tuple[bytes, int, int, tuple[float, int] | None, list[tuple[int, float, int]]]]
    ) -> None:
        """The keys the stage accepts: ``(sha256 digest, key_slot, plan_slot, plan throttle, per-route
        throttles)``; replaces the previous set."""

    def answer_from_cache(self, scope: Any, protocol: Any, ids: RequestIds) -> bool:
        """The cache-hit fast path (REST), given Granian's RSGI ``scope`` and ``protocol``: a GET the stage cache
        answers, with no API key to check, is sent here (``protocol.response_bytes``, with the request ids) and
        gets ``True``; ``False``: nothing was sent and no throttle token taken, take :meth:`admit`."""
    def cache_store(
        self,
        route_id: int,
        key: CacheKey,
        status: int,
        headers: list[tuple[str, str]],
        body: bytes,
        *,
        ttl_ms: int | None = None,
    ) -> bool:
        """Keeps a response under ``key`` for the route's TTL, or for ``ttl_ms`` milliseconds when that is shorter
        (an entry copied from the shared tier keeps the life it has left there); ``False`` when it is not kept."""
    def flush_cache(self) -> None:
        """Empties the stage's cache in every worker."""
    def set_cache_capacity(self, capacity_bytes: int) -> None:
        """This worker's share of the stage's capacity (the cache starts over empty)."""
    @property
    def cache_entries(self) -> int: ...
    def throttle_locally(self, levels: list[tuple[int, float, int]]) -> int | None:
        """Takes a token at each level from the node's buckets: ``None``, or the level that throttled."""

    def admit(
        self,
        method: str,
        path: str,
        headers: list[tuple[str, str]] | None = None,
        query: str = "",
        client: str = "",
        proto: str = "http",
        port: str = "80",
        request_id: str | None = None,
        scope: Any = None,
    ) -> Forward | Reject | Cached:
        """The one per-request call: rejects headers and declared bodies over the limits, two ``Host`` fields or
        one that is not ``host[:port]``, and a path whose decoding lost bytes (``BAD_REQUEST``); removes dot
        segments from ``path`` and re-encodes it (as Granian gives it: decoded, without query string or stage
        prefix), matches it with AWS priority and, for plain HTTP proxy routes, writes the upstream request head
        (``client``: the peer as ``ip:port``; ``proto``/``port``: the listener's, for ``X-Forwarded-*``).
        ``scope`` (Granian's) is read only when there is no ``Host``: HTTP/1.1 requires one."""

@final
class RequestIds:
    """Request ids for one worker process, in AWS's shapes."""

    def __new__(cls, seed: bytes) -> RequestIds:
        """``seed``: at least 16 random bytes, drawn in each worker process."""

    def next(self) -> tuple[str, str]:
        """``(request id, extended request id)``: a UUID and a short id ending in ``=``."""

@final
class UpstreamTarget:
    """One backend of one route: its ``Host`` header and the AWS header rules to apply."""

    def __new__(
        cls, host: str, *, rules: Literal["REST_PROXY", "REST", "HTTP_API_PROXY"], api_id: str
    ) -> UpstreamTarget: ...
    @property
    def host(self) -> str: ...
    def request_head(
        self,
        method: str,
        target: str,
        headers: list[tuple[str, str]],
        mapped_headers: list[tuple[str, str]] | None,
        client_ip: str,
        client_host: str,
        proto: str,
        port: str,
        body_length: int | None,
    ) -> bytes:
        """The request head: client ``headers`` filtered by the rules (and the headers their ``Connection``
        names dropped), ``mapped_headers`` always written, ``X-Forwarded-*`` added; ``body_length`` ``None`` (no
        body), ``-1`` (chunked) or the length. A field with a control character is dropped; ``ValueError`` when
        ``target`` has a character outside RFC 3986 (a stray ``%`` is written ``%25``)."""

def normalize_path(path: str) -> str:
    """The decoded ``path`` with its dot segments removed (RFC 3986 §5.2.4); ``ValueError`` when its decoding
    lost bytes (a percent-encoded byte that is not UTF-8 became U+FFFD)."""

def encode_chunk(data: bytes) -> bytes:
    """One chunk of a chunked body; ``b""`` gives the last chunk."""

@final
class ResponseParser:
    """Incremental HTTP/1.1 response parser, one per upstream connection."""

    def __new__(
        cls, rules: Literal["REST_PROXY", "REST", "HTTP_API_PROXY"], *, max_head: int = 65536
    ) -> ResponseParser: ...
    def start(self, head_request: bool) -> None:
        """Prepares for the next response (``head_request``: the response has no body)."""

    def feed(
        self, data: bytes
    ) -> tuple[int | None, list[tuple[str, str]] | None, int | None, bool | None, bytes, bool] | None:
        """``None`` while the head is incomplete, else ``(status, headers, content_length, keep_alive, body,
        done)``; status, headers, content_length and keep_alive are set only the first time."""

    def finish(self) -> None:
        """The connection closed: raises :class:`UpstreamProtocolError` if the response was cut short."""

    def is_done(self) -> bool: ...
    def is_reusable(self) -> bool:
        """Done, and nothing came after the response: the connection may carry the next exchange."""

@final
class BodyValidator:
    """A REST request model (JSON Schema draft 4, as AWS), compiled once at load.

    ``schema_json`` is one document holding the model and every model it refers to, with local ``$ref``s
    (``{"$ref": "#/definitions/Pet", "definitions": {...}}``); nothing is fetched. Raises ``ValueError``
    when the schema does not compile (invalid, or a ``$ref`` that does not resolve)."""

    def __new__(cls, schema_json: str) -> BodyValidator: ...
    def is_valid(self, body: bytes) -> bool:
        """Whether ``body`` is JSON the model accepts; an empty body is checked as ``{}``. The per-request call."""

    def explain(self, body: bytes) -> str | None:
        """Why ``body`` is refused (not JSON, or the first failing keyword and where), for logs; ``None`` if valid."""

@final
class Metrics:
    """The node's counters and histograms in memory shared by every worker process (layout:
    :class:`fastgw.observability.metrics.MetricsLayout`). Create it before the workers start."""

    def __new__(cls, counters: int, histograms: int) -> Metrics: ...
    def add(self, index: int, n: int = 1) -> None: ...
    def gauge_add(self, index: int, delta: int) -> None: ...
    def record(
        self,
        slot: int,
        method: str,
        status: int,
        start: float,
        integration: float | None = None,
        extra: int | None = None,
        in_flight: int | None = None,
    ) -> None:
        """One answered request: status class, ``extra`` field, latency from ``start`` (``time.perf_counter()``)
        and integration latency (seconds) histograms, in-flight gauge down."""
    def snapshot(self) -> bytes:
        """Every word as little-endian unsigned 64-bit integers."""

@final
class AccessLogSink:
    """Access-log lines rendered in Rust and written by a thread of the sink's own (a bounded queue)."""

    def __new__(
        cls, destination: str, literals: list[str], kinds: list[str], json: bool, capacity: int = 10_000
    ) -> AccessLogSink:
        """``destination``: ``stdout`` or a file path; ``kinds`` per value: ``plain``, ``clf_time``, ``raw``,
        ``source_ip`` (a client's ``host:port``, written as its host)."""
    def submit(self, values: tuple[object, ...]) -> bool:
        """Renders and queues one line (str, int, float or None values; others are written through ``str()``);
        ``False`` when it was dropped (queue full). Never blocks."""
    @property
    def dropped(self) -> int: ...
    def close(self) -> None:
        """Writes what is queued and stops the writer thread."""
