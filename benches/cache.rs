//! Response cache: the cost of a hit and of an insert that evicts, and the hit ratios of S3-FIFO
//! against LRU.
//!
//! Run: `cargo bench -p gateway_core --bench cache` (about a minute on two cores).
//!
//! - `hit/*`: a fresh hit for a 1 KB response in a cache of 10,000 entries, key construction
//!   included (method, namespace, one query parameter). `hot/*` asks for one key again and again
//!   (the CPU cost), `spread/*` goes round all 10,000 keys in a shuffled order (memory latency
//!   included). `naive` is the baseline: a `Mutex<HashMap<String, (Instant, Vec<u8>)>>` with a
//!   formatted key, cloning the body on a hit. `s3fifo_locked` adds what the binding will add: a
//!   `Mutex` around the cache and a clock read. `hot/key_only` and `hot/get_only` split a hot hit
//!   into building the key and looking it up.
//! - `insert_evict/*`: a full cache (10,000 entries of 1 KB); each insert is a new key and evicts.
//! - `hit_ratio` (printed, not timed): 100,000 keys, room for 10% of them, 2,000,000 requests per
//!   trace, warm-up (the first 10%) not counted. Traces: Zipf s=0.9, Zipf s=1.1, and a scan-heavy
//!   one (Zipf s=1.0, half of the requests in runs of 50,000 scanning 200,000 other keys).
//!
//! Allocations go through mimalloc, the extension's global allocator in production (a key is one
//! allocation).

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use gateway_core::cache::{
    entry_size, CacheConfig, CacheKey, CachedResponse, Clock, EvictionPolicy, MonotonicClock, ResponseCache,
};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const ENTRIES: usize = 10_000;
const BODY_BYTES: usize = 1024;
const NAMESPACE: &str = "a1b2c3";
const PARAM: &str = "method.request.querystring.page";
const TTL: Duration = gateway_core::cache::DEFAULT_TTL;
const POLICIES: [(&str, EvictionPolicy); 2] = [("s3fifo", EvictionPolicy::S3Fifo), ("lru", EvictionPolicy::Lru)];

/// splitmix64: a small deterministic generator, good enough for traces and shuffles.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    #[allow(clippy::cast_precision_loss)] // 53 bits: exact
    fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1_u64 << 53) as f64
    }

    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, (self.next_u64() % (i as u64 + 1)) as usize);
        }
    }
}

fn key(value: &str) -> CacheKey {
    CacheKey::builder("GET", NAMESPACE).param(PARAM, Some(value)).build()
}

fn response(body_bytes: usize) -> CachedResponse {
    let headers = vec![("content-type".to_owned(), "application/json".to_owned())];
    CachedResponse::new(200, headers, vec![b'x'; body_bytes])
}

/// Query values `"0000000"`, `"0000001"`, ...: same length, so every entry is charged the same.
fn values(count: usize) -> Vec<String> {
    (0..count).map(|i| format!("{i:07}")).collect()
}

fn full_cache(policy: EvictionPolicy, values: &[String], capacity_bytes: usize) -> ResponseCache {
    let mut config = CacheConfig::new(capacity_bytes);
    config.policy = policy;
    let mut cache = ResponseCache::new(config);
    for value in values {
        assert!(cache.insert(key(value), response(BODY_BYTES), TTL, 0));
    }
    cache
}

