//! Request models and JSON bodies built from the fuzzer's bytes, for the `fast_validator_models` target.
//!
//! [`SchemaGen`] builds models from the keyword subset the fast path compiles (`type`, `properties`,
//! `required`, `additionalProperties`, `items`, `minItems`/`maxItems`, `minLength`/`maxLength`,
//! `minimum`/`maximum` with draft 4's boolean `exclusive*`, string `enum`, `format`, local `$ref`, one-schema
//! `allOf`, annotations), now and then with a keyword outside it. [`JsonGen`] builds bodies shaped from a small
//! alphabet of names and strings, so that they hit the models' properties, with hand-written number forms
//! (`1.0`, `1e2`, `-0`, long integers) and escapes.

use arbitrary::Arbitrary;
use serde_json::{json, Map, Value};

/// Property names and strings: ASCII, non-ASCII (length in code points differs from bytes), and ones that need
/// escapes in JSON.
pub const NAMES: [&str; 8] = ["a", "b", "id", "name", "é", "tags", "quote\"d", "x-y"];
pub const STRINGS: [&str; 10] = ["", "a", "ab", "abc", "é", "ünï", "quote\"d", "new\nline", "2024-01-31", "sold"];
const FORMATS: [&str; 4] = ["date", "int64", "email", "uuid"];
const MAX_DEPTH: usize = 6;

#[derive(Debug, Arbitrary)]
pub enum Additional {
    Absent,
    True,
    False,
    Schema(Box<SchemaGen>),
}

#[derive(Debug, Arbitrary)]
pub enum SchemaGen {
    Empty,
    /// `type`: one name (bits of one) or several (an array of names).
    Types {
        bits: u8,
        as_array: bool,
    },
    Object {
        properties: Vec<(u8, SchemaGen)>,
        required: Vec<u8>,
        additional: Additional,
        typed: bool,
    },
    Array {
        items: Option<Box<SchemaGen>>,
        min_items: Option<u8>,
        max_items: Option<u8>,
        typed: bool,
    },
    String {
        min_length: Option<u8>,
        max_length: Option<u8>,
        allowed: Option<Vec<u8>>,
        format: Option<u8>,
    },
    /// Bounds in quarters, so that fractions come up.
    Number {
        integer: bool,
        minimum: Option<(i16, bool)>,
        maximum: Option<(i16, bool)>,
    },
    /// `#/definitions/D<n>` (or a pointer that does not resolve).
    Ref(u8),
    AllOf(Box<SchemaGen>),
    /// Annotations the fast path ignores, around a schema.
    Annotated(Box<SchemaGen>),
    /// A keyword outside the subset (the fast path must refuse the model) or a malformed one.
    Other(u8, Box<SchemaGen>),
}

const TYPE_NAMES: [&str; 7] = ["null", "boolean", "object", "array", "number", "integer", "string"];

impl SchemaGen {
    pub fn to_value(&self, definitions: usize) -> Value {
        self.value(definitions, 0)
    }

