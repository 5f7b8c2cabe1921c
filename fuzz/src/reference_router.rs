//! A slow, obviously-correct route matcher: `tests/reference_router.py` in Rust, line for line, for the
//! `router` target. No trie and no backtracking: every route is checked against the request on its own, and
//! the most specific match wins by a sort key. The rules (AWS API Gateway, reference §1):
//!
//! - A route path is `/`, `$default` or `/part/part...`; a part is static text, `{name}` (one non-empty
//!   segment) or `{name+}` (greedy: the rest, at least one non-empty segment; last part).
//! - Most specific first, compared part by part from the left: static < `{param}` < `{greedy+}`; then an
//!   explicit method before `ANY` (same resource); `$default` last.
//! - Methods: the seven below, case-sensitive; `ANY` means exactly those; anything else matches nothing.
//! - `ignore_trailing_slash` (REST): empty segments are skipped, a route path's trailing `/` is dropped, and a
//!   greedy value runs from its first segment to the end of the last non-empty one. Strict (HTTP APIs): every
//!   segment counts and a route's trailing `/` is an empty static part; a greedy value is the raw rest.
//! - Values are the raw request text, never decoded.
//!
//! Conflicts are checked route by route, in order; the first refused route is reported as `(kind, index)`.

pub const METHODS: [&str; 7] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];
pub const ANY: &str = "ANY";
pub const DEFAULT: &str = "$default";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Static = 0,
    Param = 1,
    Greedy = 2,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Part {
    kind: Kind,
    /// Static text, or the variable's name.
    text: String,
}

/// Why a table is refused, and at which route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conflict {
    Method(usize),
    Path(usize),
    ChildOfGreedy(usize),
    Sibling(usize),
    Duplicate(usize),
}

fn parse_part(segment: &str, index: usize) -> Result<Part, Conflict> {
    if segment.is_empty() {
        return Err(Conflict::Path(index));
    }
    if segment.len() >= 2 && segment.starts_with('{') && segment.ends_with('}') {
        let mut name = &segment[1..segment.len() - 1];
        let mut kind = Kind::Param;
        if let Some(stripped) = name.strip_suffix('+') {
            name = stripped;
            kind = Kind::Greedy;
        }
        let valid = !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
        return if valid { Ok(Part { kind, text: name.to_owned() }) } else { Err(Conflict::Path(index)) };
    }
    if segment.contains(['{', '}']) {
        return Err(Conflict::Path(index));
    }
    Ok(Part { kind: Kind::Static, text: segment.to_owned() })
}

/// The parts of a route path, or `None` for `$default`.
fn parse_template(path: &str, ignore_trailing_slash: bool, index: usize) -> Result<Option<Vec<Part>>, Conflict> {
    if path == DEFAULT {
        return Ok(None);
    }
    let Some(mut body) = path.strip_prefix('/') else { return Err(Conflict::Path(index)) };
    if body.is_empty() {
        return Ok(Some(Vec::new()));
    }
    let trailing = body.ends_with('/');
    if trailing {
        body = &body[..body.len() - 1];
    }
    let mut parts: Vec<Part> = Vec::new();
    for segment in body.split('/') {
        if parts.last().is_some_and(|p| p.kind == Kind::Greedy) {
            return Err(Conflict::ChildOfGreedy(index));
        }
        let part = parse_part(segment, index)?;
        if part.kind != Kind::Static && parts.iter().any(|p| p.kind != Kind::Static && p.text == part.text) {
            return Err(Conflict::Path(index));
        }
        parts.push(part);
    }
    if trailing && !ignore_trailing_slash {
        if parts.last().is_some_and(|p| p.kind == Kind::Greedy) {
            return Err(Conflict::Path(index));
        }
        parts.push(Part { kind: Kind::Static, text: String::new() });
    }
    Ok(Some(parts))
}

/// Most specific first: the parts' kinds from the left, then an explicit method before `ANY`.
type SortKey = (Vec<Kind>, bool);

/// `(name, value)` pairs in path order; values borrow from the request path.
pub type Params<'p> = Vec<(String, &'p str)>;

struct Route {
    index: usize,
    method: String,
    /// `None`: `$default`.
    parts: Option<Vec<Part>>,
}

