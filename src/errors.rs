//! Rust errors → Python exceptions, in one place (the orphan rule forbids `impl From<ConfigError> for PyErr`).

use gateway_core::ConfigError;
use pyo3::prelude::*;

pyo3::create_exception!(
    _core,
    RouteConfigError,
    pyo3::exceptions::PyValueError,
    "A route table the engine refuses to build. args = (message, route_index)."
);

/// Maps a [`ConfigError`] to `RouteConfigError(message, route_index)`; Python turns the index
/// back into the place in the definition file.
pub fn config_error(error: &ConfigError) -> PyErr {
    RouteConfigError::new_err((error.to_string(), error.route()))
}

pyo3::create_exception!(
    _core,
    UpstreamProtocolError,
    pyo3::exceptions::PyValueError,
    "An upstream (backend) response that is not valid HTTP/1.1, or was cut short."
);
