//! The upstream request-head writer: `gateway_core::http1::RequestHeadWriter` and
//! `gateway_core::ProxyTarget::write_head`, with fuzzer-chosen method, target, host, client headers, mapped
//! headers, client facts and body framing.
//!
//! Asserted, for every input (issue 18, items 1, 6 and 7: the writer is the last line before the backend):
//! - a method that is not a token, or a target that is not an origin-form path and query of RFC 3986
//!   characters, is refused (`HeadError`), and so is a value below; nothing else is;
//! - otherwise the head parses as ONE complete HTTP/1.1 request (httparse), with no byte after it, and its
//!   method and target are the ones given (`/` for an empty target, a `%` that starts no escape as `%25`);
//! - no header name or value holds CR, LF or NUL, every name is a token and every value a field-value (client
//!   and mapped fields that are not valid are dropped);
//! - exactly one `Host`, the integration's;
//! - the framing matches the body argument: nothing for `Empty`, one `Content-Length: n` for `Length(n)`, one
//!   `Transfer-Encoding: chunked` for `Chunked`, never both.
//!
//! - the values the gateway writes itself (the backend's host, the API id, the client's address, scheme, port and
//!   `Host`, chosen or checked before the writer) are refused when they are not valid (`HeadError::Value`), as a
//!   second line.

#![no_main]

use std::borrow::Cow;

use arbitrary::Arbitrary;
use gateway_core::http1::{ClientInfo, HeadError, HeaderRules, RequestBody, RequestHeadWriter};
use gateway_core::paths::is_valid_host;
use gateway_core::ProxyTarget;
use gateway_core_fuzz::{is_field_value, is_token, is_uri_byte};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
enum Body {
    Empty,
    Length(u64),
    Chunked,
}

#[derive(Debug, Arbitrary)]
struct Input<'a> {
    rules: u8,
    /// Through `ProxyTarget::write_head` (with mapped headers replacing the client's) or the writer itself.
    through_proxy_target: bool,
    method: &'a str,
    /// A proxy target's own `httpMethod` (not `ANY`), which replaces the client's.
    fixed_method: Option<&'a str>,
    target: &'a str,
    host: &'a str,
    api_id: &'a str,
    client_ip: &'a str,
    client_proto: &'a str,
    client_port: &'a str,
    client_host: &'a str,
    headers: Vec<(&'a str, &'a str)>,
    mapped: Vec<(&'a str, &'a str)>,
    body: Body,
}

/// The head, or the writer's refusal.
fn write(input: &Input<'_>, rules: HeaderRules, body: RequestBody) -> Result<Vec<u8>, HeadError> {
    let client =
        ClientInfo { ip: input.client_ip, proto: input.client_proto, port: input.client_port, host: input.client_host };
    if input.through_proxy_target {
        let proxy =
            ProxyTarget::new(input.host, rules, input.api_id, "/", input.fixed_method.map(str::to_owned), "", false);
        let mapped: Vec<(&str, Cow<'_, str>)> = input.mapped.iter().map(|(n, v)| (*n, Cow::Borrowed(*v))).collect();
        proxy.write_head(input.method, input.target, input.headers.iter().copied(), &mapped, &client, body)
    } else {
        let mut writer = RequestHeadWriter::new(input.method, input.target, input.host, rules, input.api_id);
        writer.headers(input.headers.iter().copied());
        for (name, value) in &input.mapped {
            writer.mapped_header(name, value);
        }
        writer.finish(&client, body)
    }
}

/// An origin-form target (RFC 9112 §3.2.1: an absolute path and a query) of RFC 3986 characters only.
fn is_origin_form(target: &str) -> bool {
    target.starts_with('/') && target.bytes().all(|b| is_uri_byte(b) && !b"#[]".contains(&b))
}

/// The target as the writer writes it: a `%` that does not start an escape is `%25`.
fn escaped_target(target: &str) -> String {
    let bytes = target.as_bytes();
    let mut out = String::with_capacity(target.len());
    for (i, c) in target.char_indices() {
        let escape = bytes.get(i + 1..i + 3).is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit));
        if c == '%' && !escape {
            out.push_str("%25");
        } else {
            out.push(c);
        }
    }
    out
}

