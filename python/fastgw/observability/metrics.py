"""The gateway's Prometheus metrics: what is counted, where each count lives, and the scrape.

Counting happens in Rust (``gateway_core::metrics::MetricsRegion``): shared memory mapped by the parent before
the workers fork, a flat array of 64-bit words. The region knows nothing about labels; this module decides the
layout once per configuration (:meth:`MetricsLayout.build`) and hands the data plane plain integer indices, so
a request costs a few atomic adds and no string work. At scrape time :class:`GatewayCollector` reads every word
in one call (``snapshot``) and builds the metric families from the layout.

Layout
------
Every (API, stage, route key) gets a *route slot*; so does each stage's "no route matched" (``route="<none>"``)
and, in slot 0, requests that matched no stage at all (``api="<none>", stage="<none>", route="<none>"``). A
stage's slots are contiguous: its ``<none>`` slot, then its routes in the order given (the router's route ids,
so ``slot = stage_first_slot[stage] + 1 + route_id``). Within a slot there is one block per method bucket
(:data:`METHODS`: seven methods and ``other``), and within a block one counter per :class:`Field`::

    counter   = route_base[slot] + method_index(method) * FIELDS + field          (route_base[slot] = slot * 88)
    histogram = histogram_base[slot] + method_index(method) * HISTOGRAM_KINDS + kind  (... = slot * 16)
    in-flight gauge of stage s = in_flight_base + s;  node counter n = node_base + n

``method_index`` is the position in :data:`METHODS` (``other``, 7, for any method not listed), ``FIELDS`` = 11,
``HISTOGRAM_KINDS`` = 2.

Counter words come first, ``counters`` of them, then ``histograms`` histograms of :data:`HISTOGRAM_WORDS`
words each: one word per bucket (not cumulative; bounds :data:`BUCKET_BOUNDS_MICROS`, then ``+Inf``) and the
sum in microseconds. The count is the sum of the buckets. Each method block is a fixed size so Rust can compute
an index with arithmetic alone; a route that only ever sees GET leaves its other blocks untouched, and untouched
pages of the mapping cost no memory.

Scrape size
-----------
Series whose values are all zero are left out (a family is always present, possibly empty), except that a
route and method that has counted any request exports all of its ``2xx``..``5xx`` status classes: the first
5xx then shows as a step from 0, which ``rate()`` and ``increase()`` see. The in-flight gauge of every stage and
the node-wide counters are always exported.

CloudWatch equivalents
----------------------
Dimensions: ``ApiName`` / ``ApiId`` is ``api``, ``Stage`` is ``stage``, ``Resource`` + ``Method`` (REST detailed
metrics) and ``Route`` (HTTP detailed metrics) are ``route`` and ``method``.

============================================================  ===============================================
Prometheus                                                    CloudWatch (``AWS/ApiGateway``)
============================================================  ===============================================
``sum(fastgw_requests_total)``                                ``Count``
``fastgw_requests_total{status_class="4xx"}``                 ``4XXError`` (REST), ``4xx`` (HTTP)
``fastgw_requests_total{status_class="5xx"}``                 ``5XXError`` (REST), ``5xx`` (HTTP)
``fastgw_request_duration_seconds``                           ``Latency`` (ms there, seconds here)
``fastgw_integration_duration_seconds``                       ``IntegrationLatency``
``fastgw_cache_hits_total``                                   ``CacheHitCount`` (REST)
``fastgw_cache_misses_total``                                 ``CacheMissCount`` (REST)
``fastgw_throttled_requests_total``                           none (part of ``4XXError``: 429 Too Many Requests)
``fastgw_quota_rejected_requests_total``                      none (part of ``4XXError``: 429 Limit Exceeded)
``fastgw_upstream_errors_total{kind="error|timeout"}``        none (part of ``5XXError``: 502 / 504)
``fastgw_requests_in_flight``                                 none
``fastgw_redis_fallbacks_total``                              none (fastgw only: Redis down, local limits)
``fastgw_access_log_dropped_total``                           none (fastgw only: access-log queue full)
============================================================  ===============================================

``DataProcessed`` (HTTP APIs) has no equivalent yet. :data:`METRICS_TABLE_MARKDOWN` is this table for the README.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Final

from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

__all__ = [
    "BUCKET_BOUNDS_MICROS",
    "FIELDS",
    "HISTOGRAM_KINDS",
    "HISTOGRAM_WORDS",
    "METHODS",
    "METRICS_TABLE_MARKDOWN",
    "NO_ROUTE",
    "ROUTE_COUNTERS",
    "ROUTE_HISTOGRAMS",
    "UNMATCHED_SLOT",
    "Field",
    "GatewayCollector",
    "HistogramKind",
    "MetricsLayout",
    "NodeCounter",
    "RouteSeries",
    "method_index",
    "status_field",
]

# Mirrors `gateway_core::metrics::BUCKET_BOUNDS_MICROS`: 1 ms to 30 s, then +Inf.
BUCKET_BOUNDS_MICROS: Final = (
    1_000,
    2_500,
    5_000,
    10_000,
    25_000,
    50_000,
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    30_000_000,
)
BUCKETS: Final = len(BUCKET_BOUNDS_MICROS) + 1
"""Buckets per histogram, ``+Inf`` included."""
HISTOGRAM_WORDS: Final = BUCKETS + 1
"""Words per histogram: the buckets, then the sum in microseconds."""

METHODS: Final = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "other")
"""The ``method`` label's values; any other method counts as ``other`` (bounded label cardinality)."""
_METHOD_INDEX: Final = {m: i for i, m in enumerate(METHODS[:-1])}

