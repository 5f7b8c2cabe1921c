//! A throttle limit and the arithmetic of one bucket's state word.
//!
//! The state of a bucket is `full_at`: the time (nanoseconds on the caller's clock) at which the bucket is
//! full again. Every missing token is `interval = 1 s / rate` of waiting, so at time `now`
//!
//! ```text
//! tokens = burst - max(full_at - now, 0) / interval
//! ```
//!
//! Taking a token moves `full_at` one interval later (from `now` if it was in the past), and is refused
//! when that would put it more than `burst` intervals ahead of `now` (the bucket is empty). This is the
//! token bucket of AWS stated as GCRA (the generic cell rate algorithm), and it needs no timestamp beside
//! the count: time refills the bucket by itself. `full_at = 0` (a zeroed word) is a full bucket.

/// A token bucket's limit, as AWS states it: `rate` tokens per second refill a bucket of `burst` tokens.
///
/// `burst` 0 throttles every request. A `rate` of 0 (or negative, or NaN) never refills: the bucket gives
/// its burst once and then nothing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limit {
    /// Tokens per second (AWS `rateLimit`, a float).
    pub rate: f64,
    /// Bucket size in tokens (AWS `burstLimit`, an integer).
    pub burst: u32,
}

impl Limit {
    /// The gateway-wide default, as AWS's account-level default: 10,000 requests per second, burst 5,000.
    pub const GATEWAY_DEFAULT: Limit = Limit { rate: 10_000.0, burst: 5_000 };

    /// `rate` tokens per second, `burst` tokens at most.
    pub const fn new(rate: f64, burst: u32) -> Self {
        Self { rate, burst }
    }
}

/// The longest a bucket may take to refill from empty: 2^62 ns (146 years). With the clock below 2^63 ns
/// (292 years of uptime), `now + window` fits in a `u64`.
const MAX_WINDOW: u64 = 1 << 62;
const NANOS_PER_SECOND: f64 = 1e9;

/// A [`Limit`] in the integer units of the state word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Pace {
    /// Nanoseconds per token: `1e9 / rate`, rounded to the nearest nanosecond, at least 1.
    interval: u64,
    /// `burst * interval`: how far ahead of now `full_at` may be.
    window: u64,
    /// The rate is 0: time does not refill the bucket, so it is read at a standstill (always 0).
    frozen: bool,
}

impl Pace {
    /// `None` for a burst of 0 (nothing is ever admitted).
    #[inline]
    pub(super) fn of(limit: Limit) -> Option<Self> {
        let burst = u64::from(limit.burst);
        if burst == 0 {
            return None;
        }
        let refills = limit.rate > 0.0; // false for 0, negative and NaN
        if !refills {
            // Time stands still at 0 and each token is 1 "nanosecond": `full_at` counts the tokens taken.
            return Some(Self { interval: 1, window: burst, frozen: true });
        }
        // A float-to-int `as` saturates (and the value is positive): rates past 1e9/s give 0, raised to 1.
        #[allow(clippy::cast_sign_loss)]
        let mut interval = ((NANOS_PER_SECOND / limit.rate).round() as u64).max(1);
        if u128::from(burst) * u128::from(interval) > u128::from(MAX_WINDOW) {
            interval = MAX_WINDOW / burst;
        }
        Some(Self { interval, window: burst * interval, frozen: false })
    }

    /// The time the arithmetic runs at: the caller's `now`, or 0 when the bucket does not refill.
    #[inline]
    fn time(self, now: u64) -> u64 {
        if self.frozen {
            0
        } else {
            now
        }
    }

    /// `full_at` after taking one token at `now`, or `None` when the bucket is empty.
    #[inline]
    pub(super) fn take(self, full_at: u64, now: u64) -> Option<u64> {
        let now = self.time(now);
        let taken = full_at.max(now).saturating_add(self.interval);
        (taken <= now.saturating_add(self.window)).then_some(taken)
    }

    /// `full_at` after giving back `tokens` at `now` (never more than full), or `None` if it is full already.
    #[inline]
    pub(super) fn give_back(self, full_at: u64, now: u64, tokens: u32) -> Option<u64> {
        let now = self.time(now);
        (full_at > now).then(|| full_at.saturating_sub(u64::from(tokens).saturating_mul(self.interval)).max(now))
    }

