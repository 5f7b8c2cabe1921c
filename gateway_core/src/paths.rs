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

#[cfg(test)]
mod tests {
    use super::*;

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
