//! Route path templates: `/pets/{id}`, `/files/{proxy+}`, `/`, and the HTTP API's `$default`.
//!
//! A template is split into path parts once, at load. Each part is static text, a `{name}`
//! variable (one whole segment) or a greedy `{name+}` variable (the last part only; it takes one
//! or more remaining segments).

use std::fmt;

/// One path part of a template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Part<'a> {
    /// Literal text, matched case-sensitively against the raw (still percent-encoded) segment.
    /// The empty string only appears as the last part, for a significant trailing `/` when
    /// trailing slashes are not ignored.
    Static(&'a str),
    /// `{name}`: one non-empty segment.
    Param(&'a str),
    /// `{name+}`: the rest of the path, at least one non-empty segment.
    Greedy(&'a str),
}

impl fmt::Display for Part<'_> {
    /// Writes the part as it appears in a path (`pets`, `{id}`, `{proxy+}`), the way AWS names
    /// resources in its messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Static(text) => f.write_str(text),
            Self::Param(name) => write!(f, "{{{name}}}"),
            Self::Greedy(name) => write!(f, "{{{name}+}}"),
        }
    }
}

/// A parsed route path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Template<'a> {
    /// The HTTP API `$default` route: matches whatever no other route matches.
    Default,
    /// A resource path; no parts for the root `/`.
    Path(Vec<Part<'a>>),
}

/// Why a template was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TemplateError {
    /// A malformed path, with a reason that quotes it.
    Invalid(String),
    /// A path part after a greedy variable (AWS: "Cannot create a child of a resource with a
    /// greedy path variable"); carries the greedy part as written, e.g. `{proxy+}`.
    ChildOfGreedy(String),
}

/// Parses a route path. With `ignore_trailing_slash` a single trailing `/` is dropped, so `/pets/`
/// is the same resource as `/pets`; without it the slash is significant and becomes an empty
/// last part (`/pets/` matches only the request `/pets/`).
pub(crate) fn parse(path: &str, ignore_trailing_slash: bool) -> Result<Template<'_>, TemplateError> {
    if path == "$default" {
        return Ok(Template::Default);
    }
    let Some(body) = path.strip_prefix('/') else {
        return Err(TemplateError::Invalid(format!("A route path must start with '/' or be $default: {path:?}")));
    };
    if body.is_empty() {
        return Ok(Template::Path(Vec::new()));
    }
    let (body, trailing_slash) = match body.strip_suffix('/') {
        Some(body) => (body, true),
        None => (body, false),
    };
    let mut parts = Vec::new();
    let mut greedy: Option<Part<'_>> = None;
    for segment in body.split('/') {
        if let Some(greedy) = greedy {
            return Err(TemplateError::ChildOfGreedy(greedy.to_string()));
        }
        let part = parse_part(segment, path)?;
        if let Part::Param(name) | Part::Greedy(name) = part {
            let seen = parts.iter().any(|p| matches!(p, Part::Param(n) | Part::Greedy(n) if *n == name));
            if seen {
                return Err(TemplateError::Invalid(format!("Path variable {name:?} appears twice in {path:?}")));
            }
        }
        if let Part::Greedy(_) = part {
            greedy = Some(part);
        }
        parts.push(part);
    }
    if trailing_slash && !ignore_trailing_slash {
        if let Some(greedy) = greedy {
            return Err(TemplateError::Invalid(format!(
                "A greedy path variable must end the path: remove the '/' after {greedy} in {path:?}"
            )));
        }
        parts.push(Part::Static(""));
    }
    Ok(Template::Path(parts))
}

fn parse_part<'a>(segment: &'a str, path: &str) -> Result<Part<'a>, TemplateError> {
    if segment.is_empty() {
        return Err(TemplateError::Invalid(format!("Empty path part ('//') in {path:?}")));
    }
    if let Some(inner) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
        let (name, greedy) = match inner.strip_suffix('+') {
            Some(name) => (name, true),
            None => (inner, false),
        };
        if name.is_empty() {
            return Err(TemplateError::Invalid(format!("Empty path variable name {segment} in {path:?}")));
        }
        if !name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')) {
            return Err(TemplateError::Invalid(format!(
                "Path variable {segment} in {path:?}: a name may only use a-z, A-Z, 0-9, '.', '_' and '-'"
            )));
        }
        return Ok(if greedy { Part::Greedy(name) } else { Part::Param(name) });
    }
    if segment.contains(['{', '}']) {
        return Err(TemplateError::Invalid(format!(
            "A path variable must be a whole path part: {segment} in {path:?}"
        )));
    }
    Ok(Part::Static(segment))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(path: &str, ignore_trailing_slash: bool) -> Vec<Part<'_>> {
        match parse(path, ignore_trailing_slash) {
            Ok(Template::Path(parts)) => parts,
            other => panic!("{path}: {other:?}"),
        }
    }

    fn invalid(path: &str) -> String {
        match parse(path, true) {
            Err(TemplateError::Invalid(reason)) => reason,
            other => panic!("{path}: {other:?}"),
        }
    }

    #[test]
    fn splits_into_parts() {
        assert_eq!(parts("/", true), []);
        assert_eq!(parts("/", false), []);
        assert_eq!(
            parts("/pets/{id}/files/{proxy+}", true),
            [Part::Static("pets"), Part::Param("id"), Part::Static("files"), Part::Greedy("proxy")]
        );
        assert_eq!(parse("$default", false), Ok(Template::Default));
    }

    #[test]
    fn trailing_slash_is_dropped_or_kept() {
        assert_eq!(parts("/pets/", true), [Part::Static("pets")]);
        assert_eq!(parts("/pets/", false), [Part::Static("pets"), Part::Static("")]);
        assert!(matches!(parse("/{proxy+}/", false), Err(TemplateError::Invalid(_))));
        assert_eq!(parts("/{proxy+}/", true), [Part::Greedy("proxy")]);
    }

    #[test]
    fn refuses_malformed_paths() {
        assert!(invalid("pets").contains("must start with '/'"));
        assert!(invalid("").contains("must start with '/'"));
        assert!(invalid("//").contains("Empty path part"));
        assert!(invalid("/a//b").contains("Empty path part"));
        assert!(invalid("/a/b//").contains("Empty path part"));
        assert!(invalid("/pets/x{id}").contains("whole path part"));
        assert!(invalid("/pets/{id}x").contains("whole path part"));
        assert!(invalid("/pets/{id").contains("whole path part"));
        assert!(invalid("/pets/{}").contains("Empty path variable name"));
        assert!(invalid("/pets/{+}").contains("Empty path variable name"));
        assert!(invalid("/pets/{a b}").contains("may only use"));
        assert!(invalid("/pets/{a{b}}").contains("may only use"));
        assert!(invalid("/{id}/{id}").contains("appears twice"));
        assert!(invalid("/{id}/{id+}").contains("appears twice"));
    }

    #[test]
    fn greedy_must_be_last() {
        assert_eq!(parse("/files/{proxy+}/meta", true), Err(TemplateError::ChildOfGreedy("{proxy+}".into())));
        // The first problem from the left wins, as AWS creates resources part by part.
        assert_eq!(parse("/{p+}/{bad", true), Err(TemplateError::ChildOfGreedy("{p+}".into())));
    }

    #[test]
    fn displays_parts_as_written() {
        assert_eq!(Part::Static("pets").to_string(), "pets");
        assert_eq!(Part::Param("id").to_string(), "{id}");
        assert_eq!(Part::Greedy("proxy").to_string(), "{proxy+}");
    }
}
