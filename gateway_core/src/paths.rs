//! Request paths as the engine matches them.
//!
//! Granian's RSGI scope hands over the path percent-decoded; AWS matches and forwards the raw, still
//! encoded path. [`normalize_path`] first refuses a path whose decoding lost bytes and removes its dot
//! segments (so `/files/..%2fadmin` is `/admin` before it is routed, never `/static/../admin` at a
//! backend); [`encode_path`] then re-encodes every byte that may not appear unencoded in a path
//! (RFC 3986 `pchar` and `/` stay), so values such as `a%20b` or `caf%C3%A9` survive; a `%2F` inside a
//! segment cannot be told from `/` any more, which is the one difference left.

use std::borrow::Cow;

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// `true` for the bytes that may appear unencoded in a path: unreserved, sub-delims, `:`, `@` and `/`.
const fn is_path_safe(b: u8) -> bool {
    matches!(b,
        b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9'
        | b'-' | b'.' | b'_' | b'~'
        | b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'='
        | b':' | b'@' | b'/')
}

/// The path with every byte outside the path-safe set percent-encoded (upper-case hex). Borrows when
/// nothing needs encoding, which is the common case.
///
/// ```
/// use gateway_core::paths::encode_path;
/// assert_eq!(encode_path("/pets/1"), "/pets/1");
/// assert_eq!(encode_path("/u/a b/café?"), "/u/a%20b/caf%C3%A9%3F");
/// assert_eq!(encode_path("/100%"), "/100%25");
/// ```
pub fn encode_path(path: &str) -> Cow<'_, str> {
    let bytes = path.as_bytes();
    let Some(first) = bytes.iter().position(|b| !is_path_safe(*b)) else {
        return Cow::Borrowed(path);
    };
    let mut out = String::with_capacity(path.len() + 16);
    out.push_str(&path[..first]);
    for &b in &bytes[first..] {
        if is_path_safe(b) {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 15)]));
        }
    }
    Cow::Owned(out)
}

/// Why a request path is refused before routing (`400`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathError {
    /// The path held percent-encoded bytes that are not UTF-8 (`%FF%FE`): Granian decodes them to U+FFFD, so
    /// distinct paths (and their cache keys) would merge. A path with U+FFFD itself is refused with them.
    NotUtf8,
}

/// The path to route: a path Granian could not decode losslessly is refused, and dot segments are removed as
/// RFC 3986 §5.2.4 says (`/a/./b/../c` is `/a/c`; `..` never climbs above the root), as nginx and Envoy do.
/// Borrows when there is nothing to remove, which is the common case.
///
/// ```
/// use gateway_core::paths::{normalize_path, PathError};
/// assert_eq!(normalize_path("/pets/1.json").unwrap(), "/pets/1.json");
/// assert_eq!(normalize_path("/files/../admin").unwrap(), "/admin");
/// assert_eq!(normalize_path("/a/./b/..").unwrap(), "/a/");
/// assert_eq!(normalize_path("/\u{fffd}"), Err(PathError::NotUtf8));
/// ```
pub fn normalize_path(decoded: &str) -> Result<Cow<'_, str>, PathError> {
    if decoded.contains('\u{fffd}') {
        return Err(PathError::NotUtf8);
    }
    if !has_dot_segment(decoded) {
        return Ok(Cow::Borrowed(decoded));
    }
    Ok(Cow::Owned(remove_dot_segments(decoded)))
}

/// Whether a `/`-separated segment of `path` is `.` or `..`.
fn has_dot_segment(path: &str) -> bool {
    memchr::memchr(b'.', path.as_bytes()).is_some() && path.split('/').any(|segment| segment == "." || segment == "..")
}

