//! `fastgw._core`: the thin `PyO3` binding over `gateway_core`. A request crosses into Rust once
//! (`Engine.admit`) plus the upstream response parser's `feed` calls.

mod access_log;
mod engine;
mod errors;
mod metrics;
mod upstream;
mod validation;

use pyo3::prelude::*;

/// Rust-side allocations only (Python objects use Python's allocator): see `Cargo.toml`.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[pymodule(gil_used = false)]
mod _core {
    use pyo3::prelude::*;

    #[pymodule_export]
    use crate::access_log::PyAccessLogSink;
    #[pymodule_export]
    use crate::engine::{
        PyCacheGenerations, PyCacheKey, PyCached, PyEngine, PyForward, PyReject, PyRequestIds, PyThrottle,
    };
    #[pymodule_export]
    use crate::errors::{RouteConfigError, UpstreamProtocolError};
    #[pymodule_export]
    use crate::metrics::PyMetrics;
    #[pymodule_export]
    use crate::upstream::{encode_chunk, normalize_path, PyResponseParser, PyUpstreamTarget};
    #[pymodule_export]
    use crate::validation::PyBodyValidator;

    #[pymodule_init]
    fn init(m: &Bound<'_, PyModule>) -> PyResult<()> {
        m.add("__version__", env!("CARGO_PKG_VERSION"))
    }
}
