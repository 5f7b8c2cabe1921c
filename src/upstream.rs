//! `fastgw._core.UpstreamTarget` and `ResponseParser`: the byte work of an upstream exchange.
//! Python's asyncio protocol owns the socket and calls in once to build a request head and once
//! per `data_received` to parse.

use gateway_core::http1::{ClientInfo, HeaderRules, RequestBody, RequestHeadWriter, ResponseParser};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyString, PyTuple};

use crate::errors::UpstreamProtocolError;

pub fn parse_rules(rules: &str) -> PyResult<HeaderRules> {
    match rules {
        "REST_PROXY" => Ok(HeaderRules::RestProxy),
        "REST" => Ok(HeaderRules::RestNonProxy),
        "HTTP_API_PROXY" => Ok(HeaderRules::HttpApiProxy),
        other => Err(PyValueError::new_err(format!(
            "header rules must be REST_PROXY, REST or HTTP_API_PROXY, not {other:?}"
        ))),
    }
}

/// Iterates a list of `(name, value)` string pairs without copying the strings.
fn for_each_pair(pairs: &Bound<'_, PyList>, mut f: impl FnMut(&str, &str)) -> PyResult<()> {
    for item in pairs.iter() {
        let pair = item.cast::<PyTuple>()?;
        if pair.len() != 2 {
            return Err(PyValueError::new_err("headers must be (name, value) pairs"));
        }
        let name = pair.get_borrowed_item(0)?;
        let value = pair.get_borrowed_item(1)?;
        f(name.cast::<PyString>()?.to_str()?, value.cast::<PyString>()?.to_str()?);
    }
    Ok(())
}

/// One backend of one route: its `Host` header and header rules, fixed at load.
#[pyclass(frozen, name = "UpstreamTarget", module = "fastgw._core")]
pub struct PyUpstreamTarget {
    host: String,
    rules: HeaderRules,
    api_id: String,
}

#[pymethods]
impl PyUpstreamTarget {
    #[new]
    #[pyo3(signature = (host, *, rules, api_id))]
    fn new(host: String, rules: &str, api_id: String) -> PyResult<Self> {
        Ok(Self { host, rules: parse_rules(rules)?, api_id })
    }

    /// Builds the request head for one exchange. `headers` are the client's (filtered by the rules),
    /// `mapped_headers` are set by mappings and always written. `body_length`: `None` for no body,
    /// `-1` for a chunked body of unknown length, else the exact length.
    #[pyo3(signature = (method, target, headers, mapped_headers, client_ip, client_host, proto, port, body_length))]
    #[allow(clippy::too_many_arguments)]
    fn request_head<'py>(
        &self,
        py: Python<'py>,
        method: &str,
        target: &str,
        headers: &Bound<'py, PyList>,
        mapped_headers: Option<&Bound<'py, PyList>>,
        client_ip: &str,
        client_host: &str,
        proto: &str,
        port: &str,
        body_length: Option<i64>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let mut writer = RequestHeadWriter::new(method, target, &self.host, self.rules, &self.api_id);
        // The client's headers are read whole first: `Connection` may name headers that come before it.
        let owned = crate::engine::header_strings(headers)?;
        let mut texts: Vec<(&str, &str)> = Vec::with_capacity(owned.len() / 2);
        for pair in owned.chunks_exact(2) {
            texts.push((pair[0].to_str()?, pair[1].to_str()?));
        }
        writer.headers(texts.iter().copied());
        if let Some(mapped) = mapped_headers {
            for_each_pair(mapped, |name, value| writer.mapped_header(name, value))?;
        }
        let body = match body_length {
            None => RequestBody::Empty,
            Some(n) if n < 0 => RequestBody::Chunked,
            Some(n) => RequestBody::Length(n.unsigned_abs()),
        };
        let client = ClientInfo { ip: client_ip, proto, port, host: client_host };
        let head = writer.finish(&client, body).map_err(|error| PyValueError::new_err(error.to_string()))?;
        Ok(PyBytes::new(py, &head))
    }

    #[getter]
    fn host(&self) -> &str {
        &self.host
    }
}

