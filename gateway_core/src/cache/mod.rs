//! The response cache of an API stage, with Amazon API Gateway's semantics.
//!
//! AWS caches a method's integration response under a key made of the method, the resource's
//! cache namespace and the values of the method's declared `cacheKeyParameters` ([`CacheKey`]).
//! Each entry lives for a TTL (default 300 s, 0 turns caching off, at most 3600 s), responses over
//! 1 MiB are not cached, and the cache has a size in bytes. Here one [`ResponseCache`] runs in each
//! worker process with its share of the stage's capacity (the caller divides it).
//!
//! One request, from the top (the caller holds the cache and an [`InFlight`] behind one lock):
//!
//! ```text
//! now = clock.now_micros();  key = CacheKey::new(method, namespace, &params)
//! match cache.get_or_stale(&key, now)
//!     Fresh(hit) => serve hit.response
//!     Stale(hit) => serve hit.response; if in_flight.begin(&key, now) is Lead: refresh in background
//!     Miss       => Lead: fetch, cache.insert(key, response, ttl, now), in_flight.complete (or fail)
//!                   Follow: wait for the leader, then look again
//! ```
//!
//! Design:
//!
//! - **`&mut self`, lock outside.** A lookup writes (the policy's bookkeeping, counters, dropping an
//!   expired entry), so a `&self` API would lock inside anyway. With the lock outside, the caller
//!   takes one uncontended `Mutex` (~20 ns) per request and can do the lookup and the single-flight
//!   check in one critical section, so two misses cannot both lead. The types are `Send + Sync`.
//! - **Explicit time.** Every call takes `now` in microseconds from a [`Clock`]; tests use a
//!   [`ManualClock`], production a [`MonotonicClock`]. An entry inserted at `t` with TTL `d` is fresh
//!   while `now < t + d`; at `t + d` it is expired and never served as fresh.
//! - **Lookup without copies.** Keys are one length-prefixed byte string with a precomputed `FxHash`
//!   (see `key.rs`); the index finds the slot by hash and compares the full key, so a collision
//!   cannot serve another key's response. A hit clones one `Arc`: the body is not copied.
//! - **Bytes, not entries.** An entry is charged [`entry_size`]: key + body + header text + 64 per
//!   header (or the size an embedding gives its own form of the response, [`Embedded`]) +
//!   [`ENTRY_OVERHEAD_BYTES`] (288) for the slot, index, ghost and allocator overheads.
//!   Inserting evicts until the new entry fits, so [`ResponseCache::bytes_used`] never exceeds the
//!   capacity. A body over the maximum response size, an entry larger than the whole capacity and a
//!   zero TTL are refused.
//! - **Expiry.** Expired entries are dropped lazily: when a lookup meets one, and when eviction
//!   reaches one (it goes first, whatever the policy thinks of it). With a stale window
//!   ([`CacheConfig::stale_for`]) an entry stays servable as [`Lookup::Stale`] that much longer.
//! - **S3-FIFO by default, LRU as baseline** (`policy.rs`). Measured in `benches/cache.rs` on
//!   100,000 keys with room for 10% of them, hit ratios S3-FIFO / LRU: Zipf s=0.9 0.674 / 0.605,
//!   Zipf s=1.1 0.875 / 0.845, and with scans through half of the requests 0.787 / 0.690 on the
//!   Zipf requests (one-hit wonders leave from S3-FIFO's small queue without pushing the popular
//!   entries out). A hit also writes one byte instead of relinking a list.

mod clock;
mod entry;
mod inflight;
mod key;
mod policy;
mod store;

pub use clock::{Clock, ManualClock, MonotonicClock};
pub use entry::{entry_size, CachedResponse, Embedded, Hit, Lookup, ENTRY_OVERHEAD_BYTES, HEADER_OVERHEAD_BYTES};
pub use inflight::{Flight, FlightToken, InFlight};
pub use key::{param_len, CacheKey, CacheKeyBuilder};
pub use policy::EvictionPolicy;

use std::sync::Arc;
use std::time::Duration;

use policy::{Evictor, Removed};
use store::{Slot, Store};

