//! `fastgw._core`: the thin PyO3 binding over `gateway_core`. A request crosses into Rust once
//! (`Engine.admit`) plus the upstream response parser's `feed` calls.

mod engine;
mod errors;

use pyo3::prelude::*;

#[pymodule(gil_used = false)]
mod _core {
    use pyo3::prelude::*;

    #[pymodule_export]
    use crate::engine::{PyEngine, PyForward, PyReject};
    #[pymodule_export]
    use crate::errors::RouteConfigError;

    #[pymodule_init]
    fn init(m: &Bound<'_, PyModule>) -> PyResult<()> {
        m.add("__version__", env!("CARGO_PKG_VERSION"))
    }
}
