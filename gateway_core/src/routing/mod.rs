//! Route matching with AWS API Gateway semantics (reference §1).
//!
//! PLACEHOLDER: a naive linear matcher with the final public API. The trie replaces it.

use crate::error::ConfigError;
use crate::spec::{RouteId, RouteSpec, RoutingOptions};

/// A matched route and the path parameters it captured (values stay percent-encoded, as AWS
/// passes them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteMatch<'r, 'p> {
    pub route_id: RouteId,
    pub params: Vec<(&'r str, &'p str)>,
}

#[derive(Debug)]
pub struct Router {
    routes: Vec<(String, Vec<String>)>,
    options: RoutingOptions,
}

impl Router {
    pub fn build(routes: &[RouteSpec], options: RoutingOptions) -> Result<Self, ConfigError> {
        Ok(Self {
            routes: routes.iter().map(|r| (r.method.clone(), r.path.split('/').map(str::to_owned).collect())).collect(),
            options,
        })
    }

    pub fn lookup<'r, 'p>(&'r self, method: &str, path: &'p str) -> Option<RouteMatch<'r, 'p>> {
        let _ = (method, path, &self.routes, self.options);
        None
    }
}
