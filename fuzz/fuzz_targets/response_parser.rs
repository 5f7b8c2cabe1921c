//! The upstream HTTP/1 response parser (`gateway_core::http1::ResponseParser`), fed what a backend could send.
//!
//! Input: an 8-byte header, then the bytes of the response (so seeds are readable and the dictionary's
//! tokens land in the message):
//! `[rules, flags, max_head lo, max_head hi, split seed x4]`, `flags & 1`: the request was `HEAD`.
//!
//! Asserted, for every input:
//! - the same bytes fed whole, and cut into pieces at points chosen from the seed (empty pieces included),
//!   give the same head, body, `done`, `finish()` result and reuse of the connection (keep-alive and
//!   `is_reusable()`), or the same error (from `feed`, or from `finish()` for a partial head kept unparsed
//!   until a line feed): where a backend's reads are cut never changes what the client gets;
//! - the decoded body is never longer than the input, is empty for `HEAD` (and 204/304), and is exactly
//!   `Content-Length` long when a length-framed response is done;
//! - a response head (the final one, after any interim 1xx) longer than `max_head` is `HeadTooLarge`, fed
//!   whole or in pieces;
//! - nothing panics (libFuzzer reports a panic as a crash).
//!
//! Known findings (see `fuzz/known-findings`; none open): `response_parser.limit_error_kind` skips inputs whose head
//! does not end within `max_head` bytes; `response_parser.long_line` skips inputs with a line over 4096 bytes after
//! the head.

#![no_main]

use gateway_core::http1::{HeaderRules, ParseError, ResponseHead, ResponseParser};
use gateway_core_fuzz::known;
use libfuzzer_sys::fuzz_target;

const HEADER: usize = 8;

#[derive(Debug, Default, PartialEq, Eq)]
struct Outcome {
    head: Option<ResponseHead>,
    body: Vec<u8>,
    done: bool,
    error: Option<ParseError>,
    /// What `finish()` (the connection closed) says after the last piece, when no piece failed.
    finish: Option<Result<(), ParseError>>,
    /// The connection may carry the next exchange: the head allows keep-alive and `is_reusable()` (nothing came
    /// after the response). The head's own `keep_alive` is compared as this: it is turned off by bytes after the
    /// response only when they arrive in the same read, and `is_reusable()` says it for the other reads.
    reuse: bool,
}

impl Outcome {
    /// The error of a `feed`, else of `finish()`.
    fn failure(&self) -> Option<ParseError> {
        self.error.clone().or_else(|| self.finish.clone().and_then(Result::err))
    }
}

fn run(rules: HeaderRules, head_request: bool, max_head: usize, pieces: &[&[u8]]) -> Outcome {
    let mut parser = ResponseParser::new(rules, head_request, max_head);
    let mut outcome = Outcome::default();
    for piece in pieces {
        match parser.feed(piece) {
            Ok(progress) => {
                if let Some(head) = progress.head {
                    assert!(outcome.head.is_none(), "the head was reported twice");
                    outcome.head = Some(head);
                }
                assert!(!outcome.done || progress.done, "a done response became not done");
                assert_eq!(progress.done, parser.is_done());
                assert!(progress.body.is_empty() || parser.head_seen(), "body bytes before the head");
                outcome.body.extend(progress.body);
                outcome.done = progress.done;
            }
            Err(error) => {
                outcome.error = Some(error);
                return outcome;
            }
        }
    }
    let reusable = parser.is_reusable();
    if let Some(head) = &mut outcome.head {
        outcome.reuse = head.keep_alive && reusable;
        head.keep_alive = false;
    }
    outcome.finish = Some(parser.finish());
    outcome
}

/// The length of the final response head in `data` (interim 1xx heads, which the parser skips, included),
/// as httparse sees it; `None` when the head is not complete or not HTTP.
fn head_length(data: &[u8]) -> Option<usize> {
    let mut offset = 0;
    loop {
        let mut raw = [httparse::EMPTY_HEADER; 128];
        let mut response = httparse::Response::new(&mut raw);
        let Ok(httparse::Status::Complete(consumed)) = response.parse(&data[offset..]) else { return None };
        offset += consumed;
        let status = response.code.unwrap_or(0);
        if !((100..200).contains(&status) && status != 101) {
            return Some(offset);
        }
    }
}

