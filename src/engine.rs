//! `fastgw._core.Engine`: a frozen wrapper around [`gateway_core::Engine`].

use std::borrow::Cow;

use std::sync::Arc;

use gateway_core::admission::{Admission, AdmissionSpec, KeyPlan, KeyTable, ThrottleMode};
use gateway_core::cache::{CacheConfig, CacheKey, CachedResponse};
use gateway_core::engine::RequestFacts;
use gateway_core::http1::{ClientInfo, HeadError, RequestBody};
use gateway_core::paths::{encode_path, is_valid_host, normalize_path};
use gateway_core::proxy::{HeaderMapping, MappedSource, MappingInput};
use gateway_core::stage_cache::{
    CacheLookup, Generations, Invalidation, KeyParam, KeySource, RouteCaching, StageCache,
};
use gateway_core::throttle::{Limit, OnTableFull, Throttle};
use gateway_core::validation::{ParamLocation, RequestCheck};
use gateway_core::{ApiType, Decision, GatewaySpec, ProxyTarget, Rejection, RouteSpec, RoutingOptions};
use pyo3::exceptions::PyValueError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyTuple};

use crate::errors::config_error;
use crate::upstream::parse_rules;
use crate::validation::PyBodyValidator;

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
    /// The API key's slot, when the route requires a key (see `Engine.set_keys`).
    #[pyo3(get)]
    key_slot: Option<u64>,
    /// The usage plan's slot, when the route requires a key.
    #[pyo3(get)]
    plan_slot: Option<u64>,
    /// With a deferred throttle: the levels `(bucket, rate, burst)` the caller checks in the shared store.
    #[pyo3(get)]
    deferred_throttle: Option<Py<PyList>>,
    /// `(traceparent, X-Amzn-Trace-Id)` for the backend, when `admit` was given the request id (already in
    /// `head` for plain proxies).
    #[pyo3(get)]
    trace: Option<(String, String)>,
    /// A cached route's miss: the key to store the response under (`Engine.cache_store`).
    #[pyo3(get)]
    cache_key: Option<Py<PyCacheKey>>,
    /// Stale-while-revalidate: an expired entry within the stage's stale window, to answer with at once while
    /// the response fetched in the background replaces it under `cache_key`.
    #[pyo3(get)]
    stale: Option<Py<PyCached>>,
    /// The client asked for a refresh (`max-age=0`) and may: no cached copy answers it, a shared tier's included.
    #[pyo3(get)]
    cache_refresh: bool,
    /// The route's request validator checks the body against this model (chosen by the Content-Type).
    #[pyo3(get)]
    body_model: Option<Py<PyBodyValidator>>,
}

/// A response served from the stage cache.
#[pyclass(frozen, name = "Cached", module = "fastgw._core")]
pub struct PyCached {
    #[pyo3(get)]
    route_id: u32,
    #[pyo3(get)]
    status: u16,
    #[pyo3(get)]
    headers: Py<PyList>,
    #[pyo3(get)]
    body: Py<PyBytes>,
    /// An unauthorized `Cache-Control: max-age=0` was ignored (`SUCCEED_WITH_RESPONSE_HEADER`).
    #[pyo3(get)]
    warn: bool,
    /// As `Forward.body_model`: validation comes before the cache.
    #[pyo3(get)]
    body_model: Option<Py<PyBodyValidator>>,
    /// As `Forward.key_slot`, `plan_slot` and `deferred_throttle`: a hit is throttled and counted against the key's
    /// quota like any request (AWS throttles before the cache and counts every request a key makes).
    #[pyo3(get)]
    key_slot: Option<u64>,
    #[pyo3(get)]
    plan_slot: Option<u64>,
    #[pyo3(get)]
    deferred_throttle: Option<Py<PyList>>,
}

/// The checks of an admitted request that the caller (Python) still runs, whether the cache answers it or not:
/// the key and its plan (for the quota), the throttle levels it checks in the shared store, and the body model.
struct Pending {
    key_slot: Option<u64>,
    plan_slot: Option<u64>,
    deferred_throttle: Option<Py<PyList>>,
    body_model: Option<Py<PyBodyValidator>>,
}

impl Pending {
    fn new(py: Python<'_>, forwarded: &gateway_core::Forwarded<'_, '_>) -> PyResult<Self> {
        let deferred_throttle = if forwarded.deferred_throttle.is_empty() {
            None
        } else {
            let levels = forwarded.deferred_throttle.iter().map(|&(key, l)| (key, l.rate, l.burst));
            Some(PyList::new(py, levels)?.unbind())
        };
        Ok(Self {
            key_slot: forwarded.key.map(|k| k.key_slot),
            plan_slot: forwarded.key.map(|k| k.plan_slot),
            deferred_throttle,
            body_model: None,
        })
    }
}

/// The cache key of a miss: hand it back to `Engine.cache_store` with the response.
#[pyclass(frozen, name = "CacheKey", module = "fastgw._core")]
pub struct PyCacheKey(CacheKey);

