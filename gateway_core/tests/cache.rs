//! The response cache through its public API, on a manual clock: keys, TTL, byte capacity,
//! refusals, eviction order (S3-FIFO and LRU), flush and invalidate, stale serving, single flight,
//! and a small hit-ratio comparison of the two policies.

use std::sync::Arc;
use std::time::Duration;

use gateway_core::cache::{
    entry_size, CacheConfig, CacheKey, CachedResponse, Clock, EvictionPolicy, Flight, Hit, InFlight, Lookup,
    ManualClock, ResponseCache, DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_TTL, MAX_TTL,
};

const SECOND: u64 = 1_000_000;
const BODY: usize = 100;

/// Key number `i`; all keys below 10,000 have the same length, so their entries the same size.
fn key(i: usize) -> CacheKey {
    CacheKey::new("GET", "ns", &[("method.request.querystring.id", Some(&format!("{i:04}")))])
}

/// A body of `len` bytes that starts with `tag`, to tell entries apart.
fn response(tag: usize, len: usize) -> CachedResponse {
    let mut body = format!("{tag:04}").into_bytes();
    body.resize(len, b'.');
    CachedResponse::new(200, vec![("content-type".into(), "text/plain".into())], body)
}

/// Bytes charged for one `key(i)` with a `response(_, BODY)`.
fn unit() -> usize {
    entry_size(&key(0), &response(0, BODY))
}

fn secs(seconds: u64) -> Duration {
    Duration::from_secs(seconds)
}

fn cache_with(policy: EvictionPolicy, capacity_bytes: usize) -> ResponseCache {
    let mut config = CacheConfig::new(capacity_bytes);
    config.policy = policy;
    ResponseCache::new(config)
}

/// The tag of the body cached for `key(i)`, if any.
fn tag(cache: &mut ResponseCache, i: usize, now: u64) -> Option<usize> {
    let hit = cache.get(&key(i), now)?;
    Some(std::str::from_utf8(&hit.response.body[..4]).unwrap().parse().unwrap())
}

fn present(cache: &ResponseCache, keys: impl IntoIterator<Item = usize>) -> Vec<usize> {
    keys.into_iter().filter(|&i| cache.contains(&key(i), 0)).collect()
}

#[test]
fn the_shared_types_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<ResponseCache>();
    check::<InFlight>();
    check::<CacheKey>();
    check::<Hit>();
    check::<ManualClock>();
}

// ---- Keys -------------------------------------------------------------------------------------

#[test]
fn equal_parts_make_equal_keys() {
    let params = [("method.request.querystring.page", Some("2")), ("method.request.header.accept", None)];
    let a = CacheKey::new("GET", "abc123", &params);
    let b = CacheKey::builder("GET", "abc123").param(params[0].0, params[0].1).param(params[1].0, params[1].1).build();
    assert_eq!(a, b);
    assert_eq!(a.hash_code(), b.hash_code());
    assert_eq!(a.as_bytes(), b.as_bytes());
}

#[test]
fn every_part_of_a_key_counts() {
    let q = |value| ("method.request.querystring.q", value);
    let h = |value| ("method.request.header.h", value);
    let base = CacheKey::new("GET", "abc", &[q(Some("1")), h(Some("2"))]);
    let different = [
        ("method", CacheKey::new("POST", "abc", &[q(Some("1")), h(Some("2"))])),
        ("namespace", CacheKey::new("GET", "abd", &[q(Some("1")), h(Some("2"))])),
        ("value", CacheKey::new("GET", "abc", &[q(Some("1")), h(Some("3"))])),
        ("parameter order", CacheKey::new("GET", "abc", &[h(Some("2")), q(Some("1"))])),
        ("values swapped", CacheKey::new("GET", "abc", &[q(Some("2")), h(Some("1"))])),
        ("absent value", CacheKey::new("GET", "abc", &[q(Some("1")), h(None)])),
        ("empty value", CacheKey::new("GET", "abc", &[q(Some("1")), h(Some(""))])),
        ("fewer parameters", CacheKey::new("GET", "abc", &[q(Some("1"))])),
        ("shifted boundary", CacheKey::new("GET", "abc", &[q(Some("12")), h(Some(""))])),
    ];
    for (what, key) in &different {
        assert_ne!(*key, base, "{what}");
    }
    for (i, (what, key)) in different.iter().enumerate() {
        for (other_what, other) in &different[i + 1..] {
            assert_ne!(key, other, "{what} vs {other_what}");
        }
    }
}

