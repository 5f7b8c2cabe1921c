//! Node-wide counters, gauges and latency histograms, counted in shared memory.
//!
//! A [`MetricsRegion`] is a [`SharedRegion`] created in the gateway's parent process before the workers
//! fork, so every worker counts into the same words and one scrape in the parent sees the whole node. The
//! region knows nothing about APIs, routes or labels: the caller (Python's `fastgw.observability.metrics`)
//! decides how many counters and histograms there are and what each index means, and turns
//! [`MetricsRegion::snapshot`] into the Prometheus exposition. Per request the data plane does a few
//! `fetch_add`s on precomputed indices: no strings, no hashing, no locks.
//!
//! # Layout of the words
//!
//! ```text
//! [0, counters)                                  counter c at word c (a gauge is a counter word, see below)
//! [counters + h * HISTOGRAM_WORDS, ... + BUCKETS) histogram h: one word per bucket, NOT cumulative
//! counters + h * HISTOGRAM_WORDS + BUCKETS        histogram h: sum of the observations, in microseconds
//! ```
//!
//! Bucket `i` counts observations in `(BUCKET_BOUNDS_MICROS[i - 1], BUCKET_BOUNDS_MICROS[i]]`: Prometheus'
//! `le` is inclusive, so an observation of exactly 1 ms lands in the `le="0.001"` bucket. The last bucket,
//! index `BUCKETS - 1`, is `+Inf`. The exporter makes the buckets cumulative. There is no count word: the
//! count is the sum of the buckets, which costs the hot path one atomic less and keeps every exported
//! histogram consistent (`_count` always equals the `+Inf` bucket, even while workers are writing).
//!
//! # Gauges
//!
//! [`MetricsRegion::gauge_add`] treats a counter word as a two's complement `i64` (in-flight requests go up
//! and down). [`MetricsRegion::snapshot`] returns it as the `u64` with the same bits; reinterpret it as
//! an `i64` to read it (Python: subtract `2**64` when it is `>= 2**63`).
//!
//! # Why `Relaxed` is enough
//!
//! Every word is an independent tally: no other memory is published through it, and nothing is decided by
//! comparing two words. `fetch_add` is atomic at any ordering, so no increment is ever lost (across threads
//! and across processes: the pages are the same physical memory, kept coherent by the CPU), and each load
//! sees a whole value, never a torn one. What `Relaxed` gives up is a consistent cut across words: a scrape
//! may see a request's status counter but not yet its latency observation. Prometheus does not expect more:
//! counters are monotonic and read as rates over many scrapes, and the next scrape catches up.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::shared::SharedRegion;

/// Upper bounds of the finite histogram buckets, in microseconds: 1-2.5-5 steps from 1 ms (a cache hit) to
/// 10 s, then 30 s to cover API Gateway's 29 s integration timeout. A last bucket, `+Inf`, follows them.
pub const BUCKET_BOUNDS_MICROS: [u64; 14] = [
    1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000, 5_000_000,
    10_000_000, 30_000_000,
];

/// Buckets per histogram, `+Inf` included.
pub const BUCKETS: usize = BUCKET_BOUNDS_MICROS.len() + 1;

/// Words per histogram: the buckets, then the sum in microseconds.
pub const HISTOGRAM_WORDS: usize = BUCKETS + 1;

/// Counters and histograms shared by every worker of a node. See the module docs for the layout.
#[derive(Debug)]
pub struct MetricsRegion {
    region: SharedRegion,
    counters: usize,
    histograms: usize,
}

impl MetricsRegion {
    /// Maps a zeroed region for `counters` counter words and `histograms` histograms. Create it in the parent
    /// process, before the workers fork.
    pub fn new(counters: usize, histograms: usize) -> io::Result<Self> {
        let too_large = || io::Error::new(io::ErrorKind::InvalidInput, "metrics region too large");
        let histogram_words = histograms.checked_mul(HISTOGRAM_WORDS).ok_or_else(too_large)?;
        let words = counters.checked_add(histogram_words).ok_or_else(too_large)?;
        Ok(Self { region: SharedRegion::new(words)?, counters, histograms })
    }

    /// Adds `n` to counter `counter`.
    ///
    /// Panics if `counter` is out of range: the indices come from a layout, so that is a bug.
    #[inline]
    pub fn add(&self, counter: usize, n: u64) {
        self.counter_word(counter).fetch_add(n, Ordering::Relaxed);
    }

    /// Adds `delta` (possibly negative) to counter word `counter` used as a signed gauge.
    ///
    /// Panics if `counter` is out of range.
    #[inline]
    pub fn gauge_add(&self, counter: usize, delta: i64) {
        let word = self.counter_word(counter);
        // Two's complement: subtracting |delta| and adding delta wrap to the same bits.
        if delta >= 0 {
            word.fetch_add(delta.unsigned_abs(), Ordering::Relaxed);
        } else {
            word.fetch_sub(delta.unsigned_abs(), Ordering::Relaxed);
        }
    }

    /// Records one observation of `micros` microseconds in histogram `histogram`: two `fetch_add`s, its
    /// bucket and the sum.
    ///
    /// Panics if `histogram` is out of range.
    #[inline]
    pub fn observe(&self, histogram: usize, micros: u64) {
        assert!(histogram < self.histograms, "histogram {histogram} out of range ({})", self.histograms);
        let base = self.counters + histogram * HISTOGRAM_WORDS;
        let words = &self.words()[base..base + HISTOGRAM_WORDS];
        words[bucket_of(micros)].fetch_add(1, Ordering::Relaxed);
        words[BUCKETS].fetch_add(micros, Ordering::Relaxed);
    }

    /// Every word, in layout order: `counters() + histograms() * HISTOGRAM_WORDS` values.
    pub fn snapshot(&self) -> Vec<u64> {
        self.words().iter().map(|word| word.load(Ordering::Relaxed)).collect()
    }

    /// [`snapshot`](Self::snapshot) into a buffer the caller keeps between scrapes.
    ///
    /// Panics if `out.len() != self.len()`.
    pub fn snapshot_into(&self, out: &mut [u64]) {
        assert_eq!(out.len(), self.len(), "snapshot buffer has the wrong length");
        for (value, word) in out.iter_mut().zip(self.words()) {
            *value = word.load(Ordering::Relaxed);
        }
    }

    /// Number of counter words.
    pub fn counters(&self) -> usize {
        self.counters
    }

    /// Number of histograms.
    pub fn histograms(&self) -> usize {
        self.histograms
    }

    /// Number of words in a snapshot.
    pub fn len(&self) -> usize {
        self.counters + self.histograms * HISTOGRAM_WORDS
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    #[inline]
    fn counter_word(&self, counter: usize) -> &AtomicU64 {
        assert!(counter < self.counters, "counter {counter} out of range ({})", self.counters);
        &self.words()[counter]
    }

    /// The words of the layout (the mapping has at least one word, even for an empty layout).
    #[inline]
    fn words(&self) -> &[AtomicU64] {
        &self.region.words()[..self.len()]
    }
}

/// The bucket an observation of `micros` falls in: the first whose bound is `>= micros`, else `+Inf`.
#[inline]
pub fn bucket_of(micros: u64) -> usize {
    BUCKET_BOUNDS_MICROS.partition_point(|&bound| bound < micros)
}
