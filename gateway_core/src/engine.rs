//! The engine: built once from a [`GatewaySpec`], then asked once per request what to do.

use crate::decision::{Decision, Rejection};
use crate::error::ConfigError;
use crate::routing::Router;
use crate::spec::{ApiType, GatewaySpec};

#[derive(Debug)]
pub struct Engine {
    api_type: ApiType,
    router: Router,
}

impl Engine {
    pub fn build(spec: &GatewaySpec) -> Result<Self, ConfigError> {
        Ok(Self { api_type: spec.api_type, router: Router::build(&spec.routes, spec.routing)? })
    }

    pub fn api_type(&self) -> ApiType {
        self.api_type
    }

    /// Decides what to do with one request. `path` is the raw (still percent-encoded) request
    /// path without the query string and without any stage or base-path prefix.
    pub fn admit<'r, 'p>(&'r self, method: &str, path: &'p str) -> Decision<'r, 'p> {
        match self.router.lookup(method, path) {
            Some(found) => Decision::Forward(found),
            None => Decision::Reject(Rejection::NoRoute),
        }
    }
}