fn hit(c: &mut Criterion) {
    let values = values(ENTRIES);
    let mut order: Vec<usize> = (0..ENTRIES).collect();
    Rng(7).shuffle(&mut order);
    let room = ENTRIES * entry_size(&key(&values[0]), &response(BODY_BYTES)) * 2;
    let mut group = c.benchmark_group("hit");

    // The two halves of a hot hit, for the breakdown.
    let hot_value = values[ENTRIES / 2].as_str();
    group.bench_function("hot/key_only", |b| b.iter(|| key(black_box(hot_value))));
    let mut cache = full_cache(EvictionPolicy::S3Fifo, &values, room);
    let hot_key = key(hot_value);
    group.bench_function("hot/get_only", |b| {
        b.iter(|| cache.get(black_box(&hot_key), 1).expect("a fresh hit").response.body.len());
    });

    // Hot: the same key every time (the CPU cost, everything in L1). Spread: all keys in a
    // shuffled order (memory latency included).
    let spread: Vec<&str> = order.iter().map(|&i| values[i].as_str()).collect();
    for (keys_name, requests) in [("hot", vec![hot_value]), ("spread", spread)] {
        let mut next = 0;
        let mut next_request = move || {
            next = (next + 1) % requests.len();
            black_box(requests[next])
        };

        for (name, policy) in POLICIES {
            let mut cache = full_cache(policy, &values, room);
            group.bench_function(format!("{keys_name}/{name}"), |b| {
                b.iter(|| {
                    let key = key(next_request());
                    let hit = cache.get(&key, 1).expect("a fresh hit");
                    black_box(hit.response.body.len())
                });
            });
        }

        let locked = Mutex::new(full_cache(EvictionPolicy::S3Fifo, &values, room));
        let clock = MonotonicClock::new();
        group.bench_function(format!("{keys_name}/s3fifo_locked"), |b| {
            b.iter(|| {
                let key = key(next_request());
                let now = clock.now_micros();
                let hit = locked.lock().unwrap().get(&key, now).expect("a fresh hit");
                black_box(hit.response.body.len())
            });
        });

        let naive: Mutex<HashMap<String, (Instant, Vec<u8>)>> = Mutex::new(
            values
                .iter()
                .map(|v| (format!("GET {NAMESPACE} {PARAM}={v}"), (Instant::now() + TTL, vec![b'x'; BODY_BYTES])))
                .collect(),
        );
        group.bench_function(format!("{keys_name}/naive"), |b| {
            b.iter(|| {
                let key = format!("GET {NAMESPACE} {PARAM}={}", next_request());
                let map = naive.lock().unwrap();
                let (expires, body) = map.get(&key).expect("a hit");
                let body = (Instant::now() < *expires).then(|| body.clone()).expect("fresh");
                drop(map);
                black_box(body.len())
            });
        });
    }
    group.finish();
}

fn insert_evict(c: &mut Criterion) {
    let values = values(ENTRIES);
    let room = ENTRIES * entry_size(&key(&values[0]), &response(BODY_BYTES));
    let mut group = c.benchmark_group("insert_evict");
    for (name, policy) in POLICIES {
        let mut cache = full_cache(policy, &values, room);
        assert!(cache.insert(key(&format!("{ENTRIES:07}")), response(BODY_BYTES), TTL, 0));
        assert_eq!((cache.len(), cache.stats().evictions), (ENTRIES, 1), "{name}: full, so an insert evicts one");
        let mut serial = ENTRIES;
        group.bench_function(name, |b| {
            b.iter_batched(
                || {
                    serial += 1;
                    (key(&format!("{serial:07}")), response(BODY_BYTES))
                },
                |(key, response)| cache.insert(key, response, TTL, 0),
                BatchSize::SmallInput,
            );
        });
    }
    group.finish();
}

// ---- Hit-ratio traces ---------------------------------------------------------------------------

const TRACE_KEYS: usize = 100_000;
const TRACE_REQUESTS: usize = 2_000_000;
const SCAN_KEYS: usize = 200_000;
const SCAN_RUN: usize = 50_000;
const TRACE_BODY_BYTES: usize = 100;

/// Zipf ranks `0..keys` with exponent `s`, by inverse CDF.
struct Zipf(Vec<f64>);

impl Zipf {
    fn new(keys: usize, s: f64) -> Self {
        let mut total = 0.0;
        let cumulative = (1..=keys)
            .map(|rank| {
                total += 1.0 / f64::from(u32::try_from(rank).unwrap()).powf(s);
                total
            })
            .collect::<Vec<_>>();
        Self(cumulative.into_iter().map(|c| c / total).collect())
    }

