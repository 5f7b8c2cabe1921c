//! Access-log lines, rendered on the request's thread in a few hundred nanoseconds and written by a thread of
//! their own, so that a line never waits for the disk or stdout and never holds Python's interpreter.
//!
//! A template is compiled (in Python, which knows the `$context` variables) into literals and value slots;
//! per request the data plane hands over the values and [`AccessLog::submit`] renders the line and queues it.
//! The queue is bounded: when the writer falls behind, lines are dropped and counted, memory never grows.

use std::fmt::Write as _;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// How a value slot is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotKind {
    /// As given (text escaped, numbers as written).
    Plain,
    /// Epoch seconds as AWS's `requestTime`: `dd/MMM/yyyy:HH:mm:ss +0000` (UTC).
    ClfTime,
    /// Already JSON (a quoted string): not escaped.
    Raw,
    /// A client address, `host:port` or `[v6 host]:port`, written as its host (`-` when it has none).
    SourceIp,
}

/// One value of a request.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Absent,
    Text(String),
    Int(i64),
    Float(f64),
}

/// A compiled template: `literals[0] slot[0] literals[1] ... literals[n]`.
#[derive(Debug, Clone)]
pub struct LogFormat {
    pub literals: Vec<String>,
    pub slots: Vec<SlotKind>,
    /// Values are written inside JSON strings (escape `"` and `\` too).
    pub json: bool,
}

/// A value borrowed from the caller, for [`LogFormat::render_with`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ValueRef<'v> {
    Absent,
    Text(&'v str),
    Int(i64),
    Float(f64),
}

impl LogFormat {
    /// The line for `values` (one per slot), without the newline.
    pub fn render(&self, values: &[Value]) -> String {
        self.render_with(|index| match values.get(index) {
            None | Some(Value::Absent) => ValueRef::Absent,
            Some(Value::Text(text)) => ValueRef::Text(text),
            Some(Value::Int(number)) => ValueRef::Int(*number),
            Some(Value::Float(number)) => ValueRef::Float(*number),
        })
    }

    /// The line with slot `i`'s value from `value(i)`: the caller's values are written without copies.
    pub fn render_with<'v>(&self, value: impl FnMut(usize) -> ValueRef<'v>) -> String {
        let mut line = String::with_capacity(256);
        self.render_into(&mut line, value);
        line
    }

    /// Appends the line (without the newline) to `line`.
    pub fn render_into<'v>(&self, line: &mut String, mut value: impl FnMut(usize) -> ValueRef<'v>) {
        for (index, literal) in self.literals.iter().enumerate() {
            line.push_str(literal);
            let Some(kind) = self.slots.get(index) else {
                continue;
            };
            match (kind, value(index)) {
                (_, ValueRef::Absent) => line.push('-'),
                (SlotKind::ClfTime, ValueRef::Float(seconds)) => clf_time(line, seconds),
                (SlotKind::Raw, ValueRef::Text(text)) => line.push_str(text),
                (SlotKind::SourceIp, ValueRef::Text(address)) => match source_ip(address) {
                    "" => line.push('-'),
                    host => escape(line, host, self.json),
                },
                (_, ValueRef::Text(text)) => escape(line, text, self.json),
                (_, ValueRef::Int(number)) => line.push_str(itoa::Buffer::new().format(number)),
                (_, ValueRef::Float(number)) => {
                    let _ = write!(line, "{number}");
                }
            }
        }
    }
}

/// The host of `host:port` or `[host]:port` (as Python's `rpartition(':')[0].strip('[]')`); empty without a port.
fn source_ip(address: &str) -> &str {
    address.rsplit_once(':').map_or("", |(host, _)| host.trim_matches(['[', ']']))
}

/// Per byte: 1 when it is escaped in every line (control characters), 2 when only in JSON (`"` and `\`).
const ESCAPED: [u8; 256] = {
    let mut table = [0; 256];
    let mut byte = 0;
    while byte < 0x20 {
        table[byte] = 1;
        byte += 1;
    }
    table[0x7f] = 1;
    table[b'"' as usize] = 2;
    table[b'\\' as usize] = 2;
    table
};

