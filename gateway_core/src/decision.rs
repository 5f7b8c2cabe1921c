//! Expected per-request outcomes, as values: the one thing [`crate::Engine::admit`] returns.

use crate::routing::RouteMatch;

/// What the gateway does with a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision<'r, 'p> {
    /// Send the request on to the route's integration.
    Forward(RouteMatch<'r, 'p>),
    /// Answer with a gateway response instead.
    Reject(Rejection),
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
}

impl Rejection {
    /// The AWS gateway response type for this rejection on a REST API. HTTP APIs have no
    /// customisable gateway responses; Python renders their fixed bodies from the same type.
    pub fn response_type(self) -> &'static str {
        match self {
            Self::NoRoute => "MISSING_AUTHENTICATION_TOKEN",
            Self::HeadersTooLarge => "REQUEST_HEADER_FIELDS_TOO_LARGE",
            Self::BodyTooLarge => "REQUEST_TOO_LARGE",
        }
    }
}