/// AWS's default time to live of a cached response: 300 s.
pub const DEFAULT_TTL: Duration = Duration::from_secs(DEFAULT_TTL_SECONDS);
/// The longest time to live AWS allows, 3600 s; longer TTLs are cut to this.
pub const MAX_TTL: Duration = Duration::from_secs(MAX_TTL_SECONDS);
const DEFAULT_TTL_SECONDS: u64 = 300;
const MAX_TTL_SECONDS: u64 = 3_600;
/// AWS does not cache responses whose body is larger than this.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 1_048_576;

/// How a [`ResponseCache`] is sized and behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheConfig {
    /// Bytes this cache may hold, as charged by [`entry_size`].
    pub capacity_bytes: usize,
    /// Bodies larger than this are not cached.
    pub max_response_bytes: usize,
    /// How long after expiry an entry may still be served as [`Lookup::Stale`]; zero: never.
    pub stale_for: Duration,
    /// How entries are chosen for eviction (S3-FIFO unless comparing).
    pub policy: EvictionPolicy,
}

impl CacheConfig {
    /// `capacity_bytes` with AWS's defaults: 1 MiB responses, no stale serving, S3-FIFO.
    pub fn new(capacity_bytes: usize) -> Self {
        Self {
            capacity_bytes,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            stale_for: Duration::ZERO,
            policy: EvictionPolicy::default(),
        }
    }
}

/// Counters since the cache was created (a flush does not reset them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Lookups answered with a fresh entry.
    pub hits: u64,
    /// Lookups answered with a stale entry ([`ResponseCache::get_or_stale`]).
    pub stale_hits: u64,
    /// Lookups answered with nothing.
    pub misses: u64,
    /// Entries stored (replacements included).
    pub insertions: u64,
    /// Inserts refused: zero TTL, body over the maximum, or entry larger than the capacity.
    pub rejections: u64,
    /// Live entries evicted to make room.
    pub evictions: u64,
    /// Entries dropped because they expired (past the stale window).
    pub expirations: u64,
}

/// A byte-bounded cache of integration responses with per-entry TTL. See the module doc.
#[derive(Debug)]
pub struct ResponseCache {
    config: CacheConfig,
    stale_micros: u64,
    store: Store,
    evictor: Evictor,
    stats: CacheStats,
}

impl ResponseCache {
    /// An empty cache.
    pub fn new(config: CacheConfig) -> Self {
        Self {
            config,
            stale_micros: micros(config.stale_for),
            store: Store::new(),
            evictor: Evictor::new(config.policy, config.capacity_bytes),
            stats: CacheStats::default(),
        }
    }

    /// The fresh entry for `key`, if any (AWS semantics: an expired entry is a miss).
    #[inline]
    pub fn get(&mut self, key: &CacheKey, now: u64) -> Option<Hit> {
        match self.lookup(key, now, false) {
            Lookup::Fresh(hit) => Some(hit),
            Lookup::Stale(_) | Lookup::Miss => None,
        }
    }

    /// Like [`get`](Self::get), but an entry expired less than [`CacheConfig::stale_for`] ago is
    /// returned as [`Lookup::Stale`].
    #[inline]
    pub fn get_or_stale(&mut self, key: &CacheKey, now: u64) -> Lookup {
        self.lookup(key, now, true)
    }

    /// Whether a fresh entry for `key` is cached. Changes nothing: no counters, no policy state.
    pub fn contains(&self, key: &CacheKey, now: u64) -> bool {
        self.store.find(key.hash_code(), key.as_bytes()).is_some_and(|at| now < self.store.get(at).expires_at)
    }

    /// Caches `response` under `key` for `ttl` (cut to [`MAX_TTL`]), replacing any entry for the
    /// key and evicting others as needed. Returns `false`, storing nothing, when the TTL is zero,
    /// the body is larger than the maximum response size or the entry larger than the capacity
    /// (an entry already cached for the key then stays).
    pub fn insert(&mut self, key: CacheKey, response: CachedResponse, ttl: Duration, now: u64) -> bool {
        let charged = entry_size(&key, &response);
        if ttl.is_zero() || response.body_len() > self.config.max_response_bytes || charged > self.config.capacity_bytes
        {
            self.stats.rejections += 1;
            return false;
        }
        let (hash, key) = key.into_parts();
        // A replaced entry keeps its standing with the policy (queue and counter): refreshing a
        // popular entry must not send it back to the small queue.
        let replaced = self.store.find(hash, &key).map(|at| {
            let old = self.store.remove(at);
            (old.queue, old.freq)
        });
        let stale_micros = self.stale_micros;
        let is_dead = move |slot: &Slot| now >= slot.expires_at.saturating_add(stale_micros);
        while self.store.bytes() + charged > self.config.capacity_bytes {
            match self.evictor.evict_one(&mut self.store, is_dead) {
                Some(Removed::Evicted) => self.stats.evictions += 1,
                Some(Removed::Expired) => self.stats.expirations += 1,
                None => break,
            }
        }
        let (queue, freq) = replaced.unwrap_or_else(|| (self.evictor.queue_for_new(hash), 0));
        let expires_at = now.saturating_add(micros(ttl.min(MAX_TTL)));
        let mut slot = Slot::new(key.into_boxed_slice(), hash, Arc::new(response), now, expires_at, charged);
        slot.freq = freq;
        self.store.insert(slot, queue);
        self.stats.insertions += 1;
        true
    }