#[pymethods]
impl PyCacheKey {
    /// The key's bytes (equal keys, equal bytes): for single-flight bookkeeping.
    #[getter]
    fn id<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.0.as_bytes())
    }
}

/// A flush generation per stage in memory shared by the workers: `bump(i)` flushes stage `i` everywhere.
#[pyclass(frozen, name = "CacheGenerations", module = "fastgw._core")]
pub struct PyCacheGenerations(Arc<Generations>);

#[pymethods]
impl PyCacheGenerations {
    #[new]
    fn new(stages: usize) -> PyResult<Self> {
        Ok(Self(Generations::new(stages.max(1))?))
    }

    fn bump(&self, stage: usize) {
        self.0.bump(stage);
    }
}

type RouteCachingArgs = (f64, String, Vec<(String, String)>, bool, String);

fn route_caching(args: RouteCachingArgs) -> PyResult<RouteCaching> {
    let (ttl, namespace, params, all_methods, invalidation) = args;
    let params = params
        .into_iter()
        .map(|(source, name)| {
            let source = match source.as_str() {
                "path" => KeySource::Path,
                "querystring" => KeySource::Query,
                "header" => KeySource::Header,
                other => return Err(PyValueError::new_err(format!("unknown cache key source {other:?}"))),
            };
            Ok(KeyParam { source, name })
        })
        .collect::<PyResult<Vec<_>>>()?;
    let invalidation = match invalidation.as_str() {
        "allowed" => Invalidation::Allowed,
        "FAIL_WITH_403" => Invalidation::Refuse,
        "SUCCEED_WITH_RESPONSE_HEADER" => Invalidation::IgnoreWithWarning,
        "SUCCEED_WITHOUT_RESPONSE_HEADER" => Invalidation::Ignore,
        other => return Err(PyValueError::new_err(format!("unknown cache invalidation {other:?}"))),
    };
    Ok(RouteCaching { ttl: std::time::Duration::from_secs_f64(ttl), namespace, params, all_methods, invalidation })
}

/// The node's token buckets, shared by every worker process: create it before the workers start.
#[pyclass(frozen, name = "Throttle", module = "fastgw._core")]
pub struct PyThrottle(Arc<Throttle>);

#[pymethods]
impl PyThrottle {
    /// Room for `capacity_keys` buckets; `fail_open`: a full table admits (else throttles).
    #[new]
    #[pyo3(signature = (capacity_keys, *, fail_open = true))]
    fn new(capacity_keys: usize, fail_open: bool) -> PyResult<Self> {
        let on_full = if fail_open { OnTableFull::Admit } else { OnTableFull::Throttle };
        Throttle::new(capacity_keys, on_full).map(|t| Self(Arc::new(t))).map_err(PyErr::from)
    }

    #[getter]
    fn memory_bytes(&self) -> usize {
        self.0.table().memory_bytes()
    }

    fn __len__(&self) -> usize {
        self.0.table().len()
    }
}

fn limit(pair: (f64, u32)) -> Limit {
    Limit::new(pair.0, pair.1)
}

/// The decision "answer with gateway response `response_type`".
#[pyclass(frozen, name = "Reject", module = "fastgw._core")]
pub struct PyReject {
    #[pyo3(get)]
    response_type: &'static str,
    /// The matched route, when the request was refused after routing (API key, throttle, cache refresh,
    /// request validation).
    #[pyo3(get)]
    route_id: Option<u32>,
    /// The gateway response's message when it is the request's own (missing request parameters).
    #[pyo3(get)]
    message: Option<String>,
}

impl PyReject {
    fn new(response_type: &'static str, route_id: Option<u32>) -> Self {
        Self { response_type, route_id, message: None }
    }
}

/// A route's request validator: the checks run in `admit`, and its body models.
struct RouteValidation {
    check: RequestCheck,
    models: Vec<Py<PyBodyValidator>>,
}

/// A route's request validator as `Engine(validators=...)` takes it: the required parameters as `(location,
/// name)` and the body models as `(media type, model)`.
type ValidatorArgs = (Vec<(String, String)>, Vec<(String, Py<PyBodyValidator>)>);

fn route_validation(args: ValidatorArgs) -> PyResult<RouteValidation> {
    let (required, models) = args;
    let required = required
        .into_iter()
        .map(|(location, name)| match location.as_str() {
            "header" => Ok((ParamLocation::Header, name)),
            "path" => Ok((ParamLocation::Path, name)),
            "querystring" => Ok((ParamLocation::QueryString, name)),
            other => Err(PyValueError::new_err(format!("unknown parameter location {other:?}"))),
        })
        .collect::<PyResult<_>>()?;
    let (media_types, models): (Vec<String>, Vec<_>) = models.into_iter().unzip();
    let models_by_type = media_types.into_iter().enumerate().map(|(index, media)| (media, index)).collect();
    Ok(RouteValidation { check: RequestCheck { required, models: models_by_type }, models })
}

#[pyclass(frozen, name = "Engine", module = "fastgw._core")]
pub struct PyEngine(gateway_core::Engine, Vec<Option<RouteValidation>>);

