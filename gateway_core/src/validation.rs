//! REST request body validation: a method's request model (a JSON Schema, draft 4 as on AWS),
//! compiled once at load into a [`BodyValidator`] and run against each request body.
//!
//! Models refer to each other with local `$ref`s (`#/definitions/Pet` in Swagger 2.0 exports,
//! `#/components/schemas/Pet` in `OpenAPI` 3). The caller hands [`BodyValidator::new`] one root
//! document that holds every model where those pointers lead, for example
//! `{"$ref": "#/definitions/Pet", "definitions": {"Pet": {...}, "Tag": {...}}}`. Nothing is ever
//! fetched: the `jsonschema` crate is built without its HTTP and file resolvers, so a `$ref` that
//! leaves the document is a load-time [`SchemaError`].

use std::borrow::Cow;
use std::fmt;

use jsonschema::{Draft, Validator};
use serde_json::Value;

use crate::fast_validation::FastValidator;
use crate::paths::query_values;
use crate::routing::Params;

/// Where a required request parameter is looked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamLocation {
    Header,
    Path,
    QueryString,
}

/// The Content-Type of a request without one (AWS validates its body as JSON).
const ASSUMED_MEDIA_TYPE: &str = "application/json";
/// The model for any media type without one of its own.
const DEFAULT_MEDIA_TYPE: &str = "$default";

/// A REST request validator's checks that need no body, run while the request is admitted: the required
/// parameters, and which body model the request's Content-Type selects.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestCheck {
    /// Required parameters in AWS's order (sorted by their `method.request.*` key: headers, path, query);
    /// empty when parameters are not validated.
    pub required: Vec<(ParamLocation, String)>,
    /// Lowercase media type (or `$default`) and the index of its model in the caller's list; empty when
    /// bodies are not validated.
    pub models: Vec<(String, usize)>,
}

impl RequestCheck {
    /// The required parameters that are absent or blank (AWS: "included and not blank"), in order. Header
    /// names match case-insensitively; query names and values are compared decoded.
    pub fn missing<'c>(&'c self, headers: &[(&str, &str)], query: &str, params: &Params<'_, '_>) -> Vec<&'c str> {
        let mut missing = Vec::new();
        for (location, name) in &self.required {
            let present = match location {
                ParamLocation::Header => {
                    let mut values = headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name));
                    // Repeated headers are joined with `,`: never blank.
                    match (values.next(), values.next()) {
                        (Some((_, value)), None) => !value.trim().is_empty(),
                        (first, _) => first.is_some(),
                    }
                }
                ParamLocation::Path => params.get(name).is_some_and(|value| !value.trim().is_empty()),
                ParamLocation::QueryString => query_values(query, name).any(|value| !value.trim().is_empty()),
            };
            if !present {
                missing.push(name.as_str());
            }
        }
        missing
    }

    /// The index of the body model for the request's Content-Type (media type only, case-insensitive;
    /// `application/json` when absent), else of the `$default` model; `None` when the body is not validated
    /// (AWS: "If no matching content type is found, request validation is not performed").
    pub fn body_model(&self, headers: &[(&str, &str)]) -> Option<usize> {
        if self.models.is_empty() {
            return None;
        }
        let mut values = headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case("content-type")).map(|(_, v)| *v);
        let content_type: Cow<'_, str> = match (values.next(), values.next()) {
            (None, _) => Cow::Borrowed(""),
            (Some(only), None) => Cow::Borrowed(only),
            (Some(first), Some(second)) => {
                Cow::Owned([first, second].into_iter().chain(values).collect::<Vec<_>>().join(","))
            }
        };
        let media_type = content_type.split(';').next().unwrap_or("").trim();
        let media_type = if content_type.is_empty() { ASSUMED_MEDIA_TYPE } else { media_type };
        let model = |wanted: &str| self.models.iter().find(|(m, _)| m.eq_ignore_ascii_case(wanted)).map(|(_, i)| *i);
        model(media_type).or_else(|| model(DEFAULT_MEDIA_TYPE))
    }
}

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
    /// The scan that answers "valid" for most bodies without building a JSON tree (when the model allows).
    fast: Option<FastValidator>,
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
            .map(|validator| Self { validator, fast: FastValidator::compile(schema) })
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
        if self.fast.as_ref().is_some_and(|fast| fast.is_valid(body)) {
            return true;
        }
        parse(body).is_ok_and(|instance| self.validator.is_valid(&instance))
    }

    /// Whether the model has the fast path (see [`crate::fast_validation`]).
    pub fn has_fast_path(&self) -> bool {
        self.fast.is_some()
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
    use crate::routing::Router;
    use crate::spec::{RouteSpec, RoutingOptions};
    use crate::ApiType;
    use serde_json::json;

    #[test]
    fn required_parameters_in_order_present_and_not_blank() {
        let router =
            Router::build(&[RouteSpec::new("POST", "/orders/{id}")], RoutingOptions::for_api(ApiType::Rest)).unwrap();
        let found = router.lookup("POST", "/orders/1").unwrap();
        let check = RequestCheck {
            required: vec![
                (ParamLocation::Header, "X-Version".into()),
                (ParamLocation::Path, "id".into()),
                (ParamLocation::QueryString, "issuer".into()),
            ],
            models: vec![],
        };
        assert_eq!(check.missing(&[], "", &Params::default()), ["X-Version", "id", "issuer"]);
        assert_eq!(check.missing(&[], "", &found.params), ["X-Version", "issuer"]);
        assert_eq!(check.missing(&[("x-version", " ")], "issuer=+&issuer=", &found.params), ["X-Version", "issuer"]);
        assert!(check.missing(&[("x-version", " "), ("x-version", "")], "iss%75er=me", &found.params).is_empty());
    }

    #[test]
    fn body_models_by_media_type_else_default() {
        let check =
            RequestCheck { required: vec![], models: vec![("application/json".into(), 0), ("$default".into(), 1)] };
        assert_eq!(check.body_model(&[]), Some(0));
        assert_eq!(check.body_model(&[("content-type", "Application/JSON; charset=utf-8")]), Some(0));
        assert_eq!(check.body_model(&[("content-type", "text/plain")]), Some(1));
        let json_only = RequestCheck { required: vec![], models: vec![("application/json".into(), 0)] };
        assert_eq!(json_only.body_model(&[("content-type", "text/plain")]), None);
        assert_eq!(RequestCheck::default().body_model(&[]), None);
    }

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
