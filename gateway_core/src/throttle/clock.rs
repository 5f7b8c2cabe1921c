//! Time for the buckets, in nanoseconds.
//!
//! Bucket state is a point in time (see the module docs of [`super`]), written by one worker process and
//! read by another, so every process must read the same clock: [`MonotonicClock`] reads the machine's
//! `CLOCK_MONOTONIC` (time since boot, the same value in every process, never set back). `std::time::Instant`
//! reads the same clock but does not expose its value. Tests use [`ManualClock`] and move time by hand.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A source of "now" for the buckets: nanoseconds on a timeline shared by every user of one table.
pub trait Clock {
    /// Nanoseconds since the clock's origin. Never decreases.
    fn now_nanos(&self) -> u64;
}

/// The machine's `CLOCK_MONOTONIC`: nanoseconds since boot, the same in every process of the machine.
#[derive(Debug, Clone, Copy, Default)]
pub struct MonotonicClock;

impl Clock for MonotonicClock {
    #[inline]
    fn now_nanos(&self) -> u64 {
        crate::os_clock::monotonic_nanos()
    }
}

/// A clock that only moves when told to. Shared between threads through `&self` (the time is an atomic).
#[derive(Debug, Default)]
pub struct ManualClock {
    nanos: AtomicU64,
}

impl ManualClock {
    /// A clock that reads `start_nanos` until moved.
    pub const fn new(start_nanos: u64) -> Self {
        Self { nanos: AtomicU64::new(start_nanos) }
    }

    /// Sets the time. Setting it back is allowed (tests of odd callers); buckets then see fewer tokens.
    pub fn set_nanos(&self, nanos: u64) {
        self.nanos.store(nanos, Ordering::Relaxed);
    }

    /// Moves the time forward by `by` (saturating at `u64::MAX` nanoseconds).
    pub fn advance(&self, by: Duration) {
        let by = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        let _ = self.nanos.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |now| Some(now.saturating_add(by)));
    }
}

impl Clock for ManualClock {
    fn now_nanos(&self) -> u64 {
        self.nanos.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monotonic_clock_follows_instant() {
        let clock = MonotonicClock;
        let (first, started) = (clock.now_nanos(), std::time::Instant::now());
        std::thread::sleep(Duration::from_millis(20));
        let (second, elapsed) = (clock.now_nanos(), started.elapsed());
        let measured = Duration::from_nanos(second - first);
        assert!(measured >= Duration::from_millis(20), "{measured:?}");
        assert!(measured.abs_diff(elapsed) < Duration::from_millis(5), "{measured:?} vs {elapsed:?}");
    }

    #[test]
    fn manual_clock_moves_when_told() {
        let clock = ManualClock::new(5);
        assert_eq!(clock.now_nanos(), 5);
        clock.advance(Duration::from_micros(2));
        assert_eq!(clock.now_nanos(), 2_005);
        clock.set_nanos(7);
        assert_eq!(clock.now_nanos(), 7);
        clock.advance(Duration::MAX);
        assert_eq!(clock.now_nanos(), u64::MAX);
    }
}
