//! The cache's time: microseconds on a monotonic clock, behind a small trait so that tests can
//! drive it by hand.
//!
//! The cache itself never reads a clock: every call takes `now` (microseconds) from the caller, who
//! reads one clock per request. Any [`Clock`] works as long as one cache always gets its times from
//! the same one (an entry's expiry is a point on that clock's axis). Throttling has its own clock;
//! the two are deliberately independent.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A source of `now` for the cache, in microseconds since a fixed origin. Never goes backwards.
pub trait Clock: Send + Sync {
    /// Microseconds since this clock's origin.
    fn now_micros(&self) -> u64;
}

/// Any `Fn() -> u64` returning microseconds is a clock.
impl<F: Fn() -> u64 + Send + Sync> Clock for F {
    fn now_micros(&self) -> u64 {
        self()
    }
}

/// The production clock: [`Instant`] (`CLOCK_MONOTONIC`), counted from the clock's creation.
#[derive(Debug, Clone, Copy)]
pub struct MonotonicClock {
    origin: Instant,
}

impl MonotonicClock {
    /// A clock whose origin is now.
    pub fn new() -> Self {
        Self { origin: Instant::now() }
    }
}

impl Default for MonotonicClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for MonotonicClock {
    #[inline]
    fn now_micros(&self) -> u64 {
        // u64 microseconds last 584,000 years.
        self.origin.elapsed().as_micros() as u64
    }
}

/// A clock that moves only when told to; for tests. Shared freely (`&self` methods).
#[derive(Debug, Default)]
pub struct ManualClock {
    now: AtomicU64,
}

impl ManualClock {
    /// A clock that reads `start_micros` until moved.
    pub fn new(start_micros: u64) -> Self {
        Self { now: AtomicU64::new(start_micros) }
    }

    /// Moves the clock to `micros` (tests may move it anywhere; the cache only needs it never to
    /// go back while entries are cached).
    pub fn set(&self, micros: u64) {
        self.now.store(micros, Ordering::Relaxed);
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        self.now.fetch_add(by.as_micros() as u64, Ordering::Relaxed);
    }
}

impl Clock for ManualClock {
    fn now_micros(&self) -> u64 {
        self.now.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let clock = ManualClock::new(5);
        assert_eq!(clock.now_micros(), 5);
        clock.advance(Duration::from_millis(2));
        assert_eq!(clock.now_micros(), 2_005);
        clock.set(7);
        assert_eq!(clock.now_micros(), 7);
    }

    #[test]
    fn monotonic_clock_does_not_go_back() {
        let clock = MonotonicClock::new();
        let first = clock.now_micros();
        std::thread::sleep(Duration::from_millis(2));
        assert!(clock.now_micros() >= first + 2_000);
    }

    #[test]
    fn a_closure_is_a_clock() {
        let clock = || 42_u64;
        assert_eq!(Clock::now_micros(&clock), 42);
    }
}
