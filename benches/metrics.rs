//! Counting one request: one counter `add` and one latency `observe` on a hot series, the
//! [`MetricsRegion`] against a naive baseline, a `Mutex<HashMap<String, u64>>` keyed by the formatted
//! label string (what a first implementation of labelled metrics tends to look like).
//!
//! Run: `cargo bench -p gateway_core --bench metrics`
//!
//! `single_thread` is the cost on an idle node. `two_threads` has two threads count into the same series
//! at once (both cores of the bench machine), as two workers hit by the same route do: the region's words
//! bounce between the cores' caches, the baseline's mutex is contended.

use std::collections::HashMap;
use std::fmt::Write;
use std::hint::black_box;
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use gateway_core::metrics::{bucket_of, MetricsRegion, BUCKET_BOUNDS_MICROS};

/// Counter and histogram index of the hot series (a layout would compute them from route and method).
const COUNTER: usize = 3;
const HISTOGRAM: usize = 1;
/// Latencies the requests cycle through, in microseconds: a few buckets, like real traffic.
const LATENCIES: [u64; 8] = [420, 870, 1_300, 2_100, 3_900, 7_500, 12_000, 64_000];

/// The baseline: every request formats its labels, then counts under one lock.
struct Naive(Mutex<HashMap<String, u64>>);

impl Naive {
    fn new() -> Self {
        Self(Mutex::new(HashMap::new()))
    }

    fn record(&self, api: &str, stage: &str, route: &str, method: &str, status: u16, micros: u64) {
        let labels = format!("api=\"{api}\",stage=\"{stage}\",route=\"{route}\",method=\"{method}\"");
        let requests = format!("fastgw_requests_total{{{labels},status_class=\"{}xx\"}}", status / 100);
        let mut bucket = String::with_capacity(labels.len() + 48);
        match BUCKET_BOUNDS_MICROS.get(bucket_of(micros)) {
            Some(bound) => write!(bucket, "fastgw_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}}"),
            None => write!(bucket, "fastgw_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}}"),
        }
        .unwrap();
        let sum = format!("fastgw_request_duration_seconds_sum{{{labels}}}");
        let mut map = self.0.lock().unwrap();
        *map.entry(requests).or_default() += 1;
        *map.entry(bucket).or_default() += 1;
        *map.entry(sum).or_default() += micros;
    }
}

fn region() -> MetricsRegion {
    MetricsRegion::new(16, 4).unwrap()
}

fn single_thread(c: &mut Criterion) {
    let mut group = c.benchmark_group("metrics/single_thread");
    let metrics = region();
    let mut i = 0;
    group.bench_function("region", |b| {
        b.iter(|| {
            i += 1;
            metrics.add(black_box(COUNTER), 1);
            metrics.observe(black_box(HISTOGRAM), LATENCIES[i % LATENCIES.len()]);
        });
    });
    let naive = Naive::new();
    group.bench_function("naive_mutex_hashmap", |b| {
        b.iter(|| {
            i += 1;
            naive.record(black_box("petstore"), "prod", "GET /pets/{id}", "GET", 200, LATENCIES[i % LATENCIES.len()]);
        });
    });
    group.finish();
}

/// Runs `record(i)` `iters` times on each of two threads started together; the time per request.
fn two_threads(iters: u64, record: impl Fn(u64) + Send + Sync + 'static) -> Duration {
    let record = Arc::new(record);
    let start = Arc::new(Barrier::new(2));
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let (record, start) = (Arc::clone(&record), Arc::clone(&start));
            thread::spawn(move || {
                start.wait();
                let began = Instant::now();
                for i in 0..iters {
                    record(i);
                }
                began.elapsed()
            })
        })
        .collect();
    let slowest = workers.into_iter().map(|w| w.join().unwrap()).max().unwrap();
    // Two requests are counted per iteration of the slowest thread.
    slowest / 2
}

fn contended(c: &mut Criterion) {
    let mut group = c.benchmark_group("metrics/two_threads");
    let metrics = Arc::new(region());
    group.bench_function("region", |b| {
        b.iter_custom(|iters| {
            let metrics = Arc::clone(&metrics);
            two_threads(iters, move |i| {
                metrics.add(black_box(COUNTER), 1);
                metrics.observe(black_box(HISTOGRAM), LATENCIES[i as usize % LATENCIES.len()]);
            })
        });
    });
    let naive = Arc::new(Naive::new());
    group.bench_function("naive_mutex_hashmap", |b| {
        b.iter_custom(|iters| {
            let naive = Arc::clone(&naive);
            two_threads(iters, move |i| {
                let micros = LATENCIES[i as usize % LATENCIES.len()];
                naive.record(black_box("petstore"), "prod", "GET /pets/{id}", "GET", 200, micros);
            })
        });
    });
    group.finish();
}

fn config() -> Criterion {
    Criterion::default().sample_size(30).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = config();
    targets = single_thread, contended
}
criterion_main!(benches);
