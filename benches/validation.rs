//! Request body validation (REST request validators): a ~1 KB JSON body against a model with
//! `$ref`s, compared with parsing the same body alone (the floor the full validator pays). The model has a
//! `pattern`, which only the full validator checks; the same model without it takes the fast path, which
//! checks the body while scanning it (`gateway_core::fast_validation`).
//!
//! Run: `taskset -c 1 cargo bench -p gateway_core --bench validation -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use gateway_core::validation::BodyValidator;
use serde_json::{json, Value};

fn order_model() -> Value {
    json!({
        "$ref": "#/definitions/Order",
        "definitions": {
            "Order": {
                "$schema": "http://json-schema.org/draft-04/schema#",
                "type": "object",
                "required": ["id", "customer", "items"],
                "properties": {
                    "id": {"type": "integer", "minimum": 1},
                    "customer": {"type": "string", "minLength": 1, "maxLength": 64},
                    "items": {"type": "array", "minItems": 1, "items": {"$ref": "#/definitions/Item"}},
                    "shipTo": {"$ref": "#/definitions/Address"},
                    "note": {"type": "string", "maxLength": 200}
                }
            },
            "Item": {
                "type": "object",
                "required": ["sku", "qty"],
                "properties": {
                    "sku": {"type": "string", "pattern": "^[A-Z]{3}-[0-9]+$"},
                    "qty": {"type": "integer", "minimum": 1},
                    "price": {"type": "number", "minimum": 0}
                }
            },
            "Address": {
                "type": "object",
                "required": ["city", "country"],
                "properties": {"street": {"type": "string"}, "city": {"type": "string"}, "country": {"type": "string", "enum": ["NO", "SE", "DK", "FI"]}}
            }
        }
    })
}

/// A valid order of about 1 KB.
fn body() -> Vec<u8> {
    let items: Vec<Value> =
        (0..23).map(|n| json!({"sku": format!("ABC-{}", 1000 + n), "qty": n + 1, "price": 9.5})).collect();
    let order = json!({
        "id": 42,
        "customer": "customer-0042",
        "items": items,
        "shipTo": {"street": "Karl Johans gate 1", "city": "Oslo", "country": "NO"},
        "note": "leave at the door"
    });
    serde_json::to_vec(&order).unwrap()
}

fn bench(c: &mut Criterion) {
    let validator = BodyValidator::new(&order_model()).unwrap();
    let body = body();
    assert!(validator.is_valid(&body));
    let mut group = c.benchmark_group("validation");
    group.throughput(Throughput::Bytes(body.len() as u64));
    group.bench_function(format!("parse_only_{}B", body.len()), |b| {
        b.iter(|| serde_json::from_slice::<Value>(black_box(&body)).unwrap());
    });
    group.bench_function(format!("is_valid_{}B", body.len()), |b| {
        b.iter(|| validator.is_valid(black_box(&body)));
    });
    let mut without_pattern = order_model();
    without_pattern["definitions"]["Item"]["properties"]["sku"].as_object_mut().unwrap().remove("pattern");
    let fast = BodyValidator::new(&without_pattern).unwrap();
    assert!(fast.has_fast_path() && !validator.has_fast_path() && fast.is_valid(&body));
    group.bench_function(format!("is_valid_fast_path_{}B", body.len()), |b| {
        b.iter(|| fast.is_valid(black_box(&body)));
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
