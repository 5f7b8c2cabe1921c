//! Configuration errors: a definition the engine refuses to build. Each names the route (by its
//! index in the spec, so that Python can point at the place in the file) and says why, using
//! AWS's own messages where AWS has one.

use std::fmt;

use crate::spec::RouteId;

#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// Two routes for the same method on the same resource, e.g. `/pets` and `/pets/` on a REST API,
    /// or two `$default` routes. `other` is the earlier route; `name` the route key (`GET /pets/`).
    DuplicateRoute { route: RouteId, other: RouteId, name: String },
    /// Two variable path parts under one parent: `/pets/{id}` beside `/pets/{name}` or `/pets/{proxy+}`.
    VariableSibling { route: RouteId, sibling: String },
    /// A path part below a greedy variable: `/files/{proxy+}/meta`.
    ChildOfGreedy { route: RouteId, greedy: String },
    /// A method that is not one of AWS's eight (`ANY` included).
    InvalidMethod { route: RouteId, method: String },
    /// A path AWS would not import (not starting with `/`, a variable that is not a whole segment, …).
    InvalidPath { route: RouteId, reason: String },
}

impl ConfigError {
    /// The route the error is about, as its index in the spec.
    pub fn route(&self) -> RouteId {
        match self {
            Self::DuplicateRoute { route, .. }
            | Self::VariableSibling { route, .. }
            | Self::ChildOfGreedy { route, .. }
            | Self::InvalidMethod { route, .. }
            | Self::InvalidPath { route, .. } => *route,
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::DuplicateRoute { other, name, .. } => {
                write!(f, "Method already exists for this resource: {name} (route {other} has it)")
            }
            Self::VariableSibling { sibling, .. } => write!(
                f,
                "A sibling ({sibling}) of this resource already has a variable path part -- only one is allowed"
            ),
            Self::ChildOfGreedy { greedy, .. } => {
                write!(f, "Cannot create a child of a resource with a greedy path variable: {greedy}")
            }
            Self::InvalidMethod { method, .. } => write!(f, "Invalid HTTP method: {method}"),
            Self::InvalidPath { reason, .. } => write!(f, "{reason}"),
        }
    }
}

impl std::error::Error for ConfigError {}