    /// Drops the entry for `key`; `false` if there was none.
    pub fn invalidate(&mut self, key: &CacheKey) -> bool {
        match self.store.find(key.hash_code(), key.as_bytes()) {
            Some(at) => {
                self.store.remove(at);
                true
            }
            None => false,
        }
    }

    /// Drops every entry (AWS's "flush stage cache"). Counters stay.
    pub fn flush(&mut self) {
        self.store.clear();
        self.evictor.clear();
    }

    /// Entries cached, expired ones not yet dropped included.
    pub fn len(&self) -> usize {
        self.store.len()
    }

    /// Nothing cached.
    pub fn is_empty(&self) -> bool {
        self.store.len() == 0
    }

    /// Bytes charged by the cached entries; never more than [`capacity_bytes`](Self::capacity_bytes).
    pub fn bytes_used(&self) -> usize {
        self.store.bytes()
    }

    /// The configured capacity in bytes.
    pub fn capacity_bytes(&self) -> usize {
        self.config.capacity_bytes
    }

    /// The configuration the cache was built with.
    pub fn config(&self) -> &CacheConfig {
        &self.config
    }

    /// Counters since creation.
    pub fn stats(&self) -> CacheStats {
        self.stats
    }

    fn lookup(&mut self, key: &CacheKey, now: u64, allow_stale: bool) -> Lookup {
        let Some(at) = self.store.find(key.hash_code(), key.as_bytes()) else {
            self.stats.misses += 1;
            return Lookup::Miss;
        };
        let slot = self.store.get(at);
        let fresh = now < slot.expires_at;
        let stale = !fresh && now < slot.expires_at.saturating_add(self.stale_micros);
        if fresh || (stale && allow_stale) {
            let hit = Hit {
                response: Arc::clone(&slot.response),
                inserted_at: slot.inserted_at,
                expires_at: slot.expires_at,
            };
            // A stale hit counts as a use too: the entry is about to be refreshed in place.
            self.evictor.on_hit(&mut self.store, at);
            if fresh {
                self.stats.hits += 1;
                return Lookup::Fresh(hit);
            }
            self.stats.stale_hits += 1;
            return Lookup::Stale(hit);
        }
        if !stale {
            let expired = self.store.remove(at);
            self.evictor.on_expired(&expired, self.store.len());
            self.stats.expirations += 1;
        }
        self.stats.misses += 1;
        Lookup::Miss
    }
}

fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use std::mem::size_of;

    use super::store::QueueId;
    use super::*;

    const TTL: Duration = DEFAULT_TTL;

    fn response(body_bytes: usize) -> CachedResponse {
        CachedResponse::new(200, Vec::new(), vec![b'x'; body_bytes])
    }

    fn body_len(cache: &mut ResponseCache, key: &CacheKey) -> Option<usize> {
        cache.get(key, 1).map(|hit| hit.response.body.len())
    }

    #[test]
    fn overhead_budget_covers_the_bookkeeping() {
        // A hash table entry at the tables' maximum load (7/8), with its control byte.
        let table_entry = size_of::<(u64, u32)>() * 8 / 7 + 1;
        // Allocator header and rounding for the key, the Arc, the body and the header list.
        let allocations = 4 * 16;
        let slot = size_of::<Option<Slot>>() + size_of::<u32>(); // and its place in the free list
        let shared_response = 2 * size_of::<usize>() + size_of::<CachedResponse>();
        let ghost = size_of::<u64>() + table_entry;
        let per_entry = slot + shared_response + table_entry + ghost + allocations;
        assert!(per_entry <= ENTRY_OVERHEAD_BYTES, "{per_entry} bytes");
        let per_header = size_of::<(String, String)>() + 2 * 8;
        assert!(per_header <= HEADER_OVERHEAD_BYTES, "{per_header} bytes");
    }

    #[test]
    fn keys_with_one_hash_share_a_bucket_and_stay_apart() {
        // Forced into one bucket: the chain is POST -> PUT -> GET (newest first).
        let keys: Vec<CacheKey> = ["GET", "PUT", "POST"].into_iter().map(|m| CacheKey::with_hash(m, 42)).collect();
        let mut cache = ResponseCache::new(CacheConfig::new(1 << 20));
        for (i, key) in keys.iter().enumerate() {
            assert!(cache.insert(key.clone(), response(i + 1), TTL, 0));
        }
        assert_eq!(cache.len(), 3);
        for (i, key) in keys.iter().enumerate() {
            assert_eq!(body_len(&mut cache, key), Some(i + 1), "{i}");
        }
        assert_eq!(body_len(&mut cache, &CacheKey::with_hash("DELETE", 42)), None, "same hash, other key");

        // Replace in the middle of the chain, then unlink the middle, the head and the tail.
        assert!(cache.insert(keys[1].clone(), response(20), TTL, 0));
        assert_eq!(body_len(&mut cache, &keys[1]), Some(20));
        assert!(cache.invalidate(&keys[1]));
        assert_eq!((body_len(&mut cache, &keys[0]), body_len(&mut cache, &keys[1])), (Some(1), None));
        assert_eq!(body_len(&mut cache, &keys[2]), Some(3));
        assert!(cache.invalidate(&keys[2]));
        assert_eq!(body_len(&mut cache, &keys[0]), Some(1));
        assert!(cache.invalidate(&keys[0]));
        assert!(cache.is_empty());
        assert!(!cache.invalidate(&keys[0]));
    }

    #[test]
    fn eviction_unlinks_colliding_keys() {
        let keys: Vec<CacheKey> = ["GET", "PUT", "POST"].into_iter().map(|m| CacheKey::with_hash(m, 7)).collect();
        let size = entry_size(&keys[0], &response(100));
        let mut config = CacheConfig::new(2 * size + size / 2);
        config.policy = EvictionPolicy::Lru;
        let mut cache = ResponseCache::new(config);
        for key in &keys {
            assert!(cache.insert(key.clone(), response(100), TTL, 0));
        }
        assert_eq!(cache.len(), 2);
        assert_eq!(body_len(&mut cache, &keys[0]), None, "the oldest went");
        assert_eq!((body_len(&mut cache, &keys[1]), body_len(&mut cache, &keys[2])), (Some(100), Some(100)));
    }

    #[test]
    fn s3fifo_admits_new_keys_small_and_ghosts_main() {
        let key = |i: usize| CacheKey::new("GET", "ns", &[("id", Some(&format!("{i:03}")))]);
        let size = entry_size(&key(0), &response(100));
        let mut cache = ResponseCache::new(CacheConfig::new(10 * size));
        let queue_of = |cache: &ResponseCache, i: usize| {
            let key = key(i);
            cache.store.find(key.hash_code(), key.as_bytes()).map(|at| cache.store.get(at).queue)
        };
        for i in 0..10 {
            cache.insert(key(i), response(100), TTL, 0);
        }
        assert_eq!(queue_of(&cache, 0), Some(QueueId::Small));
        assert!(cache.get(&key(0), 1).is_some());
        cache.insert(key(10), response(100), TTL, 0);
        // 0 was hit: promoted. 1 was not: evicted, into the ghost.
        assert_eq!(queue_of(&cache, 0), Some(QueueId::Main));
        assert_eq!(queue_of(&cache, 1), None);
        cache.insert(key(1), response(100), TTL, 0);
        assert_eq!(queue_of(&cache, 1), Some(QueueId::Main), "back from the ghost");
        // A replacement keeps its queue.
        cache.insert(key(1), response(100), TTL, 0);
        assert_eq!(queue_of(&cache, 1), Some(QueueId::Main));
        assert_eq!(cache.stats().evictions, 2);
    }
}
