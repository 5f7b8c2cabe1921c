//! Path encoding and query decoding (`gateway_core::paths`), on any text.
//!
//! Asserted, for every input:
//! - `encode_path` gives only RFC 3986 path characters (unreserved, sub-delims, `:`, `@`, `/`) and `%XX` with
//!   upper-case hex; percent-decoding it gives back the input's bytes exactly; it borrows exactly when the input
//!   needed no encoding; encoding twice only encodes the `%`s again (no byte is skipped or merged);
//! - `decode_query_component` never panics, borrows exactly when there is no `%` or `+`, and agrees with a plain
//!   reference decoder (`+` is a space, `%XX` a byte, any other `%` stays, then UTF-8 with U+FFFD);
//! - `query_values` never panics and gives, in order, the decoded values of the pairs whose decoded name is asked;
//! - `normalize_path` (dot-segment removal before routing, issue 18 items 2 and 13) refuses exactly the paths
//!   with U+FFFD, and for an absolute path gives what RFC 3986 §5.2.4's own algorithm gives (a reference
//!   implementation below, written from the RFC's steps): no `.` or `..` segment is left, the result is absolute,
//!   it borrows exactly when there was nothing to remove, and normalizing again changes nothing;
//! - `is_valid_host` never panics, and a host it accepts has no byte that could end a header or add an element
//!   to a structured one unquoted (no control character, space, `/`, `@`, `?`, `#`, `"` or `\\`).

#![no_main]

use std::borrow::Cow;

use gateway_core::paths::{
    decode_query_component, encode_path, is_valid_host, normalize_path, query_values, remove_dot_segments, PathError,
};
use gateway_core_fuzz::known;
use libfuzzer_sys::fuzz_target;

fn is_path_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/".contains(&b)
}

fn hex(b: u8) -> Option<u8> {
    char::from(b).to_digit(16).map(|d| d as u8)
}

/// Percent-decoding; panics on a `%` not followed by two hex digits (`encode_path` never writes one).
fn percent_decode(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let high = bytes.get(i + 1).copied().and_then(hex).expect("a '%' without two hex digits");
            let low = bytes.get(i + 2).copied().and_then(hex).expect("a '%' without two hex digits");
            out.push(high << 4 | low);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

fn reference_query_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped =
            (bytes[i] == b'%').then(|| Some(hex(*bytes.get(i + 1)?)? << 4 | hex(*bytes.get(i + 2)?)?)).flatten();
        if let Some(byte) = escaped {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// RFC 3986 §5.2.4, step by step on an input buffer, as the RFC writes it.
fn reference_remove_dot_segments(path: &str) -> String {
    let mut input = path.to_owned();
    let mut output = String::new();
    while !input.is_empty() {
        if let Some(rest) = input.strip_prefix("../").or_else(|| input.strip_prefix("./")) {
            input = rest.to_owned(); // A
        } else if input.starts_with("/./") || input == "/." {
            input = format!("/{}", &input[input.len().min(3)..]); // B
        } else if input.starts_with("/../") || input == "/.." {
            input = format!("/{}", &input[input.len().min(4)..]); // C
            output.truncate(output.rfind('/').unwrap_or(0));
        } else if input == "." || input == ".." {
            input.clear(); // D
        } else {
            // E: the first segment, with its leading `/`, moves to the output.
            let end = input[1..].find('/').map_or(input.len(), |i| i + 1);
            output.push_str(&input[..end]);
            input.drain(..end);
        }
    }
    output
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let text = text.as_ref();

    let encoded = encode_path(text);
    let bytes = encoded.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'%' {
            let pair = bytes.get(i + 1..i + 3).unwrap_or_default();
            assert!(
                pair.len() == 2 && pair.iter().all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(b)),
                "a '%' without two upper-case hex digits in {encoded:?}"
            );
        } else {
            let in_escape = i >= 1 && bytes[i - 1] == b'%' || i >= 2 && bytes[i - 2] == b'%';
            assert!(in_escape || is_path_char(b), "byte {b:#04x} left unencoded in {encoded:?}");
        }
    }
    assert_eq!(percent_decode(&encoded), text.as_bytes(), "decoding {encoded:?} does not give the input back");
    let needs_encoding = !text.bytes().all(is_path_char);
    assert_eq!(matches!(encoded, Cow::Owned(_)), needs_encoding, "borrowed/owned is wrong for {text:?}");
    let twice = encode_path(&encoded);
    assert_eq!(twice.as_ref(), encoded.replace('%', "%25"), "encoding {encoded:?} again");

    let decoded = decode_query_component(text);
    assert_eq!(decoded.as_ref(), reference_query_decode(text), "decode_query_component({text:?})");
    assert_eq!(matches!(decoded, Cow::Borrowed(_)), !text.contains(['%', '+']), "borrowed/owned for {text:?}");

    // A name taken from the text itself, so that it is found now and then.
    let name = text.split(['&', '=']).nth(1).map(decode_query_component).unwrap_or_default();
    let values: Vec<Cow<'_, str>> = query_values(text, &name).collect();
    let expected: Vec<String> = text
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
        .filter(|(key, _)| reference_query_decode(key) == name.as_ref())
        .map(|(_, value)| reference_query_decode(value))
        .collect();
    assert_eq!(values, expected, "query_values({text:?}, {name:?})");

    match normalize_path(text) {
        Err(PathError::NotUtf8) => assert!(text.contains('\u{fffd}'), "{text:?} refused"),
        Ok(normalized) => {
            assert!(!text.contains('\u{fffd}'), "{text:?} with U+FFFD accepted");
            let has_dots = text.split('/').any(|segment| segment == "." || segment == "..");
            assert_eq!(matches!(normalized, Cow::Owned(_)), has_dots, "borrowed/owned for {text:?}");
            assert!(!normalized.split('/').any(|s| s == "." || s == ".."), "{text:?} -> {normalized:?}");
            assert_eq!(normalize_path(&normalized).ok().as_deref(), Some(normalized.as_ref()), "not idempotent");
            if text.starts_with('/') {
                assert!(normalized.starts_with('/'), "{text:?} -> {normalized:?} is not absolute");
                assert_eq!(normalized, reference_remove_dot_segments(text), "{text:?}");
            }
        }
    }
    let _ = remove_dot_segments(text);

    // Known finding `path_encoding.ipvfuture_host`: any `[v...]` passes as an IP literal.
    let ipvfuture = text.starts_with("[v") || text.starts_with("[V");
    if is_valid_host(text) && !(ipvfuture && known("path_encoding.ipvfuture_host")) {
        assert!(
            !text.bytes().any(|b| !(0x21..0x7f).contains(&b) || b"/@?#\"\\".contains(&b)),
            "host {text:?} accepted"
        );
    }
});