#[test]
fn absent_and_empty_values_are_cached_apart() {
    let absent = CacheKey::new("GET", "ns", &[("method.request.querystring.q", None)]);
    let empty = CacheKey::new("GET", "ns", &[("method.request.querystring.q", Some(""))]);
    let mut cache = ResponseCache::new(CacheConfig::new(1 << 20));
    assert!(cache.insert(absent.clone(), response(1, BODY), DEFAULT_TTL, 0));
    assert!(cache.get(&empty, 0).is_none());
    assert!(cache.insert(empty.clone(), response(2, BODY), DEFAULT_TTL, 0));
    assert_eq!(&cache.get(&absent, 0).unwrap().response.body[..4], b"0001");
    assert_eq!(&cache.get(&empty, 0).unwrap().response.body[..4], b"0002");
}

/// The index compares full keys: every one of many keys finds its own entry, and keys that were
/// never stored find nothing. (Forcing two keys into one hash bucket needs a chosen hash: see the
/// unit tests in `cache/mod.rs`.)
#[test]
fn each_key_gets_its_own_entry() {
    let mut cache = ResponseCache::new(CacheConfig::new(10_000 * unit()));
    for i in 0..5_000 {
        assert!(cache.insert(key(i), response(i, BODY), DEFAULT_TTL, 0));
    }
    for i in 0..5_000 {
        assert_eq!(tag(&mut cache, i, 0), Some(i));
    }
    for i in 5_000..10_000 {
        assert_eq!(tag(&mut cache, i, 0), None);
    }
}

// ---- TTL ----------------------------------------------------------------------------------------

#[test]
fn an_entry_expires_exactly_at_its_ttl() {
    let clock = ManualClock::new(1_000 * SECOND);
    let mut cache = ResponseCache::new(CacheConfig::new(1 << 20));
    let stored_at = clock.now_micros();
    assert!(cache.insert(key(1), response(1, BODY), DEFAULT_TTL, stored_at));
    let hit = cache.get(&key(1), stored_at).unwrap();
    assert_eq!((hit.inserted_at, hit.expires_at), (stored_at, stored_at + 300 * SECOND));

    clock.set(stored_at + 300 * SECOND - 1);
    assert!(cache.get(&key(1), clock.now_micros()).is_some(), "one microsecond before expiry");
    clock.advance(Duration::from_micros(1));
    assert!(cache.get(&key(1), clock.now_micros()).is_none(), "at expiry");
    assert_eq!(cache.len(), 0, "dropped when met");
    assert_eq!(cache.bytes_used(), 0);
    assert_eq!(cache.stats().expirations, 1);
}

#[test]
fn zero_ttl_is_not_cached_and_long_ttls_are_cut_to_an_hour() {
    let mut cache = ResponseCache::new(CacheConfig::new(1 << 20));
    assert!(!cache.insert(key(1), response(1, BODY), Duration::ZERO, 0));
    assert!(cache.is_empty());
    assert!(cache.insert(key(2), response(2, BODY), MAX_TTL * 24, 0));
    assert_eq!(cache.get(&key(2), 0).unwrap().expires_at, MAX_TTL.as_secs() * SECOND);
}

#[test]
fn ttl_is_per_entry() {
    let mut cache = ResponseCache::new(CacheConfig::new(1 << 20));
    cache.insert(key(1), response(1, BODY), secs(10), 0);
    cache.insert(key(2), response(2, BODY), secs(20), 0);
    assert_eq!((tag(&mut cache, 1, 15 * SECOND), tag(&mut cache, 2, 15 * SECOND)), (None, Some(2)));
}

