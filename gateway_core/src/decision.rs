//! Expected per-request outcomes, as values: the one thing [`crate::Engine::admit`] returns.

use crate::admission::AdmittedKey;
use crate::routing::RouteMatch;
use crate::spec::RouteId;
use crate::throttle::Limit;

/// What the gateway does with a request.
// Returned by value once per request and matched at once: boxing the large variant would allocate.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Decision<'r, 'p> {
    /// Send the request on to the route's integration.
    Forward(Forwarded<'r, 'p>),
    /// Answer with a gateway response instead.
    Reject(Rejection),
    /// Answer with a gateway response for a matched route (an API key or throttle refusal).
    RejectRoute(Rejection, RouteId),
}

/// A request that passed routing, the key check and (unless deferred) the throttle.
#[derive(Debug, Clone, PartialEq)]
pub struct Forwarded<'r, 'p> {
    pub route: RouteMatch<'r, 'p>,
    /// The API key, when the route requires one.
    pub key: Option<AdmittedKey>,
    /// The throttle levels the caller checks itself (a store shared by nodes); empty otherwise.
    pub deferred_throttle: Vec<(u64, Limit)>,
}

/// Why a request is refused. Each maps to one AWS gateway response type, rendered in Python
/// (`fastgw.responses`), so that user customisations of that type apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Rejection {
    /// No route for this method and path: REST `403 Missing Authentication Token`,
    /// HTTP API `404 Not Found`.
    NoRoute,
    /// The request headers are larger than the limit (`431`).
    HeadersTooLarge,
    /// The declared body is larger than the limit (`413`).
    BodyTooLarge,
    /// The route requires an API key and none that the stage accepts was given (`403 Forbidden`).
    InvalidApiKey,
    /// A throttle level has no token left (`429 Too Many Requests`).
    Throttled,
    /// The request cannot be routed as sent (`400`): a path whose percent-decoding lost bytes, no `Host` on
    /// HTTP/1.1, two `Host` fields or one that is not `host[:port]` (RFC 9112 §3.2).
    BadRequest,
}

impl Rejection {
    /// The AWS gateway response type for this rejection on a REST API. HTTP APIs have no
    /// customisable gateway responses; Python renders their fixed bodies from the same type.
    pub fn response_type(self) -> &'static str {
        match self {
            Self::NoRoute => "MISSING_AUTHENTICATION_TOKEN",
            Self::HeadersTooLarge => "REQUEST_HEADER_FIELDS_TOO_LARGE",
            Self::BodyTooLarge => "REQUEST_TOO_LARGE",
            Self::InvalidApiKey => "INVALID_API_KEY",
            Self::Throttled => "THROTTLED",
            Self::BadRequest => "BAD_REQUEST",
        }
    }
}
