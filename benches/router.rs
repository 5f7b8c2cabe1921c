//! Route lookup: the trie against a naive matcher (a linear scan over compiled templates that
//! keeps the most specific match), on generated APIs of 10 to 100,000 routes.
//!
//! Run: `taskset -c 1 cargo bench -p gateway_core --bench router -- --warm-up-time 1 --measurement-time 3`
//!
//! Each generated service has ten routes, a mix of static, `{param}` and greedy paths:
//!
//! ```text
//! GET /svcN/resources            GET /svcN/resources/{id}              GET /svcN/files/{path+}
//! POST /svcN/resources           PUT /svcN/resources/{id}              ANY /svcN/{proxy+}
//! GET /svcN/resources/search     DELETE /svcN/resources/{id}
//! GET /svcN/resources/{id}/items GET /svcN/resources/{id}/items/{itemId}
//! ```
//!
//! Requests go to the last service: a static hit, a param hit (two variables), a greedy fallback
//! (`POST /svcN/resources/1/items`: no POST there, so the lookup backs up to `ANY /svcN/{proxy+}`)
//! and a miss.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use gateway_core::{RouteSpec, Router, RoutingOptions};

const SIZES: [usize; 5] = [10, 100, 1_000, 10_000, 100_000];
/// The naive matcher is O(routes) per request; past this it only measures memory bandwidth.
const NAIVE_MAX: usize = 10_000;
const ROUTES_PER_SERVICE: usize = 10;

fn generate(routes: usize) -> Vec<RouteSpec> {
    (0..routes / ROUTES_PER_SERVICE)
        .flat_map(|n| {
            let s = format!("/svc{n}");
            [
                RouteSpec::new("GET", format!("{s}/resources")),
                RouteSpec::new("POST", format!("{s}/resources")),
                RouteSpec::new("GET", format!("{s}/resources/search")),
                RouteSpec::new("GET", format!("{s}/resources/{{id}}")),
                RouteSpec::new("PUT", format!("{s}/resources/{{id}}")),
                RouteSpec::new("DELETE", format!("{s}/resources/{{id}}")),
                RouteSpec::new("GET", format!("{s}/resources/{{id}}/items")),
                RouteSpec::new("GET", format!("{s}/resources/{{id}}/items/{{itemId}}")),
                RouteSpec::new("GET", format!("{s}/files/{{path+}}")),
                RouteSpec::new("ANY", format!("{s}/{{proxy+}}")),
            ]
        })
        .collect()
}

/// `(case, method, path, expected route id within the last service or None)`.
fn requests(routes: usize) -> [(&'static str, &'static str, String, Option<usize>); 4] {
    let last = routes / ROUTES_PER_SERVICE - 1;
    let base = last * ROUTES_PER_SERVICE;
    [
        ("static", "GET", format!("/svc{last}/resources/search"), Some(base + 2)),
        ("param", "GET", format!("/svc{last}/resources/12345/items/678"), Some(base + 7)),
        ("greedy_fallback", "POST", format!("/svc{last}/resources/12345/items"), Some(base + 9)),
        ("miss", "GET", "/nosuch/resources/12345".to_owned(), None),
    ]
}

/// The baseline: every template compiled once, every request checked against all of them.
mod naive {
    use gateway_core::RouteSpec;

    enum Part {
        Static(String),
        Param(String),
        Greedy(String),
    }

    struct Route {
        /// `None` for ANY.
        method: Option<String>,
        parts: Vec<Part>,
        /// Specificity per part, 0 static, 1 param, 2 greedy: lower sorts first.
        kinds: Vec<u8>,
    }

    pub struct Naive(Vec<Route>);

    impl Naive {
        pub fn build(specs: &[RouteSpec]) -> Self {
            Self(
                specs
                    .iter()
                    .map(|spec| {
                        let parts: Vec<Part> = spec
                            .path
                            .split('/')
                            .filter(|s| !s.is_empty())
                            .map(|s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                                Some(name) => match name.strip_suffix('+') {
                                    Some(name) => Part::Greedy(name.to_owned()),
                                    None => Part::Param(name.to_owned()),
                                },
                                None => Part::Static(s.to_owned()),
                            })
                            .collect();
                        let kinds = parts
                            .iter()
                            .map(|p| match p {
                                Part::Static(_) => 0,
                                Part::Param(_) => 1,
                                Part::Greedy(_) => 2,
                            })
                            .collect();
                        let method = (spec.method != "ANY").then(|| spec.method.clone());
                        Route { method, parts, kinds }
                    })
                    .collect(),
            )
        }