    fn sample(&self, rng: &mut Rng) -> usize {
        let u = rng.next_f64();
        self.0.partition_point(|&c| c < u).min(self.0.len() - 1)
    }
}

fn zipf_trace(s: f64, seed: u64) -> Vec<u32> {
    let zipf = Zipf::new(TRACE_KEYS, s);
    let mut rng = Rng(seed);
    (0..TRACE_REQUESTS).map(|_| zipf.sample(&mut rng) as u32).collect()
}

/// Alternating runs: `SCAN_RUN` Zipf requests, then `SCAN_RUN` requests scanning the next keys of
/// a range of `SCAN_KEYS` keys the Zipf part never asks for (wrapping round).
fn scan_trace(seed: u64) -> Vec<u32> {
    let zipf = Zipf::new(TRACE_KEYS, 1.0);
    let mut rng = Rng(seed);
    let mut scanned = 0;
    (0..TRACE_REQUESTS)
        .map(|i| {
            if (i / SCAN_RUN) % 2 == 1 {
                scanned = (scanned + 1) % SCAN_KEYS;
                (TRACE_KEYS + scanned) as u32
            } else {
                zipf.sample(&mut rng) as u32
            }
        })
        .collect()
}

/// The share of requests (after warm-up) answered from the cache: of all of them, and of those
/// for the Zipf-distributed keys only.
fn hit_ratio(policy: EvictionPolicy, trace: &[u32], keys: &[CacheKey], capacity_bytes: usize) -> (f64, f64) {
    let mut config = CacheConfig::new(capacity_bytes);
    config.policy = policy;
    let mut cache = ResponseCache::new(config);
    let body = response(TRACE_BODY_BYTES);
    let warm_up = trace.len() / 10;
    let (mut requests, mut hits, mut zipf_requests, mut zipf_hits) = (0_usize, 0, 0, 0);
    for (i, &id) in trace.iter().enumerate() {
        let key = &keys[id as usize];
        let hit = cache.get(key, 0).is_some();
        if !hit {
            cache.insert(key.clone(), body.clone(), TTL, 0);
        }
        if i >= warm_up {
            let zipf = (id as usize) < TRACE_KEYS;
            requests += 1;
            hits += usize::from(hit);
            zipf_requests += usize::from(zipf);
            zipf_hits += usize::from(zipf && hit);
        }
    }
    (ratio(hits, requests), ratio(zipf_hits, zipf_requests))
}

#[allow(clippy::cast_precision_loss)] // counts far below 2^52
fn ratio(part: usize, whole: usize) -> f64 {
    part as f64 / whole as f64
}

fn hit_ratios(_c: &mut Criterion) {
    let keys: Vec<CacheKey> = values(TRACE_KEYS + SCAN_KEYS).iter().map(|v| key(v)).collect();
    let capacity = TRACE_KEYS / 10 * entry_size(&keys[0], &response(TRACE_BODY_BYTES));
    let traces =
        [("zipf s=0.9", zipf_trace(0.9, 1)), ("zipf s=1.1", zipf_trace(1.1, 2)), ("scan-heavy", scan_trace(3))];
    println!("hit ratio, {TRACE_KEYS} keys, room for {}:", TRACE_KEYS / 10);
    for (name, trace) in &traces {
        let ratios = POLICIES.map(|(_, policy)| hit_ratio(policy, trace, &keys, capacity));
        let [(s3fifo, s3fifo_zipf), (lru, lru_zipf)] = ratios;
        println!(
            "  {name:<12} s3fifo {s3fifo:.4}  lru {lru:.4}   (Zipf requests only: {s3fifo_zipf:.4} vs {lru_zipf:.4})"
        );
    }
}

fn config() -> Criterion {
    Criterion::default().sample_size(30).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = config();
    targets = hit_ratios, hit, insert_evict
}
criterion_main!(benches);
