//! The route trie (`gateway_core::Router`) against the reference matcher (`src/reference_router.rs`, the Rust
//! twin of `tests/reference_router.py`).
//!
//! The fuzzer's bytes become a small route table, mostly from a tiny alphabet (so that routes overlap, share
//! resources and conflict often) with now and then arbitrary text, and requests built from the table's own
//! routes or from the alphabet, with `//`, trailing slashes and arbitrary segments thrown in.
//!
//! Asserted, for every input:
//! - building never panics, and the router refuses a table exactly when the reference does, at the same route
//!   and for the same reason;
//! - every lookup never panics and finds the same route with the same parameters, in the same order, as the
//!   reference (static > `{param}` > `{greedy+}`, explicit method > `ANY`, then `$default`).

#![no_main]

use std::fmt::Write as _;

use arbitrary::Arbitrary;
use gateway_core::{ConfigError, RouteSpec, Router, RoutingOptions};
use gateway_core_fuzz::reference_router::{Conflict, ReferenceRouter, ANY, METHODS};
use libfuzzer_sys::fuzz_target;

const STATICS: [&str; 9] = ["a", "b", "pets", "A", "%2F", "x.y", "a%20b", "é", "7"];
const NAMES: [&str; 4] = ["id", "p", "proxy", "a.b"];
const ODD_METHODS: [&str; 5] = ["get", "TRACE", "CONNECT", "", "ANY "];

#[derive(Debug, Arbitrary)]
enum PartSpec {
    Static(u8),
    Param(u8),
    Greedy(u8),
    Raw(String),
}

#[derive(Debug, Arbitrary)]
enum PathSpec {
    Parts { parts: Vec<PartSpec>, trailing_slash: bool },
    Default,
    Raw(String),
}

#[derive(Debug, Arbitrary)]
struct RouteGen {
    method: u8,
    path: PathSpec,
}

#[derive(Debug, Arbitrary)]
enum Segment {
    Static(u8),
    Empty,
    Raw(String),
}

#[derive(Debug, Arbitrary)]
enum RequestGen {
    /// One of the table's routes, its variables filled in (`fill` picks the values and greedy segment counts).
    FromRoute {
        route: u8,
        method: u8,
        fill: Vec<u8>,
        slashes: u8,
    },
    Segments {
        method: u8,
        segments: Vec<Segment>,
    },
    Raw {
        method: u8,
        path: String,
    },
}

#[derive(Debug, Arbitrary)]
struct Input {
    ignore_trailing_slash: bool,
    routes: Vec<RouteGen>,
    requests: Vec<RequestGen>,
}

fn pick<'a>(list: &[&'a str], i: u8) -> &'a str {
    list[usize::from(i) % list.len()]
}

fn route_method(i: u8) -> String {
    match i % 16 {
        n @ 0..=6 => METHODS[usize::from(n)].to_owned(),
        7..=13 => ANY.to_owned(),
        _ => pick(&ODD_METHODS, i / 16).to_owned(),
    }
}

fn request_method(i: u8) -> &'static str {
    match i % 10 {
        n @ 0..=6 => METHODS[usize::from(n)],
        _ => pick(&ODD_METHODS, i / 10),
    }
}

fn route_path(spec: &PathSpec, position_names: bool) -> String {
    match spec {
        PathSpec::Default => "$default".to_owned(),
        PathSpec::Raw(text) => text.clone(),
        PathSpec::Parts { parts, trailing_slash } => {
            let mut path = String::new();
            for (i, part) in parts.iter().take(6).enumerate() {
                path.push('/');
                match part {
                    PartSpec::Static(s) => path.push_str(pick(&STATICS, *s)),
                    // Named by position most of the time, so that one path rarely repeats a name but siblings
                    // may differ.
                    PartSpec::Param(n) if position_names => _ = write!(path, "{{{}{i}}}", pick(&NAMES, *n)),
                    PartSpec::Param(n) => _ = write!(path, "{{{}}}", pick(&NAMES, *n)),
                    PartSpec::Greedy(n) => _ = write!(path, "{{{}+}}", pick(&NAMES, *n)),
                    PartSpec::Raw(text) => path.push_str(text),
                }
            }
            if path.is_empty() || *trailing_slash {
                path.push('/');
            }
            path
        }
    }
}

