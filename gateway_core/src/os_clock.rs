//! The machine's monotonic clocks, read with `clock_gettime`: the crate's one call of it (an `unsafe` extern
//! function in `libc`). `std::time::Instant` reads `CLOCK_MONOTONIC` too, but neither exposes its value (the
//! buckets share theirs between processes) nor offers the coarse clock (the cache's).

/// `CLOCK_MONOTONIC`: nanoseconds since boot, the same in every process of the machine, never set back.
#[inline]
pub fn monotonic_nanos() -> u64 {
    read(libc::CLOCK_MONOTONIC)
}

/// `CLOCK_MONOTONIC_COARSE`: the same timeline as [`monotonic_nanos`], advanced once per kernel tick (1–4 ms),
/// for about a third of the cost of a precise reading.
#[inline]
pub fn coarse_monotonic_nanos() -> u64 {
    read(libc::CLOCK_MONOTONIC_COARSE)
}

// `clock_gettime` cannot fail for these clocks with a valid pointer (Linux has had both since 2.6.32).
#[allow(unsafe_code)]
#[inline]
fn read(clock: libc::clockid_t) -> u64 {
    let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `now` is a valid, writable `timespec` that outlives the call.
    let status = unsafe { libc::clock_gettime(clock, &raw mut now) };
    debug_assert_eq!(status, 0, "clock_gettime failed");
    // Both fields are non-negative for monotonic clocks; u64 nanoseconds last 584 years of uptime.
    u64::try_from(now.tv_sec).unwrap_or(0) * 1_000_000_000 + u64::try_from(now.tv_nsec).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_coarse_clock_follows_the_precise_one_within_a_tick() {
        let coarse = coarse_monotonic_nanos();
        let precise = monotonic_nanos();
        assert!(coarse <= precise, "the coarse clock runs behind");
        assert!(precise - coarse < 50_000_000, "by less than a tick ({} ns)", precise - coarse);
    }
}
