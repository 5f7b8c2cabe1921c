"""The metrics layout (indices the data plane uses) and the collector's exposition of a synthetic snapshot."""

from __future__ import annotations

import array
import re
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from fastgw.observability import metrics
from fastgw.observability.metrics import (
    BUCKET_BOUNDS_MICROS,
    BUCKETS,
    FIELDS,
    HISTOGRAM_KINDS,
    HISTOGRAM_WORDS,
    METHODS,
    METRICS_TABLE_MARKDOWN,
    NO_ROUTE,
    ROUTE_COUNTERS,
    ROUTE_HISTOGRAMS,
    UNMATCHED_SLOT,
    Field,
    GatewayCollector,
    HistogramKind,
    MetricsLayout,
    NodeCounter,
    method_index,
    status_field,
)

REPO = Path(__file__).parents[2]
FAMILIES = {
    "fastgw_requests": "counter",
    "fastgw_request_duration_seconds": "histogram",
    "fastgw_integration_duration_seconds": "histogram",
    "fastgw_cache_hits": "counter",
    "fastgw_cache_misses": "counter",
    "fastgw_throttled_requests": "counter",
    "fastgw_quota_rejected_requests": "counter",
    "fastgw_upstream_errors": "counter",
    "fastgw_requests_in_flight": "gauge",
    "fastgw_redis_fallbacks": "counter",
    "fastgw_access_log_dropped": "counter",
}


def petstore() -> MetricsLayout:
    return MetricsLayout.build(
        [
            ("petstore", "prod", ["GET /pets", "POST /pets", "ANY /{proxy+}"]),
            ("petstore", "dev", ["$default"]),
        ]
    )


def exposition(layout: MetricsLayout, words: Sequence[int]) -> str:
    registry = CollectorRegistry()
    registry.register(GatewayCollector(layout, lambda: words))
    return generate_latest(registry).decode()


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def route_labels(route: str, method: str, api: str = "petstore", stage: str = "prod") -> dict[str, str]:
    return {"api": api, "stage": stage, "route": route, "method": method}


def key(name: str, **labels: str) -> tuple[str, frozenset[tuple[str, str]]]:
    return name, frozenset(labels.items())


# -- layout ------------------------------------------------------------------------------------------------


def test_layout_slots_are_stage_none_then_routes() -> None:
    layout = petstore()
    assert layout.routes[UNMATCHED_SLOT] == metrics.RouteSeries(NO_ROUTE, NO_ROUTE, NO_ROUTE)
    assert layout.stage_first_slot == (1, 5)
    assert [(r.stage, r.route) for r in layout.routes[1:]] == [
        ("prod", NO_ROUTE),
        ("prod", "GET /pets"),
        ("prod", "POST /pets"),
        ("prod", "ANY /{proxy+}"),
        ("dev", NO_ROUTE),
        ("dev", "$default"),
    ]
    # Route ids in a stage map to slots by arithmetic.
    assert layout.route_slot("petstore", "prod", "ANY /{proxy+}") == layout.stage_first_slot[0] + 1 + 2
    assert layout.route_slot("petstore", "dev") == 5


def test_layout_indices_are_arithmetic_on_the_bases() -> None:
    layout = petstore()
    slots = len(layout.routes)
    assert (FIELDS, HISTOGRAM_KINDS, len(METHODS)) == (11, 2, 8)
    assert layout.route_base == tuple(slot * ROUTE_COUNTERS for slot in range(slots))
    assert layout.histogram_base == tuple(slot * ROUTE_HISTOGRAMS for slot in range(slots))
    slot = layout.route_slot("petstore", "prod", "POST /pets")
    assert layout.counter_index(slot, "POST", Field.STATUS_4XX) == slot * 88 + 1 * 11 + 3
    assert layout.counter_index(slot, "BREW", Field.THROTTLED) == slot * 88 + 7 * 11 + 7
    assert layout.histogram_index(slot, "DELETE", HistogramKind.INTEGRATION_LATENCY) == slot * 16 + 4 * 2 + 1
    assert layout.in_flight_index("petstore", "dev") == slots * ROUTE_COUNTERS + 1
    assert layout.node_counter_index(NodeCounter.ACCESS_LOG_DROPPED) == slots * ROUTE_COUNTERS + 2 + 1
    assert layout.counters == slots * ROUTE_COUNTERS + 2 + len(NodeCounter)
    assert layout.histograms == slots * ROUTE_HISTOGRAMS
    assert layout.words == layout.counters + layout.histograms * HISTOGRAM_WORDS
    assert layout.histogram_word(3) == layout.counters + 3 * HISTOGRAM_WORDS


