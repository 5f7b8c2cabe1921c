//! # `gateway_core`
//!
//! The per-request hot path of fastgw, in plain Rust (no Python here).
//!
//! One request, from the top:
//! 1. At load, Python compiles an API definition into a [`GatewaySpec`] (plain data) and calls
//!    [`Engine::build`], which builds the route trie and rejects conflicting routes with AWS's
//!    messages ([`ConfigError`]).
//! 2. Per request, Python calls [`Engine::admit`] once with the method and raw path. The engine
//!    matches the route with AWS priority (static > `{param}` > `{greedy+}` > `$default`, explicit
//!    method > `ANY`) and returns a [`Decision`]: forward to a route, or reject with a gateway
//!    response type.
//! 3. The binding crate (`fastgw._core`) turns the decision into Python values; Python runs the
//!    integration. Upstream responses are parsed by [`http1`], also here.

pub mod access_log;
pub mod admission;
pub mod cache;
pub mod decision;
pub mod engine;
pub mod error;
pub mod fast_validation;
pub mod http1;
pub mod ids;
pub mod metrics;
pub mod os_clock;
pub mod paths;
pub mod proxy;
pub mod routing;
pub mod shared;
pub mod spec;
pub mod stage_cache;
pub mod throttle;
pub mod tracing;
pub mod validation;

pub use decision::{Decision, Forwarded, Rejection};
pub use engine::Engine;
pub use error::ConfigError;
pub use proxy::ProxyTarget;
pub use routing::{RouteMatch, Router};
pub use shared::SharedRegion;
pub use spec::{ApiType, GatewaySpec, RouteId, RouteSpec, RoutingOptions};
