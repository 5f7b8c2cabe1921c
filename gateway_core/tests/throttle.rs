//! Token buckets and throttle levels, on a [`ManualClock`] unless the test is about real concurrency.
//! Threads stand in for worker processes: the table lives in a `MAP_SHARED` region, and atomics there
//! behave the same between processes as between threads.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Barrier;
use std::thread;
use std::time::{Duration, Instant};

use gateway_core::throttle::{
    Acquire, BucketTable, Clock, Limit, ManualClock, MonotonicClock, OnTableFull, Throttle, PROBE_LIMIT,
};

const SECOND: u64 = 1_000_000_000;
const DAY_SECONDS: u64 = 86_400;
const DAY: Duration = Duration::from_secs(DAY_SECONDS);
const YEAR: Duration = Duration::from_secs(365 * DAY_SECONDS);
/// Where manual clocks start: as a machine's `CLOCK_MONOTONIC` would after a day of uptime.
const START: u64 = DAY_SECONDS * SECOND;
const KEY: u64 = 0xC0FF_EE00_1234_5678;

fn table() -> BucketTable {
    BucketTable::new(1_024).unwrap()
}

/// Acquires until the first refusal; returns how many were admitted (at most `cap`).
fn drain(table: &BucketTable, key: u64, limit: Limit, now: u64, cap: u64) -> u64 {
    let mut admitted = 0;
    while admitted < cap && table.try_acquire(key, limit, now) == Acquire::Admitted {
        admitted += 1;
    }
    admitted
}

fn assert_tokens(table: &BucketTable, key: u64, limit: Limit, now: u64, expected: f64) {
    let found = table.available(key, limit, now);
    assert!((found - expected).abs() < 1e-9, "{found} tokens, expected {expected}");
}

#[test]
fn a_new_bucket_admits_exactly_burst_then_throttles() {
    for burst in [1, 2, 5, 100, 5_000, 1 << 20] {
        let table = table();
        let limit = Limit::new(10.0, burst);
        assert_tokens(&table, KEY, limit, START, f64::from(burst));
        assert_eq!(drain(&table, KEY, limit, START, u64::MAX), u64::from(burst), "burst {burst}");
        assert_eq!(table.try_acquire(KEY, limit, START), Acquire::Throttled);
        assert_tokens(&table, KEY, limit, START, 0.0);
    }
}

#[test]
fn burst_zero_rejects_everything() {
    let table = table();
    let limit = Limit::new(1_000.0, 0);
    assert_eq!(table.try_acquire(KEY, limit, START), Acquire::Throttled);
    assert_eq!(table.try_acquire(KEY, limit, START + 1_000 * SECOND), Acquire::Throttled);
    assert_tokens(&table, KEY, limit, START, 0.0);
    assert!(table.is_empty(), "a burst of 0 needs no bucket");
}

#[test]
fn rate_zero_gives_the_burst_once_then_nothing() {
    let table = table();
    let clock = ManualClock::new(START);
    let limit = Limit::new(0.0, 3);
    assert_eq!(drain(&table, KEY, limit, clock.now_nanos(), 10), 3);
    for idle in [Duration::from_secs(1), YEAR, YEAR * 200] {
        clock.advance(idle);
        assert_eq!(table.try_acquire(KEY, limit, clock.now_nanos()), Acquire::Throttled, "after {idle:?}");
    }
}

#[test]
fn refills_at_the_rate() {
    let table = table();
    let clock = ManualClock::new(START);
    let limit = Limit::new(10.0, 20);
    assert_eq!(drain(&table, KEY, limit, clock.now_nanos(), u64::MAX), 20);
    clock.advance(Duration::from_secs(1));
    assert_tokens(&table, KEY, limit, clock.now_nanos(), 10.0);
    assert_eq!(drain(&table, KEY, limit, clock.now_nanos(), u64::MAX), 10);
    // One token every 100 ms, not before.
    clock.advance(Duration::from_millis(99));
    assert_eq!(table.try_acquire(KEY, limit, clock.now_nanos()), Acquire::Throttled);
    assert_tokens(&table, KEY, limit, clock.now_nanos(), 0.99);
    clock.advance(Duration::from_millis(1));
    assert_eq!(drain(&table, KEY, limit, clock.now_nanos(), u64::MAX), 1);
}