/// A cached response as the binding keeps it in the stage cache ([`CachedResponse::embedded`]): the Python
/// objects it was stored with, so that a hit answers with them as they are (no copy, no string made per
/// header), and the cache holds one copy of each body.
struct ResponseObjects {
    /// `(name, value)` tuples of strings, in order.
    headers: Vec<Py<PyTuple>>,
    body: Py<PyBytes>,
}

/// What the stage cache is charged for a [`ResponseObjects`] beside the body's bytes: per header, a tuple
/// (56 bytes), two short strings (about 50 each with their text's rounding) and its place in the list.
const PY_HEADER_OVERHEAD_BYTES: usize = 168;
/// The bytes object's header and the shared allocation around the objects.
const PY_RESPONSE_OVERHEAD_BYTES: usize = 96;

impl ResponseObjects {
    /// From a list of `(name, value)` string pairs and the body; with the bytes they take.
    fn new(headers: &Bound<'_, PyList>, body: &Bound<'_, PyBytes>) -> PyResult<(Self, usize)> {
        let mut bytes = body.as_bytes().len() + PY_RESPONSE_OVERHEAD_BYTES;
        let mut kept = Vec::with_capacity(headers.len());
        for item in headers.iter() {
            let pair = item.cast_into::<PyTuple>().map_err(PyErr::from)?;
            if pair.len() != 2 {
                return Err(PyValueError::new_err("headers must be (name, value) pairs"));
            }
            for index in 0..2 {
                bytes += pair.get_item(index)?.cast_into::<PyString>().map_err(PyErr::from)?.to_str()?.len();
            }
            bytes += PY_HEADER_OVERHEAD_BYTES;
            kept.push(pair.unbind());
        }
        Ok((Self { headers: kept, body: body.clone().unbind() }, bytes))
    }

    /// The objects of a cached response (every entry is stored by `Engine.cache_store`).
    fn of(response: &CachedResponse) -> PyResult<&Self> {
        response
            .embedded_as::<Self>()
            .ok_or_else(|| pyo3::exceptions::PyRuntimeError::new_err("a cached response without its objects"))
    }

