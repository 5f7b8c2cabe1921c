//! Route matching, table-driven: AWS priority, methods, trailing slashes, raw values, conflicts.
//! Each table names the routes by index; `None` means no route (REST 403, HTTP API 404).

use gateway_core::{ApiType, ConfigError, RouteSpec, Router, RoutingOptions};

type Expected<'a> = Option<(u32, &'a [(&'a str, &'a str)])>;

fn build(api_type: ApiType, routes: &[(&str, &str)]) -> Result<Router, ConfigError> {
    let specs: Vec<RouteSpec> = routes.iter().map(|&(method, path)| RouteSpec::new(method, path)).collect();
    Router::build(&specs, RoutingOptions::for_api(api_type))
}

fn router(api_type: ApiType, routes: &[(&str, &str)]) -> Router {
    build(api_type, routes).unwrap_or_else(|e| panic!("route {}: {e}", e.route()))
}

/// Looks up every `(method, path, expected)` and reports all mismatches at once.
fn check(router: &Router, table: &[(&str, &str)], cases: &[(&str, &str, Expected<'_>)]) {
    let show = |route: Option<u32>| route.map_or("no route".to_owned(), |i| format!("{:?}", table[i as usize]));
    let mut failures = Vec::new();
    for &(method, path, expected) in cases {
        let found = router.lookup(method, path);
        let got = found.as_ref().map(|f| (f.route_id, f.params.iter().copied().collect::<Vec<_>>()));
        let want = expected.map(|(id, params)| (id, params.to_vec()));
        if got != want {
            failures.push(format!(
                "{method} {path}: got {} {:?}, want {} {:?}",
                show(got.as_ref().map(|g| g.0)),
                got.map(|g| g.1).unwrap_or_default(),
                show(want.as_ref().map(|w| w.0)),
                want.map(|w| w.1).unwrap_or_default(),
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

fn check_both(routes: &[(&str, &str)], cases: &[(&str, &str, Expected<'_>)]) {
    for api_type in [ApiType::Rest, ApiType::Http] {
        check(&router(api_type, routes), routes, cases);
    }
}

#[test]
fn aws_http_api_priority_example() {
    // The example from the HTTP API developer guide ("Routing API requests").
    let routes = [
        ("GET", "/pets/dog/1"),
        ("GET", "/pets/dog/{id}"),
        ("GET", "/pets/{proxy+}"),
        ("ANY", "/{proxy+}"),
        ("ANY", "$default"),
    ];
    check(
        &router(ApiType::Http, &routes),
        &routes,
        &[
            ("GET", "/pets/dog/1", Some((0, &[]))),
            ("GET", "/pets/dog/2", Some((1, &[("id", "2")]))),
            ("GET", "/pets/cat/1", Some((2, &[("proxy", "cat/1")]))),
            ("POST", "/test/5", Some((3, &[("proxy", "test/5")]))),
            // Not in the guide, but the same rules:
            ("POST", "/pets/dog/1", Some((3, &[("proxy", "pets/dog/1")]))),
            ("GET", "/pets", Some((3, &[("proxy", "pets")]))),
            ("GET", "/", Some((4, &[]))),
        ],
    );
}

#[test]
fn static_beats_variable_segment_by_segment() {
    let routes = [
        ("GET", "/a/b"),
        ("GET", "/a/{x}"),
        ("GET", "/a/{x}/c"),
        ("GET", "/a/{x}/{rest+}"),
        ("GET", "/{top}/b/c"),
        ("GET", "/{top}/{mid}/d"),
        ("GET", "/{top}/{mid}/{tail+}"),
    ];
    check_both(
        &routes,
        &[
            ("GET", "/a/b", Some((0, &[]))),
            ("GET", "/a/z", Some((1, &[("x", "z")]))),
            ("GET", "/a/z/c", Some((2, &[("x", "z")]))),
            ("GET", "/a/z/q", Some((3, &[("x", "z"), ("rest", "q")]))),
            // `/a/b` has no child `c`: back up and take `b` as `{x}`.
            ("GET", "/a/b/c", Some((2, &[("x", "b")]))),
            ("GET", "/a/b/d", Some((3, &[("x", "b"), ("rest", "d")]))),
            // `a` is static, so `/a/...` is decided under `/a` first, ahead of `/{top}/b/c`.
            ("GET", "/a/b/c/d", Some((3, &[("x", "b"), ("rest", "c/d")]))),
            ("GET", "/x/b/c", Some((4, &[("top", "x")]))),
            ("GET", "/x/b/d", Some((5, &[("top", "x"), ("mid", "b")]))),
            // A param one level up beats a greedy one level up, and the greedy takes the rest.
            ("GET", "/x/y/c", Some((6, &[("top", "x"), ("mid", "y"), ("tail", "c")]))),
            ("GET", "/x/b/q/r", Some((6, &[("top", "x"), ("mid", "b"), ("tail", "q/r")]))),
            ("GET", "/x/y", None),
            ("GET", "/x", None),
        ],
    );
}

#[test]
fn backtracking_is_method_aware() {
    let routes = [
        ("GET", "/a/b/c"),
        ("POST", "/a/{x}/c"),
        ("PUT", "/a/{x}/{rest+}"),
        ("DELETE", "/{all+}"),
        ("GET", "/a/{x}"),
        ("PATCH", "/a/b/{y}/{z}"),
    ];
    check_both(
        &routes,
        &[
            ("GET", "/a/b/c", Some((0, &[]))),
            ("POST", "/a/b/c", Some((1, &[("x", "b")]))),
            ("PUT", "/a/b/c", Some((2, &[("x", "b"), ("rest", "c")]))),
            ("DELETE", "/a/b/c", Some((3, &[("all", "a/b/c")]))),
            ("HEAD", "/a/b/c", None),
            // `{y}`/`{z}` are captured on the way down, then dropped when PATCH-only `/a/b/{y}/{z}`
            // turns out not to answer PUT.
            ("PUT", "/a/b/c/d", Some((2, &[("x", "b"), ("rest", "c/d")]))),
            ("DELETE", "/a/b/x/y", Some((3, &[("all", "a/b/x/y")]))),
            ("PATCH", "/a/b/x/y", Some((5, &[("y", "x"), ("z", "y")]))),
            // `/a/b` exists as a resource but has no method: back up to `/a/{x}`.
            ("GET", "/a/b", Some((4, &[("x", "b")]))),
            ("POST", "/a/b", None),
        ],
    );
}

#[test]
fn methods_any_and_explicit() {
    let routes = [("GET", "/r"), ("ANY", "/r"), ("GET", "/g"), ("ANY", "/any"), ("POST", "/p"), ("ANY", "$default")];
    let seven = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];
    let mut cases = vec![
        // An explicit method beats ANY on the same resource.
        ("GET", "/r", Some((0, &[][..]))),
        // GET does not answer HEAD (falls through to $default here).
        ("HEAD", "/g", Some((5, &[][..]))),
        ("GET", "/g", Some((2, &[][..]))),
    ];
    for method in seven {
        cases.push((method, "/any", Some((3, &[]))));
        if method != "GET" {
            cases.push((method, "/r", Some((1, &[]))));
        }
    }
    // Anything but the seven, and lowercase names, match nothing at all: not ANY, not $default.
    for method in ["TRACE", "CONNECT", "get", "Get", "post", "ANY", "PROPFIND", "", "GET "] {
        for path in ["/r", "/any", "/p", "/", "/nowhere"] {
            cases.push((method, path, None));
        }
    }
    check_both(&routes, &cases);

    let routes = [("HEAD", "/h"), ("OPTIONS", "/h"), ("GET", "/h")];
    check_both(
        &routes,
        &[
            ("HEAD", "/h", Some((0, &[]))),
            ("OPTIONS", "/h", Some((1, &[]))),
            ("GET", "/h", Some((2, &[]))),
            ("POST", "/h", None),
        ],
    );
}

#[test]
fn root_is_a_resource_and_greedy_needs_a_segment() {
    let routes = [("GET", "/{proxy+}"), ("POST", "/")];
    check_both(
        &routes,
        &[
            ("GET", "/", None),
            ("POST", "/", Some((1, &[]))),
            ("POST", "/x", None),
            ("GET", "/x", Some((0, &[("proxy", "x")]))),
            ("GET", "/x/y/z.txt", Some((0, &[("proxy", "x/y/z.txt")]))),
        ],
    );
    let routes = [("GET", "/files/{path+}"), ("GET", "/files")];
    check_both(
        &routes,
        &[
            ("GET", "/files", Some((1, &[]))),
            ("GET", "/files/a", Some((0, &[("path", "a")]))),
            ("GET", "/files/a/b", Some((0, &[("path", "a/b")]))),
            ("GET", "/file", None),
        ],
    );
}

#[test]
fn default_route_is_last_and_takes_anything() {
    let routes = [("ANY", "$default"), ("GET", "/pets")];
    check(
        &router(ApiType::Http, &routes),
        &routes,
        &[
            ("GET", "/pets", Some((1, &[]))),
            ("POST", "/pets", Some((0, &[]))),
            ("GET", "/", Some((0, &[]))),
            ("DELETE", "/a/b/c//", Some((0, &[]))),
            ("TRACE", "/pets", None),
            // A request target that is not a path (`*`, absolute form) matches nothing.
            ("OPTIONS", "*", None),
            ("GET", "", None),
            ("GET", "pets", None),
        ],
    );
}

#[test]
fn rest_ignores_trailing_and_empty_segments() {
    let routes = [("GET", "/pets"), ("GET", "/pets/{id}"), ("ANY", "/{proxy+}"), ("GET", "/")];
    check(
        &router(ApiType::Rest, &routes),
        &routes,
        &[
            ("GET", "/pets/", Some((0, &[]))),
            ("GET", "//pets", Some((0, &[]))),
            ("GET", "/pets//", Some((0, &[]))),
            ("GET", "/pets//7/", Some((1, &[("id", "7")]))),
            ("GET", "//", Some((3, &[]))),
            // LocalStack's AWS-validated proxy cases:
            ("GET", "/proxy-value/", Some((2, &[("proxy", "proxy-value")]))),
            ("GET", "//proxy-value", Some((2, &[("proxy", "proxy-value")]))),
            ("GET", "/proxy-value//double-slash", Some((2, &[("proxy", "proxy-value//double-slash")]))),
            ("GET", "/a//b", Some((2, &[("proxy", "a//b")]))),
            ("GET", "/a//b//", Some((2, &[("proxy", "a//b")]))),
            ("POST", "/pets/", Some((2, &[("proxy", "pets")]))),
            ("POST", "//", None),
        ],
    );
}

#[test]
fn http_api_matches_slashes_strictly() {
    let routes = [("GET", "/pets"), ("GET", "/pets/{id}"), ("GET", "/files/{proxy+}"), ("GET", "/dir/"), ("GET", "/")];
    check(
        &router(ApiType::Http, &routes),
        &routes,
        &[
            ("GET", "/pets", Some((0, &[]))),
            ("GET", "/pets/", None),
            ("GET", "//pets", None),
            ("GET", "/pets/7", Some((1, &[("id", "7")]))),
            ("GET", "/pets/7/", None),
            ("GET", "/pets//7", None),
            // A route path ending in `/` is its own resource when slashes are significant.
            ("GET", "/dir/", Some((3, &[]))),
            ("GET", "/dir", None),
            ("GET", "/dir//", None),
            ("GET", "/", Some((4, &[]))),
            ("GET", "//", None),
            // Greedy values are the raw rest, slashes and all, but never start empty.
            ("GET", "/files/a/", Some((2, &[("proxy", "a/")]))),
            ("GET", "/files/a//b", Some((2, &[("proxy", "a//b")]))),
            ("GET", "/files/", None),
            ("GET", "/files//a", None),
        ],
    );
    // The option overrides the API type's default both ways.
    let strict_rest = Router::build(
        &routes.iter().map(|&(m, p)| RouteSpec::new(m, p)).collect::<Vec<_>>(),
        RoutingOptions { ignore_trailing_slash: false },
    )
    .unwrap();
    check(&strict_rest, &routes, &[("GET", "/pets/", None), ("GET", "/dir/", Some((3, &[])))]);
    let lenient = [("GET", "/pets"), ("GET", "/files/{proxy+}")];
    let lenient_http = Router::build(
        &lenient.iter().map(|&(m, p)| RouteSpec::new(m, p)).collect::<Vec<_>>(),
        RoutingOptions { ignore_trailing_slash: true },
    )
    .unwrap();
    check(
        &lenient_http,
        &lenient,
        &[("GET", "/pets/", Some((0, &[]))), ("GET", "/files/a/", Some((1, &[("proxy", "a")])))],
    );
}

#[test]
fn values_stay_raw_and_matching_is_case_sensitive() {
    let routes = [("GET", "/users/{id}"), ("GET", "/a%20b"), ("GET", "/Pets"), ("GET", "/q/{rest+}")];
    check_both(
        &routes,
        &[
            ("GET", "/users/test%2Balias", Some((0, &[("id", "test%2Balias")]))),
            ("GET", "/users/test%2Balias@gmail.com", Some((0, &[("id", "test%2Balias@gmail.com")]))),
            ("GET", "/users/%2F", Some((0, &[("id", "%2F")]))),
            ("GET", "/users/é", Some((0, &[("id", "é")]))),
            ("GET", "/a%20b", Some((1, &[]))),
            ("GET", "/a b", None),
            ("GET", "/a%20B", None),
            ("GET", "/Pets", Some((2, &[]))),
            ("GET", "/pets", None),
            ("GET", "/PETS", None),
            ("GET", "/q/a%2Fb/c", Some((3, &[("rest", "a%2Fb/c")]))),
        ],
    );
}

#[test]
fn many_params_spill_past_the_inline_ones() {
    let routes = [
        ("GET", "/{a}/{b}/{c}/{d}/{e}/{f}"),
        ("GET", "/{a}/{b}/{c}/{d}/{e}/{f}/x"),
        ("GET", "/{a}/{b}/{c}/{d}/{e}/{f}/{g+}"),
    ];
    check_both(
        &routes,
        &[
            (
                "GET",
                "/1/2/3/4/5/6",
                Some((0, &[("a", "1"), ("b", "2"), ("c", "3"), ("d", "4"), ("e", "5"), ("f", "6")])),
            ),
            (
                "GET",
                "/1/2/3/4/5/6/x",
                Some((1, &[("a", "1"), ("b", "2"), ("c", "3"), ("d", "4"), ("e", "5"), ("f", "6")])),
            ),
            (
                "GET",
                "/1/2/3/4/5/6/y/z",
                Some((2, &[("a", "1"), ("b", "2"), ("c", "3"), ("d", "4"), ("e", "5"), ("f", "6"), ("g", "y/z")])),
            ),
            ("GET", "/1/2/3/4/5", None),
        ],
    );
    // Backtracking out of a spilled branch leaves only the winning branch's values.
    let routes = [("GET", "/{a}/s/{c}/{d}/{e}/{f}/only"), ("GET", "/{a}/{b}/{rest+}")];
    check_both(
        &routes,
        &[
            ("GET", "/1/s/3/4/5/6/only", Some((0, &[("a", "1"), ("c", "3"), ("d", "4"), ("e", "5"), ("f", "6")]))),
            ("GET", "/1/s/3/4/5/6/other", Some((1, &[("a", "1"), ("b", "s"), ("rest", "3/4/5/6/other")]))),
        ],
    );
}

#[test]
fn same_variable_under_one_parent_is_shared() {
    let routes =
        [("GET", "/pets/{id}"), ("GET", "/pets/{id}/toys"), ("PUT", "/pets/{id}"), ("GET", "/pets/{id}/toys/{toy+}")];
    check_both(
        &routes,
        &[
            ("GET", "/pets/1", Some((0, &[("id", "1")]))),
            ("PUT", "/pets/1", Some((2, &[("id", "1")]))),
            ("GET", "/pets/1/toys", Some((1, &[("id", "1")]))),
            ("GET", "/pets/1/toys/ball/red", Some((3, &[("id", "1"), ("toy", "ball/red")]))),
        ],
    );
}

#[test]
fn many_routes_with_wide_static_fan_out() {
    // Enough siblings to take the hash-map path for static children.
    let owned: Vec<(String, String)> = (0..300)
        .flat_map(|i| {
            [
                ("GET".to_owned(), format!("/svc{i}")),
                ("GET".to_owned(), format!("/svc{i}/items/{{id}}")),
                ("ANY".to_owned(), format!("/svc{i}/{{proxy+}}")),
            ]
        })
        .collect();
    let table: Vec<(&str, &str)> = owned.iter().map(|(m, p)| (m.as_str(), p.as_str())).collect();
    let router = router(ApiType::Rest, &table);
    for i in [0_u32, 1, 150, 299] {
        let base = i * 3;
        let svc = format!("/svc{i}");
        let item = format!("/svc{i}/items/42");
        let other = format!("/svc{i}/other/x");
        check(
            &router,
            &table,
            &[
                ("GET", &svc, Some((base, &[]))),
                ("GET", &item, Some((base + 1, &[("id", "42")]))),
                ("POST", &item, Some((base + 2, &[("proxy", "items/42")]))),
                ("GET", &other, Some((base + 2, &[("proxy", "other/x")]))),
            ],
        );
    }
    check(&router, &table, &[("GET", "/svc300", None), ("GET", "/svc", None)]);
}

/// `(api type, routes, index of the refused route, message)`.
type ConflictCase<'a> = (ApiType, &'a [(&'a str, &'a str)], u32, &'a str);

#[test]
fn conflicting_routes_are_refused_with_aws_messages() {
    use ApiType::{Http, Rest};
    let cases: &[ConflictCase<'_>] = &[
        (
            Rest,
            &[("GET", "/pets/{id}"), ("GET", "/pets/{name}")],
            1,
            "A sibling ({id}) of this resource already has a variable path part -- only one is allowed",
        ),
        (
            Rest,
            &[("GET", "/pets/{id}"), ("GET", "/pets/{proxy+}")],
            1,
            "A sibling ({id}) of this resource already has a variable path part -- only one is allowed",
        ),
        (
            Http,
            &[("GET", "/pets/{proxy+}"), ("GET", "/pets"), ("POST", "/pets/{id}/toys")],
            2,
            "A sibling ({proxy+}) of this resource already has a variable path part -- only one is allowed",
        ),
        (
            Http,
            &[("GET", "/a/{id}/b"), ("GET", "/a/{id+}")],
            1,
            "A sibling ({id}) of this resource already has a variable path part -- only one is allowed",
        ),
        (
            Rest,
            &[("GET", "/files/{proxy+}/meta")],
            0,
            "Cannot create a child of a resource with a greedy path variable: {proxy+}",
        ),
        (
            Rest,
            &[("GET", "/files/{proxy+}"), ("GET", "/files/{proxy+}/{id}")],
            1,
            "Cannot create a child of a resource with a greedy path variable: {proxy+}",
        ),
        (
            Rest,
            &[("GET", "/pets"), ("GET", "/pets/")],
            1,
            "Method already exists for this resource: GET /pets/ (route 0 has it)",
        ),
        (
            Http,
            &[("ANY", "/pets"), ("GET", "/pets"), ("ANY", "/pets")],
            2,
            "Method already exists for this resource: ANY /pets (route 0 has it)",
        ),
        (
            Http,
            &[("GET", "/{id}"), ("GET", "/{id}")],
            1,
            "Method already exists for this resource: GET /{id} (route 0 has it)",
        ),
        (
            Http,
            &[("ANY", "$default"), ("ANY", "$default")],
            1,
            "Method already exists for this resource: $default (route 0 has it)",
        ),
    ];
    check_conflicts(cases);
}

#[test]
fn malformed_routes_are_refused() {
    use ApiType::{Http, Rest};
    let cases: &[ConflictCase<'_>] = &[
        (Http, &[("GET", "$default")], 0, "The $default route takes method ANY, not GET"),
        (Http, &[("GET", "/"), ("get", "/pets")], 1, "Invalid HTTP method: get"),
        (Http, &[("TRACE", "/")], 0, "Invalid HTTP method: TRACE"),
        (Http, &[("", "/")], 0, "Invalid HTTP method: "),
        (Rest, &[("GET", "pets")], 0, "A route path must start with '/' or be $default: \"pets\""),
        (Rest, &[("GET", "")], 0, "A route path must start with '/' or be $default: \"\""),
        (Rest, &[("GET", "/a//b")], 0, "Empty path part ('//') in \"/a//b\""),
        (Rest, &[("GET", "//")], 0, "Empty path part ('//') in \"//\""),
        (Rest, &[("GET", "/pets/x{id}")], 0, "A path variable must be a whole path part: x{id} in \"/pets/x{id}\""),
        (
            Rest,
            &[("GET", "/pets/{id}.json")],
            0,
            "A path variable must be a whole path part: {id}.json in \"/pets/{id}.json\"",
        ),
        (Rest, &[("GET", "/pets/{}")], 0, "Empty path variable name {} in \"/pets/{}\""),
        (Rest, &[("GET", "/pets/{+}")], 0, "Empty path variable name {+} in \"/pets/{+}\""),
        (
            Rest,
            &[("GET", "/pets/{a b}")],
            0,
            "Path variable {a b} in \"/pets/{a b}\": a name may only use a-z, A-Z, 0-9, '.', '_' and '-'",
        ),
        (Rest, &[("GET", "/{id}/x/{id}")], 0, "Path variable \"id\" appears twice in \"/{id}/x/{id}\""),
        (
            Http,
            &[("GET", "/files/{proxy+}/")],
            0,
            "A greedy path variable must end the path: remove the '/' after {proxy+} in \"/files/{proxy+}/\"",
        ),
    ];
    check_conflicts(cases);
}

fn check_conflicts(cases: &[ConflictCase<'_>]) {
    let mut failures = Vec::new();
    for &(api_type, routes, route, message) in cases {
        match build(api_type, routes) {
            Ok(_) => failures.push(format!("{routes:?}: built, want route {route}: {message}")),
            Err(error) if error.route() != route || error.to_string() != message => {
                failures
                    .push(format!("{routes:?}: route {}: {error}\n    want route {route}: {message}", error.route()));
            }
            Err(_) => {}
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn conflicts_carry_their_variant() {
    let err = |routes: &[(&str, &str)]| build(ApiType::Rest, routes).unwrap_err();
    assert!(matches!(
        err(&[("GET", "/a/{x}"), ("GET", "/a/{y}")]),
        ConfigError::VariableSibling { route: 1, ref sibling } if sibling == "{x}"
    ));
    assert!(matches!(
        err(&[("GET", "/a/{p+}/b")]),
        ConfigError::ChildOfGreedy { route: 0, ref greedy } if greedy == "{p+}"
    ));
    assert!(matches!(
        err(&[("GET", "/a"), ("POST", "/a"), ("GET", "/a/")]),
        ConfigError::DuplicateRoute { route: 2, other: 0, ref name } if name == "GET /a/"
    ));
    assert!(
        matches!(err(&[("FETCH", "/a")]), ConfigError::InvalidMethod { route: 0, ref method } if method == "FETCH")
    );
    assert!(matches!(err(&[("GET", "a")]), ConfigError::InvalidPath { route: 0, .. }));
}

#[test]
fn tables_that_are_fine() {
    let ok: &[&[(&str, &str)]] = &[
        // Static and variable siblings mix freely; the same variable may be reused.
        &[("GET", "/pets/dog"), ("GET", "/pets/{id}"), ("GET", "/pets/{id}/toys"), ("GET", "/pets/{id}/{toy}")],
        // Static siblings of a greedy variable are excluded from it, not in conflict with it.
        &[("GET", "/files/{proxy+}"), ("GET", "/files/readme"), ("GET", "/files/readme/more")],
        // Every method once, plus ANY, on one resource.
        &[
            ("GET", "/r"),
            ("POST", "/r"),
            ("PUT", "/r"),
            ("PATCH", "/r"),
            ("DELETE", "/r"),
            ("HEAD", "/r"),
            ("OPTIONS", "/r"),
            ("ANY", "/r"),
        ],
        // Variable names may use the characters AWS allows.
        &[("GET", "/{a.b_c-D9}"), ("GET", "/")],
        &[],
    ];
    for routes in ok {
        for api_type in [ApiType::Rest, ApiType::Http] {
            if let Err(e) = build(api_type, routes) {
                panic!("{routes:?} ({api_type:?}): route {}: {e}", e.route());
            }
        }
    }
    // Without trailing-slash folding, `/pets` and `/pets/` are two resources.
    assert!(build(ApiType::Http, &[("GET", "/pets"), ("GET", "/pets/")]).is_ok());
    // An empty table matches nothing.
    assert!(router(ApiType::Http, &[]).lookup("GET", "/").is_none());
}

#[test]
fn router_is_shareable_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Router>();
}