        fn matches(route: &Route, segments: &[&str]) -> bool {
            for (i, part) in route.parts.iter().enumerate() {
                match part {
                    Part::Greedy(_) => return segments.len() > i,
                    Part::Static(text) if segments.get(i) != Some(&text.as_str()) => return false,
                    Part::Param(_) if i >= segments.len() => return false,
                    _ => {}
                }
            }
            segments.len() == route.parts.len()
        }

        /// The most specific matching route and its params (REST rules: empty segments skipped).
        pub fn lookup<'r, 'p>(&'r self, method: &str, path: &'p str) -> Option<(usize, Vec<(&'r str, &'p str)>)> {
            let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
            let mut best: Option<(usize, &[u8], bool)> = None;
            for (id, route) in self.0.iter().enumerate() {
                let any = match &route.method {
                    Some(m) if m == method => false,
                    Some(_) => continue,
                    None => true,
                };
                if !Self::matches(route, &segments) {
                    continue;
                }
                let key = (route.kinds.as_slice(), any);
                let better = match best {
                    Some((_, kinds, best_any)) => key < (kinds, best_any),
                    None => true,
                };
                if better {
                    best = Some((id, key.0, key.1));
                }
            }
            let (id, ..) = best?;
            let mut params = Vec::new();
            for (i, part) in self.0[id].parts.iter().enumerate() {
                match part {
                    Part::Param(name) => params.push((name.as_str(), segments[i])),
                    Part::Greedy(name) => {
                        let start = segments[i].as_ptr() as usize - path.as_ptr() as usize;
                        params.push((name.as_str(), path[start..].trim_end_matches('/')));
                    }
                    Part::Static(_) => {}
                }
            }
            Some((id, params))
        }
    }
}

fn lookup(c: &mut Criterion) {
    let options = RoutingOptions { ignore_trailing_slash: true };
    for size in SIZES {
        let specs = generate(size);
        let router = Router::build(&specs, options).expect("generated routes are valid");
        let naive = (size <= NAIVE_MAX).then(|| naive::Naive::build(&specs));
        let mut group = c.benchmark_group(format!("lookup/{size}"));
        for (case, method, path, expected) in requests(size) {
            let found = router.lookup(method, &path);
            assert_eq!(found.as_ref().map(|f| f.route_id as usize), expected, "{method} {path}");
            group.bench_with_input(BenchmarkId::new("trie", case), &path, |b, path| {
                b.iter(|| router.lookup(black_box(method), black_box(path)));
            });
            if let Some(naive) = &naive {
                let naive_found = naive.lookup(method, &path);
                assert_eq!(naive_found.as_ref().map(|f| f.0), expected, "naive {method} {path}");
                let trie_params = found.map(|f| f.params.iter().copied().collect::<Vec<_>>());
                assert_eq!(naive_found.map(|f| f.1), trie_params, "params {method} {path}");
                group.bench_with_input(BenchmarkId::new("naive", case), &path, |b, path| {
                    b.iter(|| naive.lookup(black_box(method), black_box(path)));
                });
            }
        }
        group.finish();
    }
}

/// One node with `n` static children, looking up the last one: where a scan stops beating a hash.
fn static_fan_out(c: &mut Criterion) {
    let mut group = c.benchmark_group("static_fan_out");
    for n in [2_usize, 4, 8, 16, 32] {
        let specs: Vec<RouteSpec> = (0..n).map(|i| RouteSpec::new("GET", format!("/resource-{i}"))).collect();
        let router = Router::build(&specs, RoutingOptions { ignore_trailing_slash: true }).unwrap();
        let path = format!("/resource-{}", n - 1);
        assert_eq!(router.lookup("GET", &path).map(|f| f.route_id as usize), Some(n - 1));
        group.bench_with_input(BenchmarkId::from_parameter(n), &path, |b, path| {
            b.iter(|| router.lookup(black_box("GET"), black_box(path)));
        });
    }
    group.finish();
}

fn build(c: &mut Criterion) {
    let specs = generate(10_000);
    let options = RoutingOptions { ignore_trailing_slash: true };
    c.bench_function("build/10000", |b| b.iter(|| Router::build(black_box(&specs), options)));
}

criterion_group!(benches, lookup, static_fan_out, build);
criterion_main!(benches);
