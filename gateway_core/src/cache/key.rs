//! Cache keys: the method, the resource's cache namespace and the values of the method's declared
//! `cacheKeyParameters`, in declared order, as AWS keys its stage cache.
//!
//! The parts are written into one byte string, each length-prefixed, so that no two different
//! part lists give the same bytes (`("a", "bc")` is not `("ab", "c")`), and a parameter carries a
//! tag byte that tells an absent value from an empty one (`?q` is not the same request as no `q`
//! when `q` is a key parameter). The 64-bit `FxHash` of the bytes is computed once, when the key is
//! built; the cache uses it to find the bucket and then compares the full bytes, so a hash
//! collision can never serve another key's response.
//!
//! Layout: `len(method) method len(namespace) namespace`, then per parameter
//! `len(name) name 0` (absent) or `len(name) name 1 len(value) value`, lengths as `u32` LE.

use std::hash::{Hash, Hasher};

use rustc_hash::FxHasher;

/// Bytes a [`CacheKeyBuilder`] reserves for parameters beyond the method and namespace: one
/// query parameter of a typical size fits, so the usual key costs exactly one allocation.
const DEFAULT_PARAM_ROOM: usize = 96;

/// Length prefix of each part.
const LEN_BYTES: usize = 4;
const ABSENT: u8 = 0;
const PRESENT: u8 = 1;

/// A complete cache key: encoded bytes and their hash. Build it with [`CacheKey::new`] or
/// [`CacheKey::builder`]; compare and hash it like any value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheKey {
    /// `FxHash` of `bytes`; first in the struct so that equality fails fast on it.
    hash: u64,
    bytes: Vec<u8>,
}

impl CacheKey {
    /// The key for `method` on the resource with cache `namespace`, with the declared key
    /// parameters' values in declared order (`None` when the request does not carry one).
    /// Allocates exactly once.
    pub fn new(method: &str, namespace: &str, params: &[(&str, Option<&str>)]) -> Self {
        let param_bytes = params.iter().map(|&(name, value)| param_len(name, value)).sum();
        let mut builder = CacheKeyBuilder::with_param_room(method, namespace, param_bytes);
        for &(name, value) in params {
            builder.push_param(name, value);
        }
        builder.build()
    }

    /// Starts a key for `method` and `namespace`; append the parameters, then
    /// [`build`](CacheKeyBuilder::build).
    pub fn builder(method: &str, namespace: &str) -> CacheKeyBuilder {
        CacheKeyBuilder::with_param_room(method, namespace, DEFAULT_PARAM_ROOM)
    }

    /// The encoded key (see the module doc for the layout).
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The key's 64-bit `FxHash`.
    #[inline]
    pub fn hash_code(&self) -> u64 {
        self.hash
    }

    pub(super) fn into_parts(self) -> (u64, Vec<u8>) {
        (self.hash, self.bytes)
    }

    /// A key with a chosen hash, to force collisions in tests.
    #[cfg(test)]
    pub(crate) fn with_hash(method: &str, hash: u64) -> Self {
        Self { hash, bytes: Self::new(method, "/", &[]).bytes }
    }
}

impl Hash for CacheKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

/// Appends a key's parts into one buffer. The buffer is sized up front (method, namespace and
/// room for parameters), so a key whose parameters fit the room costs one allocation.
#[derive(Debug, Clone)]
pub struct CacheKeyBuilder {
    bytes: Vec<u8>,
}

impl CacheKeyBuilder {
    /// A builder with room for `param_bytes` of encoded parameters (see [`param_len`]) before it
    /// has to grow.
    pub fn with_param_room(method: &str, namespace: &str, param_bytes: usize) -> Self {
        let mut bytes = Vec::with_capacity(2 * LEN_BYTES + method.len() + namespace.len() + param_bytes);
        push_part(&mut bytes, method.as_bytes());
        push_part(&mut bytes, namespace.as_bytes());
        Self { bytes }
    }

    /// Appends the next declared parameter and its value (`None`: absent from the request).
    #[must_use]
    pub fn param(mut self, name: &str, value: Option<&str>) -> Self {
        self.push_param(name, value);
        self
    }

    /// Appends the next declared parameter, in place (for loops).
    pub fn push_param(&mut self, name: &str, value: Option<&str>) {
        push_part(&mut self.bytes, name.as_bytes());
        match value {
            None => self.bytes.push(ABSENT),
            Some(value) => {
                self.bytes.push(PRESENT);
                push_part(&mut self.bytes, value.as_bytes());
            }
        }
    }

    /// Hashes the bytes and returns the key.
    pub fn build(self) -> CacheKey {
        let mut hasher = FxHasher::default();
        hasher.write(&self.bytes);
        CacheKey { hash: hasher.finish(), bytes: self.bytes }
    }
}

/// Encoded size of one parameter, for [`CacheKeyBuilder::with_param_room`].
pub fn param_len(name: &str, value: Option<&str>) -> usize {
    LEN_BYTES + name.len() + 1 + value.map_or(0, |value| LEN_BYTES + value.len())
}

#[inline]
fn push_part(bytes: &mut Vec<u8>, part: &[u8]) {
    let len = u32::try_from(part.len()).expect("a cache key part is under 4 GiB");
    bytes.extend_from_slice(&len.to_le_bytes());
    bytes.extend_from_slice(part);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_and_builder_agree_and_allocate_once() {
        let params = [("method.request.querystring.page", Some("7")), ("method.request.header.x", None)];
        let key = CacheKey::new("GET", "abc123", &params);
        let built = CacheKey::builder("GET", "abc123").param(params[0].0, params[0].1).param(params[1].0, None).build();
        assert_eq!(key, built);
        assert_eq!(key.hash_code(), built.hash_code());
        // Exactly sized: `new` reserved every byte it wrote.
        assert_eq!(key.bytes.capacity(), key.bytes.len());
    }

    #[test]
    fn parts_cannot_run_into_each_other() {
        assert_ne!(CacheKey::new("GET", "ab", &[]), CacheKey::new("GETa", "b", &[]));
        let two = |a, b| CacheKey::new("GET", "n", &[("p", Some(a)), ("q", Some(b))]);
        assert_ne!(two("a", "bc"), two("ab", "c"));
        assert_ne!(CacheKey::new("GET", "n", &[("pa", None)]), CacheKey::new("GET", "n", &[("p", Some("a"))]));
    }

    #[test]
    fn one_query_parameter_fits_the_default_room() {
        let name = "method.request.querystring.page";
        let builder = CacheKey::builder("GET", "/pets/{petId}");
        let capacity = builder.bytes.capacity();
        let key = builder.param(name, Some("12345")).build();
        assert_eq!(key.bytes.capacity(), capacity, "no reallocation");
    }
}
