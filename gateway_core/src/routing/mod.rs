//! Route matching with AWS API Gateway semantics (reference §1).
//!
//! [`Router::build`] parses every route path once (`template.rs`), refuses the tables AWS refuses
//! (with AWS's messages, see [`ConfigError`]) and builds a trie of resources (`trie.rs`). A
//! resource has at most one variable child (AWS refuses `{id}` beside `{name}` or `{proxy+}`), so
//! each trie node has a map of static children plus at most one `{param}` or `{greedy+}` child.
//! [`Router::lookup`] then picks, for a method and a raw request path, the most specific route:
//!
//! - segment by segment from the left, static text > `{param}` > `{greedy+}`, backtracking to the
//!   next alternative when the more specific subtree has no route for the method;
//! - on one resource, an explicit method > `ANY` (which covers exactly `GET POST PUT PATCH DELETE
//!   HEAD OPTIONS`; `GET` does not answer `HEAD`);
//! - the HTTP API `$default` route last.
//!
//! `{name}` takes one non-empty segment and `{name+}` one or more (so `/{proxy+}` does not match
//! `/`). Values are returned as they are in the raw path, still percent-encoded.
//!
//! With [`RoutingOptions::ignore_trailing_slash`] (REST APIs) empty segments do not count: `/pets/`
//! and `//pets` both match `/pets`, and a greedy value keeps inner `//` but not trailing slashes.
//! Without it (HTTP APIs) the path must match exactly, and a route path ending in `/` is a
//! resource of its own.

mod methods;
mod params;
mod template;
mod trie;

pub use params::Params;

use crate::error::ConfigError;
use crate::spec::{RouteId, RouteSpec, RoutingOptions};
use methods::{Method, RouteMethod};
use template::{Template, TemplateError};
use trie::{InsertError, Trie, TrieBuilder};

/// A matched route and the path parameters it captured (values stay percent-encoded, as AWS
/// passes them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteMatch<'r, 'p> {
    pub route_id: RouteId,
    /// `(name, value)` pairs in path order: `for (name, value) in &found.params`.
    pub params: Params<'r, 'p>,
}

/// The compiled route table of one API. Immutable once built; share it freely between threads.
#[derive(Debug)]
pub struct Router {
    trie: Trie,
    /// The `$default` route (HTTP APIs), tried when nothing else matches.
    default_route: Option<RouteId>,
}

impl Router {
    /// Builds the router; the route id of `routes[i]` is `i`. Fails on the first route (in order)
    /// that AWS would refuse, naming it.
    pub fn build(routes: &[RouteSpec], options: RoutingOptions) -> Result<Self, ConfigError> {
        let mut builder = TrieBuilder::new(options.ignore_trailing_slash);
        let mut default_route = None;
        for (index, spec) in routes.iter().enumerate() {
            let route = RouteId::try_from(index).ok().filter(|&id| id < RouteId::MAX).expect("too many routes");
            let Some(method) = RouteMethod::parse(&spec.method) else {
                return Err(ConfigError::InvalidMethod { route, method: spec.method.clone() });
            };
            let template = template::parse(&spec.path, options.ignore_trailing_slash).map_err(|error| match error {
                TemplateError::Invalid(reason) => ConfigError::InvalidPath { route, reason },
                TemplateError::ChildOfGreedy(greedy) => ConfigError::ChildOfGreedy { route, greedy },
            })?;
            match template {
                Template::Default => {
                    if method != RouteMethod::Any {
                        let reason = format!("The $default route takes method ANY, not {}", method.as_str());
                        return Err(ConfigError::InvalidPath { route, reason });
                    }
                    if let Some(other) = default_route {
                        return Err(ConfigError::DuplicateRoute { route, other, name: "$default".into() });
                    }
                    default_route = Some(route);
                }
                Template::Path(parts) => builder.insert(route, &parts, method).map_err(|error| match error {
                    InsertError::VariableSibling(sibling) => ConfigError::VariableSibling { route, sibling },
                    InsertError::Duplicate { other } => {
                        ConfigError::DuplicateRoute { route, other, name: format!("{} {}", method.as_str(), spec.path) }
                    }
                })?,
            }
        }
        Ok(Self { trie: builder.finish(), default_route })
    }

    /// The route for a request, or `None` (AWS: REST `403 Missing Authentication Token`, HTTP API
    /// `404 Not Found`). `path` is the raw request path, without query string or stage; `method`
    /// is matched case-sensitively.
    #[inline]
    pub fn lookup<'r, 'p>(&'r self, method: &str, path: &'p str) -> Option<RouteMatch<'r, 'p>> {
        let method = Method::parse(method)?;
        if !path.starts_with('/') {
            return None;
        }
        let mut params = Params::new();
        let route_id = self.trie.lookup(method, path, &mut params).or(self.default_route)?;
        Some(RouteMatch { route_id, params })
    }
}