#[test]
fn an_expired_entry_met_by_eviction_goes_first() {
    for policy in [EvictionPolicy::S3Fifo, EvictionPolicy::Lru] {
        let mut cache = cache_with(policy, 3 * unit());
        cache.insert(key(0), response(0, BODY), secs(10), 0);
        cache.insert(key(1), response(1, BODY), DEFAULT_TTL, 0);
        cache.insert(key(2), response(2, BODY), DEFAULT_TTL, 0);
        if policy == EvictionPolicy::S3Fifo {
            // A hit would have S3-FIFO promote entry 0 rather than evict it; expired, it goes anyway.
            assert!(cache.get(&key(0), SECOND).is_some());
        }
        cache.insert(key(3), response(3, BODY), DEFAULT_TTL, 20 * SECOND);
        assert_eq!(present(&cache, 0..4), [1, 2, 3], "{policy:?}");
        assert_eq!((cache.stats().expirations, cache.stats().evictions), (1, 0), "{policy:?}");
    }
}

// ---- Stale window -------------------------------------------------------------------------------

#[test]
fn stale_entries_are_served_only_when_asked_and_only_within_the_window() {
    let mut config = CacheConfig::new(1 << 20);
    config.stale_for = secs(30);
    let mut cache = ResponseCache::new(config);
    cache.insert(key(1), response(1, BODY), secs(60), 0);

    assert!(matches!(cache.get_or_stale(&key(1), 60 * SECOND - 1), Lookup::Fresh(_)));
    assert!(cache.get(&key(1), 60 * SECOND).is_none(), "get never serves a stale entry");
    assert!(!cache.contains(&key(1), 60 * SECOND));
    assert!(matches!(cache.get_or_stale(&key(1), 60 * SECOND), Lookup::Stale(_)));
    let Lookup::Stale(hit) = cache.get_or_stale(&key(1), 90 * SECOND - 1) else { panic!("still stale") };
    assert_eq!(&hit.response.body[..4], b"0001");
    assert!(matches!(cache.get_or_stale(&key(1), 90 * SECOND), Lookup::Miss), "past the window");
    assert!(cache.is_empty());
    assert_eq!(cache.stats().stale_hits, 2);

    // Refreshing a stale entry replaces it.
    cache.insert(key(2), response(2, BODY), secs(60), 0);
    assert!(matches!(cache.get_or_stale(&key(2), 70 * SECOND), Lookup::Stale(_)));
    cache.insert(key(2), response(3, BODY), secs(60), 70 * SECOND);
    assert_eq!(tag(&mut cache, 2, 70 * SECOND), Some(3));
    assert_eq!(cache.len(), 1);
}

#[test]
fn without_a_stale_window_an_expired_entry_is_a_miss() {
    let mut cache = ResponseCache::new(CacheConfig::new(1 << 20));
    cache.insert(key(1), response(1, BODY), secs(60), 0);
    assert!(matches!(cache.get_or_stale(&key(1), 60 * SECOND), Lookup::Miss));
}

// ---- Capacity and refusals ----------------------------------------------------------------------

#[test]
fn bytes_used_never_exceeds_the_capacity() {
    let capacity = 50 * unit();
    let mut cache = ResponseCache::new(CacheConfig::new(capacity));
    let mut charged = Vec::new();
    for i in 0..2_000 {
        let response = response(i, 4 + (i * 7919) % 3_000); // bodies of 4 to 3,003 bytes
        charged.push(entry_size(&key(i), &response));
        assert!(cache.insert(key(i), response, DEFAULT_TTL, 0));
        assert!(cache.bytes_used() <= capacity, "after insert {i}: {} > {capacity}", cache.bytes_used());
        if i % 100 == 99 {
            let cached: usize = (0..=i).filter(|&i| cache.contains(&key(i), 0)).map(|i| charged[i]).sum();
            assert_eq!(cache.bytes_used(), cached, "after insert {i}");
        }
    }
    assert!(cache.stats().evictions > 1_000);
    assert_eq!(cache.capacity_bytes(), capacity);
}