    /// A new list of the headers, then `extra` ones.
    fn header_list<'py>(&self, py: Python<'py>, extra: &[Bound<'py, PyAny>]) -> PyResult<Bound<'py, PyList>> {
        let stored = self.headers.len();
        PyList::new(
            py,
            (0..stored + extra.len()).map(|i| match self.headers.get(i) {
                Some(header) => header.bind(py).clone().into_any(),
                None => extra[i - stored].clone(),
            }),
        )
    }
}

/// A plain proxy route, as `Engine(proxies=...)` takes it.
type ProxyArgs = (String, String, String, String, Option<String>, String, bool, Vec<(String, String, String)>);

/// A header mapping's source from its kind and argument: `static` (the value), `header`, `multivalueheader`,
/// `path`, `querystring`, `multivaluequerystring` (a name), or `context` (`requestId`, `httpMethod`,
/// `identity.sourceIp`).
fn mapped_source(kind: &str, argument: String) -> PyResult<MappedSource> {
    Ok(match kind {
        "static" => MappedSource::Static(argument),
        "header" => MappedSource::Header(argument.to_ascii_lowercase()),
        "multivalueheader" => MappedSource::MultiHeader(argument.to_ascii_lowercase()),
        "path" => MappedSource::Path(argument),
        "querystring" => MappedSource::Query(argument),
        "multivaluequerystring" => MappedSource::MultiQuery(argument),
        "context" => match argument.as_str() {
            "requestId" => MappedSource::RequestId,
            "httpMethod" => MappedSource::HttpMethod,
            "identity.sourceIp" => MappedSource::SourceIp,
            other => return Err(PyValueError::new_err(format!("unsupported context source {other:?}"))),
        },
        other => return Err(PyValueError::new_err(format!("unknown header mapping source {other:?}"))),
    })
}

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
    /// append_request_path, header_mappings)` for a plain HTTP proxy whose head the engine writes itself;
    /// `header_mappings` are `(header name, source kind, argument)` (see `mapped_source`).
    #[new]
    ///
    /// Admission (API keys and throttling): `throttle` the node's buckets, `throttle_mode` `"local"`,
    /// `"deferred"` (the caller checks `Forward.deferred_throttle` in a shared store) or `"off"`;
    /// `stage_id` distinguishes this stage's buckets; `gateway_limit` and, per route, `route_limits` are
    /// `(rate, burst)`; `api_key_required` per route.
    #[pyo3(signature = (
        api_type, routes, *, ignore_trailing_slash = None, max_header_bytes = None, max_body_bytes = None,
        proxies = None, throttle = None, throttle_mode = "local", stage_id = 0, gateway_limit = None,
        route_limits = None, api_key_required = None, cache = None, cache_stale_seconds = 0.0, validators = None
    ))]
    #[allow(clippy::too_many_arguments, clippy::type_complexity)]
    fn new(
        py: Python<'_>,
        api_type: &str,
        routes: Vec<(String, String)>,
        ignore_trailing_slash: Option<bool>,
        max_header_bytes: Option<usize>,
        max_body_bytes: Option<u64>,
        proxies: Option<Vec<Option<ProxyArgs>>>,
        throttle: Option<&PyThrottle>,
        throttle_mode: &str,
        stage_id: u64,
        gateway_limit: Option<(f64, u32)>,
        route_limits: Option<Vec<Option<(f64, u32)>>>,
        api_key_required: Option<Vec<bool>>,
        cache: Option<(usize, usize, Vec<Option<RouteCachingArgs>>, Option<PyRef<'_, PyCacheGenerations>>, usize)>,
        cache_stale_seconds: f64,
        validators: Option<Vec<Option<ValidatorArgs>>>,
    ) -> PyResult<Self> {
        let mode = match throttle_mode {
            "local" => ThrottleMode::Local,
            "deferred" => ThrottleMode::Deferred,
            "off" => ThrottleMode::Off,
            other => return Err(PyValueError::new_err(format!("unknown throttle_mode {other:?}"))),
        };
        let admission = Admission::new(
            AdmissionSpec {
                stage_id,
                gateway_limit: gateway_limit.map(limit),
                route_limits: route_limits.unwrap_or_default().into_iter().map(|l| l.map(limit)).collect(),
                api_key_required: api_key_required.unwrap_or_default(),
            },
            throttle.map(|t| Arc::clone(&t.0)),
            mode,
        );
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
                Some((host, rules, api_id, path, method, query, append, mappings)) => {
                    let mappings = mappings
                        .into_iter()
                        .map(|(name, kind, argument)| {
                            Ok(HeaderMapping { name, source: mapped_source(&kind, argument)? })
                        })
                        .collect::<PyResult<_>>()?;
                    let target = ProxyTarget::new(host, parse_rules(&rules)?, api_id, &path, method, query, append);
                    Some(target.with_header_mappings(mappings))
                }
            });
        }
        let stage_cache = match cache {
            None => None,
            Some((capacity, max_response, routes, generations, stage)) => {
                let routes = routes.into_iter().map(|r| r.map(route_caching).transpose()).collect::<PyResult<_>>()?;
                let stale_for = std::time::Duration::try_from_secs_f64(cache_stale_seconds).map_err(|_| {
                    PyValueError::new_err("cache_stale_seconds must be a number of seconds, at least 0")
                })?;
                let config = CacheConfig { max_response_bytes: max_response, stale_for, ..CacheConfig::new(capacity) };
                Some(StageCache::new(config, routes, generations.map(|g| (Arc::clone(&g.0), stage))))
            }
        };
        let built = py.detach(|| gateway_core::Engine::build(&spec));
        let engine = built.map_err(|e| config_error(&e))?.with_admission(admission);
        let engine = match stage_cache {
            Some(cache) => engine.with_cache(cache),
            None => engine,
        };
        let validators = validators
            .unwrap_or_default()
            .into_iter()
            .map(|v| v.map(route_validation).transpose())
            .collect::<PyResult<_>>()?;
        Ok(Self(engine, validators))
    }

    /// The cache-hit fast path of a REST stage, given Granian's RSGI `scope` and `protocol`: a GET that the stage
    /// cache answers, with no API key to check, is answered here (`protocol.response_bytes`, with the request
    /// ids) and gets `True`. Anything else gets `False`, with nothing sent and no throttle token taken: it takes
    /// the full path (`admit`). The scope is read once, from here, and only for what the lookup needs.
    fn answer_from_cache(
        &self,
        py: Python<'_>,
        scope: &Bound<'_, PyAny>,
        protocol: &Bound<'_, PyAny>,
        ids: &PyRequestIds,
    ) -> PyResult<bool> {
        let Some(cache) = self.0.cache() else {
            return Ok(false);
        };
        // A WebSocket scope's protocol has no `response_bytes`: such a request takes the full path.
        let Ok(respond) = protocol.getattr(intern!(py, "response_bytes")) else {
            return Ok(false);
        };
        let method = scope.getattr(intern!(py, "method"))?.cast_into::<PyString>()?;
        if method.to_str()? != "GET" {
            return Ok(false);
        }
        let path = scope.getattr(intern!(py, "path"))?.cast_into::<PyString>()?;
        let items = scope.getattr(intern!(py, "headers"))?.call_method0(intern!(py, "items"))?;
        let owned = header_strings(items.cast::<PyList>()?)?;
        let mut headers: Vec<(&str, &str)> = Vec::with_capacity(owned.len() / 2);
        for pair in owned.chunks_exact(2) {
            headers.push((pair[0].to_str()?, pair[1].to_str()?));
        }
        let request = RequestHeaders::read(&headers);
        if request.has_body() {
            return Ok(false); // a body to read first: the full path answers
        }
        let Some(encoded) = routable_path(path.to_str()?, &request, Some(scope))? else {
            return Ok(false); // a bad request: the full path refuses it
        };
        let facts = RequestFacts { header_bytes: request.size, content_length: request.content_length };
        let Some(found) = self.0.route("GET", &encoded, facts) else {
            return Ok(false);
        };
        // The query string is read only when the route's cache key takes a parameter from it.
        let query = if cache.key_reads_query(found.route_id) {
            Some(scope.getattr(intern!(py, "query_string"))?.cast_into::<PyString>()?)
        } else {
            None
        };
        let query = query.as_ref().map(|query| query.to_str()).transpose()?.unwrap_or_default();
        let CacheLookup::Hit { response, warn: false } =
            cache.lookup(found.route_id, "GET", &found.params, query, &headers)
        else {
            return Ok(false);
        };
        if !self.0.admits_anonymously(found.route_id) {
            return Ok(false);
        }
        let objects = ResponseObjects::of(&response)?;
        let ids = ids.0.next_ids();
        let id_headers = [
            PyTuple::new(py, [intern!(py, "x-amzn-RequestId"), &PyString::new(py, ids.request_id())])?.into_any(),
            PyTuple::new(py, [intern!(py, "x-amz-apigw-id"), &PyString::new(py, ids.extended_id())])?.into_any(),
        ];
        let headers = objects.header_list(py, &id_headers)?;
        respond.call1((response.status, headers, objects.body.bind(py)))?;
        Ok(true)
    }

    /// Keeps a response of route `route_id` under `key` (from `Forward.cache_key`) for the route's TTL, or for
    /// `ttl_ms` milliseconds when that is shorter (an entry copied from the shared tier keeps the life it has left).
    #[pyo3(signature = (route_id, key, status, headers, body, *, ttl_ms=None))]
    fn cache_store(
        &self,
        route_id: u32,
        key: &PyCacheKey,
        status: u16,
        headers: &Bound<'_, PyList>,
        body: &Bound<'_, PyBytes>,
        ttl_ms: Option<u64>,
    ) -> PyResult<bool> {
        let Some(cache) = self.0.cache() else {
            return Ok(false);
        };
        let (objects, bytes) = ResponseObjects::new(headers, body)?;
        let response = CachedResponse::embedded(status, objects, body.as_bytes().len(), bytes);
        Ok(cache.store_at_most(route_id, key.0.clone(), response, ttl_ms.map(std::time::Duration::from_millis)))
    }

    /// Empties the stage's cache in every worker.
    fn flush_cache(&self) {
        if let Some(cache) = self.0.cache() {
            cache.flush();
        }
    }

    /// This worker's share of the stage's cache capacity (starts empty).
    fn set_cache_capacity(&self, capacity_bytes: usize) {
        if let Some(cache) = self.0.cache() {
            cache.set_capacity(capacity_bytes);
        }
    }

    /// Entries in this worker's cache.
    #[getter]
    fn cache_entries(&self) -> usize {
        self.0.cache().map_or(0, StageCache::len)
    }

    /// The API keys this stage accepts: `(sha256 digest, key_slot, plan_slot, plan throttle (rate, burst) |
    /// None, [(route_id, rate, burst)] per-method throttles)`. Replaces the previous set.
    #[allow(clippy::type_complexity)]
    fn set_keys(&self, keys: Vec<(Vec<u8>, u64, u64, Option<(f64, u32)>, Vec<(u32, f64, u32)>)>) -> PyResult<()> {
        let Some(admission) = self.0.admission() else {
            return Ok(()); // no route requires a key and nothing is throttled
        };
        let mut entries = Vec::with_capacity(keys.len());
        for (digest, key_slot, plan_slot, throttle, methods) in keys {
            let hash: [u8; 32] =
                digest.try_into().map_err(|_| PyValueError::new_err("a key digest is 32 bytes (SHA-256)"))?;
            let method_limits =
                methods.into_iter().map(|(route, rate, burst)| (route, Limit::new(rate, burst))).collect();
            entries.push((hash, KeyPlan { key_slot, plan_slot, throttle: throttle.map(limit), method_limits }));
        }
        admission.set_keys(KeyTable::new(entries));
        Ok(())
    }

    /// Takes one token at each `(bucket, rate, burst)` level from the node's own buckets (the fail-open
    /// fallback when the shared store is down). `None` admitted, else the index of the level that throttled.
    fn throttle_locally(&self, levels: Vec<(u64, f64, u32)>) -> Option<usize> {
        let levels: Vec<(u64, Limit)> =
            levels.into_iter().map(|(key, rate, burst)| (key, Limit::new(rate, burst))).collect();
        self.0.admission().and_then(|admission| admission.throttle_locally(&levels).err())
    }

    /// The one call per request: header and body limits, path re-encoding, route match, and for plain
    /// HTTP proxy routes the upstream request head. `path` is the path as Granian gives it (decoded);
    /// `headers` the request's `(name, value)` pairs; `client` the peer as `ip:port`; `proto` and `port`
    /// the listener's, for `X-Forwarded-Proto/-Port`.
    ///
    /// With `request_id` (the request's UUID), the trace headers for the backend are made from the client's
    /// `traceparent` / `X-Amzn-Trace-Id` or created (`Forward.trace`, and in `head`).
    ///
    /// `scope` (Granian's) is read only for a request without `Host`: HTTP/1.1 requires one (RFC 9112 §3.2),
    /// HTTP/1.0 and HTTP/2 (`:authority`) do not. Without `scope`, a request without `Host` is admitted.
    #[pyo3(signature = (
        method, path, headers = None, query = "", client = "", proto = "http", port = "80", request_id = None,
        scope = None
    ))]
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
        request_id: Option<&str>,
        scope: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        // The header strings, kept alive here so that they can be borrowed without copying.
        let owned = match headers {
            Some(list) => header_strings(list)?,
            None => Vec::new(),
        };
        let mut strs: Vec<(&str, &str)> = Vec::with_capacity(owned.len() / 2);
        for pair in owned.chunks_exact(2) {
            strs.push((pair[0].to_str()?, pair[1].to_str()?));
        }
        let request = RequestHeaders::read(&strs);
        let decoded = path.to_str()?;
        let Some(encoded) = routable_path(decoded, &request, scope)? else {
            return Ok(Py::new(py, PyReject::new(Rejection::BadRequest.response_type(), None))?.into_any());
        };
        let facts = RequestFacts { header_bytes: request.size, content_length: request.content_length };
        match self.0.admit(method, &encoded, facts, request.api_key) {
            Decision::Forward(forwarded) => {
                let mut pending = Pending::new(py, &forwarded)?;
                let found = forwarded.route;
                if let Some(validation) = self.1.get(found.route_id as usize).and_then(Option::as_ref) {
                    let missing = validation.check.missing(&strs, query, &found.params);
                    if !missing.is_empty() {
                        let mut reject = PyReject::new("BAD_REQUEST_PARAMETERS", Some(found.route_id));
                        reject.message = Some(format!("Missing required request parameters: [{}]", missing.join(", ")));
                        return Ok(Py::new(py, reject)?.into_any());
                    }
                    pending.body_model =
                        validation.check.body_model(&strs).map(|index| validation.models[index].clone_ref(py));
                }
                let lookup = self.cache_lookup(py, &found, method, query, &strs, &pending)?;
                let (cache_key, stale, cache_refresh) = match lookup {
                    Ok(found) => found,
                    Err(answer) => return Ok(answer),
                };
                let params = PyDict::new(py);
                for (name, value) in &found.params {
                    params.set_item(name, value)?;
                }
                let body_length = match (request.content_length, request.chunked) {
                    (Some(n), _) => Some(i64::try_from(n).unwrap_or(i64::MAX)),
                    (None, true) => Some(-1),
                    (None, false) => None,
                };
                let trace = request_id.map(|id| trace_headers(id, &request));
                let head = match self.0.proxy(found.route_id) {
                    None => None,
                    Some(target) => {
                        let client =
                            ClientInfo { ip: client_ip(client), proto, port, host: request.host.unwrap_or("") };
                        let upstream = UpstreamRequest { method, encoded_path: &encoded, query, headers: &strs };
                        match proxy_head(target, &found, &upstream, &request, &client, request_id, trace.as_ref()) {
                            Ok(head) => head.map(|head| PyBytes::new(py, &head).unbind()),
                            Err(response_type) => {
                                let reject = PyReject::new(response_type, Some(found.route_id));
                                return Ok(Py::new(py, reject)?.into_any());
                            }
                        }
                    }
                };
                let path = match &encoded {
                    Cow::Borrowed(same) if same.len() == decoded.len() => path.clone().unbind(),
                    _ => PyString::new(py, &encoded).unbind(),
                };
                let forward = PyForward {
                    route_id: found.route_id,
                    params: params.unbind(),
                    path,
                    head,
                    body_length,
                    key_slot: pending.key_slot,
                    plan_slot: pending.plan_slot,
                    deferred_throttle: pending.deferred_throttle,
                    trace,
                    cache_key,
                    stale,
                    cache_refresh,
                    body_model: pending.body_model,
                };
                Ok(Py::new(py, forward)?.into_any())
            }
            Decision::Reject(rejection) => Ok(Py::new(py, PyReject::new(rejection.response_type(), None))?.into_any()),
            Decision::RejectRoute(rejection, route) => {
                let reject = PyReject::new(rejection.response_type(), Some(route));
                Ok(Py::new(py, reject)?.into_any())
            }
        }
    }
}

