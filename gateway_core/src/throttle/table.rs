//! The bucket table: an open-addressing hash table of token buckets in a [`SharedRegion`].
//!
//! Slot `i` is words `2i` (the key) and `2i + 1` (the bucket's `full_at`, see `limit.rs`): 16 bytes, four
//! slots to a cache line. Key 0 marks an empty slot, so the zeroed region is an empty table, and a bucket
//! word of 0 is a full bucket, so a key starts full the moment it is claimed.
//!
//! A key's home slot is the top bits of the key, mixed; collisions probe the next slots (linear probing,
//! mostly within the same cache line). A key is claimed with one CAS of an empty key word; a process that
//! loses the race reads the winner's key and either shares the slot (same key) or probes on. Keys are never
//! removed, so a key stays in the slot it was first given and no probe chain ever breaks.
//!
//! There is room for twice the expected keys, rounded up to a power of two, so the table is at most half
//! full at its expected load. A probe stops after [`PROBE_LIMIT`] slots: a key that finds no free slot by
//! then gets [`Acquire::TableFull`] rather than a scan of the whole table. Probes are short at half load
//! (measured with 2^20 hashed keys in 2^21 slots: 1.5 slots on average, 35 at most), so in practice
//! this happens only well past the expected number of keys.
//!
//! All atomics are `Relaxed`: a bucket is a single word (its CAS orders its own updates), and nothing else
//! is published through the key word: a fresh slot's bucket word is already 0, a full bucket.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};

use super::limit::{Limit, Pace};
use crate::shared::SharedRegion;

const WORDS_PER_SLOT: usize = 2;
/// The most slots a key's probe visits before the table counts as full for it.
pub const PROBE_LIMIT: usize = 256;
/// The smallest table, in slots.
const MIN_SLOTS: usize = 8;
/// The key word of a slot no key has claimed.
const EMPTY: u64 = 0;
/// Key 0 means "empty", so a caller's key 0 is stored as this one (and shares its bucket).
const ZERO_KEY_STAND_IN: u64 = u64::MAX;
/// 2^64 / golden ratio: multiplying by it spreads keys over the top bits (Fibonacci hashing).
const FIBONACCI: u64 = 0x9E37_79B9_7F4A_7C15;

/// What [`BucketTable::try_acquire`] did.
#[must_use]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acquire {
    /// A token was taken: let the request through.
    Admitted,
    /// The bucket is empty (or the limit's burst is 0): throttle the request (429).
    Throttled,
    /// The key has no bucket and no free slot is left for it. The caller decides (admit or throttle).
    TableFull,
}

/// Token buckets keyed by non-zero `u64`, in memory shared by every worker process forked after it was
/// created. Capacity is fixed at creation.
#[derive(Debug)]
pub struct BucketTable {
    region: SharedRegion,
    /// Slots minus one (slots is a power of two).
    slot_mask: usize,
    /// 64 - log2(slots): the home slot is the top bits of the mixed key.
    home_shift: u32,
    probe_limit: usize,
}

impl BucketTable {
    /// A table with room for `capacity_keys` buckets (twice that many slots, rounded up to a power of two).
    /// Pages are committed as keys land on them.
    pub fn new(capacity_keys: usize) -> io::Result<Self> {
        let too_large = || io::Error::new(io::ErrorKind::InvalidInput, "bucket table too large");
        let slots = capacity_keys
            .max(1)
            .checked_mul(2)
            .and_then(usize::checked_next_power_of_two)
            .ok_or_else(too_large)?
            .max(MIN_SLOTS);
        let region = SharedRegion::new(slots.checked_mul(WORDS_PER_SLOT).ok_or_else(too_large)?)?;
        Ok(Self {
            region,
            slot_mask: slots - 1,
            home_shift: u64::BITS - slots.trailing_zeros(),
            probe_limit: PROBE_LIMIT.min(slots),
        })
    }

    /// Takes one token from `key`'s bucket at time `now` (nanoseconds on the shared clock), creating the
    /// bucket full if the key is new.
    #[inline]
    pub fn try_acquire(&self, key: u64, limit: Limit, now: u64) -> Acquire {
        let Some(pace) = Pace::of(limit) else {
            return Acquire::Throttled;
        };
        let Some(bucket) = self.bucket(key, true) else {
            return Acquire::TableFull;
        };
        let mut full_at = bucket.load(Ordering::Relaxed);
        loop {
            let Some(taken) = pace.take(full_at, now) else {
                return Acquire::Throttled;
            };
            match bucket.compare_exchange_weak(full_at, taken, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return Acquire::Admitted,
                Err(current) => full_at = current,
            }
        }
    }

    /// Gives back one token taken by [`try_acquire`](Self::try_acquire), never filling past `burst`. Used
    /// when a later throttle level rejects a request an earlier level admitted.
    #[inline]
    pub fn refund(&self, key: u64, limit: Limit, now: u64) {
        self.deposit(key, 1, limit, now);
    }

