//! A stage's response cache on the request path, with AWS's rules (reference §7): which routes are cached,
//! what the key is, what `Cache-Control: max-age=0` does, and a flush that reaches every worker.
//!
//! - A route is cached when its method setting enables caching; for GET requests, or for every method when
//!   the method setting names the route's own method (AWS caches GET only unless a method setting says so).
//! - The key is the method, the route's cache namespace (AWS's `cacheNamespace`, by default the resource)
//!   and the values of the declared `cacheKeyParameters` (`method.request.path.x`, `.querystring.x`,
//!   `.header.x`), in declared order: an undeclared query parameter does not split the key.
//! - `Cache-Control: max-age=0` asks to refresh the entry. fastgw has no IAM caller identity, so with
//!   `requireAuthorizationForCacheControl` on (AWS's default) every such request is unauthorized and the
//!   `unauthorizedCacheControlHeaderStrategy` applies: `FAIL_WITH_403`, `SUCCEED_WITH_RESPONSE_HEADER`
//!   (served from the cache with a warning header) or `SUCCEED_WITHOUT_RESPONSE_HEADER`. With it off, anyone
//!   may refresh: the request goes to the integration and its response replaces the entry.
//! - Each worker process has its own cache (its share of the stage's capacity). A flush bumps a generation
//!   word in memory shared by the workers; each worker empties its cache when it sees a new generation.
//! - Beyond AWS, optional: stale-while-revalidate ([`CacheConfig::stale_for`]). For that long after its TTL an
//!   entry is answered as [`CacheLookup::Stale`], with its key: the caller serves it at once and refreshes the
//!   entry in the background (single flight is the caller's, as for misses). Past the window it is a miss.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::cache::{CacheConfig, CacheKey, CachedResponse, Clock, Lookup, MonotonicClock, ResponseCache};
use crate::routing::Params;
use crate::shared::SharedRegion;
use crate::spec::RouteId;

/// Where a cache key parameter's value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySource {
    Path,
    Query,
    Header,
}

/// One declared `cacheKeyParameters` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyParam {
    pub source: KeySource,
    pub name: String,
}

/// What an unauthorized `Cache-Control: max-age=0` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invalidation {
    /// `requireAuthorizationForCacheControl: false`: anyone may refresh the entry.
    Allowed,
    /// `FAIL_WITH_403`.
    Refuse,
    /// `SUCCEED_WITH_RESPONSE_HEADER`: served from the cache, with a warning header.
    IgnoreWithWarning,
    /// `SUCCEED_WITHOUT_RESPONSE_HEADER`.
    Ignore,
}

/// The caching of one route.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteCaching {
    pub ttl: Duration,
    pub namespace: String,
    pub params: Vec<KeyParam>,
    /// Cache every method (a method setting enabled caching for this route's own method), not only GET.
    pub all_methods: bool,
    pub invalidation: Invalidation,
}

/// The answer of [`StageCache::lookup`].
#[derive(Debug)]
pub enum CacheLookup {
    /// The route (or this method) is not cached.
    NotCached,
    /// A fresh entry; `warn`: add the warning header (an ignored `max-age=0`).
    Hit { response: Arc<CachedResponse>, warn: bool },
    /// An expired entry within the stale window: serve it, and refresh it under `key` ([`StageCache::store`]).
    Stale { response: Arc<CachedResponse>, key: CacheKey, warn: bool },
    /// Fetch from the integration, then [`StageCache::store`] the response under this key.
    Miss(CacheKey),
    /// An authorized `Cache-Control: max-age=0`: like a miss, but no cached copy may answer it (a shared tier's
    /// included); the response replaces the entry.
    Refresh(CacheKey),
    /// `FAIL_WITH_403`.
    Refused,
}

/// A generation word in shared memory per stage: bumping one flushes that stage's cache in every worker.
#[derive(Debug)]
pub struct Generations {
    region: SharedRegion,
}

impl Generations {
    pub fn new(stages: usize) -> std::io::Result<Arc<Self>> {
        Ok(Arc::new(Self { region: SharedRegion::new(stages)? }))
    }

    pub fn bump(&self, stage: usize) {
        self.region.words()[stage].fetch_add(1, Ordering::Relaxed);
    }

    fn get(&self, stage: usize) -> u64 {
        self.region.words()[stage].load(Ordering::Relaxed)
    }
}