impl PyEngine {
    /// The stage cache's answer for a routed request: `Ok((key, stale, refresh))` to go on (the key of a miss or
    /// of a stale entry to refresh, the stale entry, and whether it is a client's refresh), `Err(answer)` when the
    /// cache answers (a hit, or `FAIL_WITH_403`).
    fn cache_lookup(
        &self,
        py: Python<'_>,
        found: &gateway_core::RouteMatch<'_, '_>,
        method: &str,
        query: &str,
        headers: &[(&str, &str)],
        pending: &Pending,
    ) -> PyResult<Result<CacheGoOn, Py<PyAny>>> {
        let Some(cache) = self.0.cache() else {
            return Ok(Ok((None, None, false)));
        };
        Ok(match cache.lookup(found.route_id, method, &found.params, query, headers) {
            CacheLookup::NotCached => Ok((None, None, false)),
            CacheLookup::Miss(key) => Ok((Some(Py::new(py, PyCacheKey(key))?), None, false)),
            CacheLookup::Refresh(key) => Ok((Some(Py::new(py, PyCacheKey(key))?), None, true)),
            CacheLookup::Stale { response, key, warn } => {
                let stale = Py::new(py, cached(py, found.route_id, &response, warn, pending)?)?;
                Ok((Some(Py::new(py, PyCacheKey(key))?), Some(stale), false))
            }
            CacheLookup::Refused => {
                let reject = PyReject::new("ACCESS_DENIED", Some(found.route_id));
                Err(Py::new(py, reject)?.into_any())
            }
            CacheLookup::Hit { response, warn } => {
                Err(Py::new(py, cached(py, found.route_id, &response, warn, pending)?)?.into_any())
            }
        })
    }
}