fn request_path(request: &RequestGen, table: &[(String, String)]) -> (&'static str, String) {
    match request {
        RequestGen::Raw { method, path } => (request_method(*method), path.clone()),
        RequestGen::Segments { method, segments } => {
            let mut path = String::new();
            for segment in segments.iter().take(8) {
                path.push('/');
                match segment {
                    Segment::Static(s) => path.push_str(pick(&STATICS, *s)),
                    Segment::Empty => {}
                    Segment::Raw(text) => path.push_str(text),
                }
            }
            (request_method(*method), if path.is_empty() { "/".to_owned() } else { path })
        }
        RequestGen::FromRoute { route, method, fill, slashes } => {
            let Some((route_method, route_path)) = table.get(usize::from(*route) % table.len().max(1)) else {
                return (request_method(*method), "/".to_owned());
            };
            let method = match METHODS.iter().find(|m| **m == route_method) {
                Some(m) if method % 4 != 0 => m,
                _ => request_method(*method),
            };
            let mut fill = fill.iter().copied().cycle().take(16);
            let mut path = String::new();
            for part in route_path.trim_matches('/').split('/') {
                if part.is_empty() {
                    continue;
                }
                path.push('/');
                if part.ends_with("+}") {
                    let count = 1 + fill.next().unwrap_or(0) % 3;
                    let values: Vec<&str> = (0..count).map(|_| pick(&STATICS, fill.next().unwrap_or(0))).collect();
                    path.push_str(&values.join("/"));
                } else if part.starts_with('{') {
                    path.push_str(pick(&STATICS, fill.next().unwrap_or(0)));
                } else {
                    path.push_str(part);
                }
            }
            if path.is_empty() {
                path.push('/');
            }
            // Empty segments: a trailing `/`, or `//` somewhere.
            if slashes & 1 == 1 {
                path.push('/');
            }
            if slashes & 2 == 2 {
                let at = usize::from(slashes >> 2) % path.len();
                if path.is_char_boundary(at) {
                    path.insert(at, '/');
                }
            }
            (method, path)
        }
    }
}

fn conflict_of(error: &ConfigError) -> Conflict {
    let index = error.route() as usize;
    match error {
        ConfigError::DuplicateRoute { .. } => Conflict::Duplicate(index),
        ConfigError::VariableSibling { .. } => Conflict::Sibling(index),
        ConfigError::ChildOfGreedy { .. } => Conflict::ChildOfGreedy(index),
        ConfigError::InvalidMethod { .. } => Conflict::Method(index),
        _ => Conflict::Path(index),
    }
}

fuzz_target!(|input: Input| {
    let position_names = input.routes.len().is_multiple_of(2);
    let table: Vec<(String, String)> =
        input.routes.iter().take(12).map(|r| (route_method(r.method), route_path(&r.path, position_names))).collect();
    let specs: Vec<RouteSpec> = table.iter().map(|(m, p)| RouteSpec::new(m.as_str(), p.as_str())).collect();
    let options = RoutingOptions { ignore_trailing_slash: input.ignore_trailing_slash };

    let router = Router::build(&specs, options);
    let reference = ReferenceRouter::new(&table, input.ignore_trailing_slash);
    let (router, reference) = match (router, reference) {
        (Ok(router), Ok(reference)) => (router, reference),
        (Err(error), Err(conflict)) => {
            assert_eq!(conflict_of(&error), conflict, "{table:?}: the router says {error}");
            return;
        }
        (Ok(_), Err(conflict)) => panic!("{table:?}: the reference refuses it ({conflict:?}), the router builds"),
        (Err(error), Ok(_)) => panic!("{table:?}: the router refuses it ({error}), the reference builds"),
    };

    for request in input.requests.iter().take(12) {
        let (method, path) = request_path(request, &table);
        let found = router.lookup(method, &path).map(|found| {
            let params: Vec<(String, &str)> = found.params.iter().map(|(n, v)| ((*n).to_owned(), *v)).collect();
            (found.route_id as usize, params)
        });
        let expected = reference.lookup(method, &path);
        assert_eq!(
            found, expected,
            "{table:?} ignore_trailing_slash={}: {method} {path:?}",
            input.ignore_trailing_slash
        );
    }
});