/// Control characters as JSON escapes (a value never breaks its line); in JSON also `"` and `\`.
fn escape(out: &mut String, text: &str, json: bool) {
    // One branch-free pass over the bytes: most values need no escape at all.
    let escaped = text.bytes().fold(0, |found, b| found | ESCAPED[usize::from(b)]);
    if escaped & if json { 3 } else { 1 } == 0 {
        out.push_str(text);
        return;
    }
    for c in text.chars() {
        match c {
            '"' | '\\' if json => {
                out.push('\\');
                out.push(c);
            }
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
}

const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

thread_local! {
    /// The last second formatted on this thread: a busy gateway logs many requests per second.
    static LAST_CLF_TIME: std::cell::RefCell<(i64, String)> = const { std::cell::RefCell::new((-1, String::new())) };
}

/// `dd/MMM/yyyy:HH:mm:ss +0000` from epoch seconds (UTC), formatted once per second.
fn clf_time(out: &mut String, seconds: f64) {
    #[allow(clippy::cast_possible_wrap, clippy::cast_sign_loss)]
    let total = seconds.max(0.0) as i64;
    LAST_CLF_TIME.with(|last| {
        let mut last = last.borrow_mut();
        if last.0 != total {
            last.1.clear();
            format_clf_time(&mut last.1, total);
            last.0 = total;
        }
        out.push_str(&last.1);
    });
}

/// The CLF time of `total` epoch seconds (days to civil date after Howard Hinnant's algorithm).
fn format_clf_time(out: &mut String, total: i64) {
    let (days, rest) = (total.div_euclid(86_400), total.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    #[allow(clippy::cast_sign_loss)]
    let month_name = MONTHS[(month - 1) as usize];
    let _ = write!(out, "{day:02}/{month_name}/{year}:{:02}:{:02}:{:02} +0000", rest / 3600, rest / 60 % 60, rest % 60);
}

/// Where lines go.
pub enum Destination {
    Stdout,
    File(std::fs::File),
}

/// Lines waiting in one buffer (bounded in bytes) and the thread that writes them.
///
/// A request renders its line straight into the buffer under a short lock: no allocation per line and no
/// hand-over of memory between threads. Every 50 ms the writer swaps the buffer for an empty one and writes
/// what it took in one go; it is never woken by a request.
pub struct AccessLog {
    pending: Arc<Mutex<String>>,
    capacity_bytes: usize,
    stop: Arc<AtomicBool>,
    writer: Mutex<Option<JoinHandle<()>>>,
    dropped: AtomicU64,
}

impl std::fmt::Debug for AccessLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessLog").field("dropped", &self.dropped.load(Ordering::Relaxed)).finish_non_exhaustive()
    }
}

/// Bytes of pending lines allowed per line of capacity.
const BYTES_PER_LINE: usize = 512;

impl AccessLog {
    /// Starts the writer thread; about `capacity` lines (`capacity` × 512 bytes) may wait for it.
    pub fn start(destination: Destination, capacity: usize) -> io::Result<Self> {
        let capacity_bytes = capacity.max(1) * BYTES_PER_LINE;
        let pending = Arc::new(Mutex::new(String::with_capacity(capacity_bytes.min(1 << 20))));
        let stop = Arc::new(AtomicBool::new(false));
        let (queue, stopping) = (Arc::clone(&pending), Arc::clone(&stop));
        let writer = std::thread::Builder::new()
            .name("fastgw-access-log".into())
            .spawn(move || write_lines(&queue, &stopping, destination))?;
        Ok(Self { pending, capacity_bytes, stop, writer: Mutex::new(Some(writer)), dropped: AtomicU64::new(0) })
    }

    /// Renders a line into the buffer with `render`; `false` (and counted) when the buffer is full or the log
    /// closed. Never blocks on I/O.
    pub fn submit_with(&self, render: impl FnOnce(&mut String)) -> bool {
        let mut pending = self.pending.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if pending.len() >= self.capacity_bytes || self.stop.load(Ordering::Relaxed) {
            drop(pending);
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        render(&mut pending);
        pending.push('\n');
        true
    }

    /// Queues a rendered line (see [`AccessLog::submit_with`]).
    pub fn submit(&self, line: &str) -> bool {
        self.submit_with(|pending| pending.push_str(line))
    }

    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Writes what is pending and stops the writer.
    pub fn close(&self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(writer) = self.writer.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take() {
            let _ = writer.join();
        }
    }
}

impl Drop for AccessLog {
    fn drop(&mut self) {
        self.close();
    }
}

/// How often the writer thread writes.
const BATCH_INTERVAL: Duration = Duration::from_millis(50);

/// The writer thread: every 50 ms it takes the pending lines and writes them.
fn write_lines(pending: &Mutex<String>, stop: &AtomicBool, destination: Destination) {
    let mut sink: Box<dyn Write> = match destination {
        Destination::Stdout => Box::new(io::stdout()),
        Destination::File(file) => Box::new(file),
    };
    let mut taken = String::new();
    loop {
        let stopping = stop.load(Ordering::Relaxed);
        std::mem::swap(&mut taken, &mut pending.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
        if !taken.is_empty() {
            let _ = sink.write_all(taken.as_bytes());
            let _ = sink.flush();
            taken.clear();
        }
        if stopping {
            return;
        }
        std::thread::sleep(BATCH_INTERVAL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_json_and_text_with_escapes_and_absent_values() {
        let format = LogFormat {
            literals: vec!["{\"a\":\"".into(), "\",\"b\":\"".into(), "\",\"t\":\"".into(), "\"}".into()],
            slots: vec![SlotKind::Plain, SlotKind::Plain, SlotKind::ClfTime],
            json: true,
        };
        let line = format.render(&[Value::Text("x\"y\n".into()), Value::Absent, Value::Float(1_763_769_600.5)]);
        assert_eq!(line, r#"{"a":"x\"y\n","b":"-","t":"22/Nov/2025:00:00:00 +0000"}"#);
        let text = LogFormat {
            literals: vec![String::new(), " ".into(), String::new()],
            slots: vec![SlotKind::Plain; 2],
            json: false,
        };
        assert_eq!(text.render(&[Value::Int(200), Value::Text("a\"b".into())]), "200 a\"b");
    }

    #[test]
    fn source_ips_and_numbers() {
        let format = LogFormat {
            literals: vec![String::new(), " ".into(), " ".into(), String::new()],
            slots: vec![SlotKind::SourceIp, SlotKind::Plain, SlotKind::Plain],
            json: false,
        };
        for (address, expected) in [
            ("203.0.113.9:50123", "203.0.113.9 -42 1.5"),
            ("[2001:db8::1]:443", "2001:db8::1 -42 1.5"),
            ("no-port", "- -42 1.5"),
            ("", "- -42 1.5"),
        ] {
            let values = [Value::Text(address.into()), Value::Int(-42), Value::Float(1.5)];
            assert_eq!(format.render(&values), expected, "{address}");
        }
    }

    #[test]
    fn clf_dates() {
        for (seconds, expected) in [
            (0.0, "01/Jan/1970:00:00:00 +0000"),
            (951_782_400.0, "29/Feb/2000:00:00:00 +0000"),
            (1_798_761_599.0, "31/Dec/2026:23:59:59 +0000"),
        ] {
            let mut out = String::new();
            clf_time(&mut out, seconds);
            assert_eq!(out, expected);
        }
    }

    #[test]
    fn a_full_queue_drops_and_counts() {
        let path = std::env::temp_dir().join(format!("fastgw-access-{}.log", std::process::id()));
        let file = std::fs::File::create(&path).unwrap();
        let log = AccessLog::start(Destination::File(file), 1).unwrap();
        let mut sent = 0;
        for i in 0..10_000 {
            sent += u64::from(log.submit(&format!("line {i}")));
        }
        log.close();
        assert_eq!(sent + log.dropped(), 10_000);
        let written = std::fs::read_to_string(&path).unwrap();
        assert_eq!(written.lines().count() as u64, sent);
        let _ = std::fs::remove_file(path);
    }
}
