//! `fastgw._core.BodyValidator`: a REST request model compiled once at load; one call per request body.

use gateway_core::validation::BodyValidator;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

/// A request model (JSON Schema draft 4, `$ref`s local to the document), compiled once.
#[pyclass(frozen, name = "BodyValidator", module = "fastgw._core")]
pub struct PyBodyValidator(BodyValidator);

#[pymethods]
impl PyBodyValidator {
    #[new]
    fn new(schema_json: &str) -> PyResult<Self> {
        BodyValidator::from_json(schema_json).map(Self).map_err(|error| PyValueError::new_err(error.to_string()))
    }

    /// Whether `body` is JSON that the model accepts (an empty body is checked as `{}`).
    fn is_valid(&self, body: &[u8]) -> bool {
        self.0.is_valid(body)
    }

    /// Why `body` is refused, for logs, or `None` when it is valid.
    fn explain(&self, body: &[u8]) -> Option<String> {
        self.0.validate(body).err().map(|error| error.to_string())
    }
}