#[test]
fn fractional_rates_refill_fractions() {
    let table = table();
    let clock = ManualClock::new(START);
    let half = Limit::new(0.5, 1);
    assert_eq!(drain(&table, KEY, half, clock.now_nanos(), u64::MAX), 1);
    clock.advance(Duration::from_secs(1));
    assert_eq!(table.try_acquire(KEY, half, clock.now_nanos()), Acquire::Throttled);
    assert_tokens(&table, KEY, half, clock.now_nanos(), 0.5);
    clock.advance(Duration::from_secs(1));
    assert_eq!(drain(&table, KEY, half, clock.now_nanos(), u64::MAX), 1);

    // The slowest rate: one token per 1000 s.
    let slow = Limit::new(0.001, 2);
    assert_eq!(drain(&table, KEY + 1, slow, clock.now_nanos(), u64::MAX), 2);
    clock.advance(Duration::from_secs(1_000) - Duration::from_nanos(1));
    assert_eq!(table.try_acquire(KEY + 1, slow, clock.now_nanos()), Acquire::Throttled);
    clock.advance(Duration::from_nanos(1));
    assert_eq!(drain(&table, KEY + 1, slow, clock.now_nanos(), u64::MAX), 1);
}

/// Calls at every microsecond lose nothing: the refill is exact in nanoseconds, not rounded per call.
#[test]
fn frequent_calls_lose_no_fractions() {
    let table = table();
    let clock = ManualClock::new(START);
    // A burst that never fills up in the test: every refilled fraction counts.
    let limit = Limit::new(3.0, 100);
    assert_eq!(drain(&table, KEY, limit, clock.now_nanos(), u64::MAX), 100);
    let mut admitted = 0;
    for _ in 0..10_000_000 {
        clock.advance(Duration::from_micros(1));
        admitted += u64::from(table.try_acquire(KEY, limit, clock.now_nanos()) == Acquire::Admitted);
    }
    // 10 s at 3/s (an interval of 333,333,333 ns: 30.00000003 tokens).
    assert_eq!(admitted, 30);
}

#[test]
fn fast_rates_are_precise() {
    let table = table();
    let clock = ManualClock::new(START);
    let limit = Limit::new(10_000_000.0, 1 << 24);
    assert_eq!(drain(&table, KEY, limit, clock.now_nanos(), u64::MAX), 1 << 24);
    clock.advance(Duration::from_millis(100));
    assert_tokens(&table, KEY, limit, clock.now_nanos(), 1_000_000.0);
    clock.advance(Duration::from_nanos(100));
    assert_tokens(&table, KEY, limit, clock.now_nanos(), 1_000_001.0);
    // 3,000,000/s is a 333 ns interval: 0.1% fast, as documented.
    let odd = Limit::new(3_000_000.0, 1 << 24);
    assert_eq!(drain(&table, KEY + 1, odd, clock.now_nanos(), u64::MAX), 1 << 24);
    clock.advance(Duration::from_secs(1));
    let refilled = table.available(KEY + 1, odd, clock.now_nanos());
    assert!((refilled / 3_000_000.0 - 1.0).abs() < 0.0011, "{refilled}");
}

#[test]
fn a_long_idle_fills_the_bucket_and_no_more() {
    let table = table();
    let clock = ManualClock::new(START);
    let limit = Limit::new(10.0, 5);
    assert_eq!(drain(&table, KEY, limit, clock.now_nanos(), u64::MAX), 5);
    for idle in [
        Duration::from_secs(1),
        DAY,
        YEAR * 100,
        // Past 2^62 ns: longer than the longest refill the table supports (there is no wrap to cross).
        Duration::from_nanos(1 << 62) + Duration::from_secs(1),
    ] {
        clock.advance(idle);
        assert_tokens(&table, KEY, limit, clock.now_nanos(), 5.0);
        assert_eq!(drain(&table, KEY, limit, clock.now_nanos(), u64::MAX), 5, "after {idle:?}");
    }
}

#[test]
fn a_refund_gives_back_one_token_up_to_burst() {
    let table = table();
    let limit = Limit::new(1.0, 3);
    assert_eq!(drain(&table, KEY, limit, START, u64::MAX), 3);
    table.refund(KEY, limit, START);
    assert_tokens(&table, KEY, limit, START, 1.0);
    assert_eq!(drain(&table, KEY, limit, START, u64::MAX), 1);

    // Half a second later, half a token has come back; a refund adds one.
    table.refund(KEY, limit, START + SECOND / 2);
    assert_tokens(&table, KEY, limit, START + SECOND / 2, 1.5);

    // Refunds never fill past burst, and a key without a bucket stays without one.
    for _ in 0..10 {
        table.refund(KEY, limit, START + SECOND);
    }
    assert_tokens(&table, KEY, limit, START + SECOND, 3.0);
    table.refund(KEY + 1, limit, START);
    assert_eq!(table.len(), 1);
}