NO_ROUTE: Final = "<none>"
"""The ``route`` label (and ``api``/``stage`` in slot 0) of requests that matched nothing."""
UNMATCHED_SLOT: Final = 0
"""The route slot of requests that matched no API stage (no host or base path mapping)."""


class Field(IntEnum):
    """The counters of one (route, method) block, in layout order."""

    STATUS_1XX = 0
    STATUS_2XX = 1
    STATUS_3XX = 2
    STATUS_4XX = 3
    STATUS_5XX = 4
    CACHE_HIT = 5
    CACHE_MISS = 6
    THROTTLED = 7
    """429 Too Many Requests: a rate or burst limit."""
    QUOTA_REJECTED = 8
    """429 Limit Exceeded: a usage plan quota."""
    UPSTREAM_ERROR = 9
    UPSTREAM_TIMEOUT = 10


class HistogramKind(IntEnum):
    """The histograms of one (route, method) block, in layout order."""

    LATENCY = 0
    """The whole request, as the client sees it (CloudWatch ``Latency``)."""
    INTEGRATION_LATENCY = 1
    """The backend call alone (CloudWatch ``IntegrationLatency``)."""


class NodeCounter(IntEnum):
    """Counters of the whole node, after the in-flight gauges."""

    REDIS_FALLBACKS = 0
    ACCESS_LOG_DROPPED = 1


FIELDS: Final = len(Field)
"""Counters per method block: the method stride within a route slot."""
HISTOGRAM_KINDS: Final = len(HistogramKind)
"""Histograms per method block."""
ROUTE_COUNTERS: Final = len(METHODS) * FIELDS
ROUTE_HISTOGRAMS: Final = len(METHODS) * HISTOGRAM_KINDS

_STATUS_CLASSES: Final = ("1xx", "2xx", "3xx", "4xx", "5xx")


def method_index(method: str) -> int:
    """The method bucket of an HTTP method (exact, upper-case match; anything else is ``other``)."""
    return _METHOD_INDEX.get(method, len(METHODS) - 1)


