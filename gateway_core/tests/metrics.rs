//! The metrics region: counters, gauges, bucket placement at the exact bounds, exact totals under
//! concurrent writers, and the snapshot layout Python reads.

use std::sync::Arc;
use std::thread;

use gateway_core::metrics::{bucket_of, MetricsRegion, BUCKETS, BUCKET_BOUNDS_MICROS, HISTOGRAM_WORDS};

/// The words of histogram `histogram` in `snapshot`: `(buckets, sum)`.
fn histogram(snapshot: &[u64], counters: usize, histogram: usize) -> (&[u64], u64) {
    let base = counters + histogram * HISTOGRAM_WORDS;
    (&snapshot[base..base + BUCKETS], snapshot[base + BUCKETS])
}

#[test]
fn bucket_constants_describe_prometheus_buckets() {
    assert_eq!(BUCKETS, BUCKET_BOUNDS_MICROS.len() + 1, "the finite bounds, then +Inf");
    assert_eq!(HISTOGRAM_WORDS, BUCKETS + 1, "the buckets, then the sum");
    assert!(BUCKET_BOUNDS_MICROS.windows(2).all(|w| w[0] < w[1]), "bounds must increase");
    assert_eq!(BUCKET_BOUNDS_MICROS[0], 1_000);
    assert_eq!(*BUCKET_BOUNDS_MICROS.last().unwrap(), 30_000_000);
}

#[test]
fn counters_start_at_zero_and_add() {
    let metrics = MetricsRegion::new(3, 0).unwrap();
    assert_eq!(metrics.snapshot(), [0, 0, 0]);
    metrics.add(0, 1);
    metrics.add(2, 5);
    metrics.add(2, 7);
    assert_eq!(metrics.snapshot(), [1, 0, 12]);
}

#[test]
fn gauges_go_up_and_down_through_zero() {
    let metrics = MetricsRegion::new(2, 0).unwrap();
    metrics.gauge_add(1, 3);
    metrics.gauge_add(1, -5);
    assert_eq!(metrics.snapshot()[1], 0u64.wrapping_sub(2), "-2 in two's complement");
    metrics.gauge_add(1, 4);
    assert_eq!(metrics.snapshot(), [0, 2]);
}

#[test]
fn observations_at_exact_bounds_land_in_that_bucket() {
    // Prometheus `le` is inclusive: an observation equal to a bound belongs to that bound's bucket, one
    // microsecond more belongs to the next.
    let cases: Vec<(u64, usize)> = [(0, 0), (1, 0)]
        .into_iter()
        .chain(BUCKET_BOUNDS_MICROS.iter().enumerate().flat_map(|(i, &bound)| [(bound, i), (bound + 1, i + 1)]))
        .chain([(u64::MAX / 2, BUCKETS - 1)])
        .collect();
    let mut failures = Vec::new();
    for &(micros, expected) in &cases {
        if bucket_of(micros) != expected {
            failures.push(format!("{micros} µs: bucket {}, want {expected}", bucket_of(micros)));
        }
        let metrics = MetricsRegion::new(0, 1).unwrap();
        metrics.observe(0, micros);
        let snapshot = metrics.snapshot();
        let (buckets, sum) = histogram(&snapshot, 0, 0);
        let mut want = [0; BUCKETS];
        want[expected] = 1;
        if buckets != want || sum != micros {
            failures.push(format!("{micros} µs: buckets {buckets:?} sum {sum}, want {want:?} sum {micros}"));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn histograms_keep_buckets_and_sum() {
    let metrics = MetricsRegion::new(0, 2).unwrap();
    for micros in [500, 1_000, 1_001, 40_000_000] {
        metrics.observe(1, micros);
    }
    let snapshot = metrics.snapshot();
    let (untouched, untouched_sum) = histogram(&snapshot, 0, 0);
    assert!(untouched.iter().all(|&n| n == 0) && untouched_sum == 0);
    let (buckets, sum) = histogram(&snapshot, 0, 1);
    assert_eq!(buckets[0], 2, "500 µs and exactly 1 ms");
    assert_eq!(buckets[1], 1, "1.001 ms is above 1 ms");
    assert_eq!(buckets[BUCKETS - 1], 1, "40 s is above the last bound");
    assert_eq!(buckets.iter().sum::<u64>(), 4, "the count is the sum of the buckets");
    assert_eq!(sum, 500 + 1_000 + 1_001 + 40_000_000);
}

#[test]
fn snapshot_layout_is_counters_then_histograms() {
    let (counters, histograms) = (5, 3);
    let metrics = MetricsRegion::new(counters, histograms).unwrap();
    assert_eq!(metrics.len(), counters + histograms * HISTOGRAM_WORDS);
    assert_eq!((metrics.counters(), metrics.histograms()), (counters, histograms));
    metrics.add(4, 9);
    metrics.observe(2, 2_000);
    let snapshot = metrics.snapshot();
    assert_eq!(snapshot.len(), metrics.len());
    let mut want = vec![0; metrics.len()];
    want[4] = 9;
    let base = counters + 2 * HISTOGRAM_WORDS;
    want[base + 1] = 1; // (1 ms, 2.5 ms]
    want[base + BUCKETS] = 2_000;
    assert_eq!(snapshot, want);

    let mut buffer = vec![u64::MAX; metrics.len()];
    metrics.snapshot_into(&mut buffer);
    assert_eq!(buffer, want);
}

#[test]
fn an_empty_layout_has_an_empty_snapshot() {
    let metrics = MetricsRegion::new(0, 0).unwrap();
    assert!(metrics.is_empty());
    assert!(metrics.snapshot().is_empty());
}

#[test]
#[should_panic(expected = "counter 3 out of range")]
fn a_counter_past_the_layout_panics() {
    MetricsRegion::new(3, 1).unwrap().add(3, 1);
}

#[test]
#[should_panic(expected = "histogram 1 out of range")]
fn a_histogram_past_the_layout_panics() {
    MetricsRegion::new(3, 1).unwrap().observe(1, 1);
}

#[test]
#[should_panic(expected = "wrong length")]
fn snapshot_into_a_buffer_of_the_wrong_length_panics() {
    MetricsRegion::new(3, 1).unwrap().snapshot_into(&mut [0; 3]);
}

#[test]
fn threads_hammering_one_series_lose_nothing() {
    const THREADS: u64 = 8;
    const PER_THREAD: u64 = 50_000;
    let metrics = Arc::new(MetricsRegion::new(2, 1).unwrap());
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let metrics = Arc::clone(&metrics);
            thread::spawn(move || {
                for i in 0..PER_THREAD {
                    metrics.add(0, 1);
                    metrics.gauge_add(1, 1);
                    metrics.observe(0, (t * PER_THREAD + i) % 3 * 1_000);
                    metrics.gauge_add(1, -1);
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
    let total = THREADS * PER_THREAD;
    let snapshot = metrics.snapshot();
    assert_eq!(snapshot[0], total);
    assert_eq!(snapshot[1], 0, "every +1 in flight was matched by a -1");
    let (buckets, sum) = histogram(&snapshot, 2, 0);
    assert_eq!(buckets.iter().sum::<u64>(), total);
    // Observations cycle through 0, 1 ms, 2 ms: two thirds at or below 1 ms, one third in (1, 2.5] ms.
    assert_eq!(buckets[0], (0..total).filter(|n| n % 3 != 2).count() as u64);
    assert_eq!(buckets[1], (0..total).filter(|n| n % 3 == 2).count() as u64);
    assert_eq!(sum, (0..total).map(|n| n % 3 * 1_000).sum::<u64>());
}