    #[allow(clippy::too_many_lines)] // one arm per kind of schema, each short
    fn value(&self, definitions: usize, depth: usize) -> Value {
        if depth > MAX_DEPTH {
            return json!({});
        }
        let inner = |schema: &SchemaGen| schema.value(definitions, depth + 1);
        match self {
            Self::Empty => json!({}),
            Self::Types { bits, as_array } => {
                let names: Vec<&str> =
                    TYPE_NAMES.iter().enumerate().filter(|(i, _)| bits & (1 << i) != 0).map(|(_, n)| *n).collect();
                match (names.as_slice(), as_array) {
                    ([], _) => json!({"type": "string"}),
                    ([one], false) => json!({"type": one}),
                    (names, _) => json!({"type": names}),
                }
            }
            Self::Object { properties, required, additional, typed } => {
                let mut schema = Map::new();
                if *typed {
                    schema.insert("type".into(), json!("object"));
                }
                if !properties.is_empty() {
                    let props: Map<String, Value> = properties
                        .iter()
                        .take(6)
                        .map(|(name, property)| (pick(&NAMES, *name).to_owned(), inner(property)))
                        .collect();
                    schema.insert("properties".into(), Value::Object(props));
                }
                if !required.is_empty() {
                    let mut names: Vec<&str> = required.iter().take(6).map(|n| pick(&NAMES, *n)).collect();
                    names.dedup();
                    schema.insert("required".into(), json!(names));
                }
                match additional {
                    Additional::Absent => {}
                    Additional::True => _ = schema.insert("additionalProperties".into(), json!(true)),
                    Additional::False => _ = schema.insert("additionalProperties".into(), json!(false)),
                    Additional::Schema(s) => _ = schema.insert("additionalProperties".into(), inner(s)),
                }
                Value::Object(schema)
            }
            Self::Array { items, min_items, max_items, typed } => {
                let mut schema = Map::new();
                if *typed {
                    schema.insert("type".into(), json!("array"));
                }
                if let Some(items) = items {
                    schema.insert("items".into(), inner(items));
                }
                if let Some(n) = min_items {
                    schema.insert("minItems".into(), json!(n % 5));
                }
                if let Some(n) = max_items {
                    schema.insert("maxItems".into(), json!(n % 5));
                }
                Value::Object(schema)
            }
            Self::String { min_length, max_length, allowed, format } => {
                let mut schema = Map::new();
                schema.insert("type".into(), json!("string"));
                if let Some(n) = min_length {
                    schema.insert("minLength".into(), json!(n % 5));
                }
                if let Some(n) = max_length {
                    schema.insert("maxLength".into(), json!(n % 5));
                }
                if let Some(allowed) = allowed {
                    let values: Vec<&str> = allowed.iter().take(4).map(|s| pick(&STRINGS, *s)).collect();
                    schema.insert("enum".into(), json!(values));
                }
                if let Some(f) = format {
                    schema.insert("format".into(), json!(pick(&FORMATS, *f)));
                }
                Value::Object(schema)
            }
            Self::Number { integer, minimum, maximum } => {
                let mut schema = Map::new();
                schema.insert("type".into(), json!(if *integer { "integer" } else { "number" }));
                for (keyword, exclusive_keyword, bound) in
                    [("minimum", "exclusiveMinimum", minimum), ("maximum", "exclusiveMaximum", maximum)]
                {
                    if let Some((quarters, exclusive)) = bound {
                        let value = f64::from(*quarters) / 4.0;
                        // Whole bounds as integers (`5`, not `5.0`), as models are written.
                        let value = if value.fract() == 0.0 { json!(*quarters / 4) } else { json!(value) };
                        schema.insert(keyword.into(), value);
                        if *exclusive {
                            schema.insert(exclusive_keyword.into(), json!(true));
                        }
                    }
                }
                Value::Object(schema)
            }
            Self::Ref(n) => {
                let target = usize::from(*n) % (definitions + 1);
                json!({"$ref": format!("#/definitions/D{target}")})
            }
            Self::AllOf(schema) => json!({"allOf": [inner(schema)]}),
            Self::Annotated(schema) => {
                let mut value = inner(schema);
                if let Value::Object(object) = &mut value {
                    object.insert("title".into(), json!("t"));
                    object.insert("description".into(), json!("d"));
                    object.insert("nullable".into(), json!(true));
                    object.insert("x-amazon-apigateway-thing".into(), json!(1));
                }
                value
            }
            Self::Other(kind, schema) => {
                let mut value = inner(schema);
                if let Value::Object(object) = &mut value {
                    let (keyword, extra) = match kind % 10 {
                        0 => ("pattern", json!("^a")),
                        1 => ("oneOf", json!([{"type": "string"}, {"type": "integer"}])),
                        2 => ("enum", json!([1, "a", null])),
                        3 => ("multipleOf", json!(2)),
                        4 => ("uniqueItems", json!(true)),
                        5 => ("minProperties", json!(1)),
                        6 => ("exclusiveMinimum", json!(true)), // without a minimum
                        7 => ("items", json!([{"type": "string"}])),
                        8 => ("not", json!({"type": "null"})),
                        _ => ("type", json!("strin")),
                    };
                    object.insert(keyword.into(), extra);
                }
                value
            }
        }
    }
}

/// A JSON body: a value from a small alphabet, printed compact or pretty, or hand-written number text.
#[derive(Debug, Arbitrary)]
pub enum JsonGen {
    Null,
    Bool(bool),
    Small(i8),
    Integer(i64),
    /// A number in quarters (`1.25`).
    Quarters(i32),
    /// Number text written by hand: `1.0`, `1e2`, `-0`, long integers, and bad forms.
    Text(u8),
    String(u8),
    Array(Vec<JsonGen>),
    Object(Vec<(u8, JsonGen)>),
}

const NUMBER_TEXTS: [&str; 12] = [
    "1.0",
    "1e2",
    "-0",
    "0.0",
    "12345678901234567890",
    "123456789012345678",
    "1234567890123456",
    "-9007199254740993",
    "1E400",
    "01",
    "2.",
    "\"\\u00e9\"",
];

impl JsonGen {
    /// The body text: JSON from the alphabet (`text` forms are spliced in as they are).
    pub fn write(&self, out: &mut String, pretty: bool, depth: usize) {
        let space = if pretty { " " } else { "" };
        match self {
            _ if depth > 12 => out.push_str("null"),
            Self::Null => out.push_str("null"),
            Self::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Self::Small(n) => out.push_str(&n.to_string()),
            Self::Integer(n) => out.push_str(&n.to_string()),
            Self::Quarters(n) => out.push_str(&json!(f64::from(*n) / 4.0).to_string()),
            Self::Text(n) => out.push_str(pick(&NUMBER_TEXTS, *n)),
            Self::String(n) => out.push_str(&json!(pick(&STRINGS, *n)).to_string()),
            Self::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().take(6).enumerate() {
                    if i > 0 {
                        out.push(',');
                        out.push_str(space);
                    }
                    item.write(out, pretty, depth + 1);
                }
                out.push(']');
            }
            Self::Object(members) => {
                out.push('{');
                for (i, (name, value)) in members.iter().take(6).enumerate() {
                    if i > 0 {
                        out.push(',');
                        out.push_str(space);
                    }
                    out.push_str(&json!(pick(&NAMES, *name)).to_string());
                    out.push(':');
                    out.push_str(space);
                    value.write(out, pretty, depth + 1);
                }
                out.push('}');
            }
        }
    }
}

pub fn pick<'a>(list: &[&'a str], i: u8) -> &'a str {
    list[usize::from(i) % list.len()]
}