/// One stage's cache in one worker. The clock is a type parameter so that tests can drive time
/// ([`ManualClock`](crate::cache::ManualClock)) without a virtual call on every lookup.
#[derive(Debug)]
pub struct StageCache<C = MonotonicClock> {
    cache: Mutex<ResponseCache>,
    routes: Vec<Option<RouteCaching>>,
    generations: Option<(Arc<Generations>, usize)>,
    seen_generation: AtomicU64,
    clock: C,
}

impl StageCache {
    pub fn new(
        config: CacheConfig,
        routes: Vec<Option<RouteCaching>>,
        generations: Option<(Arc<Generations>, usize)>,
    ) -> Self {
        Self::with_clock(config, routes, generations, MonotonicClock::new())
    }
}

impl<C: Clock> StageCache<C> {
    pub fn with_clock(
        config: CacheConfig,
        routes: Vec<Option<RouteCaching>>,
        generations: Option<(Arc<Generations>, usize)>,
        clock: C,
    ) -> Self {
        let seen = generations.as_ref().map_or(0, |(g, stage)| g.get(*stage));
        Self {
            cache: Mutex::new(ResponseCache::new(config)),
            routes,
            generations,
            seen_generation: AtomicU64::new(seen),
            clock,
        }
    }

    /// Whether `route`'s cache key takes a query-string parameter (a caller with nothing else to read the query
    /// string for may then skip it: [`lookup`](Self::lookup) reads it for nothing else).
    pub fn key_reads_query(&self, route: RouteId) -> bool {
        let caching = self.routes.get(route as usize).and_then(Option::as_ref);
        caching.is_some_and(|caching| caching.params.iter().any(|param| matches!(param.source, KeySource::Query)))
    }

    fn caching(&self, route: RouteId, method: &str) -> Option<&RouteCaching> {
        let caching = self.routes.get(route as usize)?.as_ref()?;
        (caching.all_methods || method == "GET").then_some(caching)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ResponseCache> {
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((generations, stage)) = &self.generations {
            let current = generations.get(*stage);
            if self.seen_generation.swap(current, Ordering::Relaxed) != current {
                cache.flush();
            }
        }
        cache
    }

    /// Looks the request up. `headers` are the request's `(name, value)` pairs; `query` the raw query string.
    pub fn lookup(
        &self,
        route: RouteId,
        method: &str,
        params: &Params<'_, '_>,
        query: &str,
        headers: &[(&str, &str)],
    ) -> CacheLookup {
        let Some(caching) = self.caching(route, method) else {
            return CacheLookup::NotCached;
        };
        let mut key = CacheKey::builder(method, &caching.namespace);
        for param in &caching.params {
            let value = match param.source {
                KeySource::Path => params.iter().find(|(name, _)| *name == param.name).map(|(_, v)| *v),
                KeySource::Query => query_value(query, &param.name),
                KeySource::Header => {
                    headers.iter().find(|(name, _)| name.eq_ignore_ascii_case(&param.name)).map(|(_, v)| *v)
                }
            };
            key.push_param(&param.name, value);
        }
        let key = key.build();
        let mut warn = false;
        if refresh_requested(headers) {
            match caching.invalidation {
                Invalidation::Allowed => return CacheLookup::Refresh(key),
                Invalidation::Refuse => return CacheLookup::Refused,
                Invalidation::IgnoreWithWarning => warn = true,
                Invalidation::Ignore => {}
            }
        }
        let now = self.clock.now_micros();
        // Without a stale window `get_or_stale` is `get`: an expired entry is a miss.
        let found = self.lock().get_or_stale(&key, now);
        match found {
            Lookup::Fresh(hit) => CacheLookup::Hit { response: hit.response, warn },
            Lookup::Stale(hit) => CacheLookup::Stale { response: hit.response, key, warn },
            Lookup::Miss => CacheLookup::Miss(key),
        }
    }

    /// Keeps a response for the route's TTL; `false` when it is not kept (too large, TTL 0).
    pub fn store(&self, route: RouteId, key: CacheKey, response: CachedResponse) -> bool {
        self.store_at_most(route, key, response, None)
    }

    /// Like [`store`](Self::store), for at most `max_ttl` when given (an entry copied from a shared tier keeps
    /// only the life it has left there); the route's TTL still bounds it.
    pub fn store_at_most(
        &self,
        route: RouteId,
        key: CacheKey,
        response: CachedResponse,
        max_ttl: Option<Duration>,
    ) -> bool {
        let Some(Some(caching)) = self.routes.get(route as usize) else {
            return false;
        };
        let ttl = max_ttl.map_or(caching.ttl, |max_ttl| caching.ttl.min(max_ttl));
        let now = self.clock.now_micros();
        self.lock().insert(key, response, ttl, now)
    }

    /// Empties this worker's cache (and, through the generation, every worker's).
    pub fn flush(&self) {
        match &self.generations {
            Some((generations, stage)) => generations.bump(*stage),
            None => self.lock().flush(),
        }
    }

    /// Starts over empty with another capacity (each worker's share of the stage's).
    pub fn set_capacity(&self, capacity_bytes: usize) {
        let mut cache = self.lock();
        let config = CacheConfig { capacity_bytes, ..*cache.config() };
        *cache = ResponseCache::new(config);
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn bytes_used(&self) -> usize {
        self.lock().bytes_used()
    }
}

/// The first value of `name` in a raw query string (`a=1&b=2`), as sent; `Some("")` for `a` or `a=`.
fn query_value<'q>(query: &'q str, name: &str) -> Option<&'q str> {
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (key == name).then_some(value)
    })
}