#[test]
fn the_charge_is_key_plus_headers_plus_body_plus_overhead() {
    let key = key(1);
    let response = CachedResponse::new(200, vec![("a".into(), "bc".into()), ("a".into(), "d".into())], vec![0; 10]);
    let headers = 3 + 2 + 2 * gateway_core::cache::HEADER_OVERHEAD_BYTES;
    let expected = key.as_bytes().len() + 10 + headers + gateway_core::cache::ENTRY_OVERHEAD_BYTES;
    assert_eq!(entry_size(&key, &response), expected);
    let mut cache = ResponseCache::new(CacheConfig::new(1 << 20));
    cache.insert(key, response, DEFAULT_TTL, 0);
    assert_eq!(cache.bytes_used(), expected);
}

#[test]
fn an_embedded_response_is_charged_what_its_embedding_says_and_read_back_as_it_was_kept() {
    let key = key(1);
    let response = CachedResponse::embedded(203, String::from("kept as is"), 10, 500);
    let expected = key.as_bytes().len() + 500 + gateway_core::cache::ENTRY_OVERHEAD_BYTES;
    assert_eq!(entry_size(&key, &response), expected);
    let mut cache = ResponseCache::new(CacheConfig::new(1 << 20));
    assert!(cache.insert(key.clone(), response, DEFAULT_TTL, 0));
    assert_eq!(cache.bytes_used(), expected);
    let hit = cache.get(&key, 1).expect("a hit");
    assert_eq!(hit.response.status, 203);
    assert_eq!(hit.response.body_len(), 10);
    assert_eq!(hit.response.embedded_as::<String>().map(String::as_str), Some("kept as is"));
    assert_eq!(hit.response.embedded_as::<u32>(), None);
    // Its body's length is held to the maximum response size like any other.
    let oversized = CachedResponse::embedded(200, (), DEFAULT_MAX_RESPONSE_BYTES + 1, 100);
    assert!(!cache.insert(key, oversized, DEFAULT_TTL, 0));
}

#[test]
fn oversized_responses_are_refused() {
    let mut cache = ResponseCache::new(CacheConfig::new(4 << 20));
    assert!(cache.insert(key(1), response(1, DEFAULT_MAX_RESPONSE_BYTES), DEFAULT_TTL, 0), "exactly the limit");
    assert!(!cache.insert(key(2), response(2, DEFAULT_MAX_RESPONSE_BYTES + 1), DEFAULT_TTL, 0));
    // A refused replacement leaves the cached entry alone.
    assert!(!cache.insert(key(1), response(9, DEFAULT_MAX_RESPONSE_BYTES + 1), DEFAULT_TTL, 0));
    assert_eq!(tag(&mut cache, 1, 0), Some(1));

    let mut config = CacheConfig::new(1 << 20);
    config.max_response_bytes = 1_000;
    let mut small = ResponseCache::new(config);
    assert!(small.insert(key(3), response(3, 1_000), DEFAULT_TTL, 0));
    assert!(!small.insert(key(4), response(4, 1_001), DEFAULT_TTL, 0));

    // An entry larger than the whole cache is refused without evicting anything.
    let mut tiny = ResponseCache::new(CacheConfig::new(3 * unit()));
    tiny.insert(key(5), response(5, BODY), DEFAULT_TTL, 0);
    assert!(!tiny.insert(key(6), response(6, 3 * unit()), DEFAULT_TTL, 0));
    assert_eq!(present(&tiny, 0..10), [5]);
    assert_eq!(cache.stats().rejections + small.stats().rejections + tiny.stats().rejections, 4);
}

