//! What the cache stores and hands back, and what an entry costs.

use std::sync::Arc;

use super::key::CacheKey;

/// Bytes charged per entry on top of its key, headers and body: the slot, the shared allocation
/// around the response, the index and ghost-queue entries and the allocator's headers. On x86-64
/// these add up to about 250 bytes with the hash tables at their maximum load (a unit test checks
/// the budget holds); 256 is the round figure.
pub const ENTRY_OVERHEAD_BYTES: usize = 256;

/// Bytes charged per header on top of its name and value: two `String`s (48) and their
/// allocator headers.
pub const HEADER_OVERHEAD_BYTES: usize = 64;

/// A cached integration response. Headers stay `(name, value)` pairs, in order and with repeats,
/// as they are sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Box<[u8]>,
}

impl CachedResponse {
    /// A response to cache.
    pub fn new(status: u16, headers: Vec<(String, String)>, body: impl Into<Box<[u8]>>) -> Self {
        Self { status, headers, body: body.into() }
    }

    /// Bytes charged for the headers: their text plus [`HEADER_OVERHEAD_BYTES`] each.
    pub fn header_bytes(&self) -> usize {
        self.headers.iter().map(|(name, value)| name.len() + value.len() + HEADER_OVERHEAD_BYTES).sum()
    }
}

/// Bytes an entry is charged against the cache's capacity: key + body + headers +
/// [`ENTRY_OVERHEAD_BYTES`].
pub fn entry_size(key: &CacheKey, response: &CachedResponse) -> usize {
    key.as_bytes().len() + response.body.len() + response.header_bytes() + ENTRY_OVERHEAD_BYTES
}

/// A cached response found by a lookup. The response is shared, not copied: cloning a `Hit` or
/// holding it after the entry is evicted is fine.
#[derive(Debug, Clone)]
pub struct Hit {
    pub response: Arc<CachedResponse>,
    /// When the entry was stored (cache clock, microseconds).
    pub inserted_at: u64,
    /// First microsecond at which it is no longer fresh.
    pub expires_at: u64,
}

/// The outcome of [`ResponseCache::get_or_stale`](super::ResponseCache::get_or_stale).
#[derive(Debug, Clone)]
pub enum Lookup {
    /// A fresh entry: serve it.
    Fresh(Hit),
    /// Expired, but within the configured stale window: serve it and refresh it in the background
    /// (with [`InFlight`](super::InFlight), so that one request refreshes).
    Stale(Hit),
    /// Nothing usable: fetch.
    Miss,
}
