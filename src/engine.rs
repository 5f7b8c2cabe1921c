//! `fastgw._core.Engine`: a frozen wrapper around [`gateway_core::Engine`].

use std::borrow::Cow;

use gateway_core::paths::encode_path;
use gateway_core::{ApiType, Decision, GatewaySpec, RouteSpec, RoutingOptions};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString, PyTuple};

use crate::errors::config_error;

/// The decision "send this request to route `route_id`".
#[pyclass(frozen, name = "Forward", module = "fastgw._core")]
pub struct PyForward {
    #[pyo3(get)]
    route_id: u32,
    #[pyo3(get)]
    params: Py<PyDict>,
    /// The path as matched: percent-encoded again (Granian hands it over decoded).
    #[pyo3(get)]
    path: Py<PyString>,
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
    #[pyo3(signature = (api_type, routes, *, ignore_trailing_slash = None, max_header_bytes = None))]
    fn new(
        py: Python<'_>,
        api_type: &str,
        routes: Vec<(String, String)>,
        ignore_trailing_slash: Option<bool>,
        max_header_bytes: Option<usize>,
    ) -> PyResult<Self> {
        let api_type = parse_api_type(api_type)?;
        let mut spec = GatewaySpec::new(api_type, routes.into_iter().map(|(m, p)| RouteSpec::new(m, p)).collect());
        if let Some(ignore) = ignore_trailing_slash {
            spec.routing = RoutingOptions { ignore_trailing_slash: ignore };
        }
        spec.max_header_bytes = max_header_bytes;
        let built = py.detach(|| gateway_core::Engine::build(&spec));
        built.map(Self).map_err(|e| config_error(&e))
    }

    /// One call per request: header limit, path re-encoding, route match (and, as they land, key
    /// check, throttle, cache). `path` is the path as Granian gives it (decoded); `headers` the request's
    /// `(name, value)` pairs, counted against the header limit.
    #[pyo3(signature = (method, path, headers = None))]
    fn admit(
        &self,
        py: Python<'_>,
        method: &str,
        path: &Bound<'_, PyString>,
        headers: Option<&Bound<'_, PyList>>,
    ) -> PyResult<Py<PyAny>> {
        let header_bytes = match headers {
            Some(list) => header_size(list)?,
            None => 0,
        };
        let decoded = path.to_str()?;
        let encoded = encode_path(decoded);
        match self.0.admit(method, &encoded, header_bytes) {
            Decision::Forward(found) => {
                let params = PyDict::new(py);
                for (name, value) in &found.params {
                    params.set_item(name, value)?;
                }
                let path = match &encoded {
                    Cow::Borrowed(_) => path.clone().unbind(),
                    Cow::Owned(text) => PyString::new(py, text).unbind(),
                };
                Ok(Py::new(py, PyForward { route_id: found.route_id, params: params.unbind(), path })?.into_any())
            }
            Decision::Reject(rejection) => {
                Ok(Py::new(py, PyReject { response_type: rejection.response_type() })?.into_any())
            }
        }
    }
}

/// The size of the header names and values, as AWS counts against its header limit.
fn header_size(headers: &Bound<'_, PyList>) -> PyResult<usize> {
    let mut total = 0;
    for item in headers.iter() {
        let pair = item.cast::<PyTuple>()?;
        for part in [pair.get_borrowed_item(0)?, pair.get_borrowed_item(1)?] {
            total += part.cast::<PyString>()?.to_str()?.len();
        }
    }
    Ok(total)
}

/// Request ids for one worker process: `next()` gives `(request id, extended request id)`.
#[pyclass(frozen, name = "RequestIds", module = "fastgw._core")]
pub struct PyRequestIds(gateway_core::ids::RequestIds);

#[pymethods]
impl PyRequestIds {
    /// `seed`: at least 16 random bytes (`secrets.token_bytes(16)`), drawn in each worker process.
    #[new]
    fn new(seed: &[u8]) -> Self {
        Self(gateway_core::ids::RequestIds::new(seed))
    }

    fn next(&self) -> (String, String) {
        self.0.next()
    }
}