/// A cached response as Python objects.
fn cached(
    py: Python<'_>,
    route_id: u32,
    response: &CachedResponse,
    warn: bool,
    pending: &Pending,
) -> PyResult<PyCached> {
    let objects = ResponseObjects::of(response)?;
    let headers = objects.header_list(py, &[])?.unbind();
    let body = objects.body.clone_ref(py);
    Ok(PyCached {
        route_id,
        status: response.status,
        headers,
        body,
        warn,
        body_model: pending.body_model.as_ref().map(|model| model.clone_ref(py)),
        key_slot: pending.key_slot,
        plan_slot: pending.plan_slot,
        deferred_throttle: pending.deferred_throttle.as_ref().map(|levels| levels.clone_ref(py)),
    })
}

/// A routed request the cache does not answer: the key to store its response under, a stale entry to answer
/// with while it is refreshed, and whether the client asked for (and may have) a refresh.
type CacheGoOn = (Option<Py<PyCacheKey>>, Option<Py<PyCached>>, bool);

/// The names and values of a list of `(name, value)` string pairs, in turn.
pub(crate) fn header_strings<'py>(list: &Bound<'py, PyList>) -> PyResult<Vec<Bound<'py, PyString>>> {
    let mut owned = Vec::with_capacity(list.len() * 2);
    for item in list.iter() {
        let pair = item.cast_into::<PyTuple>().map_err(PyErr::from)?;
        if pair.len() != 2 {
            return Err(PyValueError::new_err("headers must be (name, value) pairs"));
        }
        for index in 0..2 {
            owned.push(pair.get_item(index)?.cast_into::<PyString>().map_err(PyErr::from)?);
        }
    }
    Ok(owned)
}