    /// The tokens in the bucket at `now`, with the fraction of the next one (0 when in debt after the
    /// limit of a key was lowered).
    #[allow(clippy::cast_precision_loss)] // a relative error of 2^-53 at worst, for a gauge
    pub(super) fn tokens(self, full_at: u64, now: u64) -> f64 {
        let now = self.time(now);
        let room = now.saturating_add(self.window).saturating_sub(full_at.max(now));
        room as f64 / self.interval as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: u64 = 1_000_000_000;

    fn pace(rate: f64, burst: u32) -> Pace {
        Pace::of(Limit::new(rate, burst)).unwrap()
    }

    #[test]
    fn intervals_are_rounded_nanoseconds() {
        assert_eq!(pace(10.0, 5), Pace { interval: SECOND / 10, window: SECOND / 2, frozen: false });
        assert_eq!(pace(0.001, 1).interval, 1_000 * SECOND);
        assert_eq!(pace(10_000_000.0, 1).interval, 100);
        assert_eq!(pace(3_000_000.0, 1).interval, 333);
        assert_eq!(pace(f64::INFINITY, 1).interval, 1);
        assert_eq!(pace(1e12, 1).interval, 1);
    }

    #[test]
    fn refill_time_is_capped_at_146_years() {
        // 2^20 tokens at 0.001/s would take 33 years: fits.
        assert_eq!(pace(0.001, 1 << 20).window, (1 << 20) * 1_000 * SECOND);
        // u32::MAX tokens at 1/s: 136 years, fits.
        assert_eq!(pace(1.0, u32::MAX).interval, SECOND);
        // u32::MAX tokens at 0.1/s would take 1361 years: the interval shrinks to fit.
        let capped = pace(0.1, u32::MAX);
        assert_eq!(capped.interval, MAX_WINDOW / u64::from(u32::MAX));
        assert!(capped.window <= MAX_WINDOW);
    }

    #[test]
    fn zero_burst_admits_nothing_and_zero_rate_freezes() {
        assert_eq!(Pace::of(Limit::new(10.0, 0)), None);
        for rate in [0.0, -1.0, f64::NAN] {
            assert_eq!(pace(rate, 3), Pace { interval: 1, window: 3, frozen: true });
        }
    }

    #[test]
    fn take_moves_full_at_one_interval() {
        let p = pace(10.0, 2);
        let now = 50 * SECOND;
        // A zeroed word is a full bucket: the first take starts from now.
        let once = p.take(0, now).unwrap();
        assert_eq!(once, now + SECOND / 10);
        let twice = p.take(once, now).unwrap();
        assert_eq!(twice, now + SECOND / 5);
        assert_eq!(p.take(twice, now), None);
        // One interval later one token is back.
        assert_eq!(p.take(twice, now + SECOND / 10), Some(now + 3 * SECOND / 10));
    }

    #[test]
    fn tokens_count_fractions_and_never_pass_burst() {
        let p = pace(10.0, 4);
        let now = SECOND;
        assert!((p.tokens(0, now) - 4.0).abs() < 1e-12);
        assert!((p.tokens(now + 4 * SECOND / 10, now)).abs() < 1e-12);
        assert!((p.tokens(now + 4 * SECOND / 10, now + SECOND / 20) - 0.5).abs() < 1e-12);
        assert!((p.tokens(now, now + 1_000 * SECOND) - 4.0).abs() < 1e-12);
        // In debt (the burst was lowered): no tokens, not negative.
        assert!(p.tokens(now + 100 * SECOND, now).abs() < 1e-12);
    }

    #[test]
    fn give_back_is_capped_at_full() {
        let p = pace(10.0, 4);
        let now = SECOND;
        let empty = now + 4 * SECOND / 10;
        assert_eq!(p.give_back(empty, now, 1), Some(now + 3 * SECOND / 10));
        assert_eq!(p.give_back(empty, now, 9), Some(now));
        assert_eq!(p.give_back(now, now, 1), None);
        assert_eq!(p.give_back(0, now, 1), None);
    }

    #[test]
    fn frozen_buckets_count_tokens_taken() {
        let p = pace(0.0, 2);
        let once = p.take(0, 7 * SECOND).unwrap();
        let twice = p.take(once, 8 * SECOND).unwrap();
        assert_eq!(p.take(twice, u64::MAX / 2), None);
        assert_eq!(p.give_back(twice, 9 * SECOND, 1), Some(once));
        assert!((p.tokens(once, 1) - 1.0).abs() < 1e-12);
    }
}
