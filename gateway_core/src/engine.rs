//! The engine: built once from a [`GatewaySpec`], then asked once per request what to do.

use crate::admission::{Admission, Admit};
use crate::decision::{Decision, Forwarded, Rejection};
use crate::error::ConfigError;
use crate::proxy::ProxyTarget;
use crate::routing::{RouteMatch, Router};
use crate::spec::{ApiType, GatewaySpec, RouteId};
use crate::stage_cache::StageCache;

#[derive(Debug)]
pub struct Engine {
    api_type: ApiType,
    router: Router,
    max_header_bytes: usize,
    max_body_bytes: u64,
    proxies: Vec<Option<ProxyTarget>>,
    admission: Option<Admission>,
    cache: Option<StageCache>,
}

/// What the engine needs to know about a request besides its method and path.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestFacts {
    /// The size of the header names and values.
    pub header_bytes: usize,
    /// The declared `Content-Length`, if any.
    pub content_length: Option<u64>,
}

impl Engine {
    pub fn build(spec: &GatewaySpec) -> Result<Self, ConfigError> {
        Ok(Self {
            api_type: spec.api_type,
            router: Router::build(&spec.routes, spec.routing)?,
            max_header_bytes: spec.max_header_bytes.unwrap_or(usize::MAX),
            max_body_bytes: spec.max_body_bytes.unwrap_or(u64::MAX),
            proxies: spec.proxies.clone(),
            admission: None,
            cache: None,
        })
    }

    /// Adds the stage's response cache ([`StageCache`]); the caller looks requests up in it.
    #[must_use]
    pub fn with_cache(mut self, cache: StageCache) -> Self {
        self.cache = Some(cache);
        self
    }

    pub fn cache(&self) -> Option<&StageCache> {
        self.cache.as_ref()
    }

    /// Adds the API key and throttle checks ([`Admission`]) to [`Engine::admit`].
    #[must_use]
    pub fn with_admission(mut self, admission: Admission) -> Self {
        self.admission = admission.is_active().then_some(admission);
        self
    }

    pub fn admission(&self) -> Option<&Admission> {
        self.admission.as_ref()
    }

    pub fn api_type(&self) -> ApiType {
        self.api_type
    }

    /// Decides what to do with one request. `path` is the raw (still percent-encoded) request
    /// path without the query string and without any stage or base-path prefix; `api_key` the `x-api-key`
    /// header, if any.
    pub fn admit<'r, 'p>(
        &'r self,
        method: &str,
        path: &'p str,
        facts: RequestFacts,
        api_key: Option<&str>,
    ) -> Decision<'r, 'p> {
        if facts.header_bytes > self.max_header_bytes {
            return Decision::Reject(Rejection::HeadersTooLarge);
        }
        if facts.content_length.is_some_and(|n| n > self.max_body_bytes) {
            return Decision::Reject(Rejection::BodyTooLarge);
        }
        let Some(route) = self.router.lookup(method, path) else {
            return Decision::Reject(Rejection::NoRoute);
        };
        let Some(admission) = &self.admission else {
            return Decision::Forward(Forwarded { route, key: None, deferred_throttle: Vec::new() });
        };
        match admission.admit(route.route_id, api_key) {
            Admit::Admitted { key, deferred } => {
                Decision::Forward(Forwarded { route, key, deferred_throttle: deferred })
            }
            Admit::InvalidApiKey => Decision::RejectRoute(Rejection::InvalidApiKey, route.route_id),
            Admit::Throttled => Decision::RejectRoute(Rejection::Throttled, route.route_id),
        }
    }
}

impl Engine {
    /// The route of a request within the limits, without the admission checks (the cache-hit fast path).
    pub fn route<'r, 'p>(&'r self, method: &str, path: &'p str, facts: RequestFacts) -> Option<RouteMatch<'r, 'p>> {
        if facts.header_bytes > self.max_header_bytes || facts.content_length.is_some_and(|n| n > self.max_body_bytes) {
            return None;
        }
        self.router.lookup(method, path)
    }

    /// Whether a request to `route` without an API key passes admission right here (no key required, no
    /// deferred throttle, a token at every local level). `false` sends it down the full path.
    pub fn admits_anonymously(&self, route: RouteId) -> bool {
        match &self.admission {
            None => true,
            Some(admission) => matches!(
                admission.admit(route, None),
                Admit::Admitted { key: None, ref deferred } if deferred.is_empty()
            ),
        }
    }

    /// The proxy target of a route, when the engine writes its upstream request head itself.
    pub fn proxy(&self, route: RouteId) -> Option<&ProxyTarget> {
        self.proxies.get(route as usize).and_then(Option::as_ref)
    }
}
