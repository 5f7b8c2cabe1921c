//! `fastgw._core.AccessLogSink`: renders access-log lines in Rust and writes them from a thread of its own.

use gateway_core::access_log::{AccessLog, Destination, LogFormat, SlotKind, ValueRef};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyFloat, PyInt, PyString, PyTuple};

/// Values read onto the stack per line; a longer template takes one allocation.
const INLINE_VALUES: usize = 16;

/// `value` as the renderer takes it (borrowing a string's UTF-8 from Python), or `None` for a type written
/// through `str()` (which may run Python code: never while the line's buffer is locked).
// Inlined: returned through memory, the result stalled the loop on store forwarding (a quarter of `submit`'s
// time in a perf profile).
#[allow(clippy::inline_always)]
#[inline(always)]
fn read<'v>(value: &'v Bound<'_, PyAny>) -> PyResult<Option<ValueRef<'v>>> {
    // Type checks, not failed extractions: a failed extract builds a Python exception (~0.3 µs).
    Ok(Some(if value.is_none() {
        ValueRef::Absent
    } else if let Ok(text) = value.cast::<PyString>() {
        ValueRef::Text(text.to_str()?)
    } else if let Ok(number) = value.cast::<PyFloat>() {
        ValueRef::Float(number.value())
    } else if let (true, Ok(number)) = (value.is_instance_of::<PyInt>(), value.extract::<i64>()) {
        ValueRef::Int(number)
    } else {
        return Ok(None);
    }))
}

#[pyclass(frozen, name = "AccessLogSink", module = "fastgw._core")]
pub struct PyAccessLogSink {
    format: LogFormat,
    log: AccessLog,
}

#[pymethods]
impl PyAccessLogSink {
    /// `destination`: `"stdout"` or a file path (appended to). The template is `literals[0] value[0] literals[1]
    /// ...`; `kinds` per value: `"plain"`, `"clf_time"` (epoch seconds written as AWS's `requestTime`), `"raw"`
    /// (already JSON) or `"source_ip"` (a client's `host:port`, written as its host). `json`: values sit inside
    /// JSON strings. At most `capacity` lines wait for the writer.
    #[new]
    #[pyo3(signature = (destination, literals, kinds, json, capacity = 10_000))]
    fn new(
        destination: &str,
        literals: Vec<String>,
        kinds: Vec<String>,
        json: bool,
        capacity: usize,
    ) -> PyResult<Self> {
        if literals.len() != kinds.len() + 1 {
            return Err(PyValueError::new_err("literals must be one more than kinds"));
        }
        let slots = kinds
            .into_iter()
            .map(|kind| match kind.as_str() {
                "plain" => Ok(SlotKind::Plain),
                "clf_time" => Ok(SlotKind::ClfTime),
                "raw" => Ok(SlotKind::Raw),
                "source_ip" => Ok(SlotKind::SourceIp),
                other => Err(PyValueError::new_err(format!("unknown value kind {other:?}"))),
            })
            .collect::<PyResult<Vec<_>>>()?;
        let destination = if destination == "stdout" {
            Destination::Stdout
        } else {
            Destination::File(std::fs::OpenOptions::new().create(true).append(true).open(destination)?)
        };
        let log = AccessLog::start(destination, capacity)?;
        Ok(Self { format: LogFormat { literals, slots, json }, log })
    }

    /// Renders and queues one line from `values` (str, int, float or None each; anything else is written through
    /// `str()`); never blocks. `False` when the line was dropped (queue full).
    fn submit(&self, values: &Bound<'_, PyTuple>) -> PyResult<bool> {
        let (py, values) = (values.py(), values.as_slice());
        let mut inline = [ValueRef::Absent; INLINE_VALUES];
        let mut spilled = Vec::new();
        let read_values = if values.len() <= INLINE_VALUES {
            &mut inline[..values.len()]
        } else {
            spilled.resize(values.len(), ValueRef::Absent);
            &mut spilled[..]
        };
        for (slot, value) in read_values.iter_mut().zip(values) {
            let Some(read) = read(value)? else {
                return self.submit_through_str(py, values);
            };
            *slot = read;
        }
        let read_values = &*read_values;
        Ok(self.log.submit_with(|line| {
            self.format.render_into(line, |index| read_values.get(index).copied().unwrap_or(ValueRef::Absent));
        }))
    }

    #[getter]
    fn dropped(&self) -> u64 {
        self.log.dropped()
    }

    /// Writes what is queued and stops the writer thread.
    fn close(&self, py: Python<'_>) {
        py.detach(|| self.log.close());
    }
}

impl PyAccessLogSink {
    /// [`PyAccessLogSink::submit`] for values of other types (or ints beyond 64 bits): those are replaced by their
    /// `str()`.
    fn submit_through_str(&self, py: Python<'_>, values: &[Bound<'_, PyAny>]) -> PyResult<bool> {
        let mut written = Vec::with_capacity(values.len());
        for value in values {
            written.push(if read(value)?.is_some() { value.clone() } else { value.str()?.into_any() });
        }
        self.submit(&PyTuple::new(py, written)?)
    }
}
