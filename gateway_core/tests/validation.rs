//! Request body models (REST request validators): draft 4 semantics, local `$ref`s between models
//! as AWS exports them (Swagger `definitions`, `OpenAPI` 3 `components/schemas`), and load-time errors.

use gateway_core::validation::{BodyError, BodyValidator};
use serde_json::{json, Value};

/// The models of a Swagger 2.0 export; `Order` refers to `Item` and `Address`.
fn swagger_models() -> Value {
    json!({
        "Order": {
            "$schema": "http://json-schema.org/draft-04/schema#",
            "title": "Order",
            "type": "object",
            "required": ["id", "items"],
            "properties": {
                "id": {"type": "integer", "minimum": 1},
                "items": {"type": "array", "minItems": 1, "items": {"$ref": "#/definitions/Item"}},
                "shipTo": {"$ref": "#/definitions/Address"},
                "note": {"type": "string", "maxLength": 10}
            }
        },
        "Item": {
            "type": "object",
            "required": ["sku"],
            "properties": {"sku": {"type": "string", "pattern": "^[A-Z]{3}-[0-9]+$"}, "qty": {"type": "integer"}}
        },
        "Address": {"type": "object", "required": ["city"], "properties": {"city": {"type": "string"}}},
        "Empty": {"$schema": "http://json-schema.org/draft-04/schema#", "title": "Empty Schema", "type": "object"}
    })
}

fn swagger(model: &str) -> BodyValidator {
    let root = json!({"$ref": format!("#/definitions/{model}"), "definitions": swagger_models()});
    BodyValidator::new(&root).expect("the models compile")
}

fn openapi(model: &str) -> BodyValidator {
    let text = serde_json::to_string(&swagger_models()).unwrap().replace("#/definitions/", "#/components/schemas/");
    let models: Value = serde_json::from_str(&text).unwrap();
    let root = json!({"$ref": format!("#/components/schemas/{model}"), "components": {"schemas": models}});
    BodyValidator::new(&root).expect("the models compile")
}

#[derive(Debug, PartialEq)]
enum Outcome {
    Valid,
    Invalid,
    NotJson,
}

fn outcome(result: &Result<(), BodyError>) -> Outcome {
    match result {
        Ok(()) => Outcome::Valid,
        Err(BodyError::Invalid(_)) => Outcome::Invalid,
        Err(BodyError::InvalidJson(_)) => Outcome::NotJson,
    }
}

#[test]
fn bodies_against_models_with_refs() {
    use Outcome::{Invalid, NotJson, Valid};
    let cases: &[(&str, &str, Outcome)] = &[
        ("Order", r#"{"id": 1, "items": [{"sku": "ABC-1"}]}"#, Valid),
        ("Order", r#"{"id": 1, "items": [{"sku": "ABC-1", "qty": 2}], "shipTo": {"city": "Oslo"}}"#, Valid),
        ("Order", r#"{"id": 1, "items": [{"sku": "ABC-1"}], "extra": true}"#, Valid),
        ("Order", r#"{"id": 0, "items": [{"sku": "ABC-1"}]}"#, Invalid),
        ("Order", r#"{"id": 1, "items": []}"#, Invalid),
        ("Order", r#"{"id": 1}"#, Invalid),
        ("Order", r#"{"id": "1", "items": [{"sku": "ABC-1"}]}"#, Invalid),
        // Through a $ref: Item's pattern and required sku, Address's required city.
        ("Order", r#"{"id": 1, "items": [{"sku": "abc"}]}"#, Invalid),
        ("Order", r#"{"id": 1, "items": [{"qty": 1}]}"#, Invalid),
        ("Order", r#"{"id": 1, "items": [{"sku": "ABC-1"}], "shipTo": {}}"#, Invalid),
        ("Order", r#"{"id": 1, "items": [{"sku": "ABC-1"}], "note": "far too long a note"}"#, Invalid),
        ("Order", "[1, 2]", Invalid),
        ("Order", "", Invalid),
        ("Order", "{", NotJson),
        ("Order", "id=1", NotJson),
        ("Order", r#"{"id": 1, "items": [{"sku": "ABC-1"}]} trailing"#, NotJson),
        ("Empty", "{}", Valid),
        ("Empty", "", Valid),
        ("Empty", r#"{"anything": [1, "x", null]}"#, Valid),
        ("Empty", "42", Invalid),
        ("Empty", "not json", NotJson),
    ];
    for (model, body, expected) in cases {
        for (kind, validator) in [("swagger", swagger(model)), ("openapi", openapi(model))] {
            let got = outcome(&validator.validate(body.as_bytes()));
            assert_eq!(&got, expected, "{kind} {model} {body:?}");
            assert_eq!(validator.is_valid(body.as_bytes()), *expected == Valid, "{kind} {model} {body:?}");
        }
    }
}

#[test]
fn draft_4_semantics_whatever_schema_says() {
    // Draft 4: exclusiveMaximum is a boolean modifier of maximum (a number in draft 6+).
    let cases: &[(Value, &str, bool)] = &[
        (json!({"maximum": 10, "exclusiveMaximum": true}), "10", false),
        (json!({"maximum": 10, "exclusiveMaximum": true}), "9", true),
        (
            json!({"$schema": "https://json-schema.org/draft/2020-12/schema", "maximum": 10, "exclusiveMaximum": true}),
            "10",
            false,
        ),
        (json!({"type": "integer"}), "1.5", false),
        (json!({"enum": ["a", "b"]}), r#""c""#, false),
        (json!({"type": "object", "additionalProperties": false, "properties": {"a": {}}}), r#"{"b": 1}"#, false),
    ];
    for (schema, body, valid) in cases {
        let validator = BodyValidator::new(schema).unwrap();
        assert_eq!(validator.is_valid(body.as_bytes()), *valid, "{schema} {body}");
    }
}

#[test]
fn models_that_cannot_compile_are_load_errors() {
    let cases: &[&str] = &[
        // A $ref to a model that does not exist.
        r##"{"$ref": "#/definitions/Missing", "definitions": {}}"##,
        // Nothing is fetched: remote references fail at load.
        r#"{"$ref": "https://example.com/schema.json"}"#,
        r#"{"type": 12}"#,
        "not json",
    ];
    for schema in cases {
        let error = BodyValidator::from_json(schema).expect_err(schema);
        assert!(error.to_string().starts_with("invalid model schema: "), "{error}");
    }
}