/// The path to route, from the decoded path Granian gives: dot segments removed (RFC 3986 §5.2.4). Raises
/// `ValueError` for a path whose decoding lost bytes (a percent-encoded byte that is not UTF-8).
#[pyfunction]
pub fn normalize_path(path: &Bound<'_, PyString>) -> PyResult<Py<PyString>> {
    match gateway_core::paths::normalize_path(path.to_str()?) {
        Ok(std::borrow::Cow::Borrowed(_)) => Ok(path.clone().unbind()),
        Ok(std::borrow::Cow::Owned(normalized)) => Ok(PyString::new(path.py(), &normalized).unbind()),
        Err(_) => Err(PyValueError::new_err("the path has percent-encoded bytes that are not UTF-8")),
    }
}

/// Frames one chunk of a chunked request body; `b""` gives the last chunk.
#[pyfunction]
pub fn encode_chunk<'py>(py: Python<'py>, data: &[u8]) -> Bound<'py, PyBytes> {
    PyBytes::new(py, &gateway_core::http1::encode_chunk(data))
}

/// Incremental response parser, one per upstream connection, restarted per exchange.
#[pyclass(name = "ResponseParser", module = "fastgw._core")]
pub struct PyResponseParser {
    inner: ResponseParser,
    rules: HeaderRules,
    max_head: usize,
}

#[pymethods]
impl PyResponseParser {
    #[new]
    #[pyo3(signature = (rules, *, max_head = 65536))]
    fn new(rules: &str, max_head: usize) -> PyResult<Self> {
        let rules = parse_rules(rules)?;
        Ok(Self { inner: ResponseParser::new(rules, false, max_head), rules, max_head })
    }

    /// Prepares for the next response on the connection.
    fn start(&mut self, head_request: bool) {
        self.inner = ResponseParser::new(self.rules, head_request, self.max_head);
    }

    /// Feeds bytes. Returns `None` while the head is incomplete; else
    /// `(status | None, headers | None, content_length | None, keep_alive, body, done)` where status and
    /// headers are set only the first time.
    fn feed<'py>(&mut self, py: Python<'py>, data: &[u8]) -> PyResult<Option<Bound<'py, PyTuple>>> {
        let progress = self.inner.feed(data).map_err(|e| UpstreamProtocolError::new_err(e.to_string()))?;
        let body = PyBytes::new(py, &progress.body);
        let tuple = match progress.head {
            Some(head) => PyTuple::new(
                py,
                [
                    head.status.into_pyobject(py)?.into_any(),
                    head.headers.into_pyobject(py)?.into_any(),
                    head.content_length.into_pyobject(py)?.into_any(),
                    pyo3::types::PyBool::new(py, head.keep_alive).to_owned().into_any(),
                    body.into_any(),
                    pyo3::types::PyBool::new(py, progress.done).to_owned().into_any(),
                ],
            )?,
            None if progress.body.is_empty() && !progress.done && !self.inner.is_done() && !self.head_seen() => {
                return Ok(None);
            }
            None => PyTuple::new(
                py,
                [
                    py.None().into_bound(py),
                    py.None().into_bound(py),
                    py.None().into_bound(py),
                    py.None().into_bound(py),
                    body.into_any(),
                    pyo3::types::PyBool::new(py, progress.done).to_owned().into_any(),
                ],
            )?,
        };
        Ok(Some(tuple))
    }

    /// The connection closed: returns normally if that completes the response (a body delimited by
    /// the close), raises `UpstreamProtocolError` if the response was cut short.
    fn finish(&mut self) -> PyResult<()> {
        self.inner.finish().map_err(|e| UpstreamProtocolError::new_err(e.to_string()))
    }

    fn is_done(&self) -> bool {
        self.inner.is_done()
    }

    /// Done, and nothing came after the response: the connection may be reused.
    fn is_reusable(&self) -> bool {
        self.inner.is_reusable()
    }
}

impl PyResponseParser {
    fn head_seen(&self) -> bool {
        self.inner.head_seen()
    }
}
