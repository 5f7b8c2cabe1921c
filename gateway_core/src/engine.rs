//! The engine: built once from a [`GatewaySpec`], then asked once per request what to do.

use crate::decision::{Decision, Rejection};
use crate::error::ConfigError;
use crate::routing::Router;
use crate::spec::{ApiType, GatewaySpec};

#[derive(Debug)]
pub struct Engine {
    api_type: ApiType,
    router: Router,
    max_header_bytes: usize,
}

impl Engine {
    pub fn build(spec: &GatewaySpec) -> Result<Self, ConfigError> {
        Ok(Self {
            api_type: spec.api_type,
            router: Router::build(&spec.routes, spec.routing)?,
            max_header_bytes: spec.max_header_bytes.unwrap_or(usize::MAX),
        })
    }

    pub fn api_type(&self) -> ApiType {
        self.api_type
    }

    /// Decides what to do with one request. `path` is the raw (still percent-encoded) request
    /// path without the query string and without any stage or base-path prefix; `header_bytes` the
    /// size of its header names and values.
    pub fn admit<'r, 'p>(&'r self, method: &str, path: &'p str, header_bytes: usize) -> Decision<'r, 'p> {
        if header_bytes > self.max_header_bytes {
            return Decision::Reject(Rejection::HeadersTooLarge);
        }
        match self.router.lookup(method, path) {
            Some(found) => Decision::Forward(found),
            None => Decision::Reject(Rejection::NoRoute),
        }
    }
}
