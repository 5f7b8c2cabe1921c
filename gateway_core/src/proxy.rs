//! Proxy targets: for a route whose integration is a plain HTTP proxy, everything needed to write the
//! upstream request head during [`crate::Engine::admit`], so that a proxied request crosses into Rust
//! once on its way in.
//!
//! A route qualifies when its backend path comes straight from the route's path parameters (an HTTP API
//! `HTTP_PROXY`, or a REST `HTTP_PROXY` whose only mappings copy `method.request.path.X` to
//! `integration.request.path.X`, the shape AWS exports). Other routes are handled in Python.

use crate::http1::{ClientInfo, HeaderRules, RequestBody, RequestHeadWriter};
use crate::routing::Params;

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
        Self { host: host.into(), rules, api_id: api_id.into(), path, method, query: query.into(), append_request_path }
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

    /// Writes the whole upstream request head.
    pub fn write_head<'h>(
        &self,
        method: &str,
        target: &str,
        headers: impl IntoIterator<Item = (&'h str, &'h str)>,
        client: &ClientInfo<'_>,
        body: RequestBody,
    ) -> Vec<u8> {
        let method = self.method.as_deref().unwrap_or(method);
        let mut writer = RequestHeadWriter::new(method, target, &self.host, self.rules, &self.api_id);
        for (name, value) in headers {
            writer.header(name, value);
        }
        writer.finish(client, body)
    }

    /// The method the backend sees.
    pub fn method<'m>(&'m self, client_method: &'m str) -> &'m str {
        self.method.as_deref().unwrap_or(client_method)
    }
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
        let head = target.write_head("GET", "/", [("x-a", "1")], &client, RequestBody::Empty);
        assert!(head.starts_with(b"POST / HTTP/1.1\r\nhost: b\r\nx-a: 1\r\n"));
        assert_eq!(target.method("GET"), "POST");
    }
}