pub struct ReferenceRouter {
    ignore_trailing_slash: bool,
    routes: Vec<Route>,
}

impl ReferenceRouter {
    /// The router for `(method, path)` routes.
    ///
    /// # Errors
    /// The first route AWS (and the engine) would refuse, and why.
    pub fn new(routes: &[(String, String)], ignore_trailing_slash: bool) -> Result<Self, Conflict> {
        let mut table = Self { ignore_trailing_slash, routes: Vec::new() };
        for (index, (method, path)) in routes.iter().enumerate() {
            if !METHODS.contains(&method.as_str()) && method != ANY {
                return Err(Conflict::Method(index));
            }
            let parts = parse_template(path, ignore_trailing_slash, index)?;
            match &parts {
                None => {
                    if method != ANY {
                        return Err(Conflict::Path(index));
                    }
                    if table.routes.iter().any(|r| r.parts.is_none()) {
                        return Err(Conflict::Duplicate(index));
                    }
                }
                Some(parts) => {
                    table.check_siblings(parts, index)?;
                    if table.routes.iter().any(|r| r.parts.as_ref() == Some(parts) && r.method == *method) {
                        return Err(Conflict::Duplicate(index));
                    }
                }
            }
            table.routes.push(Route { index, method: method.clone(), parts });
        }
        Ok(table)
    }

    /// Two different variables directly under the same resource are refused.
    fn check_siblings(&self, parts: &[Part], index: usize) -> Result<(), Conflict> {
        for other in &self.routes {
            let Some(other_parts) = &other.parts else { continue };
            for (mine, theirs) in parts.iter().zip(other_parts) {
                if mine.kind != Kind::Static && theirs.kind != Kind::Static && mine != theirs {
                    return Err(Conflict::Sibling(index));
                }
                if mine != theirs {
                    break; // different resources from here on
                }
            }
        }
        Ok(())
    }

    /// `(start, end)` of each segment that counts, as byte offsets into `path`.
    fn segments(&self, path: &str) -> Vec<(usize, usize)> {
        let mut spans = Vec::new();
        let mut start = 1;
        for text in path[1..].split('/') {
            spans.push((start, start + text.len()));
            start += text.len() + 1;
        }
        if self.ignore_trailing_slash {
            spans.retain(|(s, e)| e > s);
            spans
        } else if path == "/" {
            Vec::new()
        } else {
            spans
        }
    }

    fn matches<'p>(&self, parts: &[Part], path: &'p str) -> Option<Params<'p>> {
        let segments = self.segments(path);
        let mut params = Vec::new();
        for (i, part) in parts.iter().enumerate() {
            let &(start, end) = segments.get(i)?;
            let text = &path[start..end];
            match part.kind {
                Kind::Greedy => {
                    if text.is_empty() {
                        return None;
                    }
                    let rest_end = if self.ignore_trailing_slash { segments.last()?.1 } else { path.len() };
                    params.push((part.text.clone(), &path[start..rest_end]));
                    return Some(params);
                }
                Kind::Static if text != part.text => return None,
                Kind::Param => {
                    if text.is_empty() {
                        return None;
                    }
                    params.push((part.text.clone(), text));
                }
                Kind::Static => {}
            }
        }
        (parts.len() == segments.len()).then_some(params)
    }

    /// The winning route's index and its parameters, in path order.
    pub fn lookup<'p>(&self, method: &str, path: &'p str) -> Option<(usize, Params<'p>)> {
        if !METHODS.contains(&method) || !path.starts_with('/') {
            return None;
        }
        let mut best: Option<(SortKey, usize, Params<'p>)> = None;
        for route in &self.routes {
            let Some(parts) = &route.parts else { continue };
            if route.method != method && route.method != ANY {
                continue;
            }
            let Some(params) = self.matches(parts, path) else { continue };
            let key = (parts.iter().map(|p| p.kind).collect::<Vec<_>>(), route.method == ANY);
            if best.as_ref().is_none_or(|(best_key, ..)| key < *best_key) {
                best = Some((key, route.index, params));
            }
        }
        if let Some((_, index, params)) = best {
            return Some((index, params));
        }
        self.routes.iter().find(|r| r.parts.is_none()).map(|r| (r.index, Vec::new()))
    }
}