/// RFC 3986 §5.2.4 on an absolute path (or on a relative one, which then stays relative): `.` segments go,
/// `..` removes the segment before it, and a final `.` or `..` leaves the trailing `/`.
pub fn remove_dot_segments(path: &str) -> String {
    let absolute = path.starts_with('/');
    let mut kept: Vec<&str> = Vec::new();
    let mut segments = path.split('/').peekable();
    if absolute {
        segments.next(); // the empty text before the leading `/`
    }
    let mut trailing_slash = false;
    while let Some(segment) = segments.next() {
        let last = segments.peek().is_none();
        match segment {
            "." => trailing_slash = last,
            ".." => {
                kept.pop();
                trailing_slash = last;
            }
            _ => {
                kept.push(segment);
                trailing_slash = false;
            }
        }
    }
    let mut out = String::with_capacity(path.len());
    for segment in &kept {
        if absolute || !out.is_empty() {
            out.push('/');
        }
        out.push_str(segment);
    }
    if trailing_slash || (absolute && out.is_empty()) {
        out.push('/');
    }
    out
}

/// A `Host` field value that is `host[:port]` (RFC 9112 §3.2, RFC 3986 §3.2.2): an IP literal in brackets or a
/// name of unreserved characters, percent escapes and sub-delimiters, then an optional port of digits. Names
/// with sub-delimiters (`a,for=1`) are valid hosts: a value written into a structured header is quoted there.
///
/// ```
/// use gateway_core::paths::is_valid_host;
/// assert!(is_valid_host("api.example.com:8443") && is_valid_host("[::1]:80") && is_valid_host("10.0.0.1"));
/// assert!(!is_valid_host("a, for=6.6.6.6") && !is_valid_host("a/b") && !is_valid_host("a:x") && !is_valid_host(""));
/// ```
pub fn is_valid_host(value: &str) -> bool {
    let (host_ok, port) = if let Some(rest) = value.strip_prefix('[') {
        let Some((literal, after)) = rest.split_once(']') else { return false };
        let port = match after {
            "" => "",
            _ => match after.strip_prefix(':') {
                Some(port) => port,
                None => return false,
            },
        };
        (is_ip_literal(literal), port)
    } else {
        let (host, port) = value.rsplit_once(':').unwrap_or((value, ""));
        (!host.is_empty() && host.bytes().all(is_reg_name_byte), port)
    };
    host_ok && (port.is_empty() || (port.bytes().all(|b| b.is_ascii_digit()) && port.parse::<u16>().is_ok()))
}

/// RFC 3986 `reg-name` characters: unreserved, `%` (of an escape) and sub-delimiters.
const REG_NAME: [bool; 256] = crate::http1::byte_class(b"-._~%!$&'()*+,;=");

fn is_reg_name_byte(b: u8) -> bool {
    REG_NAME[usize::from(b)]
}

/// The inside of `[...]`: an IPv6 address (hex digits, `:` and a dotted IPv4 tail) or an `IPvFuture`
/// (`v` 1*HEXDIG `.` 1*(unreserved / sub-delims / `:`)). Zone identifiers are not taken.
fn is_ip_literal(literal: &str) -> bool {
    if let Some(future) = literal.strip_prefix(['v', 'V']) {
        let Some((version, address)) = future.split_once('.') else { return false };
        return !version.is_empty()
            && version.bytes().all(|b| b.is_ascii_hexdigit())
            && !address.is_empty()
            && address.bytes().all(|b| b == b':' || (b != b'%' && is_reg_name_byte(b)));
    }
    literal.contains(':') && literal.bytes().all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
}