def status_field(status: int) -> Field:
    """The status-class counter of an HTTP status (anything outside 100..599 counts as 5xx: a gateway bug)."""
    return Field(status // 100 - 1) if 100 <= status <= 599 else Field.STATUS_5XX


@dataclass(frozen=True, slots=True)
class RouteSeries:
    """The labels of one route slot."""

    api: str
    stage: str
    route: str


@dataclass(frozen=True, slots=True)
class MetricsLayout:
    """Where every count of one gateway configuration lives. Build with :meth:`build`."""

    routes: tuple[RouteSeries, ...]
    """Labels by route slot."""
    stages: tuple[tuple[str, str], ...]
    """``(api, stage)`` by stage slot."""
    stage_first_slot: tuple[int, ...]
    """The route slot of each stage's ``<none>`` route; its routes follow."""
    route_base: tuple[int, ...]
    """The counter index of (method 0, field 0) of each route slot."""
    histogram_base: tuple[int, ...]
    """The histogram index of (method 0, kind 0) of each route slot."""
    in_flight_base: int
    node_base: int
    counters: int
    """Counter words: ``MetricsRegion::new(counters, histograms)``."""
    histograms: int
    _slots: dict[tuple[str, str, str], int]
    _stage_slots: dict[tuple[str, str], int]

    @classmethod
    def build(cls, stages: Iterable[tuple[str, str, Iterable[str]]]) -> MetricsLayout:
        """Lays out ``(api name, stage name, route keys)`` per served stage; route keys as AWS writes them
        (``GET /pets``, ``ANY /{proxy+}``, ``$default``), in route id order."""
        routes = [RouteSeries(NO_ROUTE, NO_ROUTE, NO_ROUTE)]
        stage_names: list[tuple[str, str]] = []
        first_slots: list[int] = []
        for api, stage, route_keys in stages:
            if (api, stage) in stage_names:
                raise ValueError(f"stage {stage!r} of API {api!r} is listed twice")
            stage_names.append((api, stage))
            first_slots.append(len(routes))
            keys = [NO_ROUTE, *route_keys]
            if len(set(keys)) != len(keys):
                raise ValueError(f"stage {stage!r} of API {api!r} lists a route key twice (or {NO_ROUTE!r})")
            routes += (RouteSeries(api, stage, key) for key in keys)
        in_flight_base = len(routes) * ROUTE_COUNTERS
        node_base = in_flight_base + len(stage_names)
        return cls(
            routes=tuple(routes),
            stages=tuple(stage_names),
            stage_first_slot=tuple(first_slots),
            route_base=tuple(slot * ROUTE_COUNTERS for slot in range(len(routes))),
            histogram_base=tuple(slot * ROUTE_HISTOGRAMS for slot in range(len(routes))),
            in_flight_base=in_flight_base,
            node_base=node_base,
            counters=node_base + len(NodeCounter),
            histograms=len(routes) * ROUTE_HISTOGRAMS,
            _slots={(r.api, r.stage, r.route): slot for slot, r in enumerate(routes)},
            _stage_slots={names: i for i, names in enumerate(stage_names)},
        )

    @property
    def words(self) -> int:
        """Words in a snapshot."""
        return self.counters + self.histograms * HISTOGRAM_WORDS

    def route_slot(self, api: str, stage: str, route_key: str = NO_ROUTE) -> int:
        """The slot of a route (default: the stage's ``<none>`` route). ``KeyError`` if not laid out."""
        return self._slots[(api, stage, route_key)]

    def stage_slot(self, api: str, stage: str) -> int:
        return self._stage_slots[(api, stage)]

    def counter_index(self, route_slot: int, method: str, field: Field) -> int:
        return self.route_base[route_slot] + method_index(method) * FIELDS + field

    def histogram_index(self, route_slot: int, method: str, kind: HistogramKind) -> int:
        return self.histogram_base[route_slot] + method_index(method) * HISTOGRAM_KINDS + kind

    def in_flight_index(self, api: str, stage: str) -> int:
        """The counter word used as the stage's in-flight gauge (``gauge_add(index, +1 / -1)``)."""
        return self.in_flight_base + self.stage_slot(api, stage)

    def node_counter_index(self, counter: NodeCounter) -> int:
        return self.node_base + counter

    def histogram_word(self, histogram: int) -> int:
        """The snapshot position of a histogram's first bucket."""
        return self.counters + histogram * HISTOGRAM_WORDS


# -- the scrape -------------------------------------------------------------------------------------------

_ROUTE_LABELS: Final = ("api", "stage", "route", "method")
# `le` as Prometheus clients write it: "0.0025", "1.0", "+Inf".
_BUCKET_LABELS: Final = (*(repr(b / 1e6) for b in BUCKET_BOUNDS_MICROS), "+Inf")
_SIGNED: Final = 1 << 63


class _Families:
    """One scrape's metric families, empty until series are added."""

    def __init__(self) -> None:
        self.requests = CounterMetricFamily(
            "fastgw_requests_total",
            "Requests answered, by status class (CloudWatch Count, 4XXError/4xx, 5XXError/5xx).",
            labels=(*_ROUTE_LABELS, "status_class"),
        )
        self.latency = HistogramMetricFamily(
            "fastgw_request_duration_seconds",
            "Time from request received to response sent (CloudWatch Latency).",
            labels=_ROUTE_LABELS,
        )
        self.integration_latency = HistogramMetricFamily(
            "fastgw_integration_duration_seconds",
            "Time spent in the backend integration (CloudWatch IntegrationLatency).",
            labels=_ROUTE_LABELS,
        )
        self.cache_hits = CounterMetricFamily(
            "fastgw_cache_hits_total",
            "Responses served from the stage cache (CloudWatch CacheHitCount).",
            labels=_ROUTE_LABELS,
        )
        self.cache_misses = CounterMetricFamily(
            "fastgw_cache_misses_total",
            "Cacheable requests not found in the stage cache (CloudWatch CacheMissCount).",
            labels=_ROUTE_LABELS,
        )
        self.throttled = CounterMetricFamily(
            "fastgw_throttled_requests_total",
            "Requests rejected by a rate or burst limit (429 Too Many Requests).",
            labels=_ROUTE_LABELS,
        )
        self.quota_rejected = CounterMetricFamily(
            "fastgw_quota_rejected_requests_total",
            "Requests rejected by a usage plan quota (429 Limit Exceeded).",
            labels=_ROUTE_LABELS,
        )
        self.upstream_errors = CounterMetricFamily(
            "fastgw_upstream_errors_total",
            "Integration calls that failed (kind=error) or timed out (kind=timeout).",
            labels=(*_ROUTE_LABELS, "kind"),
        )
        self.in_flight = GaugeMetricFamily(
            "fastgw_requests_in_flight", "Requests being processed.", labels=("api", "stage")
        )
        self.redis_fallbacks = CounterMetricFamily(
            "fastgw_redis_fallbacks_total", "Times Redis was unreachable and limits fell back to this node."
        )
        self.access_log_dropped = CounterMetricFamily(
            "fastgw_access_log_dropped_total", "Access-log lines dropped because the writer's queue was full."
        )

    def all(self) -> list[Metric]:
        return [
            self.requests,
            self.latency,
            self.integration_latency,
            self.cache_hits,
            self.cache_misses,
            self.throttled,
            self.quota_rejected,
            self.upstream_errors,
            self.in_flight,
            self.redis_fallbacks,
            self.access_log_dropped,
        ]


class GatewayCollector(Collector):
    """A prometheus-client collector over a metrics snapshot: ``registry.register(GatewayCollector(layout,
    region.snapshot))``. ``snapshot`` returns every word of the region in layout order."""

    def __init__(self, layout: MetricsLayout, snapshot: Callable[[], Sequence[int]]) -> None:
        self.layout = layout
        self._snapshot = snapshot

    def describe(self) -> Iterable[Metric]:
        """The families, without samples: lets a registry check names without taking a snapshot."""
        return _Families().all()

    def collect(self) -> Iterable[Metric]:
        words = self._snapshot()
        layout = self.layout
        if len(words) != layout.words:
            raise ValueError(f"snapshot has {len(words)} words, the layout {layout.words}")
        families = _Families()
        for slot, series in enumerate(layout.routes):
            base = layout.route_base[slot]
            histogram_base = layout.histogram_base[slot]
            if not any(words[base : base + ROUTE_COUNTERS]) and not _histograms_used(
                words, layout, histogram_base, ROUTE_HISTOGRAMS
            ):
                continue  # most routes of a large API are idle: skip their eight method blocks at once
            for m, method in enumerate(METHODS):
                counters = words[base + m * FIELDS : base + (m + 1) * FIELDS]
                histograms = histogram_base + m * HISTOGRAM_KINDS
                if not any(counters) and not _histograms_used(words, layout, histograms, HISTOGRAM_KINDS):
                    continue
                labels = (series.api, series.stage, series.route, method)
                _add_counters(families, labels, counters)
                for kind, family in (
                    (HistogramKind.LATENCY, families.latency),
                    (HistogramKind.INTEGRATION_LATENCY, families.integration_latency),
                ):
                    _add_histogram(family, labels, words, layout.histogram_word(histograms + kind))
        for s, (api, stage) in enumerate(layout.stages):
            value = words[layout.in_flight_base + s]
            families.in_flight.add_metric((api, stage), value - (1 << 64) if value >= _SIGNED else value)
        families.redis_fallbacks.add_metric((), words[layout.node_counter_index(NodeCounter.REDIS_FALLBACKS)])
        families.access_log_dropped.add_metric((), words[layout.node_counter_index(NodeCounter.ACCESS_LOG_DROPPED)])
        return families.all()


def _histograms_used(words: Sequence[int], layout: MetricsLayout, first: int, count: int) -> bool:
    start = layout.histogram_word(first)
    return any(words[start : start + count * HISTOGRAM_WORDS])


def _add_counters(families: _Families, labels: tuple[str, ...], counters: Sequence[int]) -> None:
    requests = counters[Field.STATUS_1XX : Field.STATUS_5XX + 1]
    if any(requests):
        for status_class, value in zip(_STATUS_CLASSES, requests, strict=True):
            if value or status_class != "1xx":
                families.requests.add_metric((*labels, status_class), value)
    for field, family in (
        (Field.CACHE_HIT, families.cache_hits),
        (Field.CACHE_MISS, families.cache_misses),
        (Field.THROTTLED, families.throttled),
        (Field.QUOTA_REJECTED, families.quota_rejected),
    ):
        if counters[field]:
            family.add_metric(labels, counters[field])
    for field, kind in ((Field.UPSTREAM_ERROR, "error"), (Field.UPSTREAM_TIMEOUT, "timeout")):
        if counters[field]:
            families.upstream_errors.add_metric((*labels, kind), counters[field])


def _add_histogram(family: HistogramMetricFamily, labels: tuple[str, ...], words: Sequence[int], start: int) -> None:
    buckets = words[start : start + BUCKETS]
    if not any(buckets):
        return
    cumulative: list[tuple[str, float]] = []
    total = 0
    for le, count in zip(_BUCKET_LABELS, buckets, strict=True):
        total += count
        cumulative.append((le, total))
    family.add_metric(labels, cumulative, sum_value=words[start + BUCKETS] / 1e6)


METRICS_TABLE_MARKDOWN: Final = """\
| Prometheus | CloudWatch (`AWS/ApiGateway`) |
|---|---|
| `sum(fastgw_requests_total)` | `Count` |
| `fastgw_requests_total{status_class="4xx"}` | `4XXError` (REST), `4xx` (HTTP) |
| `fastgw_requests_total{status_class="5xx"}` | `5XXError` (REST), `5xx` (HTTP) |
| `fastgw_request_duration_seconds` (histogram) | `Latency` (milliseconds there, seconds here) |
| `fastgw_integration_duration_seconds` (histogram) | `IntegrationLatency` |
| `fastgw_cache_hits_total` | `CacheHitCount` (REST) |
| `fastgw_cache_misses_total` | `CacheMissCount` (REST) |
| `fastgw_throttled_requests_total` | none (part of `4XXError`: 429 Too Many Requests) |
| `fastgw_quota_rejected_requests_total` | none (part of `4XXError`: 429 Limit Exceeded) |
| `fastgw_upstream_errors_total{kind="error\\|timeout"}` | none (part of `5XXError`: 502 / 504) |
| `fastgw_requests_in_flight` (gauge) | none |
| `fastgw_redis_fallbacks_total` | none (fastgw only: Redis down, limits counted on this node) |
| `fastgw_access_log_dropped_total` | none (fastgw only: access-log queue full) |

Per-route metrics have the labels `api`, `stage`, `route` (the route key, `GET /pets/{id}`) and `method`;
`fastgw_requests_total` adds `status_class` (`1xx`..`5xx`), `fastgw_upstream_errors_total` adds `kind`, and
`fastgw_requests_in_flight` has `api` and `stage` only. CloudWatch dimensions map to labels: `ApiName`/`ApiId` is
`api`, `Stage` is `stage`, `Resource` + `Method` (REST detailed metrics) and `Route` (HTTP detailed metrics) are
`route` and `method`. Requests that matched no route have `route="<none>"` (and `api="<none>", stage="<none>"`
when no stage matched either). `DataProcessed` (HTTP APIs) has no equivalent yet.
"""