/// Cut points from a seed (xorshift), sorted; repeats give empty pieces.
fn pieces(data: &[u8], mut seed: u32) -> Vec<&[u8]> {
    if data.is_empty() {
        return vec![data];
    }
    let count = (seed % 7) as usize;
    let mut cuts: Vec<usize> = (0..count)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed as usize % (data.len() + 1)
        })
        .collect();
    cuts.sort_unstable();
    let mut out = Vec::with_capacity(count + 1);
    let mut start = 0;
    for cut in cuts {
        out.push(&data[start..cut]);
        start = cut;
    }
    out.push(&data[start..]);
    out
}

fuzz_target!(|input: &[u8]| {
    if input.len() < HEADER {
        return;
    }
    let rules = match input[0] % 3 {
        0 => HeaderRules::RestProxy,
        1 => HeaderRules::RestNonProxy,
        _ => HeaderRules::HttpApiProxy,
    };
    let head_request = input[1] & 1 == 1;
    // Small limits too, so that the limit is reached often.
    let max_head = usize::from(u16::from_le_bytes([input[2], input[3]]) % 4096);
    let seed = u32::from_le_bytes([input[4], input[5], input[6], input[7]]) | 1;
    let data = &input[HEADER..];
    let head = head_length(data);
    let head_fits = head.is_some_and(|length| length <= max_head);
    if known("response_parser.limit_error_kind") && data.len() > max_head && !head_fits {
        return;
    }
    if known("response_parser.long_line")
        && data[head.unwrap_or(data.len())..].split(|b| *b == b'\n').any(|line| line.len() > 4096)
    {
        return;
    }

    let whole = run(rules, head_request, max_head, &[data]);
    let split = pieces(data, seed);
    let in_pieces = run(rules, head_request, max_head, &split);
    let byte_by_byte: Vec<&[u8]> = data.chunks(1).collect();
    let one_by_one = run(rules, head_request, max_head, &byte_by_byte);
    let cuts: Vec<usize> = split.iter().map(|p| p.len()).collect();
    for (other, how) in [(&in_pieces, format!("in pieces of {cuts:?}")), (&one_by_one, "byte by byte".to_owned())] {
        if whole.error.is_some() || other.error.is_some() {
            // A failed `feed` returns only the error: what came before it in the same call (the head, body
            // bytes) is not reported, so only the error itself can be compared. A partial head is parsed only
            // once a line feed comes (linear time for a head trickled a byte at a time), so a malformed one may
            // be reported by `finish()` instead of `feed`: the same failure, found when the connection closes.
            assert_eq!(whole.failure(), other.failure(), "fed whole vs {how}: {whole:?} / {other:?}");
        } else {
            assert_eq!(&whole, other, "fed whole vs {how}");
        }
    }

    assert!(whole.body.len() <= data.len(), "the body is longer than the input");
    if let Some(head) = &whole.head {
        if head_request || head.status == 204 || head.status == 304 {
            assert!(whole.body.is_empty(), "a body for HEAD, 204 or 304");
        }
        if let Some(length) = head.content_length {
            assert!(whole.body.len() as u64 <= length, "more body than Content-Length");
            if whole.done && !head_request && head.status != 204 && head.status != 304 {
                assert_eq!(whole.body.len() as u64, length, "done before Content-Length bytes");
            }
        }
    }
    if whole.done {
        assert_eq!(whole.finish, Some(Ok(())), "a done response is not complete at close");
    }
    match head {
        Some(length) if length > max_head => {
            assert_eq!(whole.error, Some(ParseError::HeadTooLarge), "a {length}-byte head, max_head {max_head}");
        }
        None if data.len() > max_head && whole.error.is_none() => {
            panic!("{} bytes without a complete head, max_head {max_head}, and no error", data.len());
        }
        _ => {}
    }
});