#[test]
fn replacing_an_entry_recharges_it() {
    let mut cache = ResponseCache::new(CacheConfig::new(1 << 20));
    cache.insert(key(1), response(1, 100), DEFAULT_TTL, 0);
    cache.insert(key(1), response(2, 5_000), DEFAULT_TTL, 0);
    assert_eq!(cache.len(), 1);
    assert_eq!(cache.bytes_used(), entry_size(&key(1), &response(2, 5_000)));
    assert_eq!(tag(&mut cache, 1, 0), Some(2));
}

// ---- Eviction order -----------------------------------------------------------------------------

#[test]
fn lru_evicts_the_least_recently_used() {
    let mut cache = cache_with(EvictionPolicy::Lru, 3 * unit());
    for i in 0..3 {
        cache.insert(key(i), response(i, BODY), DEFAULT_TTL, 0);
    }
    cache.get(&key(0), 0);
    cache.insert(key(3), response(3, BODY), DEFAULT_TTL, 0);
    assert_eq!(present(&cache, 0..4), [0, 2, 3], "1 was least recently used");
    cache.get(&key(2), 0);
    cache.insert(key(4), response(4, BODY), DEFAULT_TTL, 0);
    assert_eq!(present(&cache, 0..5), [2, 3, 4]);
    assert_eq!(cache.stats().evictions, 2);
}

/// Room for ten entries: the small queue is one entry's worth.
#[test]
fn s3fifo_keeps_hit_entries_through_a_scan() {
    let run = |policy| {
        let mut cache = cache_with(policy, 10 * unit());
        for i in 0..10 {
            cache.insert(key(i), response(i, BODY), DEFAULT_TTL, 0);
        }
        cache.get(&key(0), 0);
        cache.get(&key(1), 0);
        // A scan of 30 keys asked for once each.
        for i in 100..130 {
            cache.insert(key(i), response(i, BODY), DEFAULT_TTL, 0);
        }
        present(&cache, (0..10).chain(100..130))
    };
    // S3-FIFO: 0 and 1 were hit, so the first eviction moved them to the main queue; every later
    // eviction takes the oldest entry of the (over-full) small queue, a scanned key.
    assert_eq!(run(EvictionPolicy::S3Fifo), [0, 1, 122, 123, 124, 125, 126, 127, 128, 129]);
    // LRU: the scan pushes everything out.
    assert_eq!(run(EvictionPolicy::Lru), (120..130).collect::<Vec<_>>());
}