def test_every_index_is_distinct_and_in_range() -> None:
    layout = petstore()
    counters = [
        layout.counter_index(slot, method, field)
        for slot in range(len(layout.routes))
        for method in METHODS
        for field in Field
    ]
    counters += [layout.in_flight_index(api, stage) for api, stage in layout.stages]
    counters += [layout.node_counter_index(counter) for counter in NodeCounter]
    assert sorted(counters) == list(range(layout.counters))
    histograms = [
        layout.histogram_index(slot, method, kind)
        for slot in range(len(layout.routes))
        for method in METHODS
        for kind in HistogramKind
    ]
    assert sorted(histograms) == list(range(layout.histograms))


@pytest.mark.parametrize(
    ("stages", "message"),
    [
        ([("a", "s", ["GET /x"]), ("a", "s", [])], "listed twice"),
        ([("a", "s", ["GET /x", "GET /x"])], "route key twice"),
        ([("a", "s", [NO_ROUTE])], "route key twice"),
    ],
)
def test_layout_refuses_duplicates(stages: list[tuple[str, str, list[str]]], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MetricsLayout.build(stages)


def test_methods_and_status_classes() -> None:
    assert [method_index(m) for m in METHODS[:-1]] == list(range(7))
    assert method_index("PROPFIND") == method_index("get") == METHODS.index("other")
    assert [status_field(s) for s in (100, 204, 304, 429, 504)] == [
        Field.STATUS_1XX,
        Field.STATUS_2XX,
        Field.STATUS_3XX,
        Field.STATUS_4XX,
        Field.STATUS_5XX,
    ]
    assert status_field(99) == status_field(600) == Field.STATUS_5XX


def test_bucket_bounds_mirror_the_rust_constant() -> None:
    source = (REPO / "gateway_core/src/metrics/mod.rs").read_text()
    match = re.search(r"BUCKET_BOUNDS_MICROS: \[u64; \d+\] = \[([^\]]*)\]", source)
    assert match, "BUCKET_BOUNDS_MICROS not found in gateway_core/src/metrics/mod.rs"
    rust = tuple(int(n.replace("_", "")) for n in match.group(1).replace("\n", " ").split(",") if n.strip())
    assert rust == BUCKET_BOUNDS_MICROS
    assert "pub const HISTOGRAM_WORDS: usize = BUCKETS + 1;" in source


# -- collector ---------------------------------------------------------------------------------------------


def synthetic(layout: MetricsLayout) -> list[int]:
    """GET /pets: 10 2xx, 1 5xx (a timeout), 4 cache hits; latencies 3 x 0.5 ms, 8 x 4 ms; in flight -1 on prod
    (a gauge word that went below zero), 2 on dev; 2 Redis fallbacks; one unmatched 404."""
    words = [0] * layout.words
    get_pets = layout.route_slot("petstore", "prod", "GET /pets")
    words[layout.counter_index(get_pets, "GET", Field.STATUS_2XX)] = 10
    words[layout.counter_index(get_pets, "GET", Field.STATUS_5XX)] = 1
    words[layout.counter_index(get_pets, "GET", Field.UPSTREAM_TIMEOUT)] = 1
    words[layout.counter_index(get_pets, "GET", Field.CACHE_HIT)] = 4
    start = layout.histogram_word(layout.histogram_index(get_pets, "GET", HistogramKind.LATENCY))
    words[start + 0] = 3  # <= 1 ms
    words[start + 2] = 8  # (2.5 ms, 5 ms]
    words[start + BUCKETS] = 3 * 500 + 8 * 4_000  # the sum, in microseconds
    words[layout.in_flight_index("petstore", "prod")] = 2**64 - 1
    words[layout.in_flight_index("petstore", "dev")] = 2
    words[layout.node_counter_index(NodeCounter.REDIS_FALLBACKS)] = 2
    words[layout.counter_index(UNMATCHED_SLOT, "GET", Field.STATUS_4XX)] = 1
    return words


def test_every_family_is_present_even_with_no_traffic() -> None:
    layout = petstore()
    text = exposition(layout, [0] * layout.words)
    families = {family.name: family for family in text_string_to_metric_families(text)}
    assert {name: family.type for name, family in families.items()} == FAMILIES
    # All-zero route series are left out; the gauges and node counters are always there.
    assert [s.name for s in families["fastgw_requests"].samples] == []
    assert len(families["fastgw_requests_in_flight"].samples) == 2
    assert [s.value for s in families["fastgw_redis_fallbacks"].samples] == [0]


def test_collector_exposes_the_snapshot() -> None:
    layout = petstore()
    got = samples(exposition(layout, synthetic(layout)))
    get_pets = route_labels("GET /pets", "GET")
    requests = {k: v for k, v in got.items() if k[0] == "fastgw_requests_total"}
    assert requests == {
        key("fastgw_requests_total", **get_pets, status_class="2xx"): 10,
        key("fastgw_requests_total", **get_pets, status_class="3xx"): 0,
        key("fastgw_requests_total", **get_pets, status_class="4xx"): 0,
        key("fastgw_requests_total", **get_pets, status_class="5xx"): 1,
        key("fastgw_requests_total", **route_labels(NO_ROUTE, "GET", NO_ROUTE, NO_ROUTE), status_class="2xx"): 0,
        key("fastgw_requests_total", **route_labels(NO_ROUTE, "GET", NO_ROUTE, NO_ROUTE), status_class="3xx"): 0,
        key("fastgw_requests_total", **route_labels(NO_ROUTE, "GET", NO_ROUTE, NO_ROUTE), status_class="4xx"): 1,
        key("fastgw_requests_total", **route_labels(NO_ROUTE, "GET", NO_ROUTE, NO_ROUTE), status_class="5xx"): 0,
    }
    assert got[key("fastgw_cache_hits_total", **get_pets)] == 4
    assert got[key("fastgw_upstream_errors_total", **get_pets, kind="timeout")] == 1
    assert key("fastgw_upstream_errors_total", **get_pets, kind="error") not in got
    assert not any(name == "fastgw_cache_misses_total" for name, _ in got)
    assert got[key("fastgw_requests_in_flight", api="petstore", stage="prod")] == -1
    assert got[key("fastgw_requests_in_flight", api="petstore", stage="dev")] == 2
    assert got[key("fastgw_redis_fallbacks_total")] == 2
    assert got[key("fastgw_access_log_dropped_total")] == 0


def test_histograms_are_cumulative_with_sum_and_count() -> None:
    layout = petstore()
    got = samples(exposition(layout, synthetic(layout)))
    labels = route_labels("GET /pets", "GET")
    buckets = {
        dict(k[1])["le"]: v
        for k, v in got.items()
        if k[0] == "fastgw_request_duration_seconds_bucket" and dict(k[1]).items() >= labels.items()
    }
    les = [repr(bound / 1e6) for bound in BUCKET_BOUNDS_MICROS] + ["+Inf"]
    assert list(buckets) == les
    assert [buckets[le] for le in les] == [3, 3, 11, 11, 11, 11, 11, 11, 11, 11, 11, 11, 11, 11, 11]
    assert got[key("fastgw_request_duration_seconds_count", **labels)] == 11
    assert got[key("fastgw_request_duration_seconds_sum", **labels)] == pytest.approx(0.0335)
    # No integration observations: the integration histogram has no series for this route.
    assert not any(name.startswith("fastgw_integration_duration_seconds") for name, _ in got)


def test_a_snapshot_of_the_wrong_size_is_refused() -> None:
    layout = petstore()
    collector = GatewayCollector(layout, lambda: [0] * (layout.words - 1))
    with pytest.raises(ValueError, match="words"):
        list(collector.collect())


def test_describe_names_the_families_without_a_snapshot() -> None:
    def no_snapshot() -> list[int]:
        raise AssertionError("describe must not read the region")

    collector = GatewayCollector(petstore(), no_snapshot)
    assert {family.name for family in collector.describe()} == set(FAMILIES)
    CollectorRegistry(auto_describe=True).register(collector)


def test_label_values_are_escaped() -> None:
    layout = MetricsLayout.build([('we"ird\\api', "prod", ["GET /a\nb"])])
    words = [0] * layout.words
    words[layout.counter_index(layout.route_slot('we"ird\\api', "prod", "GET /a\nb"), "GET", Field.STATUS_2XX)] = 1
    got = samples(exposition(layout, words))
    labels = route_labels("GET /a\nb", "GET", api='we"ird\\api')
    assert got[key("fastgw_requests_total", **labels, status_class="2xx")] == 1


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not on PATH (Debian package `prometheus`)")
def test_promtool_accepts_the_exposition() -> None:
    layout = petstore()
    result = subprocess.run(
        ["promtool", "check", "metrics"],
        input=exposition(layout, synthetic(layout)),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_markdown_table_and_the_module_docs_name_the_same_metrics() -> None:
    names = set(re.findall(r"fastgw_[a-z_]+", METRICS_TABLE_MARKDOWN))
    assert names == set(re.findall(r"fastgw_[a-z_]+", metrics.__doc__ or ""))
    assert {f"{name}_total" if kind == "counter" else name for name, kind in FAMILIES.items()} == names


def test_a_buffer_snapshot_gives_the_same_exposition() -> None:
    # A binding may hand the words over as bytes (no Python int per word); a memoryview cast to u64 is a Sequence.
    layout = petstore()
    words = synthetic(layout)
    buffer = memoryview(array.array("Q", words).tobytes()).cast("Q")
    assert exposition(layout, buffer) == exposition(layout, words)