    /// Puts `tokens` into `key`'s bucket, never filling past `burst`. A key without a bucket is full
    /// already: nothing to do.
    pub fn deposit(&self, key: u64, tokens: u32, limit: Limit, now: u64) {
        let (Some(pace), Some(bucket)) = (Pace::of(limit), self.bucket(key, false)) else {
            return;
        };
        let mut full_at = bucket.load(Ordering::Relaxed);
        while let Some(refilled) = pace.give_back(full_at, now, tokens) {
            match bucket.compare_exchange_weak(full_at, refilled, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return,
                Err(current) => full_at = current,
            }
        }
    }

    /// The tokens in `key`'s bucket at `now`, with the fraction of the next one: `burst` for a key without
    /// a bucket. For tests and metrics; changes nothing.
    pub fn available(&self, key: u64, limit: Limit, now: u64) -> f64 {
        let Some(pace) = Pace::of(limit) else {
            return 0.0;
        };
        let full_at = self.bucket(key, false).map_or(0, |bucket| bucket.load(Ordering::Relaxed));
        pace.tokens(full_at, now)
    }

    /// How many keys have a bucket. Scans every slot: for tests and metrics.
    pub fn len(&self) -> usize {
        self.region.words().chunks_exact(WORDS_PER_SLOT).filter(|slot| slot[0].load(Ordering::Relaxed) != EMPTY).count()
    }

    /// No key has a bucket yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Slots in the table (a power of two, twice the expected keys or more).
    pub fn slots(&self) -> usize {
        self.slot_mask + 1
    }

    /// Bytes of shared memory the table maps (16 per slot). Pages no key has landed on are not committed.
    pub fn memory_bytes(&self) -> usize {
        self.region.len() * std::mem::size_of::<AtomicU64>()
    }

    /// The bucket word of `key`: found, or claimed from an empty slot when `insert`. `None` when the key has
    /// no bucket (and, when inserting, no free slot within the probe limit).
    #[inline]
    fn bucket(&self, key: u64, insert: bool) -> Option<&AtomicU64> {
        let key = if key == EMPTY { ZERO_KEY_STAND_IN } else { key };
        let words = self.region.words();
        let mut slot = self.home(key);
        for _ in 0..self.probe_limit {
            let key_word = &words[slot * WORDS_PER_SLOT];
            let mut found = key_word.load(Ordering::Relaxed);
            if found == EMPTY && insert {
                found = match key_word.compare_exchange(EMPTY, key, Ordering::Relaxed, Ordering::Relaxed) {
                    Ok(_) => key,
                    Err(winner) => winner,
                };
            }
            if found == key {
                return Some(&words[slot * WORDS_PER_SLOT + 1]);
            }
            if found == EMPTY {
                return None; // the end of the probe chain: the key was never inserted
            }
            slot = (slot + 1) & self.slot_mask;
        }
        None
    }

    /// The first slot probed for `key`. Folding the high half in first makes every bit of the key count.
    #[inline]
    fn home(&self, key: u64) -> usize {
        ((key ^ (key >> 32)).wrapping_mul(FIBONACCI) >> self.home_shift) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: u64 = 1_000_000_000;

    #[test]
    fn sizes_are_powers_of_two_with_room_to_spare() {
        for (keys, slots) in [(0, 8), (1, 8), (4, 8), (5, 16), (1_000, 2_048), (1_000_000, 2_097_152)] {
            let table = BucketTable::new(keys).unwrap();
            assert_eq!(table.slots(), slots, "{keys} keys");
            assert_eq!(table.memory_bytes(), slots * 16);
        }
        assert!(BucketTable::new(usize::MAX / 2).is_err());
    }

    #[test]
    fn key_zero_is_stored_as_a_stand_in() {
        let table = BucketTable::new(8).unwrap();
        let limit = Limit::new(1.0, 2);
        assert_eq!(table.try_acquire(0, limit, SECOND), Acquire::Admitted);
        assert_eq!(table.len(), 1);
        assert!((table.available(ZERO_KEY_STAND_IN, limit, SECOND) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn keys_differing_only_in_high_bits_get_different_homes() {
        let table = BucketTable::new(1 << 16).unwrap();
        let homes: std::collections::HashSet<usize> = (1..=64u64).map(|i| table.home(i << 40)).collect();
        assert!(homes.len() > 60, "{} distinct homes", homes.len());
    }

    /// At its expected load the table is at most half full: probes stay short, far from the limit.
    #[test]
    fn probes_stay_short_at_the_expected_load() {
        let keys = 200_000;
        let table = BucketTable::new(keys).unwrap();
        let mut longest = 0;
        for i in 0..keys as u64 {
            let key = i.wrapping_mul(0xD1B5_4A32_D192_ED03) | 1;
            let mut slot = table.home(key);
            let mut probes = 1;
            while table.region.words()[slot * WORDS_PER_SLOT].load(Ordering::Relaxed) != EMPTY {
                slot = (slot + 1) & table.slot_mask;
                probes += 1;
            }
            longest = longest.max(probes);
            assert_eq!(table.try_acquire(key, Limit::new(1.0, 1), SECOND), Acquire::Admitted);
        }
        assert_eq!(table.len(), keys);
        assert!(longest < PROBE_LIMIT / 4, "longest probe {longest}");
    }
}