#[test]
fn s3fifo_evicts_small_queue_entries_that_were_not_hit_first() {
    let mut cache = cache_with(EvictionPolicy::S3Fifo, 10 * unit());
    for i in 0..10 {
        cache.insert(key(i), response(i, BODY), DEFAULT_TTL, 0);
    }
    cache.get(&key(0), 0);
    cache.insert(key(10), response(10, BODY), DEFAULT_TTL, 0);
    // 0 (hit) moved to the main queue; 1, the oldest not hit, left (its hash goes to the ghost).
    assert_eq!(present(&cache, 0..11), [0, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    // Asked for again soon, 1 comes back into the main queue; 2 makes room.
    cache.insert(key(1), response(1, BODY), DEFAULT_TTL, 0);
    assert_eq!(present(&cache, 0..11), [0, 1, 3, 4, 5, 6, 7, 8, 9, 10]);
    // Twenty new keys: all evictions come from the small queue, so 0 and 1 stay.
    for i in 20..40 {
        cache.insert(key(i), response(i, BODY), DEFAULT_TTL, 0);
    }
    assert_eq!(present(&cache, 0..40), [0, 1, 32, 33, 34, 35, 36, 37, 38, 39]);
}

#[test]
fn s3fifo_main_queue_gives_hit_entries_another_round() {
    let mut cache = cache_with(EvictionPolicy::S3Fifo, 10 * unit());
    for i in 0..10 {
        cache.insert(key(i), response(i, BODY), DEFAULT_TTL, 0);
    }
    for i in 0..10 {
        cache.get(&key(i), 0);
    }
    // The first eviction promotes 0..=8 (counters reset) until the small queue is down to its
    // share (9 alone), then takes the main queue's oldest entry, 0.
    cache.insert(key(10), response(10, BODY), DEFAULT_TTL, 0);
    assert_eq!(present(&cache, 0..11), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    // 1 is hit in the main queue. Next eviction: 9 (hit) is promoted, then the main queue's oldest,
    // 1, is reinserted with its counter decremented, and 2 leaves.
    cache.get(&key(1), 0);
    cache.insert(key(11), response(11, BODY), DEFAULT_TTL, 0);
    assert_eq!(present(&cache, 0..12), [1, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
}

// ---- Flush, invalidate, hits --------------------------------------------------------------------

#[test]
fn flush_empties_the_cache() {
    let mut cache = ResponseCache::new(CacheConfig::new(1 << 20));
    for i in 0..10 {
        cache.insert(key(i), response(i, BODY), DEFAULT_TTL, 0);
    }
    let held = cache.get(&key(3), 0).unwrap();
    cache.flush();
    assert_eq!((cache.len(), cache.bytes_used()), (0, 0));
    assert!(present(&cache, 0..10).is_empty());
    assert_eq!(&held.response.body[..4], b"0003", "a hit outlives the flush");
    assert!(cache.insert(key(3), response(30, BODY), DEFAULT_TTL, 0));
    assert_eq!(tag(&mut cache, 3, 0), Some(30));
}

#[test]
fn invalidate_drops_one_entry() {
    let mut cache = ResponseCache::new(CacheConfig::new(1 << 20));
    for i in 0..3 {
        cache.insert(key(i), response(i, BODY), DEFAULT_TTL, 0);
    }
    assert!(cache.invalidate(&key(1)));
    assert!(!cache.invalidate(&key(1)));
    assert_eq!(present(&cache, 0..3), [0, 2]);
    assert_eq!(cache.bytes_used(), 2 * unit());
}

#[test]
fn a_hit_shares_the_body() {
    let mut cache = ResponseCache::new(CacheConfig::new(1 << 20));
    cache.insert(key(1), response(1, BODY), DEFAULT_TTL, 0);
    let first = cache.get(&key(1), 0).unwrap();
    let second = cache.get(&key(1), 0).unwrap();
    assert!(Arc::ptr_eq(&first.response, &second.response));
    assert_eq!(first.response.status, 200);
    assert_eq!(first.response.headers, [("content-type".to_owned(), "text/plain".to_owned())]);
    let stats = cache.stats();
    assert_eq!((stats.hits, stats.misses, stats.insertions), (2, 0, 1));
    cache.get(&key(2), 0);
    assert_eq!(cache.stats().misses, 1);
}

// ---- Single flight ------------------------------------------------------------------------------

#[test]
fn the_first_miss_leads_and_the_others_follow() {
    let mut flights = InFlight::new(secs(30));
    let Flight::Lead(token) = flights.begin(&key(1), 0) else { panic!("first leads") };
    assert_eq!(flights.begin(&key(1), SECOND), Flight::Follow);
    assert_eq!(flights.begin(&key(1), 2 * SECOND), Flight::Follow);
    let Flight::Lead(other) = flights.begin(&key(2), SECOND) else { panic!("another key leads") };
    assert_ne!(token, other);
    assert!(flights.is_in_flight(&key(1), SECOND));
    assert_eq!(flights.len(), 2);

    assert!(flights.complete(&key(1), token));
    assert!(!flights.is_in_flight(&key(1), SECOND));
    assert!(!flights.complete(&key(1), token), "only once");
    assert!(matches!(flights.begin(&key(1), 3 * SECOND), Flight::Lead(_)), "a new miss leads again");
}

#[test]
fn a_failed_leader_frees_the_key() {
    let mut flights = InFlight::new(secs(30));
    let Flight::Lead(token) = flights.begin(&key(1), 0) else { panic!() };
    assert_eq!(flights.begin(&key(1), 0), Flight::Follow);
    assert!(flights.fail(&key(1), token));
    let Flight::Lead(retry) = flights.begin(&key(1), 0) else { panic!("a follower retries and leads") };
    assert_ne!(retry, token);
    assert!(!flights.complete(&key(1), token), "the failed leader's token is spent");
    assert!(flights.complete(&key(1), retry));
    assert!(flights.is_empty());
}

#[test]
fn a_leader_that_never_reports_lapses() {
    let mut flights = InFlight::new(secs(30));
    let Flight::Lead(stuck) = flights.begin(&key(1), 0) else { panic!() };
    assert_eq!(flights.begin(&key(1), 30 * SECOND - 1), Flight::Follow);
    let Flight::Lead(next) = flights.begin(&key(1), 30 * SECOND) else { panic!("the lease ran out") };
    assert!(!flights.complete(&key(1), stuck), "a late report is ignored");
    assert!(flights.is_in_flight(&key(1), 30 * SECOND));
    assert!(flights.complete(&key(1), next));

    // Lapsed flights of keys nobody asks for again are swept: on demand, and as new flights begin.
    for i in 0..100 {
        flights.begin(&key(i), 0);
    }
    flights.sweep(30 * SECOND);
    assert!(flights.is_empty());
    for i in 0..100 {
        flights.begin(&key(i), 0);
    }
    for i in 100..130 {
        flights.begin(&key(i), 30 * SECOND);
    }
    assert_eq!(flights.len(), 30);
}

// ---- Hit ratio ----------------------------------------------------------------------------------

/// splitmix64.
struct Rng(u64);

impl Rng {
    #[allow(clippy::cast_precision_loss)] // 53 bits: exact
    fn next_f64(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) >> 11) as f64 / (1_u64 << 53) as f64
    }
}

/// `requests` Zipf(s=1) draws over `keys` keys; with `scan`, every other run of `keys` requests
/// instead scans (round-robin) `2 * keys` keys the Zipf part never asks for.
fn trace(keys: usize, requests: usize, scan: bool) -> Vec<usize> {
    let mut total = 0.0;
    let mut cumulative: Vec<f64> = (1..=keys)
        .map(|rank| {
            total += 1.0 / f64::from(u32::try_from(rank).unwrap());
            total
        })
        .collect();
    for c in &mut cumulative {
        *c /= total;
    }
    let mut rng = Rng(11);
    let mut scanned = 0;
    (0..requests)
        .map(|i| {
            if scan && (i / keys) % 2 == 1 {
                scanned = (scanned + 1) % (2 * keys);
                keys + scanned
            } else {
                let u = rng.next_f64();
                cumulative.partition_point(|&c| c < u).min(keys - 1)
            }
        })
        .collect()
}

fn hit_ratio(policy: EvictionPolicy, trace: &[usize], room: usize) -> f64 {
    let keys: Vec<CacheKey> = (0..=*trace.iter().max().unwrap()).map(key).collect();
    let mut cache = cache_with(policy, room * unit());
    let mut hits = 0;
    for &i in trace {
        if cache.get(&keys[i], 0).is_some() {
            hits += 1;
        } else {
            cache.insert(keys[i].clone(), response(0, BODY), DEFAULT_TTL, 0);
        }
    }
    f64::from(hits) / f64::from(u32::try_from(trace.len()).unwrap())
}

/// A small version of the comparison in `benches/cache.rs` (which prints the full-size numbers).
#[test]
fn s3fifo_hits_more_than_lru_on_skewed_and_scanned_traces() {
    for (name, scan) in [("zipf", false), ("scan", true)] {
        let trace = trace(3_000, 60_000, scan);
        let s3fifo = hit_ratio(EvictionPolicy::S3Fifo, &trace, 300);
        let lru = hit_ratio(EvictionPolicy::Lru, &trace, 300);
        println!("{name}: S3-FIFO {s3fifo:.3}, LRU {lru:.3}");
        assert!(s3fifo > lru, "{name}: S3-FIFO {s3fifo:.3} <= LRU {lru:.3}");
    }
}
