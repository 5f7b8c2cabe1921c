//! What the cache stores and hands back, and what an entry costs.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use super::key::CacheKey;

/// Bytes charged per entry on top of its key, headers and body: the slot, the shared allocation
/// around the response, the index and ghost-queue entries and the allocator's headers. On x86-64
/// these add up to about 275 bytes with the hash tables at their maximum load (a unit test checks
/// the budget holds); 288 is the round figure.
pub const ENTRY_OVERHEAD_BYTES: usize = 288;

/// Bytes charged per header on top of its name and value: two `String`s (48) and their
/// allocator headers.
pub const HEADER_OVERHEAD_BYTES: usize = 64;

/// A cached integration response. Headers stay `(name, value)` pairs, in order and with repeats,
/// as they are sent.
///
/// An embedding may keep the response in its own form instead ([`CachedResponse::embedded`]): the cache
/// never reads a response's content, only what it costs, so the Python binding keeps its Python objects
/// here and a hit hands them out as they are, with no copy or conversion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Box<[u8]>,
    /// The embedding's form of the response, when it keeps one (`headers` and `body` are then empty).
    pub embedded: Option<Embedded>,
}

/// A response in an embedding's own form: its body's length (held to the maximum response size), the bytes
/// the whole form takes (charged like headers and body) and the value.
#[derive(Clone)]
pub struct Embedded {
    pub body_len: usize,
    pub bytes: usize,
    pub value: Arc<dyn Any + Send + Sync>,
}

impl fmt::Debug for Embedded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Embedded").field("body_len", &self.body_len).field("bytes", &self.bytes).finish_non_exhaustive()
    }
}

/// Two embedded forms are equal when they are the same value.
impl PartialEq for Embedded {
    fn eq(&self, other: &Self) -> bool {
        self.body_len == other.body_len && self.bytes == other.bytes && Arc::ptr_eq(&self.value, &other.value)
    }
}

impl Eq for Embedded {}

impl CachedResponse {
    /// A response to cache.
    pub fn new(status: u16, headers: Vec<(String, String)>, body: impl Into<Box<[u8]>>) -> Self {
        Self { status, headers, body: body.into(), embedded: None }
    }

    /// A response kept in an embedding's own form: `body_len` its body's length, `bytes` the size of the whole
    /// form (content and bookkeeping). Read it back with [`CachedResponse::embedded_as`].
    pub fn embedded(status: u16, value: impl Any + Send + Sync, body_len: usize, bytes: usize) -> Self {
        let embedded = Embedded { body_len, bytes, value: Arc::new(value) };
        Self { status, headers: Vec::new(), body: Box::default(), embedded: Some(embedded) }
    }

    /// The body's length, in whichever form the response is kept.
    pub fn body_len(&self) -> usize {
        self.embedded.as_ref().map_or(self.body.len(), |embedded| embedded.body_len)
    }

    /// The embedding's form of the response, if it is one of type `T`.
    pub fn embedded_as<T: Any>(&self) -> Option<&T> {
        self.embedded.as_ref().and_then(|embedded| embedded.value.downcast_ref())
    }

    /// Bytes charged for the headers: their text plus [`HEADER_OVERHEAD_BYTES`] each.
    pub fn header_bytes(&self) -> usize {
        self.headers.iter().map(|(name, value)| name.len() + value.len() + HEADER_OVERHEAD_BYTES).sum()
    }
}

/// Bytes an entry is charged against the cache's capacity: key + body + headers (or the embedded form) +
/// [`ENTRY_OVERHEAD_BYTES`].
pub fn entry_size(key: &CacheKey, response: &CachedResponse) -> usize {
    let embedded = response.embedded.as_ref().map_or(0, |embedded| embedded.bytes);
    key.as_bytes().len() + response.body.len() + response.header_bytes() + embedded + ENTRY_OVERHEAD_BYTES
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
