//! `fastgw._core.Metrics`: the node's counters and histograms in memory shared by every worker.
//!
//! The layout (which word counts what) is `fastgw.observability.metrics.MetricsLayout`'s; `record` computes
//! the indices of one request from it: per route slot, `FIELDS` counters for each of `METHODS` methods
//! (status classes 1xx-5xx, then cache hit, cache miss, throttled, quota rejected, upstream error, upstream
//! timeout), then per route slot two histograms per method (latency, integration latency).

use std::sync::Arc;

use gateway_core::metrics::MetricsRegion;
use gateway_core::throttle::{Clock, MonotonicClock};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

const METHODS: usize = 8;
const FIELDS: usize = 11;
const HISTOGRAM_KINDS: usize = 2;
const STATUS_CLASSES: usize = 5;

#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
fn micros(seconds: f64) -> u64 {
    (seconds.max(0.0) * 1e6) as u64
}

fn method_index(method: &str) -> usize {
    match method {
        "GET" => 0,
        "POST" => 1,
        "PUT" => 2,
        "PATCH" => 3,
        "DELETE" => 4,
        "HEAD" => 5,
        "OPTIONS" => 6,
        _ => 7,
    }
}

#[pyclass(frozen, name = "Metrics", module = "fastgw._core")]
pub struct PyMetrics(Arc<MetricsRegion>);

#[pymethods]
impl PyMetrics {
    /// `counters` and `histograms` as `MetricsLayout` sizes them. Create it before the workers start.
    #[new]
    fn new(counters: usize, histograms: usize) -> PyResult<Self> {
        Ok(Self(Arc::new(MetricsRegion::new(counters, histograms)?)))
    }

    /// Adds `n` to counter `index` (node counters: Redis fallbacks, access-log lines dropped).
    #[pyo3(signature = (index, n = 1))]
    fn add(&self, index: usize, n: u64) {
        self.0.add(index, n);
    }

    /// Moves gauge `index` by `delta` (requests in flight).
    fn gauge_add(&self, index: usize, delta: i64) {
        self.0.gauge_add(index, delta);
    }

    /// One answered request: its status class, `extra` field (cache hit/miss, throttled, ...) if any, the
    /// latency (from `start`, a `time.perf_counter()` reading: `CLOCK_MONOTONIC` seconds on Linux, as here)
    /// and integration latency (seconds) histograms, and the stage's in-flight gauge back down by one.
    #[pyo3(signature = (slot, method, status, start, integration = None, extra = None, in_flight = None))]
    #[allow(clippy::too_many_arguments)]
    fn record(
        &self,
        slot: usize,
        method: &str,
        status: u16,
        start: f64,
        integration: Option<f64>,
        extra: Option<usize>,
        in_flight: Option<usize>,
    ) {
        #[allow(clippy::cast_precision_loss)]
        let now = MonotonicClock.now_nanos() as f64 / 1e9;
        let latency_us = micros(now - start);
        let integration_us = integration.map(micros);
        let method = method_index(method);
        let base = slot * METHODS * FIELDS + method * FIELDS;
        let class = match status {
            100..=599 => usize::from(status / 100 - 1),
            _ => STATUS_CLASSES - 1,
        };
        self.0.add(base + class, 1);
        if let Some(field) = extra.filter(|&f| f < FIELDS) {
            self.0.add(base + field, 1);
        }
        let histogram = slot * METHODS * HISTOGRAM_KINDS + method * HISTOGRAM_KINDS;
        self.0.observe(histogram, latency_us);
        if let Some(micros) = integration_us {
            self.0.observe(histogram + 1, micros);
        }
        if let Some(gauge) = in_flight {
            self.0.gauge_add(gauge, -1);
        }
    }

    /// Every word, as little-endian `u64`s (`memoryview(b).cast("Q")` reads them without copying).
    fn snapshot<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        let words = self.0.snapshot();
        let mut bytes = Vec::with_capacity(words.len() * 8);
        for word in words {
            bytes.extend_from_slice(&word.to_le_bytes());
        }
        PyBytes::new(py, &bytes)
    }
}
