//! Proxy targets: for a route whose integration is a plain HTTP proxy, everything needed to write the
//! upstream request head during [`crate::Engine::admit`], so that a proxied request crosses into Rust
//! once on its way in.
//!
//! A route qualifies when its backend path comes straight from the route's path parameters (an HTTP API
//! `HTTP_PROXY`, or a REST `HTTP_PROXY` whose path mappings copy `method.request.path.X` to
//! `integration.request.path.X`, the shape AWS exports) and its other mappings set headers from sources
//! the engine can read ([`HeaderMapping`]). Other routes are handled in Python.

use std::borrow::Cow;

use crate::http1::{is_field_value, ClientInfo, HeadError, HeaderRules, RequestBody, RequestHeadWriter};
use crate::paths::query_values;
use crate::routing::Params;

/// Where a mapped header's value comes from: the sources of REST `requestParameters` that need no body.
/// (Stage variables and the `$context` values fixed per route are resolved at load into `Static`.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MappedSource {
    /// `'value'`.
    Static(String),
    /// `method.request.header.X` (the lowercase name): its last value.
    Header(String),
    /// `method.request.multivalueheader.X`: every value, joined with `,`.
    MultiHeader(String),
    /// `method.request.path.X`.
    Path(String),
    /// `method.request.querystring.X`: the last value, decoded.
    Query(String),
    /// `method.request.multivaluequerystring.X`: every value, decoded, joined with `,`.
    MultiQuery(String),
    /// `context.requestId`.
    RequestId,
    /// `context.httpMethod`: the client's method.
    HttpMethod,
    /// `context.identity.sourceIp`.
    SourceIp,
}

/// `integration.request.header.<name>` from a source. A source without a value (or an empty one) sets
/// nothing, and the client's own header of that name, if any, goes through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderMapping {
    pub name: String,
    pub source: MappedSource,
}

/// A mapped header's value that may not be sent (see [`ProxyTarget::mapped_values`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidMappedValue {
    pub header: String,
}

/// What a request offers the mappings.
#[derive(Debug, Clone, Copy)]
pub struct MappingInput<'a, 'r, 'p> {
    pub method: &'a str,
    pub headers: &'a [(&'a str, &'a str)],
    pub params: &'a Params<'r, 'p>,
    pub query: &'a str,
    pub client_ip: &'a str,
    pub request_id: &'a str,
}

/// One piece of a backend path template such as `/pets/{id}`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Variable(String),
}

/// The backend of a proxied route, with stage variables already substituted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyTarget {
    host: String,
    rules: HeaderRules,
    api_id: String,
    path: Vec<Piece>,
    /// The integration's `httpMethod` unless it is `ANY` (then the client's method is used).
    method: Option<String>,
    /// The integration URI's own query string.
    query: String,
    /// HTTP API `$default` route: the whole request path is appended to the URI path.
    append_request_path: bool,
    mapped_headers: Vec<HeaderMapping>,
}

impl ProxyTarget {
    /// `path_template`: the integration URI's path, with `{name}` / `{name+}` variables.
    pub fn new(
        host: impl Into<String>,
        rules: HeaderRules,
        api_id: impl Into<String>,
        path_template: &str,
        method: Option<String>,
        query: impl Into<String>,
        append_request_path: bool,
    ) -> Self {
        let mut path = Vec::new();
        let mut rest = path_template;
        while let Some(open) = rest.find('{') {
            let Some(close) = rest[open..].find('}').map(|c| c + open) else { break };
            if open > 0 {
                path.push(Piece::Text(rest[..open].to_owned()));
            }
            path.push(Piece::Variable(rest[open + 1..close].trim_end_matches('+').to_owned()));
            rest = &rest[close + 1..];
        }
        if !rest.is_empty() {
            path.push(Piece::Text(rest.to_owned()));
        }
        Self {
            host: host.into(),
            rules,
            api_id: api_id.into(),
            path,
            method,
            query: query.into(),
            append_request_path,
            mapped_headers: Vec::new(),
        }
    }

    /// The route's header mappings (REST `integration.request.header.X`), written after the client's headers.
    #[must_use]
    pub fn with_header_mappings(mut self, mappings: Vec<HeaderMapping>) -> Self {
        self.mapped_headers = mappings;
        self
    }

