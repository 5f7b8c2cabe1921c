//! Trace context for backends: W3C `traceparent` and AWS X-Ray `X-Amzn-Trace-Id`, kept when the client sent
//! them and created when it did not, always agreeing with each other.
//!
//! - A valid `traceparent` (version `00`, trace id and parent id not all zeros) wins: its trace id and
//!   sampled flag are kept, and the gateway's own span id becomes the parent the backend sees.
//! - Else a valid X-Ray `Root=1-xxxxxxxx-yyyyyyyyyyyyyyyyyyyyyyyy` gives the trace id (the 8 + 24 hex digits,
//!   the mapping X-Ray documents for W3C ids) and its `Sampled` flag.
//! - Else a new trace: 8 hex digits of the epoch seconds (so the id is a valid X-Ray root too) and the last
//!   24 of the request id (a random per-worker prefix, then the worker's request counter, so no two requests
//!   share one). The span id is the request id's last 16 digits: no second random draw.
//!
//! This runs per request inside `Engine.admit`, so it only slices and formats strings.

/// The two headers sent to the backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceHeaders {
    pub traceparent: String,
    pub xray: String,
}

fn is_hex(text: &str) -> bool {
    text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn not_all_zeros(text: &str) -> bool {
    text.bytes().any(|b| b != b'0')
}

/// `(trace id, sampled)` from a valid `traceparent`.
fn from_traceparent(value: &str) -> Option<(&str, bool)> {
    let mut parts = value.trim().split('-');
    let (version, trace, parent, flags) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let valid = version == "00"
        && parts.next().is_none()
        && trace.len() == 32
        && parent.len() == 16
        && flags.len() == 2
        && is_hex(trace)
        && is_hex(parent)
        && is_hex(flags)
        && not_all_zeros(trace)
        && not_all_zeros(parent);
    let sampled = u8::from_str_radix(flags, 16).ok()? & 1 == 1;
    valid.then_some((trace, sampled))
}

/// `(trace id, sampled)` from a valid X-Ray header (`Root=1-8hex-24hex;...;Sampled=1`).
fn from_xray(value: &str) -> Option<(String, Option<bool>)> {
    let mut trace = None;
    let mut sampled = None;
    for field in value.split(';') {
        let (key, val) = field.trim().split_once('=')?;
        match key {
            "Root" => {
                let mut parts = val.split('-');
                let (one, epoch, rest) = (parts.next()?, parts.next()?, parts.next()?);
                let id = format!("{epoch}{rest}");
                let valid = one == "1" && parts.next().is_none() && epoch.len() == 8 && rest.len() == 24;
                if !valid || !is_hex(&id) || !not_all_zeros(&id) {
                    return None;
                }
                trace = Some(id);
            }
            "Sampled" => sampled = Some(val == "1"),
            _ => {}
        }
    }
    trace.map(|id| (id, sampled))
}

/// The trace headers for one request. `request_hex` is 32 random hex digits (the request id without dashes);
/// `epoch_seconds` the current time.
pub fn propagate(traceparent: Option<&str>, xray: Option<&str>, request_hex: &str, epoch_seconds: u64) -> TraceHeaders {
    let span = request_hex.get(16..32).filter(|s| is_hex(s) && not_all_zeros(s)).unwrap_or("0000000000000001");
    let (trace, sampled) = match traceparent.and_then(from_traceparent) {
        Some((trace, sampled)) => (trace.to_owned(), sampled),
        None => {
            if let Some((trace, sampled)) = xray.and_then(from_xray) {
                (trace, sampled.unwrap_or(false))
            } else {
                let random = request_hex.get(8..32).unwrap_or("000000000000000000000001");
                (format!("{:08x}{random}", epoch_seconds & 0xffff_ffff), false)
            }
        }
    };
    let flags = if sampled { "01" } else { "00" };
    TraceHeaders {
        traceparent: format!("00-{trace}-{span}-{flags}"),
        xray: format!("Root=1-{}-{};Parent={span};Sampled={}", &trace[..8], &trace[8..], u8::from(sampled)),
    }
}

#[cfg(test)]
mod tests {
    use super::propagate;

    const REQUEST: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn creates_agreeing_headers_when_absent() {
        let headers = propagate(None, None, REQUEST, 0x6740_0000);
        assert_eq!(headers.traceparent, "00-6740000089abcdef0123456789abcdef-0123456789abcdef-00");
        assert_eq!(headers.xray, "Root=1-67400000-89abcdef0123456789abcdef;Parent=0123456789abcdef;Sampled=0");
    }

    #[test]
    fn keeps_a_valid_traceparent_and_becomes_its_parent() {
        let incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let headers = propagate(Some(incoming), Some("Root=1-11111111-222222222222222222222222"), REQUEST, 1);
        assert_eq!(headers.traceparent, "00-4bf92f3577b34da6a3ce929d0e0e4736-0123456789abcdef-01");
        assert_eq!(headers.xray, "Root=1-4bf92f35-77b34da6a3ce929d0e0e4736;Parent=0123456789abcdef;Sampled=1");
    }

    #[test]
    fn takes_the_xray_root_when_there_is_no_traceparent() {
        let xray = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
        let headers = propagate(Some("garbage"), Some(xray), REQUEST, 1);
        assert_eq!(headers.traceparent, "00-5759e988bd862e3fe1be46a994272793-0123456789abcdef-01");
    }

    #[test]
    fn refuses_invalid_ids() {
        for bad in [
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
        ] {
            let headers = propagate(Some(bad), None, REQUEST, 0x6740_0000);
            assert!(headers.traceparent.starts_with("00-67400000"), "{bad}");
        }
        let headers = propagate(None, Some("Root=2-5759e988-bd862e3fe1be46a994272793"), REQUEST, 0x6740_0000);
        assert!(headers.traceparent.starts_with("00-67400000"));
    }
}
