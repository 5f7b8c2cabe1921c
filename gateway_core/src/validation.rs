//! REST request body validation: a method's request model (a JSON Schema, draft 4 as on AWS),
//! compiled once at load into a [`BodyValidator`] and run against each request body.
//!
//! Models refer to each other with local `$ref`s (`#/definitions/Pet` in Swagger 2.0 exports,
//! `#/components/schemas/Pet` in `OpenAPI` 3). The caller hands [`BodyValidator::new`] one root
//! document that holds every model where those pointers lead, for example
//! `{"$ref": "#/definitions/Pet", "definitions": {"Pet": {...}, "Tag": {...}}}`. Nothing is ever
//! fetched: the `jsonschema` crate is built without its HTTP and file resolvers, so a `$ref` that
//! leaves the document is a load-time [`SchemaError`].

use std::fmt;

use jsonschema::{Draft, Validator};
use serde_json::Value;

/// A request model that cannot be compiled (not a draft 4 schema, or a `$ref` that does not
/// resolve). AWS refuses such a model at import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaError(pub String);

impl fmt::Display for SchemaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid model schema: {}", self.0)
    }
}

impl std::error::Error for SchemaError {}

/// Why a body was refused. Either way the client sees AWS's `400 {"message":"Invalid request body"}`;
/// the detail is for logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyError {
    /// The body is not JSON (serde's message).
    InvalidJson(String),
    /// The body is JSON that the model refuses (the first failing keyword and where).
    Invalid(String),
}

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidJson(detail) => write!(f, "body is not JSON: {detail}"),
            Self::Invalid(detail) => write!(f, "body does not match the model: {detail}"),
        }
    }
}

impl std::error::Error for BodyError {}

/// One compiled request model. Immutable and `Sync`: built once per route at load, shared by every
/// request.
pub struct BodyValidator {
    validator: Validator,
}

impl fmt::Debug for BodyValidator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BodyValidator").finish_non_exhaustive()
    }
}

impl BodyValidator {
    /// Compiles `schema` as JSON Schema draft 4, whatever its `$schema` says (AWS models are draft 4).
    pub fn new(schema: &Value) -> Result<Self, SchemaError> {
        jsonschema::options()
            .with_draft(Draft::Draft4)
            .build(schema)
            .map(|validator| Self { validator })
            .map_err(|error| SchemaError(error.to_string()))
    }

    /// Parses `schema_json`, then compiles it as [`BodyValidator::new`] does.
    pub fn from_json(schema_json: &str) -> Result<Self, SchemaError> {
        let schema: Value = serde_json::from_str(schema_json).map_err(|error| SchemaError(error.to_string()))?;
        Self::new(&schema)
    }

    /// Parses `body` as JSON and checks it against the model. An empty (or all-whitespace) body is
    /// checked as `{}`, as `LocalStack` does: a model with required properties refuses it, the
    /// `Empty` model accepts it.
    pub fn validate(&self, body: &[u8]) -> Result<(), BodyError> {
        let instance = parse(body)?;
        // `is_valid` is the fast path; the error is only built for a refused body.
        if self.validator.is_valid(&instance) {
            return Ok(());
        }
        match self.validator.validate(&instance) {
            Ok(()) => Ok(()),
            Err(error) => Err(BodyError::Invalid(format!("{error} at '{}'", error.instance_path()))),
        }
    }

    /// Whether `body` is valid, without building an error: the per-request call.
    pub fn is_valid(&self, body: &[u8]) -> bool {
        parse(body).is_ok_and(|instance| self.validator.is_valid(&instance))
    }
}

fn parse(body: &[u8]) -> Result<Value, BodyError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Object(serde_json::Map::new()));
    }
    serde_json::from_slice(body).map_err(|error| BodyError::InvalidJson(error.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn empty_body_is_an_empty_object() {
        let validator = BodyValidator::new(&json!({"type": "object", "required": ["a"]})).unwrap();
        assert!(matches!(validator.validate(b""), Err(BodyError::Invalid(_))));
        let empty = BodyValidator::new(&json!({"type": "object"})).unwrap();
        assert_eq!(empty.validate(b" \r\n"), Ok(()));
    }

    #[test]
    fn not_json_is_reported_as_such() {
        let validator = BodyValidator::new(&json!({})).unwrap();
        assert!(matches!(validator.validate(b"{"), Err(BodyError::InvalidJson(_))));
        assert!(!validator.is_valid(b"{"));
    }
}
