//! Helpers shared by the fuzz targets in `fuzz_targets/` (one binary each, run by `fuzz/run`).
//!
//! [`known`] lets a run step over a finding that is already reported and not fixed yet, so that the fuzzer
//! goes on looking for the next one instead of stopping at the same crash: `fuzz/run` sets `FUZZ_KNOWN` from
//! `fuzz/known-findings`. A target checks `known("target.name")` only where it would otherwise assert that
//! one finding's invariant, and then keeps its input inside what the finding needs fixed.

pub mod reference_router;
pub mod schema;

use std::sync::OnceLock;

/// Whether the finding `name` is listed in `FUZZ_KNOWN` (names separated by commas or whitespace).
pub fn known(name: &str) -> bool {
    static KNOWN: OnceLock<Vec<String>> = OnceLock::new();
    KNOWN
        .get_or_init(|| {
            std::env::var("FUZZ_KNOWN")
                .unwrap_or_default()
                .split(|c: char| c == ',' || c.is_whitespace())
                .filter(|name| !name.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .iter()
        .any(|listed| listed == name)
}

/// RFC 9110 `tchar`: the bytes of a method or a header name.
pub fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// RFC 9110 `token`: one or more `tchar`.
pub fn is_token(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(is_tchar)
}

/// The bytes RFC 3986 allows in a URI (unreserved, reserved and `%`), the only ones a request target may hold.
pub fn is_uri_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~:/?#[]@!$&'()*+,;=%".contains(&b)
}

/// A header value with no control character but HTAB (RFC 9110 `field-value`; obs-text allowed).
pub fn is_field_value(text: &str) -> bool {
    text.bytes().all(|b| b == b'\t' || (b >= 0x20 && b != 0x7f))
}

/// Whether `body` may hold the JSON number `-0` (an integer text that `serde_json` reads as the float `-0.0`):
/// `-0` not followed by a digit, `.`, `e` or `E`. Over-approximates (it does not skip strings).
pub fn has_negative_zero(body: &[u8]) -> bool {
    body.windows(2).enumerate().any(|(i, pair)| {
        pair == b"-0" && !body.get(i + 2).is_some_and(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E'))
    })
}

/// Whether `body` has a run of more than 300 digits: a number whose integer part may be beyond `f64`'s range
/// (about 1.8e308), which `serde_json` refuses as "number out of range".
pub fn has_huge_number(body: &[u8]) -> bool {
    body.split(|b| !b.is_ascii_digit()).any(|run| run.len() > 300)
}