/// `Cache-Control: max-age=0` among the request headers.
fn refresh_requested(headers: &[(&str, &str)]) -> bool {
    headers.iter().any(|(name, value)| {
        name.eq_ignore_ascii_case("cache-control")
            && value.split(',').any(|directive| directive.trim().eq_ignore_ascii_case("max-age=0"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caching(params: Vec<KeyParam>, invalidation: Invalidation) -> StageCache {
        let route = RouteCaching {
            ttl: Duration::from_mins(1),
            namespace: "pets".into(),
            params,
            all_methods: false,
            invalidation,
        };
        StageCache::new(CacheConfig::new(1 << 20), vec![Some(route), None], None)
    }

    fn response() -> CachedResponse {
        CachedResponse::new(200, vec![("content-type".into(), "application/json".into())], b"{}".to_vec())
    }

    fn lookup(cache: &StageCache, method: &str, query: &str, headers: &[(&str, &str)]) -> CacheLookup {
        cache.lookup(0, method, &Params::default(), query, headers)
    }

    #[test]
    fn undeclared_parameters_share_an_entry_and_declared_ones_split_it() {
        let param = KeyParam { source: KeySource::Query, name: "type".into() };
        let cache = caching(vec![param], Invalidation::Ignore);
        let CacheLookup::Miss(key) = lookup(&cache, "GET", "type=a&department=A", &[]) else { panic!() };
        assert!(cache.store(0, key, response()));
        assert!(matches!(lookup(&cache, "GET", "type=a&department=B", &[]), CacheLookup::Hit { .. }));
        assert!(matches!(lookup(&cache, "GET", "type=b", &[]), CacheLookup::Miss(_)));
        assert!(matches!(lookup(&cache, "POST", "type=a", &[]), CacheLookup::NotCached));
        assert!(matches!(cache.lookup(1, "GET", &Params::default(), "", &[]), CacheLookup::NotCached));
    }

    #[test]
    fn max_age_zero_follows_the_strategy() {
        let refresh = [("Cache-Control", "no-cache, max-age=0")];
        for (invalidation, expected) in [
            (Invalidation::Allowed, "miss"),
            (Invalidation::Refuse, "refused"),
            (Invalidation::IgnoreWithWarning, "warn"),
            (Invalidation::Ignore, "hit"),
        ] {
            let cache = caching(vec![], invalidation);
            let CacheLookup::Miss(key) = lookup(&cache, "GET", "", &[]) else { panic!() };
            cache.store(0, key, response());
            let found = match lookup(&cache, "GET", "", &refresh) {
                CacheLookup::Miss(_) | CacheLookup::Refresh(_) => "miss",
                CacheLookup::Refused => "refused",
                CacheLookup::Hit { warn: true, .. } => "warn",
                CacheLookup::Hit { warn: false, .. } => "hit",
                CacheLookup::Stale { .. } => "stale",
                CacheLookup::NotCached => "not cached",
            };
            assert_eq!(found, expected, "{invalidation:?}");
        }
    }

    #[test]
    fn a_bumped_generation_flushes() {
        let generations = Generations::new(2).unwrap();
        let route = RouteCaching {
            ttl: Duration::from_mins(1),
            namespace: "n".into(),
            params: vec![],
            all_methods: true,
            invalidation: Invalidation::Ignore,
        };
        let cache = StageCache::new(CacheConfig::new(1 << 20), vec![Some(route)], Some((generations.clone(), 1)));
        let CacheLookup::Miss(key) = lookup(&cache, "POST", "", &[]) else { panic!() };
        cache.store(0, key, response());
        assert_eq!(cache.len(), 1);
        generations.bump(1);
        assert_eq!(cache.len(), 0);
    }

    const SECOND: u64 = 1_000_000;

    /// One GET route with a 10 s TTL, on a clock the test moves.
    fn cache_on_a_manual_clock(config: CacheConfig) -> (StageCache<impl Clock>, Arc<crate::cache::ManualClock>) {
        let route = RouteCaching {
            ttl: Duration::from_secs(10),
            namespace: "n".into(),
            params: vec![],
            all_methods: false,
            invalidation: Invalidation::Ignore,
        };
        let clock = Arc::new(crate::cache::ManualClock::new(0));
        let time = Arc::clone(&clock);
        (StageCache::with_clock(config, vec![Some(route)], None, move || time.now_micros()), clock)
    }

    #[test]
    fn a_shorter_ttl_cuts_the_entry_and_a_longer_one_keeps_the_routes() {
        let (cache, clock) = cache_on_a_manual_clock(CacheConfig::new(1 << 20));
        let lookup = |cache: &StageCache<_>| cache.lookup(0, "GET", &Params::default(), "", &[]);
        for (max_ttl, expires) in [(Duration::from_secs(3), 3 * SECOND), (Duration::from_mins(1), 10 * SECOND)] {
            clock.set(0);
            cache.flush();
            let CacheLookup::Miss(key) = lookup(&cache) else { panic!("empty") };
            assert!(cache.store_at_most(0, key, response(), Some(max_ttl)));
            clock.set(expires - 1);
            assert!(matches!(lookup(&cache), CacheLookup::Hit { .. }), "{max_ttl:?}");
            clock.set(expires);
            assert!(matches!(lookup(&cache), CacheLookup::Miss(_)), "{max_ttl:?}");
        }
    }

    #[test]
    fn within_the_stale_window_an_entry_is_stale_with_its_key_then_a_miss() {
        let config = CacheConfig { stale_for: Duration::from_secs(5), ..CacheConfig::new(1 << 20) };
        let (cache, clock) = cache_on_a_manual_clock(config);
        let lookup = |cache: &StageCache<_>| cache.lookup(0, "GET", &Params::default(), "", &[]);
        let CacheLookup::Miss(key) = lookup(&cache) else { panic!("empty") };
        assert!(cache.store(0, key.clone(), response()));
        clock.set(10 * SECOND - 1);
        assert!(matches!(lookup(&cache), CacheLookup::Hit { .. }));
        clock.set(10 * SECOND);
        let CacheLookup::Stale { key: stale_key, warn: false, .. } = lookup(&cache) else { panic!("stale") };
        assert_eq!(stale_key, key, "the key to refresh the entry under");
        // Refreshed within the window: fresh again for a whole TTL from now.
        clock.set(12 * SECOND);
        assert!(cache.store(0, stale_key, response()));
        clock.set(22 * SECOND - 1);
        assert!(matches!(lookup(&cache), CacheLookup::Hit { .. }));
        // Not refreshed: stale until TTL + window, then a miss, and the entry is gone.
        clock.set(27 * SECOND - 1);
        assert!(matches!(lookup(&cache), CacheLookup::Stale { .. }));
        clock.set(27 * SECOND);
        assert!(matches!(lookup(&cache), CacheLookup::Miss(_)));
        assert!(cache.is_empty());
    }

    #[test]
    fn without_a_stale_window_an_expired_entry_is_a_miss() {
        use crate::cache::ManualClock;
        let route = RouteCaching {
            ttl: Duration::from_secs(1),
            namespace: "n".into(),
            params: vec![],
            all_methods: false,
            invalidation: Invalidation::Ignore,
        };
        let clock = Arc::new(ManualClock::new(0));
        let time = Arc::clone(&clock);
        let config = CacheConfig::new(1 << 20);
        let cache = StageCache::with_clock(config, vec![Some(route)], None, move || time.now_micros());
        let CacheLookup::Miss(key) = cache.lookup(0, "GET", &Params::default(), "", &[]) else { panic!() };
        cache.store(0, key, response());
        clock.set(1_000_000);
        assert!(matches!(cache.lookup(0, "GET", &Params::default(), "", &[]), CacheLookup::Miss(_)));
    }

    #[test]
    fn query_values() {
        assert_eq!(query_value("a=1&b=2", "b"), Some("2"));
        assert_eq!(query_value("a&b=", "a"), Some(""));
        assert_eq!(query_value("ab=1", "a"), None);
    }
}
