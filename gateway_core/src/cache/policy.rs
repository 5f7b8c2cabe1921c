//! Eviction: S3-FIFO (the default) and LRU (the baseline it was measured against).
//!
//! S3-FIFO (Yang et al., SOSP 2023) keeps a small FIFO queue (10% of the bytes) where new entries
//! wait to prove themselves, a main FIFO queue (the rest) and a ghost queue of recently evicted
//! key hashes (no data):
//!
//! - a new entry enters the small queue, or the main queue if its hash is in the ghost (it was
//!   evicted recently and is wanted again);
//! - a hit only bumps a 2-bit counter (capped at 3): no list is touched, so a hit writes one byte;
//! - evicting from the small queue: an entry hit at least once moves to the main queue (counter
//!   reset), one never hit leaves and its hash goes to the ghost. Most one-hit wonders (scans,
//!   unique query strings) leave here without disturbing the main queue;
//! - evicting from the main queue: an entry with a non-zero counter is reinserted at the head with
//!   the counter decremented (a 2-bit CLOCK), one at zero leaves.
//!
//! LRU moves an entry to the head on every hit and evicts the tail.
//!
//! Either way, an expired entry met during eviction (past its stale window) is dropped first
//! whatever its counter, and counted as an expiration rather than an eviction.

use std::collections::VecDeque;

use rustc_hash::FxHashMap;

use super::store::{QueueId, Slot, Store};

/// How the cache picks entries to evict when full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EvictionPolicy {
    /// S3-FIFO: scan-resistant, and a hit writes one byte instead of relinking a list.
    #[default]
    S3Fifo,
    /// Least recently used: the baseline.
    Lru,
}

/// Share of the capacity (in bytes) the small queue may hold before eviction drains it: 1/10.
const SMALL_QUEUE_DIVISOR: usize = 10;
/// S3-FIFO's counter saturates here (two bits).
const MAX_FREQ: u8 = 3;

/// Why eviction removed an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Removed {
    /// Past its TTL and stale window.
    Expired,
    /// Live, but the cache needed the room.
    Evicted,
}

/// The policy and its state beyond the queues.
#[derive(Debug)]
pub(super) struct Evictor {
    policy: EvictionPolicy,
    small_queue_bytes: usize,
    ghost: Ghost,
}

impl Evictor {
    pub(super) fn new(policy: EvictionPolicy, capacity_bytes: usize) -> Self {
        Self { policy, small_queue_bytes: capacity_bytes / SMALL_QUEUE_DIVISOR, ghost: Ghost::default() }
    }

    /// The queue a new key enters.
    pub(super) fn queue_for_new(&self, hash: u64) -> QueueId {
        match self.policy {
            EvictionPolicy::S3Fifo if !self.ghost.contains(hash) => QueueId::Small,
            _ => QueueId::Main,
        }
    }

    /// Records a hit on slot `at`.
    #[inline]
    pub(super) fn on_hit(&self, store: &mut Store, at: u32) {
        match self.policy {
            EvictionPolicy::S3Fifo => {
                let slot = store.get_mut(at);
                slot.freq = (slot.freq + 1).min(MAX_FREQ);
            }
            EvictionPolicy::Lru => store.move_to_head(at, QueueId::Main),
        }
    }

    /// Notes an entry dropped because it expired. One that had earned its place (in the main queue,
    /// or hit) is remembered in the ghost, so that its next fetch goes straight back to the main
    /// queue instead of competing with one-hit wonders again.
    pub(super) fn on_expired(&mut self, slot: &Slot, entries: usize) {
        if self.policy == EvictionPolicy::S3Fifo && (slot.queue == QueueId::Main || slot.freq > 0) {
            self.ghost.remember(slot.hash, entries);
        }
    }

    /// Removes one entry (dropping it) and says why; `None` only when the cache is empty.
    /// `is_dead` tells an entry past its TTL and stale window.
    pub(super) fn evict_one(&mut self, store: &mut Store, is_dead: impl Fn(&Slot) -> bool) -> Option<Removed> {
        match self.policy {
            EvictionPolicy::S3Fifo => self.evict_s3fifo(store, is_dead),
            EvictionPolicy::Lru => {
                let oldest = store.oldest(QueueId::Main)?;
                let dead = is_dead(store.get(oldest));
                store.remove(oldest);
                Some(if dead { Removed::Expired } else { Removed::Evicted })
            }
        }
    }

    fn evict_s3fifo(&mut self, store: &mut Store, is_dead: impl Fn(&Slot) -> bool) -> Option<Removed> {
        loop {
            let small = store.queue(QueueId::Small);
            let drain_small =
                small.len > 0 && (small.bytes > self.small_queue_bytes || store.queue(QueueId::Main).len == 0);
            let queue = if drain_small { QueueId::Small } else { QueueId::Main };
            let oldest = store.oldest(queue)?;
            let slot = store.get_mut(oldest);
            if is_dead(slot) {
                store.remove(oldest);
                return Some(Removed::Expired);
            }
            match queue {
                QueueId::Small if slot.freq > 0 => {
                    slot.freq = 0;
                    store.move_to_head(oldest, QueueId::Main);
                }
                QueueId::Main if slot.freq > 0 => {
                    slot.freq -= 1;
                    store.move_to_head(oldest, QueueId::Main);
                }
                QueueId::Small => {
                    let hash = slot.hash;
                    store.remove(oldest);
                    self.ghost.remember(hash, store.len());
                    return Some(Removed::Evicted);
                }
                QueueId::Main => {
                    store.remove(oldest);
                    return Some(Removed::Evicted);
                }
            }
        }
    }

    pub(super) fn clear(&mut self) {
        self.ghost = Ghost::default();
    }
}

/// Hashes of keys recently evicted from the small queue, oldest first, holding as many as the
/// cache holds entries (S3-FIFO sizes it like the main queue). Membership is by 64-bit hash: a
/// false positive only puts a new entry in the main queue.
#[derive(Debug, Default)]
struct Ghost {
    order: VecDeque<u64>,
    /// How many times each hash is in `order`.
    counts: FxHashMap<u64, u32>,
}

impl Ghost {
    fn contains(&self, hash: u64) -> bool {
        self.counts.contains_key(&hash)
    }

    fn remember(&mut self, hash: u64, capacity: usize) {
        self.order.push_back(hash);
        *self.counts.entry(hash).or_insert(0) += 1;
        while self.order.len() > capacity.max(1) {
            let Some(old) = self.order.pop_front() else { break };
            if let Some(count) = self.counts.get_mut(&old) {
                *count -= 1;
                if *count == 0 {
                    self.counts.remove(&old);
                }
            }
        }
    }
}