#[test]
fn a_deposit_adds_several_tokens() {
    let table = table();
    let limit = Limit::new(1.0, 10);
    assert_eq!(drain(&table, KEY, limit, START, u64::MAX), 10);
    table.deposit(KEY, 4, limit, START);
    assert_tokens(&table, KEY, limit, START, 4.0);
    table.deposit(KEY, u32::MAX, limit, START);
    assert_tokens(&table, KEY, limit, START, 10.0);
}

#[test]
fn keys_have_their_own_buckets() {
    let keys = 100_000;
    let table = BucketTable::new(keys).unwrap();
    let limit = Limit::new(1.0, 2);
    for key in 1..=keys as u64 {
        assert_eq!(table.try_acquire(key, limit, START), Acquire::Admitted, "key {key}");
    }
    assert_eq!(table.len(), keys);
    for key in 1..=keys as u64 {
        assert_tokens(&table, key, limit, START, 1.0);
        assert_eq!(table.try_acquire(key, limit, START), Acquire::Admitted, "key {key}");
        assert_eq!(table.try_acquire(key, limit, START), Acquire::Throttled, "key {key}");
    }
    assert_eq!(table.len(), keys);
}

/// Hashed keys, as callers make them, up to the capacity the table was sized for: none is refused.
#[test]
fn a_table_holds_the_keys_it_was_sized_for() {
    let keys = 1_000_000;
    let table = BucketTable::new(keys).unwrap();
    assert!(table.memory_bytes() <= keys * 64, "{} bytes", table.memory_bytes());
    let limit = Limit::new(1.0, 1);
    let mut key = 0x1234_5678_9ABC_DEF1u64;
    for _ in 0..keys {
        key = key.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        assert_eq!(table.try_acquire(key | 1, limit, START), Acquire::Admitted);
    }
}

#[test]
fn a_full_table_says_so_and_keeps_serving_its_keys() {
    let table = BucketTable::new(4).unwrap();
    let limit = Limit::new(1.0, 2);
    let slots = table.slots() as u64;
    assert_eq!(slots, 8);
    for key in 1..=slots {
        assert_eq!(table.try_acquire(key, limit, START), Acquire::Admitted);
    }
    assert_eq!(table.try_acquire(slots + 1, limit, START), Acquire::TableFull);
    assert_tokens(&table, slots + 1, limit, START, 2.0);
    assert_eq!(table.try_acquire(1, limit, START), Acquire::Admitted);
    assert_eq!(table.try_acquire(1, limit, START), Acquire::Throttled);
    assert_eq!(table.len(), 8);
}

#[test]
fn a_big_full_table_stops_probing_at_the_limit() {
    let table = BucketTable::new(4_096).unwrap();
    let limit = Limit::new(1.0, 1);
    let (mut admitted, mut full) = (0, 0);
    for key in 1..=table.slots() as u64 * 2 {
        match table.try_acquire(key, limit, START) {
            Acquire::Admitted => admitted += 1,
            Acquire::TableFull => full += 1,
            Acquire::Throttled => unreachable!("each key is used once"),
        }
    }
    assert_eq!(admitted, table.len());
    assert!(admitted > table.slots() - PROBE_LIMIT && full >= table.slots(), "{admitted} admitted, {full} full");
}

const USAGE_PLAN: Limit = Limit::new(100.0, 3);
const STAGE: Limit = Limit::new(100.0, 5);

#[test]
fn levels_are_checked_in_order_and_refunded_on_rejection() {
    let throttle = Throttle::new(64, OnTableFull::Admit).unwrap();
    let table = throttle.table();
    let (plan_key, stage_key) = (11, 22);
    let levels = [(plan_key, USAGE_PLAN), (stage_key, STAGE), (33, Limit::GATEWAY_DEFAULT)];

    // The usage plan (burst 3) is the first to run out: level 0, and the later levels were not touched.
    for _ in 0..3 {
        assert_eq!(throttle.check(&levels, START), Ok(()));
    }
    assert_eq!(throttle.check(&levels, START), Err(0));
    assert_tokens(table, stage_key, STAGE, START, 2.0);
    assert_tokens(table, 33, Limit::GATEWAY_DEFAULT, START, 4_997.0);

    // Another API key of the plan drains the stage (burst 5, two left): its third request is throttled
    // at level 1, and the token it took from its own usage plan bucket is given back.
    let other = [(44, USAGE_PLAN), (stage_key, STAGE), (33, Limit::GATEWAY_DEFAULT)];
    assert_eq!(throttle.check(&other, START), Ok(()));
    assert_eq!(throttle.check(&other, START), Ok(()));
    assert_eq!(throttle.check(&other, START), Err(1));
    assert_tokens(table, 44, USAGE_PLAN, START, 1.0);
    assert_tokens(table, 33, Limit::GATEWAY_DEFAULT, START, 4_995.0);
}

