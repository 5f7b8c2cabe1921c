//! Request throttling with Amazon API Gateway semantics: token buckets shared by every worker process.
//!
//! A bucket holds at most `burst` tokens and refills at `rate` tokens per second ([`Limit`]); a request
//! takes one token and is throttled (429) when the bucket is empty. A bucket never used before is full, as
//! in AWS. One request goes through several buckets, in AWS's order: the usage plan per API key and
//! method, the usage plan per API key, the stage per route and method, the stage default, then the
//! gateway-wide default ([`Limit::GATEWAY_DEFAULT`]). [`Throttle::check`] takes a token at each level and,
//! when a level is empty, gives back the tokens it took at the earlier ones: a throttled request costs
//! nothing.
//!
//! # Shared by processes
//!
//! The server forks its workers after the [`BucketTable`] is created, so its buckets live in a
//! [`SharedRegion`](crate::SharedRegion): plain atomic words that every worker sees, no pointers. A limit
//! therefore holds for the whole node whatever the number of workers. There are no locks: every update is
//! one compare-and-swap on one word, so a worker that dies mid-request cannot block the others.
//!
//! # One word per bucket
//!
//! A bucket is a single `u64`, `full_at`: the time at which the bucket is full again. Each missing token is
//! `1 s / rate` of waiting, so `tokens = burst - max(full_at - now, 0) * rate`; taking a token pushes
//! `full_at` one interval later, refused if it would land more than `burst` intervals ahead of now (GCRA,
//! the generic cell rate algorithm, which is the token bucket stated as a time). The refill needs no
//! timestamp of its own: time does it. A slot is 16 bytes: the key word, then `full_at` (`table.rs`).
//!
//! Precision and range:
//! - Time is nanoseconds of [`MonotonicClock`] (`CLOCK_MONOTONIC`, the same in every process). A `u64`
//!   of nanoseconds lasts 584 years of uptime, so nothing wraps; after any idle time, however long, the
//!   bucket is exactly full (`max(full_at, now)`), never more.
//! - The interval is `1e9 / rate` rounded to the nanosecond: the refill rate is off by at most
//!   `rate * 5e-10` relatively (5e-13 at 0.001/s, 5e-6 at 10,000/s, 0.1% at 3,000,000/s, and exact when
//!   `1e9 / rate` is a whole number, as for 10,000,000/s). Rates past 1e9/s count as 1e9/s.
//! - Between calls nothing is rounded: the bucket keeps its exact state in nanoseconds, so frequent
//!   calls lose no fractions of tokens.
//! - A bucket may take up to 2^62 ns (146 years) to refill from empty: any `u32` burst at 1/s or more,
//!   bursts up to 4.6 million at 0.001/s. Past that the interval is shortened to fit (a slightly faster
//!   rate).
//! - A rate of 0 does not refill: the word counts the tokens taken instead (time stands still at 0).
//!
//! A key should keep one limit. If its limit changes, the debt in time carries over (a lowered burst
//! leaves the bucket empty until the debt is paid); a key moving between a rate of 0 and a positive
//! rate is approximate (from 0: full; to 0: empty).

mod clock;
mod limit;
mod table;

pub use clock::{Clock, ManualClock, MonotonicClock};
pub use limit::Limit;
pub use table::{Acquire, BucketTable, PROBE_LIMIT};

use std::io;

/// What [`Throttle::check`] does at a level whose key finds no room in a full table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnTableFull {
    /// Skip the level: the request is not limited by it (fail open).
    Admit,
    /// Throttle the request at that level (fail closed).
    Throttle,
}

/// The throttle of a node: its bucket table and what to do when the table is full.
#[derive(Debug)]
pub struct Throttle {
    table: BucketTable,
    on_table_full: OnTableFull,
}

impl Throttle {
    /// A throttle with room for `capacity_keys` buckets. Create it before forking the workers.
    pub fn new(capacity_keys: usize, on_table_full: OnTableFull) -> io::Result<Self> {
        Ok(Self { table: BucketTable::new(capacity_keys)?, on_table_full })
    }

    /// Takes one token from each `(bucket key, limit)` level in order. On the first level that throttles,
    /// gives back the tokens taken at the earlier levels and returns that level's index. Allocates nothing.
    pub fn check(&self, levels: &[(u64, Limit)], now: u64) -> Result<(), usize> {
        for (index, &(key, limit)) in levels.iter().enumerate() {
            let admitted = match self.table.try_acquire(key, limit, now) {
                Acquire::Admitted => true,
                Acquire::Throttled => false,
                // No token was taken, and the key has no bucket, so the refund below skips it.
                Acquire::TableFull => self.on_table_full == OnTableFull::Admit,
            };
            if !admitted {
                for &(earlier_key, earlier_limit) in &levels[..index] {
                    self.table.refund(earlier_key, earlier_limit, now);
                }
                return Err(index);
            }
        }
        Ok(())
    }

    /// The bucket table, for metrics and tests.
    pub fn table(&self) -> &BucketTable {
        &self.table
    }
}