/// One query-string name or value decoded as Python's `unquote_plus` does: `+` is a space, `%XX` a byte, a
/// `%` not followed by two hex digits stays as it is, and bytes that are not UTF-8 become U+FFFD. Borrows when
/// there is nothing to decode.
///
/// ```
/// use gateway_core::paths::decode_query_component;
/// assert_eq!(decode_query_component("a+b%21"), "a b!");
/// assert_eq!(decode_query_component("100%"), "100%");
/// ```
pub fn decode_query_component(text: &str) -> Cow<'_, str> {
    if !text.bytes().any(|b| b == b'%' || b == b'+') {
        return Cow::Borrowed(text);
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let byte = bytes[index];
        let escaped = (byte == b'%')
            .then(|| Some((hex_value(*bytes.get(index + 1)?)? << 4) | hex_value(*bytes.get(index + 2)?)?))
            .flatten();
        match (byte, escaped) {
            (_, Some(decoded)) => {
                out.push(decoded);
                index += 3;
                continue;
            }
            (b'+', None) => out.push(b' '),
            (other, None) => out.push(other),
        }
        index += 1;
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

const fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// The decoded values of `name` in a raw query string, in order, as Python's `parse_qsl(...,
/// keep_blank_values=True)` gives them: pairs split at `&`, empty pairs skipped, `a` alone is `a=`.
pub fn query_values<'q>(query: &'q str, name: &'q str) -> impl Iterator<Item = Cow<'q, str>> + 'q {
    query.split('&').filter(|pair| !pair.is_empty()).filter_map(move |pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (decode_query_component(key) == name).then(|| decode_query_component(value))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_components_decode_as_python_does() {
        assert!(matches!(decode_query_component("plain"), Cow::Borrowed("plain")));
        assert_eq!(decode_query_component("caf%C3%A9+au+lait"), "café au lait");
        assert_eq!(decode_query_component("%zz%4"), "%zz%4");
        assert_eq!(decode_query_component("%FF"), "\u{fffd}");
        let values: Vec<_> = query_values("a=1&&b=2&a&a%20b=3&a=x+y", "a").collect();
        assert_eq!(values, ["1", "", "x y"]);
        assert_eq!(query_values("a%20b=3", "a b").collect::<Vec<_>>(), ["3"]);
    }

    #[test]
    fn dot_segments_are_removed_as_rfc_3986_says() {
        for (path, expected) in [
            ("/a/b/c/./../../g", "/a/g"),
            ("/mid/content=5/../6", "/mid/6"),
            ("/files/../admin", "/admin"),
            ("/../../admin", "/admin"),
            ("/a/..", "/"),
            ("/a/.", "/a/"),
            ("/..", "/"),
            ("/.", "/"),
            ("/a//../b", "/a/b"),
            ("/a/..b/c.", "/a/..b/c."),
            ("a/../../b", "b"),
            ("../x", "x"),
        ] {
            assert_eq!(remove_dot_segments(path), expected, "{path}");
        }
        assert!(matches!(normalize_path("/a/..b/.c/d."), Ok(Cow::Borrowed(_))));
        assert!(matches!(normalize_path("/pets//1"), Ok(Cow::Borrowed(_))));
        assert_eq!(normalize_path("/a/%2e/\u{fffd}x"), Err(PathError::NotUtf8));
    }

    #[test]
    fn hosts() {
        for good in
            ["a", "a.b-c_d~e", "a:1", "a:65535", "[::1]", "[::1]:8", "[v1.x]", "[vF.a:b]", "x%41", "a,b=c", "a:"]
        {
            assert!(is_valid_host(good), "{good}");
        }
        for bad in [
            "",
            ":80",
            "a b",
            "a, b",
            "a/b",
            "a@b",
            "a:80:80",
            "a:123456",
            "a:99999",
            "a:+1",
            "[::1",
            "[]",
            "[::1]x",
            "a\tb",
            "é",
            "[v, for=6.6.6.6]",
            "[v/./v]",
            "[v1.]",
            "[v.x]",
            "[1.2.3.4]",
            "[::1%25eth0]",
            "[v1.a%41]",
        ] {
            assert!(!is_valid_host(bad), "{bad}");
        }
    }

    #[test]
    fn safe_paths_are_borrowed() {
        assert!(matches!(encode_path("/a-b/c.d_e~f/!$&'()*+,;=:@"), Cow::Borrowed(_)));
    }

    #[test]
    fn unsafe_bytes_are_encoded() {
        assert_eq!(encode_path("/a b"), "/a%20b");
        assert_eq!(encode_path("/x#y"), "/x%23y");
        assert_eq!(encode_path("/\u{e9}"), "/%C3%A9");
        assert_eq!(encode_path("/\"<>\\^`{|}"), "/%22%3C%3E%5C%5E%60%7B%7C%7D");
    }
}