#[test]
fn a_throttled_last_level_refunds_every_earlier_one() {
    let throttle = Throttle::new(64, OnTableFull::Admit).unwrap();
    let levels = [(1, STAGE), (2, STAGE), (3, Limit::new(1.0, 1))];
    assert_eq!(throttle.check(&levels, START), Ok(()));
    assert_eq!(throttle.check(&levels, START), Err(2));
    assert_tokens(throttle.table(), 1, STAGE, START, 4.0);
    assert_tokens(throttle.table(), 2, STAGE, START, 4.0);
    assert_eq!(throttle.check(&[], START), Ok(()));
}

#[test]
fn a_full_table_admits_or_throttles_as_configured() {
    for (policy, expected) in [(OnTableFull::Admit, Ok(())), (OnTableFull::Throttle, Err(1))] {
        let throttle = Throttle::new(4, policy).unwrap();
        for key in 1..=throttle.table().slots() as u64 {
            assert_eq!(throttle.check(&[(key, STAGE)], START), Ok(()));
        }
        let levels = [(1, STAGE), (1_000, STAGE), (2, STAGE)];
        assert_eq!(throttle.check(&levels, START), expected, "{policy:?}");
        let refunded = if expected.is_ok() { 3.0 } else { 4.0 };
        assert_tokens(throttle.table(), 1, STAGE, START, refunded);
    }
}

/// Threads on a frozen clock: however they race, exactly `burst` requests get through.
#[test]
fn racing_threads_share_one_burst() {
    let table = BucketTable::new(16).unwrap();
    let limit = Limit::new(1.0, 10_000);
    let threads = 8;
    let admitted = AtomicU64::new(0);
    let barrier = Barrier::new(threads);
    thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                barrier.wait();
                let mine = (0..5_000).filter(|_| table.try_acquire(KEY, limit, START) == Acquire::Admitted).count();
                admitted.fetch_add(mine as u64, Ordering::Relaxed);
            });
        }
    });
    assert_eq!(admitted.load(Ordering::Relaxed), 10_000);
}

/// Threads claiming the same new keys at once: each key gets one slot and one burst.
#[test]
fn racing_threads_insert_each_key_once() {
    let keys = 2_000u64;
    let table = BucketTable::new(keys as usize).unwrap();
    let limit = Limit::new(1.0, 3);
    let threads = 6;
    let admitted = AtomicU64::new(0);
    let barrier = Barrier::new(threads);
    thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                barrier.wait();
                let mine = (1..=keys).filter(|&key| table.try_acquire(key, limit, START) == Acquire::Admitted).count();
                admitted.fetch_add(mine as u64, Ordering::Relaxed);
            });
        }
    });
    assert_eq!(table.len() as u64, keys);
    assert_eq!(admitted.load(Ordering::Relaxed), keys * 3);
}

/// Threads on the real clock for a while: never more than `burst + rate * elapsed` get through, and the
/// bucket does not starve either.
#[test]
fn hammering_threads_never_pass_burst_plus_rate() {
    let table = BucketTable::new(16).unwrap();
    let clock = MonotonicClock;
    let limit = Limit::new(2_000.0, 50);
    let threads = 4;
    let admitted = AtomicU64::new(0);
    let barrier = Barrier::new(threads + 1);
    let run_for = Duration::from_millis(300);
    let started = clock.now_nanos();
    thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                barrier.wait();
                let until = Instant::now() + run_for;
                let mut mine = 0;
                while Instant::now() < until {
                    mine += u64::from(table.try_acquire(KEY, limit, clock.now_nanos()) == Acquire::Admitted);
                }
                admitted.fetch_add(mine, Ordering::Relaxed);
            });
        }
        barrier.wait();
    });
    // Every admission read the clock after `started` and before the threads were joined.
    let elapsed = clock.now_nanos() - started;
    // One token per 500 µs.
    let admitted = admitted.load(Ordering::Relaxed);
    let bound = 50 + elapsed / 500_000;
    assert!(admitted <= bound, "{admitted} admitted, bound {bound}");
    let floor = 50 + run_for.as_micros() as u64 / 500 / 2;
    assert!(admitted >= floor, "{admitted} admitted, starving (expected {floor} at least)");
}
