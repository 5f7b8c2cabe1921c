//! The upstream request-head writer: `gateway_core::http1::RequestHeadWriter` and
//! `gateway_core::ProxyTarget::write_head`, with fuzzer-chosen method, target, host, client headers, mapped
//! headers, client facts and body framing.
//!
//! Asserted, for every input (issue 18, items 1, 6 and 7: the writer is the last line before the backend):
//! - the head parses as ONE complete HTTP/1.1 request (httparse), with no byte after it;
//! - its method and target are the ones given (`/` for an empty target), and the target holds only RFC 3986
//!   bytes;
//! - no header name or value holds CR, LF or NUL, every name is a token and every value a field-value;
//! - exactly one `Host`, the integration's;
//! - the framing matches the body argument: nothing for `Empty`, one `Content-Length: n` for `Length(n)`, one
//!   `Transfer-Encoding: chunked` for `Chunked`, never both.
//!
//! The writer cannot refuse anything yet (it returns the bytes): [`write`] is where a refusal, once the writer
//! has one, becomes `None`, which is then accepted only for input that had to be refused.
//!
//! Known findings (see `fuzz/known-findings`) narrow the input instead of the assertions:
//! `request_head.method`, `.target`, `.host`, `.header_name`, `.header_value` (the client's
//! headers), `.mapped_name`, `.mapped_value` (mapped headers), `.client_host` (the client's `Host`),
//! `.client_info` (its address, scheme and port) and `.api_id` keep that part valid.

#![no_main]

use std::borrow::Cow;

use arbitrary::Arbitrary;
use gateway_core::http1::{ClientInfo, HeaderRules, RequestBody, RequestHeadWriter};
use gateway_core::ProxyTarget;
use gateway_core_fuzz::{is_field_value, is_token, is_uri_byte, known};
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

/// The head, or `None` when the writer refused the request (it has no way to yet).
#[allow(clippy::unnecessary_wraps)] // the writer's refusal goes here once it has one
fn write(input: &Input<'_>, rules: HeaderRules, body: RequestBody) -> Option<Vec<u8>> {
    let client =
        ClientInfo { ip: input.client_ip, proto: input.client_proto, port: input.client_port, host: input.client_host };
    if input.through_proxy_target {
        let proxy =
            ProxyTarget::new(input.host, rules, input.api_id, "/", input.fixed_method.map(str::to_owned), "", false);
        let mapped: Vec<(&str, Cow<'_, str>)> = input.mapped.iter().map(|(n, v)| (*n, Cow::Borrowed(*v))).collect();
        Some(proxy.write_head(input.method, input.target, input.headers.iter().copied(), &mapped, &client, body))
    } else {
        let mut writer = RequestHeadWriter::new(input.method, input.target, input.host, rules, input.api_id);
        for (name, value) in &input.headers {
            writer.header(name, value);
        }
        for (name, value) in &input.mapped {
            writer.mapped_header(name, value);
        }
        Some(writer.finish(&client, body))
    }
}

/// A header the writer already drops (and rightly): an empty name, or CR or LF in the name or value.
fn dropped(name: &str, value: &str) -> bool {
    name.is_empty() || name.contains(['\r', '\n']) || value.contains(['\r', '\n'])
}

/// A reg-name, IPv4 or bracketed IPv6 host with an optional port: what an integration URI gives.
fn is_host(host: &str) -> bool {
    !host.is_empty() && host.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:[]%".contains(&b))
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
    let server_values = [input.client_ip, input.client_proto, input.client_port];
    let valid = [
        ("request_head.method", is_token(method)),
        ("request_head.target", target.bytes().all(is_uri_byte)),
        ("request_head.host", is_host(input.host)),
        ("request_head.header_name", input.headers.iter().all(|(n, v)| dropped(n, v) || is_token(n))),
        ("request_head.header_value", input.headers.iter().all(|(n, v)| dropped(n, v) || is_field_value(v))),
        ("request_head.mapped_name", input.mapped.iter().all(|(n, v)| dropped(n, v) || is_token(n))),
        ("request_head.mapped_value", input.mapped.iter().all(|(n, v)| dropped(n, v) || is_field_value(v))),
        ("request_head.client_host", is_field_value(input.client_host)),
        ("request_head.client_info", server_values.iter().all(|v| is_field_value(v))),
        ("request_head.api_id", is_field_value(input.api_id)),
    ];
    // A known (reported, unfixed) finding: keep that part of the input valid and look for the next one.
    if valid.iter().any(|(finding, ok)| !ok && known(finding)) {
        return;
    }
    let must_refuse: Vec<&str> = valid.iter().filter(|(_, ok)| !ok).map(|(finding, _)| *finding).collect();

    let Some(head) = write(&input, rules, body) else {
        assert!(!must_refuse.is_empty(), "a valid request was refused");
        return;
    };

    let mut raw = vec![httparse::EMPTY_HEADER; input.headers.len() + input.mapped.len() + 16];
    let mut request = httparse::Request::new(&mut raw);
    let parsed = request.parse(&head);
    let show = || String::from_utf8_lossy(&head).into_owned();
    assert!(
        matches!(parsed, Ok(httparse::Status::Complete(n)) if n == head.len()),
        "{must_refuse:?}: not one complete request ({parsed:?} of {} bytes): {:?}",
        head.len(),
        show()
    );
    assert_eq!(request.version, Some(1), "{must_refuse:?}: not HTTP/1.1: {:?}", show());
    assert_eq!(request.method, Some(method), "{must_refuse:?}: the method changed: {:?}", show());
    assert_eq!(request.path, Some(target), "{must_refuse:?}: the target changed: {:?}", show());
    assert!(target.bytes().all(is_uri_byte), "{must_refuse:?}: a target byte outside RFC 3986: {:?}", show());

    let (mut hosts, mut lengths, mut encodings) = (Vec::new(), Vec::new(), Vec::new());
    for header in request.headers.iter() {
        let value = std::str::from_utf8(header.value).unwrap_or("\u{fffd}");
        assert!(
            !header.name.bytes().chain(header.value.iter().copied()).any(|b| matches!(b, b'\r' | b'\n' | 0)),
            "{must_refuse:?}: CR, LF or NUL in {:?}: {value:?}",
            header.name
        );
        assert!(is_token(header.name), "{must_refuse:?}: header name {:?} is not a token", header.name);
        assert!(is_field_value(value), "{must_refuse:?}: control character in {}: {value:?}", header.name);
        if header.name.eq_ignore_ascii_case("host") {
            hosts.push(value);
        } else if header.name.eq_ignore_ascii_case("content-length") {
            lengths.push(value);
        } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
            encodings.push(value);
        }
    }
    assert_eq!(hosts, [input.host], "{must_refuse:?}: not exactly one Host, the integration's");
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