    /// The mapped headers that have a value for this request, in the route's order; an error naming the header
    /// when a value has a control character other than HTAB (a decoded `%00`, `%0d`, `%1b`, `%7f`): the request
    /// is refused rather than the header dropped, so that a backend never sees a request other than the one
    /// mapped (issue 18, item 6).
    pub fn mapped_values<'a>(
        &'a self,
        input: &MappingInput<'a, '_, 'a>,
    ) -> Result<Vec<(&'a str, Cow<'a, str>)>, InvalidMappedValue> {
        let mut values = Vec::with_capacity(self.mapped_headers.len());
        for mapping in &self.mapped_headers {
            let value = match &mapping.source {
                MappedSource::Static(text) => Some(Cow::Borrowed(text.as_str())),
                MappedSource::Header(name) => input
                    .headers
                    .iter()
                    .rev()
                    .find(|(n, _)| n.eq_ignore_ascii_case(name))
                    .map(|(_, v)| Cow::Borrowed(*v)),
                MappedSource::MultiHeader(name) => joined(
                    input.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| Cow::Borrowed(*v)),
                ),
                MappedSource::Path(name) => input.params.get(name).map(Cow::Borrowed),
                MappedSource::Query(name) => query_values(input.query, name).last(),
                MappedSource::MultiQuery(name) => joined(query_values(input.query, name)),
                MappedSource::RequestId => Some(Cow::Borrowed(input.request_id)),
                MappedSource::HttpMethod => Some(Cow::Borrowed(input.method)),
                MappedSource::SourceIp => Some(Cow::Borrowed(input.client_ip)),
            };
            if let Some(value) = value.filter(|v| !v.is_empty()) {
                if !is_field_value(&value) {
                    return Err(InvalidMappedValue { header: mapping.name.clone() });
                }
                values.push((mapping.name.as_str(), value));
            }
        }
        Ok(values)
    }

    /// The request target (`/path?query`) for one request, or `None` when a variable has no value.
    pub fn target(&self, request_path: &str, params: &Params<'_, '_>, query: &str) -> Option<String> {
        let mut out = String::with_capacity(64 + request_path.len() + query.len());
        for piece in &self.path {
            match piece {
                Piece::Text(text) => out.push_str(text),
                Piece::Variable(name) => out.push_str(params.get(name)?),
            }
        }
        if self.append_request_path {
            while out.ends_with('/') {
                out.pop();
            }
            out.push_str(request_path);
        }
        if out.is_empty() {
            out.push('/');
        }
        let mut separator = '?';
        for part in [self.query.as_str(), query] {
            if !part.is_empty() {
                out.push(separator);
                out.push_str(part);
                separator = '&';
            }
        }
        Some(out)
    }

    /// Writes the whole upstream request head: the client's headers, except those a mapping sets
    /// (`mapped`, from [`ProxyTarget::mapped_values`]), then the mapped ones.
    pub fn write_head<'h, I>(
        &self,
        method: &str,
        target: &str,
        headers: I,
        mapped: &[(&str, Cow<'_, str>)],
        client: &ClientInfo<'_>,
        body: RequestBody,
    ) -> Result<Vec<u8>, HeadError>
    where
        I: IntoIterator<Item = (&'h str, &'h str)>,
        I::IntoIter: Clone,
    {
        let method = self.method.as_deref().unwrap_or(method);
        let mut writer = RequestHeadWriter::new(method, target, &self.host, self.rules, &self.api_id);
        writer.headers(
            headers.into_iter().filter(|(name, _)| !mapped.iter().any(|(mapped, _)| mapped.eq_ignore_ascii_case(name))),
        );
        for (name, value) in mapped {
            writer.mapped_header(name, value);
        }
        writer.finish(client, body)
    }

    /// The method the backend sees.
    pub fn method<'m>(&'m self, client_method: &'m str) -> &'m str {
        self.method.as_deref().unwrap_or(client_method)
    }
}

