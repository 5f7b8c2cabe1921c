//! The fast body validator against the full one on models built by the fuzzer from the supported keyword
//! subset (`src/schema.rs`), with up to three `#/definitions/D<n>` beside the root, and bodies shaped from the
//! same names and strings (or raw bytes).
//!
//! Asserted, for every model the full validator accepts and the fast path compiles, and every body: the fast
//! path never says "valid" for a body the full validator refuses; nothing panics, in either compiler.
//!
//! Known findings (see `fuzz/known-findings`): `fast_validator.negative_zero` skips bodies with a `-0`,
//! `fast_validator.huge_number` bodies with a number of more than 300 digits.

#![no_main]

use arbitrary::Arbitrary;
use gateway_core::fast_validation::FastValidator;
use gateway_core::validation::BodyValidator;
use gateway_core_fuzz::schema::{JsonGen, SchemaGen};
use gateway_core_fuzz::{has_huge_number, has_negative_zero, known};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};

#[derive(Debug, Arbitrary)]
enum Body {
    Json { value: JsonGen, pretty: bool, padding: bool },
    Raw(Vec<u8>),
}

#[derive(Debug, Arbitrary)]
struct Input {
    root: SchemaGen,
    definitions: Vec<SchemaGen>,
    bodies: Vec<Body>,
}

fuzz_target!(|input: Input| {
    let count = input.definitions.len().min(3);
    let mut model = input.root.to_value(count);
    let definitions: Map<String, Value> =
        input.definitions.iter().take(count).enumerate().map(|(i, d)| (format!("D{i}"), d.to_value(count))).collect();
    if let Value::Object(object) = &mut model {
        object.insert("definitions".into(), Value::Object(definitions));
    }
    let fast = FastValidator::compile(&model);
    let Ok(full) = BodyValidator::new(&model) else { return };
    let Some(fast) = fast else { return };
    for body in input.bodies.iter().take(8) {
        let bytes = match body {
            Body::Raw(bytes) => bytes.clone(),
            Body::Json { value, pretty, padding } => {
                let mut text = String::new();
                if *padding {
                    text.push_str(" \n");
                }
                value.write(&mut text, *pretty, 0);
                if *padding {
                    text.push_str("\t\r\n");
                }
                text.into_bytes()
            }
        };
        if known("fast_validator.negative_zero") && has_negative_zero(&bytes)
            || known("fast_validator.huge_number") && has_huge_number(&bytes)
        {
            continue;
        }
        let full_says = full.validate(&bytes);
        if fast.is_valid(&bytes) {
            assert!(
                full_says.is_ok(),
                "fast path said valid, the full validator: {full_says:?}\nmodel: {model}\nbody: {:?}",
                String::from_utf8_lossy(&bytes)
            );
        }
    }
});
