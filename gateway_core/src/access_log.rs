//! Access-log lines, rendered on the request's thread in a few hundred nanoseconds and written by a thread of
//! their own, so that a line never waits for the disk or stdout and never holds Python's interpreter.
//!
//! A template is compiled (in Python, which knows the `$context` variables) into literals and value slots;
//! per request the data plane hands over the values and [`AccessLog::submit`] renders the line and queues it.
//! The queue is bounded: when the writer falls behind, lines are dropped and counted, memory never grows.

use std::fmt::Write as _;
use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TryRecvError, TrySendError};
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
    pub fn render_with<'v>(&self, mut value: impl FnMut(usize) -> ValueRef<'v>) -> String {
        let mut line = String::with_capacity(256);
        for (index, literal) in self.literals.iter().enumerate() {
            line.push_str(literal);
            let Some(kind) = self.slots.get(index) else {
                continue;
            };
            match (kind, value(index)) {
                (_, ValueRef::Absent) => line.push('-'),
                (SlotKind::ClfTime, ValueRef::Float(seconds)) => clf_time(&mut line, seconds),
                (SlotKind::Raw, ValueRef::Text(text)) => line.push_str(text),
                (_, ValueRef::Text(text)) => escape(&mut line, text, self.json),
                (_, ValueRef::Int(number)) => {
                    let _ = write!(line, "{number}");
                }
                (_, ValueRef::Float(number)) => {
                    let _ = write!(line, "{number}");
                }
            }
        }
        line
    }
}

/// Control characters as JSON escapes (a value never breaks its line); in JSON also `"` and `\`.
fn escape(out: &mut String, text: &str, json: bool) {
    if !text.bytes().any(|b| b < 0x20 || b == 0x7f || (json && (b == b'"' || b == b'\\'))) {
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

/// A bounded queue of lines and the thread that writes them.
pub struct AccessLog {
    sender: Mutex<Option<SyncSender<String>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    dropped: Arc<AtomicU64>,
}

impl std::fmt::Debug for AccessLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessLog").field("dropped", &self.dropped.load(Ordering::Relaxed)).finish_non_exhaustive()
    }
}

impl AccessLog {
    /// Starts the writer thread; at most `capacity` lines wait for it.
    pub fn start(destination: Destination, capacity: usize) -> io::Result<Self> {
        let (sender, receiver) = sync_channel(capacity.max(1));
        let writer = std::thread::Builder::new()
            .name("fastgw-access-log".into())
            .spawn(move || write_lines(&receiver, destination))?;
        Ok(Self {
            sender: Mutex::new(Some(sender)),
            writer: Mutex::new(Some(writer)),
            dropped: Arc::new(AtomicU64::new(0)),
        })
    }

    /// Queues a line; `false` (and counted) when the queue is full or the log closed. Never blocks.
    pub fn submit(&self, line: String) -> bool {
        let sender = self.sender.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let sent = match sender.as_ref() {
            Some(sender) => match sender.try_send(line) {
                Ok(()) => true,
                Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => false,
            },
            None => false,
        };
        if !sent {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        sent
    }

    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Writes what is queued and stops the writer.
    pub fn close(&self) {
        self.sender.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
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

/// The writer thread: every 50 ms it writes what has been queued, in one batch. It never blocks on the queue,
/// so a request that queues a line never wakes it (a wake-up per line would cost more than the line).
fn write_lines(receiver: &Receiver<String>, destination: Destination) {
    let sink: Box<dyn Write> = match destination {
        Destination::Stdout => Box::new(io::stdout()),
        Destination::File(file) => Box::new(file),
    };
    let mut out = io::BufWriter::with_capacity(64 * 1024, sink);
    loop {
        let mut open = true;
        loop {
            match receiver.try_recv() {
                Ok(line) => {
                    let _ = out.write_all(line.as_bytes());
                    let _ = out.write_all(b"\n");
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    open = false;
                    break;
                }
            }
        }
        let _ = out.flush();
        if !open {
            return;
        }
        std::thread::sleep(BATCH_INTERVAL);
    }
}

/// How often the writer thread writes.
const BATCH_INTERVAL: Duration = Duration::from_millis(50);

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
            sent += u64::from(log.submit(format!("line {i}")));
        }
        log.close();
        assert_eq!(sent + log.dropped(), 10_000);
        let written = std::fs::read_to_string(&path).unwrap();
        assert_eq!(written.lines().count() as u64, sent);
        let _ = std::fs::remove_file(path);
    }
}
