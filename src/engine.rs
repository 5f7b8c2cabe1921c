//! `fastgw._core.Engine`: a frozen wrapper around [`gateway_core::Engine`].

use std::borrow::Cow;

use gateway_core::engine::RequestFacts;
use gateway_core::http1::{ClientInfo, RequestBody};
use gateway_core::paths::encode_path;
use gateway_core::{ApiType, Decision, GatewaySpec, ProxyTarget, RouteSpec, RoutingOptions};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyTuple};

use crate::errors::config_error;
use crate::upstream::parse_rules;

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
    /// For a plain HTTP proxy route: the upstream request head, written here with AWS's header rules.
    #[pyo3(get)]
    head: Option<Py<PyBytes>>,
    /// The request body's framing: `None` (no body), `-1` (chunked) or its `Content-Length`.
    #[pyo3(get)]
    body_length: Option<i64>,
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
    /// `proxies`: per route, `None` or `(host, rules, api_id, path_template, method | None, query,
    /// append_request_path)` for a plain HTTP proxy whose head the engine writes itself.
    #[new]
    #[pyo3(signature = (
        api_type, routes, *, ignore_trailing_slash = None, max_header_bytes = None, max_body_bytes = None,
        proxies = None
    ))]
    #[allow(clippy::too_many_arguments, clippy::type_complexity)]
    fn new(
        py: Python<'_>,
        api_type: &str,
        routes: Vec<(String, String)>,
        ignore_trailing_slash: Option<bool>,
        max_header_bytes: Option<usize>,
        max_body_bytes: Option<u64>,
        proxies: Option<Vec<Option<(String, String, String, String, Option<String>, String, bool)>>>,
    ) -> PyResult<Self> {
        let api_type = parse_api_type(api_type)?;
        let mut spec = GatewaySpec::new(api_type, routes.into_iter().map(|(m, p)| RouteSpec::new(m, p)).collect());
        if let Some(ignore) = ignore_trailing_slash {
            spec.routing = RoutingOptions { ignore_trailing_slash: ignore };
        }
        spec.max_header_bytes = max_header_bytes;
        spec.max_body_bytes = max_body_bytes;
        for proxy in proxies.unwrap_or_default() {
            spec.proxies.push(match proxy {
                None => None,
                Some((host, rules, api_id, path, method, query, append)) => {
                    Some(ProxyTarget::new(host, parse_rules(&rules)?, api_id, &path, method, query, append))
                }
            });
        }
        let built = py.detach(|| gateway_core::Engine::build(&spec));
        built.map(Self).map_err(|e| config_error(&e))
    }

    /// The one call per request: header and body limits, path re-encoding, route match, and for plain
    /// HTTP proxy routes the upstream request head. `path` is the path as Granian gives it (decoded);
    /// `headers` the request's `(name, value)` pairs; `client` the peer as `ip:port`; `proto` and `port`
    /// the listener's, for `X-Forwarded-Proto/-Port`.
    #[pyo3(signature = (method, path, headers = None, query = "", client = "", proto = "http", port = "80"))]
    #[allow(clippy::too_many_arguments)]
    fn admit(
        &self,
        py: Python<'_>,
        method: &str,
        path: &Bound<'_, PyString>,
        headers: Option<&Bound<'_, PyList>>,
        query: &str,
        client: &str,
        proto: &str,
        port: &str,
    ) -> PyResult<Py<PyAny>> {
        // The header strings, kept alive here so that they can be borrowed without copying.
        let mut owned: Vec<Bound<'_, PyString>> = Vec::new();
        if let Some(list) = headers {
            owned.reserve(list.len() * 2);
            for item in list.iter() {
                let pair = item.cast_into::<PyTuple>().map_err(PyErr::from)?;
                if pair.len() != 2 {
                    return Err(PyValueError::new_err("headers must be (name, value) pairs"));
                }
                for index in 0..2 {
                    owned.push(pair.get_item(index)?.cast_into::<PyString>().map_err(PyErr::from)?);
                }
            }
        }
        let mut strs: Vec<(&str, &str)> = Vec::with_capacity(owned.len() / 2);
        for pair in owned.chunks_exact(2) {
            strs.push((pair[0].to_str()?, pair[1].to_str()?));
        }
        let request = RequestHeaders::read(&strs);
        let decoded = path.to_str()?;
        let encoded = encode_path(decoded);
        let facts = RequestFacts { header_bytes: request.size, content_length: request.content_length };
        match self.0.admit(method, &encoded, facts) {
            Decision::Forward(found) => {
                let params = PyDict::new(py);
                for (name, value) in &found.params {
                    params.set_item(name, value)?;
                }
                let body_length = match (request.content_length, request.chunked) {
                    (Some(n), _) => Some(i64::try_from(n).unwrap_or(i64::MAX)),
                    (None, true) => Some(-1),
                    (None, false) => None,
                };
                let head = match self.0.proxy(found.route_id) {
                    Some(target) => target.target(&encoded, &found.params, query).map(|upstream_target| {
                        let body = match (request.content_length, request.chunked) {
                            (Some(n), _) => RequestBody::Length(n),
                            (None, true) => RequestBody::Chunked,
                            (None, false) => RequestBody::Empty,
                        };
                        let ip = client_ip(client);
                        let info = ClientInfo { ip, proto, port, host: request.host.unwrap_or("") };
                        let head = target.write_head(method, &upstream_target, strs.iter().copied(), &info, body);
                        PyBytes::new(py, &head).unbind()
                    }),
                    None => None,
                };
                let path = match &encoded {
                    Cow::Borrowed(_) => path.clone().unbind(),
                    Cow::Owned(text) => PyString::new(py, text).unbind(),
                };
                let forward = PyForward { route_id: found.route_id, params: params.unbind(), path, head, body_length };
                Ok(Py::new(py, forward)?.into_any())
            }
            Decision::Reject(rejection) => {
                Ok(Py::new(py, PyReject { response_type: rejection.response_type() })?.into_any())
            }
        }
    }
}

/// What the engine reads from the request headers, in one pass.
struct RequestHeaders<'a> {
    size: usize,
    content_length: Option<u64>,
    chunked: bool,
    host: Option<&'a str>,
}

impl<'a> RequestHeaders<'a> {
    fn read(pairs: &[(&'a str, &'a str)]) -> Self {
        let mut read = Self { size: 0, content_length: None, chunked: false, host: None };
        for &(name, value) in pairs {
            read.size += name.len() + value.len();
            if name.eq_ignore_ascii_case("content-length") {
                read.content_length = value.trim().parse().ok();
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                read.chunked = true;
            } else if name.eq_ignore_ascii_case("host") && read.host.is_none() {
                read.host = Some(value);
            }
        }
        read
    }
}

/// The IP of a peer given as `ip:port` or `[ipv6]:port`.
fn client_ip(client: &str) -> &str {
    match client.rsplit_once(':') {
        Some((ip, _)) => ip.trim_start_matches('[').trim_end_matches(']'),
        None => client,
    }
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
