//! Token buckets: the shared [`BucketTable`] against a naive `Mutex<HashMap<u64, (f64, Instant)>>`.
//!
//! Run: `taskset -c 1 cargo bench -p gateway_core --bench throttle` (about a minute; `taskset` keeps the
//! figures steady on a busy machine).
//!
//! - `clock`: reading the time, which every request does once (`CLOCK_MONOTONIC` through the vDSO, and
//!   `Instant::now`, the same clock).
//! - `hot_key`: one key, a limit that always admits. `fastgw` and `naive` read their clock per call;
//!   `fastgw_no_clock` is the bucket alone (time moves 1 µs per call).
//! - `spread_1m`: keys drawn uniformly from 1,000,000 distinct keys, every key already has a bucket, the
//!   table sized for them: mostly cache and TLB misses (32 MiB of slots; ~60 MiB of `HashMap`). Same
//!   three variants.
//! - `check_5_levels`: one request through five levels (usage plan per key and method, per key, stage per
//!   method, stage, gateway), as the gateway does it.
//!
//! Bytes per bucket are printed before the runs.
//!
//! Reading the clock (the TSC behind a fence, in the vDSO) also stops the CPU from overlapping one call's
//! memory accesses with the next: the variants with a clock give the cost of one request on its own, the
//! `no_clock` ones the throughput of calls back to back, which hides cache misses behind each other.

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use gateway_core::throttle::{Acquire, BucketTable, Clock, Limit, MonotonicClock, OnTableFull, Throttle};

const SPREAD_KEYS: u64 = 1_000_000;
/// Always admits: a token per nanosecond, a million in the bucket.
const GENEROUS: Limit = Limit::new(1e9, 1_000_000);
const HOT_KEY: u64 = 0xC0FF_EE00_1234_5678;

/// The baseline: one lock around a map of `(tokens, last refill)`.
#[derive(Default)]
struct Naive {
    buckets: Mutex<HashMap<u64, (f64, Instant)>>,
}

impl Naive {
    fn try_acquire(&self, key: u64, limit: Limit, now: Instant) -> bool {
        let mut buckets = self.buckets.lock().unwrap();
        let burst = f64::from(limit.burst);
        let (tokens, last) = buckets.entry(key).or_insert((burst, now));
        *tokens = (*tokens + now.saturating_duration_since(*last).as_secs_f64() * limit.rate).min(burst);
        *last = now;
        let admitted = *tokens >= 1.0;
        if admitted {
            *tokens -= 1.0;
        }
        admitted
    }

    fn memory_bytes(&self) -> usize {
        // hashbrown: one entry and one control byte per bucket.
        let buckets = self.buckets.lock().unwrap();
        buckets.capacity() * (std::mem::size_of::<(u64, (f64, Instant))>() + 1)
    }
}

/// The `n`-th key of the spread: distinct, non-zero and well mixed, as hashed keys are (splitmix64).
fn spread_key(n: u64) -> u64 {
    let mut z = n.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (z ^ (z >> 31)).max(1)
}

/// A uniform draw in `0..SPREAD_KEYS` (xorshift64, then a multiply-shift into the range).
fn next_index(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    ((*state >> 32) * SPREAD_KEYS) >> 32
}

fn clock(c: &mut Criterion) {
    let mut group = c.benchmark_group("clock");
    group.bench_function("monotonic_clock", |b| b.iter(|| black_box(MonotonicClock.now_nanos())));
    group.bench_function("instant_now", |b| b.iter(|| black_box(Instant::now())));
    group.finish();
}

fn hot_key(c: &mut Criterion) {
    let table = BucketTable::new(1_024).unwrap();
    let naive = Naive::default();
    for _ in 0..1_000 {
        assert_eq!(table.try_acquire(HOT_KEY, GENEROUS, MonotonicClock.now_nanos()), Acquire::Admitted);
        assert!(naive.try_acquire(HOT_KEY, GENEROUS, Instant::now()));
    }
    let mut group = c.benchmark_group("hot_key");
    group.bench_function("fastgw", |b| {
        b.iter(|| table.try_acquire(black_box(HOT_KEY), black_box(GENEROUS), MonotonicClock.now_nanos()));
    });
    group.bench_function("fastgw_no_clock", |b| {
        let mut now = MonotonicClock.now_nanos();
        b.iter(|| {
            now += 1_000;
            table.try_acquire(black_box(HOT_KEY), black_box(GENEROUS), black_box(now))
        });
    });
    group.bench_function("naive", |b| {
        b.iter(|| naive.try_acquire(black_box(HOT_KEY), black_box(GENEROUS), Instant::now()));
    });
    group.finish();
}

fn spread(c: &mut Criterion) {
    let table = BucketTable::new(SPREAD_KEYS as usize).unwrap();
    let naive = Naive::default();
    for n in 0..SPREAD_KEYS {
        assert_eq!(table.try_acquire(spread_key(n), GENEROUS, MonotonicClock.now_nanos()), Acquire::Admitted);
        assert!(naive.try_acquire(spread_key(n), GENEROUS, Instant::now()));
    }
    assert_eq!(table.len() as u64, SPREAD_KEYS);
    #[allow(clippy::cast_precision_loss)] // byte counts far below 2^52
    let per_key = |bytes: usize| bytes as f64 / SPREAD_KEYS as f64;
    println!(
        "bytes per bucket: fastgw {} per slot, {:.1} per key at 1,000,000 keys ({} slots, {} bytes); naive {:.1} per key ({} bytes)",
        table.memory_bytes() / table.slots(),
        per_key(table.memory_bytes()),
        table.slots(),
        table.memory_bytes(),
        per_key(naive.memory_bytes()),
        naive.memory_bytes(),
    );

    let mut group = c.benchmark_group("spread_1m");
    group.bench_function("fastgw", |b| {
        let mut state = 0x2545_F491_4F6C_DD1D;
        b.iter(|| {
            let key = spread_key(next_index(&mut state));
            table.try_acquire(black_box(key), black_box(GENEROUS), MonotonicClock.now_nanos())
        });
    });
    group.bench_function("fastgw_no_clock", |b| {
        let mut state = 0x2545_F491_4F6C_DD1D;
        let mut now = MonotonicClock.now_nanos();
        b.iter(|| {
            now += 1_000;
            let key = spread_key(next_index(&mut state));
            table.try_acquire(black_box(key), black_box(GENEROUS), black_box(now))
        });
    });
    group.bench_function("naive", |b| {
        let mut state = 0x2545_F491_4F6C_DD1D;
        b.iter(|| {
            let key = spread_key(next_index(&mut state));
            naive.try_acquire(black_box(key), black_box(GENEROUS), Instant::now())
        });
    });
    group.finish();
}

fn check_levels(c: &mut Criterion) {
    let throttle = Throttle::new(1_024, OnTableFull::Admit).unwrap();
    let levels = [
        (spread_key(1), GENEROUS),
        (spread_key(2), GENEROUS),
        (spread_key(3), GENEROUS),
        (spread_key(4), GENEROUS),
        (spread_key(5), Limit::new(1e9, u32::MAX)),
    ];
    assert_eq!(throttle.check(&levels, MonotonicClock.now_nanos()), Ok(()));
    let mut group = c.benchmark_group("check_5_levels");
    group.bench_function("fastgw", |b| {
        b.iter(|| throttle.check(black_box(&levels), MonotonicClock.now_nanos()));
    });
    group.finish();
}

fn config() -> Criterion {
    Criterion::default().sample_size(30).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = config();
    targets = clock, hot_key, spread, check_levels
}
criterion_main!(benches);