/// A `host[:port]` (RFC 3986 §3.2.2): what an integration URI gives. `paths::is_valid_host` decides, checked on its
/// own by the `path_encoding` target; here only a first line of bytes that may never pass is added.
fn is_host(host: &str) -> bool {
    is_valid_host(host) && host.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:[]%".contains(&b))
}

fuzz_target!(|input: Input<'_>| {
    let rules = match input.rules % 3 {
        0 => HeaderRules::RestProxy,
        1 => HeaderRules::RestNonProxy,
        _ => HeaderRules::HttpApiProxy,
    };
    let body = match input.body {
        Body::Empty => RequestBody::Empty,
        Body::Length(n) => RequestBody::Length(n),
        Body::Chunked => RequestBody::Chunked,
    };
    let method = if input.through_proxy_target { input.fixed_method.unwrap_or(input.method) } else { input.method };
    let target = if input.target.is_empty() { "/" } else { input.target };
    // The writer refuses a target that is not origin-form RFC 3986 (item 1), then a method that is not a token,
    // then a value it writes itself that is not one (the backend's host, the API id, the client's address,
    // scheme, port and Host); it drops client and mapped header fields that are not valid, and nothing else.
    let own_values = [input.api_id, input.client_ip, input.client_proto, input.client_port, input.client_host];
    let refusal = if !is_origin_form(target) {
        Some(HeadError::Target)
    } else if !is_token(method) {
        Some(HeadError::Method)
    } else if !is_host(input.host) || !own_values.iter().all(|v| is_field_value(v)) {
        Some(HeadError::Value)
    } else {
        None
    };
    let head = match (write(&input, rules, body), refusal) {
        (Ok(head), None) => head,
        (Err(error), Some(expected)) => {
            assert_eq!(error, expected, "refused for the wrong reason: {method:?} {target:?}");
            return;
        }
        (Err(error), None) => panic!("a valid request was refused ({error}): {method:?} {target:?}"),
        (Ok(head), Some(expected)) => {
            panic!("not refused ({expected}): {method:?} {target:?}: {:?}", String::from_utf8_lossy(&head))
        }
    };

    let mut raw = vec![httparse::EMPTY_HEADER; input.headers.len() + input.mapped.len() + 16];
    let mut request = httparse::Request::new(&mut raw);
    let parsed = request.parse(&head);
    let show = || String::from_utf8_lossy(&head).into_owned();
    assert!(
        matches!(parsed, Ok(httparse::Status::Complete(n)) if n == head.len()),
        "not one complete request ({parsed:?} of {} bytes): {:?}",
        head.len(),
        show()
    );
    assert_eq!(request.version, Some(1), "not HTTP/1.1: {:?}", show());
    assert_eq!(request.method, Some(method), "the method changed: {:?}", show());
    assert_eq!(request.path, Some(escaped_target(target).as_str()), "the target changed: {:?}", show());

    let (mut hosts, mut lengths, mut encodings) = (Vec::new(), Vec::new(), Vec::new());
    for header in request.headers.iter() {
        let value = std::str::from_utf8(header.value).unwrap_or("\u{fffd}");
        assert!(
            !header.name.bytes().chain(header.value.iter().copied()).any(|b| matches!(b, b'\r' | b'\n' | 0)),
            "CR, LF or NUL in {:?}: {value:?}",
            header.name
        );
        assert!(is_token(header.name), "header name {:?} is not a token", header.name);
        assert!(is_field_value(value), "control character in {}: {value:?}", header.name);
        if header.name.eq_ignore_ascii_case("host") {
            hosts.push(value);
        } else if header.name.eq_ignore_ascii_case("content-length") {
            lengths.push(value);
        } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
            encodings.push(value);
        }
    }
    assert_eq!(hosts, [input.host], "not exactly one Host, the integration's");
    match body {
        RequestBody::Empty => assert!(lengths.is_empty() && encodings.is_empty(), "framing on an empty body"),
        RequestBody::Length(n) => {
            assert_eq!(lengths, [n.to_string().as_str()], "not one Content-Length: {n}");
            assert!(encodings.is_empty(), "Transfer-Encoding beside Content-Length");
        }
        RequestBody::Chunked => {
            assert_eq!(encodings, ["chunked"], "not one Transfer-Encoding: chunked");
            assert!(lengths.is_empty(), "Content-Length beside Transfer-Encoding");
        }
    }
});