/// Values joined with `,`; `None` when there are none.
fn joined<'a>(mut values: impl Iterator<Item = Cow<'a, str>>) -> Option<Cow<'a, str>> {
    let first = values.next()?;
    let Some(second) = values.next() else {
        return Some(first);
    };
    let mut text = format!("{first},{second}");
    for value in values {
        text.push(',');
        text.push_str(&value);
    }
    Some(Cow::Owned(text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routing::Router;
    use crate::spec::{RouteSpec, RoutingOptions};
    use crate::ApiType;

    fn params_for<'r, 'p>(router: &'r Router, path: &'p str) -> Params<'r, 'p> {
        router.lookup("GET", path).expect("route").params
    }

    #[test]
    fn targets_render_variables_query_and_full_paths() {
        let router = Router::build(
            &[RouteSpec::new("GET", "/pets/{id}"), RouteSpec::new("ANY", "/{proxy+}")],
            RoutingOptions::for_api(ApiType::Rest),
        )
        .unwrap();
        let target = ProxyTarget::new("b:1", HeaderRules::RestProxy, "id", "/v1/pets/{id}", None, "x=1", false);
        assert_eq!(target.target("/pets/7", &params_for(&router, "/pets/7"), "a=b").unwrap(), "/v1/pets/7?x=1&a=b");
        let greedy = ProxyTarget::new("b", HeaderRules::RestProxy, "id", "/{proxy+}", None, "", false);
        assert_eq!(greedy.target("/a/b", &params_for(&router, "/a/b"), "").unwrap(), "/a/b");
        let missing = ProxyTarget::new("b", HeaderRules::RestProxy, "id", "/{other}", None, "", false);
        assert_eq!(missing.target("/a", &params_for(&router, "/a"), ""), None);
        let default = ProxyTarget::new("b", HeaderRules::HttpApiProxy, "id", "/base/", None, "", true);
        assert_eq!(default.target("/store/checkout", &Params::default(), "q=1").unwrap(), "/base/store/checkout?q=1");
        let root = ProxyTarget::new("b", HeaderRules::HttpApiProxy, "id", "", None, "", false);
        assert_eq!(root.target("/x", &Params::default(), "").unwrap(), "/");
    }

    #[test]
    fn fixed_method_overrides_the_clients() {
        let target = ProxyTarget::new("b", HeaderRules::RestProxy, "id", "/", Some("POST".into()), "", false);
        let client = ClientInfo { ip: "1.1.1.1", proto: "http", port: "80", host: "h" };
        let head = target.write_head("GET", "/", [("x-a", "1")], &[], &client, RequestBody::Empty).unwrap();
        assert!(head.starts_with(b"POST / HTTP/1.1\r\nhost: b\r\nx-a: 1\r\n"));
        assert_eq!(target.method("GET"), "POST");
    }

    #[test]
    fn mapped_headers_take_their_values_from_the_request_and_replace_the_clients() {
        let router =
            Router::build(&[RouteSpec::new("GET", "/pets/{id}")], RoutingOptions::for_api(ApiType::Rest)).unwrap();
        let params = params_for(&router, "/pets/7");
        let source = |name: &str, source| HeaderMapping { name: name.into(), source };
        let target = ProxyTarget::new("b", HeaderRules::RestProxy, "id", "/pets/{id}", None, "", false)
            .with_header_mappings(vec![
                source("x-static", MappedSource::Static("s".into())),
                source("X-User", MappedSource::Header("x-user".into())),
                source("x-all", MappedSource::MultiHeader("x-tag".into())),
                source("x-pet", MappedSource::Path("id".into())),
                source("x-q", MappedSource::Query("q".into())),
                source("x-qs", MappedSource::MultiQuery("q".into())),
                source("x-id", MappedSource::RequestId),
                source("x-method", MappedSource::HttpMethod),
                source("x-ip", MappedSource::SourceIp),
                source("x-absent", MappedSource::Header("x-none".into())),
                source("x-empty", MappedSource::Query("e".into())),
            ]);
        let headers = [("x-user", "first"), ("x-tag", "a"), ("x-user", "last"), ("x-tag", "b"), ("x-absent", "kept")];
        let input = MappingInput {
            method: "GET",
            headers: &headers,
            params: &params,
            query: "q=a+b&q=%C3%A9&e=",
            client_ip: "10.0.0.1",
            request_id: "rid",
        };
        let mapped = target.mapped_values(&input).unwrap();
        let pairs: Vec<(&str, &str)> = mapped.iter().map(|(n, v)| (*n, v.as_ref())).collect();
        assert_eq!(
            pairs,
            [
                ("x-static", "s"),
                ("X-User", "last"),
                ("x-all", "a,b"),
                ("x-pet", "7"),
                ("x-q", "é"),
                ("x-qs", "a b,é"),
                ("x-id", "rid"),
                ("x-method", "GET"),
                ("x-ip", "10.0.0.1"),
            ]
        );
        for bad in ["%00", "a%0d%0ab", "%1b[31m", "%7f"] {
            let query = format!("q={bad}");
            let input = MappingInput { query: &query, ..input };
            assert_eq!(target.mapped_values(&input), Err(InvalidMappedValue { header: "x-q".into() }), "{bad}");
        }
        let client = ClientInfo { ip: "10.0.0.1", proto: "http", port: "80", host: "h" };
        let head = target.write_head("GET", "/pets/7", headers, &mapped, &client, RequestBody::Empty).unwrap();
        let head = String::from_utf8(head).unwrap();
        assert!(!head.contains("x-user: first") && !head.contains("x-user: last"), "{head}");
        assert!(head.contains("x-absent: kept\r\n") && head.contains("X-User: last\r\n"), "{head}");
    }
}
