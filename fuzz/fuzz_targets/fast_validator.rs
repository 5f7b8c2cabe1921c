//! The fast body validator (`gateway_core::fast_validation::FastValidator`) against the full one (the
//! `jsonschema` crate behind `gateway_core::validation::BodyValidator`), on any body, for a few fixed models
//! (the first byte of the input picks the model, the rest is the body).
//!
//! Asserted, for every input: the fast path never says "valid" for a body the full validator refuses (it may
//! only ever be trusted to say valid), so `BodyValidator::is_valid` (fast path first) always agrees with
//! `BodyValidator::validate` (full validator only); nothing panics.
//!
//! Known findings (see `fuzz/known-findings`): `fast_validator.negative_zero` skips bodies with a `-0`,
//! `fast_validator.huge_number` bodies with a number of more than 300 digits.

#![no_main]

use std::sync::OnceLock;

use gateway_core::fast_validation::FastValidator;
use gateway_core::validation::BodyValidator;
use gateway_core_fuzz::{has_huge_number, has_negative_zero, known};
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};

/// The fast-path tests' models, and a few more that use every supported keyword.
fn models() -> Vec<Value> {
    let definitions = json!({
        "Pet": {
            "type": "object",
            "required": ["id", "name", "owner"],
            "properties": {
                "id": {"type": "integer", "minimum": 1, "format": "int64"},
                "name": {"type": "string", "minLength": 1, "maxLength": 8},
                "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 3},
                "owner": {"$ref": "#/definitions/Owner"},
                "status": {"type": "string", "enum": ["available", "sold"]},
                "weight": {"type": "number", "minimum": 0, "exclusiveMinimum": true, "maximum": 100},
                "born": {"type": "string", "format": "date"}
            }
        },
        "Owner": {
            "type": "object",
            "required": ["name"],
            "additionalProperties": false,
            "properties": {"name": {"type": "string"}, "email": {"type": ["string", "null"]}}
        },
        "Tree": {
            "type": "object",
            "additionalProperties": {"type": "integer"},
            "properties": {"children": {"type": "array", "minItems": 1, "items": {"$ref": "#/definitions/Tree"}}}
        },
        "Bounds": {
            "type": "object",
            "properties": {
                "i": {"type": "integer", "minimum": -5, "maximum": 5, "exclusiveMaximum": true},
                "n": {"type": "number", "minimum": -0.5, "maximum": 2.25},
                "s": {"type": "string", "minLength": 2, "maxLength": 3},
                "e": {"type": "string", "enum": ["é", "a\"b", ""]},
                "l": {"type": "array", "minItems": 1, "maxItems": 2},
                "t": {"type": ["integer", "boolean", "null"]},
                "o": {"type": "object", "required": ["a", "b"], "additionalProperties": {"type": "string"}}
            },
            "required": ["i"]
        }
    });
    let mut models: Vec<Value> = ["Pet", "Owner", "Tree", "Bounds"]
        .iter()
        .map(|name| json!({"definitions": definitions, "$ref": format!("#/definitions/{name}")}))
        .collect();
    models.push(
        json!({"definitions": definitions, "allOf": [{"type": "array", "items": {"$ref": "#/definitions/Owner"}}]}),
    );
    models
        .push(json!({"$schema": "http://json-schema.org/draft-04/schema#", "title": "Empty Schema", "type": "object"}));
    models.push(json!({}));
    models.push(json!({"type": "number", "maximum": 1e300}));
    models.push(json!({"type": "integer", "minimum": 9_007_199_254_740_990_u64}));
    models
}

fn validators() -> &'static [(FastValidator, BodyValidator)] {
    static VALIDATORS: OnceLock<Vec<(FastValidator, BodyValidator)>> = OnceLock::new();
    VALIDATORS.get_or_init(|| {
        models()
            .iter()
            .map(|model| {
                let fast = FastValidator::compile(model).unwrap_or_else(|| panic!("no fast path for {model}"));
                (fast, BodyValidator::new(model).expect("the model compiles"))
            })
            .collect()
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&choice, body)) = data.split_first() else { return };
    if known("fast_validator.negative_zero") && has_negative_zero(body)
        || known("fast_validator.huge_number") && has_huge_number(body)
    {
        return;
    }
    let validators = validators();
    let (fast, full) = &validators[usize::from(choice) % validators.len()];
    let full_says = full.validate(body);
    if fast.is_valid(body) {
        assert!(full_says.is_ok(), "fast path said valid, the full validator: {full_says:?}");
    }
    assert_eq!(full.is_valid(body), full_says.is_ok(), "is_valid and validate disagree: {full_says:?}");
});