/// `(traceparent, X-Amzn-Trace-Id)` for the backend, from the client's headers and the request id.
fn trace_headers(request_id: &str, request: &RequestHeaders<'_>) -> (String, String) {
    let hex: String = request_id.chars().filter(char::is_ascii_hexdigit).collect();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let headers = gateway_core::tracing::propagate(request.traceparent, request.xray, &hex, now);
    (headers.traceparent, headers.xray)
}

/// What a plain proxy's upstream request is made of, from the client's request.
struct UpstreamRequest<'a> {
    method: &'a str,
    encoded_path: &'a str,
    query: &'a str,
    headers: &'a [(&'a str, &'a str)],
}

/// The path to route, normalised and re-encoded; `None` for a request that cannot be routed as sent (a path whose
/// decoding lost bytes; a missing, repeated or invalid `Host`).
fn routable_path<'p>(
    decoded: &'p str,
    request: &RequestHeaders<'_>,
    scope: Option<&Bound<'_, PyAny>>,
) -> PyResult<Option<Cow<'p, str>>> {
    let acceptable = match scope {
        Some(scope) => request.host_acceptable(scope)?,
        None => request.hosts <= 1 && request.host.is_none_or(is_valid_host),
    };
    Ok(match normalize_path(decoded) {
        Ok(_) if !acceptable => None,
        Err(_) => None,
        Ok(Cow::Borrowed(same)) => Some(encode_path(same)),
        Ok(Cow::Owned(text)) => Some(Cow::Owned(encode_path(&text).into_owned())),
    })
}

