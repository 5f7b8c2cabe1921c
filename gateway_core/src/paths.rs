//! Request paths as the engine matches them.
//!
//! Granian's RSGI scope hands over the path percent-decoded; AWS matches and forwards the raw, still
//! encoded path. [`encode_path`] re-encodes every byte that may not appear unencoded in a path
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
