//! `fastgw._core.Engine`: a frozen wrapper around [`gateway_core::Engine`].

use gateway_core::{ApiType, Decision, GatewaySpec, RouteSpec, RoutingOptions};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::errors::config_error;

/// The decision "send this request to route `route_id`".
#[pyclass(frozen, name = "Forward", module = "fastgw._core")]
pub struct PyForward {
    #[pyo3(get)]
    route_id: u32,
    #[pyo3(get)]
    params: Py<PyDict>,
}

/// The decision "answer with gateway response `response_type`".
#[pyclass(frozen, name = "Reject", module = "fastgw._core")]
pub struct PyReject {
    #[pyo3(get)]
    response_type: &'static str,
}

#[pyclass(frozen, name = "Engine", module = "fastgw._core")]
pub struct PyEngine(gateway_core::Engine);

fn parse_api_type(api_type: &str) -> PyResult<ApiType> {
    match api_type {
        "REST" => Ok(ApiType::Rest),
        "HTTP" => Ok(ApiType::Http),
        other => Err(PyValueError::new_err(format!("api_type must be 'REST' or 'HTTP', not {other:?}"))),
    }
}

#[pymethods]
impl PyEngine {
    #[new]
    #[pyo3(signature = (api_type, routes, *, ignore_trailing_slash = None))]
    fn new(
        py: Python<'_>,
        api_type: &str,
        routes: Vec<(String, String)>,
        ignore_trailing_slash: Option<bool>,
    ) -> PyResult<Self> {
        let api_type = parse_api_type(api_type)?;
        let mut spec = GatewaySpec::new(api_type, routes.into_iter().map(|(m, p)| RouteSpec::new(m, p)).collect());
        if let Some(ignore) = ignore_trailing_slash {
            spec.routing = RoutingOptions { ignore_trailing_slash: ignore };
        }
        let built = py.detach(|| gateway_core::Engine::build(&spec));
        built.map(Self).map_err(|e| config_error(&e))
    }

    /// One call per request: route match (and, as they land, key check, throttle, cache).
    fn admit(&self, py: Python<'_>, method: &str, path: &str) -> PyResult<Py<PyAny>> {
        match self.0.admit(method, path) {
            Decision::Forward(found) => {
                let params = PyDict::new(py);
                for (name, value) in &found.params {
                    params.set_item(name, value)?;
                }
                Ok(Py::new(py, PyForward { route_id: found.route_id, params: params.unbind() })?.into_any())
            }
            Decision::Reject(rejection) => {
                Ok(Py::new(py, PyReject { response_type: rejection.response_type() })?.into_any())
            }
        }
    }
}