/// A plain proxy's upstream request head: `Ok(None)` when a URI variable has no value (Python answers), or the
/// gateway response type that refuses the request (a mapped value that cannot be sent; a target the writer
/// refuses, which AWS answers as "Illegal character in path" and encoding at the source makes unreachable).
fn proxy_head(
    target: &ProxyTarget,
    found: &gateway_core::RouteMatch<'_, '_>,
    upstream: &UpstreamRequest<'_>,
    request: &RequestHeaders<'_>,
    client: &ClientInfo<'_>,
    request_id: Option<&str>,
    trace: Option<&(String, String)>,
) -> Result<Option<Vec<u8>>, &'static str> {
    let Some(upstream_target) = target.target(upstream.encoded_path, &found.params, upstream.query) else {
        return Ok(None);
    };
    let body = match (request.content_length, request.chunked) {
        (Some(n), _) => RequestBody::Length(n),
        (None, true) => RequestBody::Chunked,
        (None, false) => RequestBody::Empty,
    };
    let input = MappingInput {
        method: upstream.method,
        headers: upstream.headers,
        params: &found.params,
        query: upstream.query,
        client_ip: client.ip,
        request_id: request_id.unwrap_or(""),
    };
    let mapped = target.mapped_values(&input).map_err(|_| "BAD_REQUEST_PARAMETERS")?;
    let head = write_head(target, upstream.method, &upstream_target, upstream.headers, &mapped, client, body, trace);
    head.map(Some).map_err(|_| "API_CONFIGURATION_ERROR")
}

/// The upstream request head of a plain proxy, with the trace headers in place of the client's.
#[allow(clippy::too_many_arguments)]
fn write_head(
    target: &ProxyTarget,
    method: &str,
    upstream_target: &str,
    headers: &[(&str, &str)],
    mapped: &[(&str, Cow<'_, str>)],
    info: &ClientInfo<'_>,
    body: RequestBody,
    trace: Option<&(String, String)>,
) -> Result<Vec<u8>, HeadError> {
    let Some((traceparent, xray)) = trace else {
        return target.write_head(method, upstream_target, headers.iter().copied(), mapped, info, body);
    };
    let passed = headers
        .iter()
        .copied()
        .filter(|(name, _)| !name.eq_ignore_ascii_case("traceparent") && !name.eq_ignore_ascii_case("x-amzn-trace-id"));
    let mut head = target.write_head(method, upstream_target, passed, mapped, info, body)?;
    head.truncate(head.len() - 2); // before the blank line that ends the head
    for (name, value) in [("traceparent: ", traceparent), ("X-Amzn-Trace-Id: ", xray)] {
        head.extend_from_slice(name.as_bytes());
        head.extend_from_slice(value.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    head.extend_from_slice(b"\r\n");
    Ok(head)
}

/// What the engine reads from the request headers, in one pass.
struct RequestHeaders<'a> {
    size: usize,
    content_length: Option<u64>,
    chunked: bool,
    host: Option<&'a str>,
    /// `Host` fields: more than one is a bad request (RFC 9112 §3.2).
    hosts: usize,
    api_key: Option<&'a str>,
    traceparent: Option<&'a str>,
    xray: Option<&'a str>,
}

impl<'a> RequestHeaders<'a> {
    fn read(pairs: &[(&'a str, &'a str)]) -> Self {
        let mut read = Self {
            size: 0,
            content_length: None,
            chunked: false,
            host: None,
            hosts: 0,
            api_key: None,
            traceparent: None,
            xray: None,
        };
        for &(name, value) in pairs {
            read.size += name.len() + value.len();
            if name.eq_ignore_ascii_case("content-length") {
                read.content_length = value.trim().parse().ok();
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                read.chunked = true;
            } else if name.eq_ignore_ascii_case("host") {
                read.hosts += 1;
                read.host.get_or_insert(value);
            } else if name.eq_ignore_ascii_case("x-api-key") && read.api_key.is_none() {
                read.api_key = Some(value);
            } else if name.eq_ignore_ascii_case("traceparent") {
                // Two traceparent headers make the context invalid (W3C): start a new trace.
                read.traceparent = if read.traceparent.is_none() { Some(value) } else { Some("") };
            } else if name.eq_ignore_ascii_case("x-amzn-trace-id") && read.xray.is_none() {
                read.xray = Some(value);
            }
        }
        read
    }
}

impl RequestHeaders<'_> {
    /// One `Host` that is `host[:port]`, or none on a request that needs none (HTTP/1.0, HTTP/2): RFC 9112 §3.2
    /// says 400 to anything else. The scope's HTTP version is read only when there is no `Host`.
    fn host_acceptable(&self, scope: &Bound<'_, PyAny>) -> PyResult<bool> {
        Ok(match (self.hosts, self.host) {
            (1, Some(host)) => is_valid_host(host),
            (0, _) => {
                let version = scope.getattr(intern!(scope.py(), "http_version"))?;
                version.cast_into::<PyString>()?.to_str()? != "1.1"
            }
            _ => false,
        })
    }

    /// The request declares a body (a `Content-Length` above 0, or chunked).
    fn has_body(&self) -> bool {
        self.chunked || self.content_length.is_some_and(|n| n > 0)
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

    fn next<'py>(&self, py: Python<'py>) -> (Bound<'py, PyString>, Bound<'py, PyString>) {
        let ids = self.0.next_ids();
        (PyString::new(py, ids.request_id()), PyString::new(py, ids.extended_id()))
    }
}
