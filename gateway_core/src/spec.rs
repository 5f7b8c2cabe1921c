//! Plain data that Python compiles from an API definition, once, and hands to [`crate::Engine::build`].

/// Which flavour of AWS API Gateway the definition is served as. It changes routing details
/// (trailing slashes, `$default`) and which gateway response a rejection becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiType {
    /// REST API (API Gateway v1).
    Rest,
    /// HTTP API (API Gateway v2).
    Http,
}

/// One route of the definition. Its index in [`GatewaySpec::routes`] is its [`RouteId`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteSpec {
    /// `GET`, `POST`, … or `ANY` (the seven methods AWS expands it to).
    pub method: String,
    /// The resource path as written in the definition (`/pets/{id}`, `/files/{proxy+}`), or the
    /// literal `$default` for the HTTP API default route.
    pub path: String,
}

impl RouteSpec {
    pub fn new(method: impl Into<String>, path: impl Into<String>) -> Self {
        Self { method: method.into(), path: path.into() }
    }
}

/// How request paths are matched where AWS leaves a choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoutingOptions {
    /// `/pets/` matches `/pets`. REST APIs always do this (AWS documents it); for HTTP APIs AWS is
    /// silent, so it is a setting (default: off, strict matching).
    pub ignore_trailing_slash: bool,
}

impl RoutingOptions {
    /// The defaults for an API type: REST ignores a trailing slash, HTTP APIs match strictly.
    pub fn for_api(api_type: ApiType) -> Self {
        Self { ignore_trailing_slash: api_type == ApiType::Rest }
    }
}

/// Everything the engine needs to serve one API stage.
#[derive(Debug, Clone)]
pub struct GatewaySpec {
    pub api_type: ApiType,
    pub routes: Vec<RouteSpec>,
    pub routing: RoutingOptions,
    /// Requests whose header names and values add up to more bytes are refused (AWS: 10,240).
    pub max_header_bytes: Option<usize>,
    /// Requests declaring a larger `Content-Length` are refused (AWS: 10 MB).
    pub max_body_bytes: Option<u64>,
    /// Per route (same index as `routes`): the plain HTTP proxy target whose upstream request head the
    /// engine writes itself, or `None` (the route's integration runs in Python). May be shorter than
    /// `routes`.
    pub proxies: Vec<Option<crate::proxy::ProxyTarget>>,
}

impl GatewaySpec {
    pub fn new(api_type: ApiType, routes: Vec<RouteSpec>) -> Self {
        Self {
            api_type,
            routes,
            routing: RoutingOptions::for_api(api_type),
            max_header_bytes: None,
            max_body_bytes: None,
            proxies: Vec::new(),
        }
    }
}

/// Index of a route in [`GatewaySpec::routes`]; Python keeps the per-route settings in a table
/// indexed the same way.
pub type RouteId = u32;
