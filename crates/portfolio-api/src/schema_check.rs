//! Every problem of a request at once, in the API's words.
//!
//! serde stops at the first problem of a body or query string and words it in Rust's terms
//! ("invalid type: string, expected i32"). When it refuses a request, the request is checked
//! again against the operation's schema in the contract (the same document clients are
//! generated from), which finds every type error, missing field, enum error and declared
//! limit together, each with a JSON Pointer to its field.

use std::sync::OnceLock;

use serde_json::{Map, Value};

use crate::error::FieldError;

/// The contract as served, built once (on the first refused request).
fn contract() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(crate::app::contract_json)
}

/// The problems of a JSON body against the named component schema; empty when the schema
/// finds none (or there is no such schema).
pub fn body_errors(schema_name: &str, body: &Value) -> Vec<FieldError> {
    let doc = contract();
    let Some(schema) = doc.pointer(&format!("/components/schemas/{schema_name}")) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    check(doc, schema, body, &mut String::new(), &mut out, 0);
    out
}

/// The problems of a query string against the query parameters `method pattern` declares:
/// each value in its declared type and limits, and every required one present. Pointers are
/// `/query/<name>`.
pub fn query_errors(method: &str, pattern: &str, query: &str) -> Vec<FieldError> {
    let doc = contract();
    let method = method.to_ascii_lowercase();
    let Some(params) = doc
        .get("paths")
        .and_then(|p| p.get(pattern))
        .and_then(|i| i.get(method.as_str()))
        .and_then(|o| o.get("parameters"))
        .and_then(Value::as_array)
    else {
        return Vec::new();
    };
    let pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (
                crate::strict_query::decode(k),
                crate::strict_query::decode(v),
            )
        })
        .collect();
    let mut out = Vec::new();
    for p in params.iter().filter(|p| p["in"] == "query") {
        let name = p["name"].as_str().unwrap_or("");
        let pointer = format!("/query/{name}");
        let schema = resolve(doc, &p["schema"]);
        match pairs.iter().find(|(k, _)| k == name) {
            None if p["required"] == true => out.push(FieldError::new(pointer, "is required")),
            None => {}
            Some((_, raw)) => {
                let value = typed(schema, raw);
                let mut at = pointer;
                check(doc, schema, &value, &mut at, &mut out, 0);
            }
        }
    }
    out
}

/// A query value as the JSON value its schema's type reads it as (text when it does not).
fn typed(schema: &Value, raw: &str) -> Value {
    let ty = types(schema);
    if ty.iter().any(|t| t == "integer") {
        if let Ok(n) = raw.parse::<i64>() {
            return Value::from(n);
        }
    }
    if ty.iter().any(|t| t == "boolean") {
        match raw {
            "true" => return Value::Bool(true),
            "false" => return Value::Bool(false),
            _ => {}
        }
    }
    Value::String(raw.to_owned())
}

fn resolve<'a>(doc: &'a Value, mut schema: &'a Value) -> &'a Value {
    for _ in 0..16 {
        match schema.get("$ref").and_then(Value::as_str) {
            Some(r) => match r.strip_prefix('#').and_then(|p| doc.pointer(p)) {
                Some(target) => schema = target,
                None => return &Value::Null,
            },
            None => break,
        }
    }
    schema
}

fn types(schema: &Value) -> Vec<String> {
    match schema.get("type") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(String::from)
            .collect(),
        _ => Vec::new(),
    }
}

fn type_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn type_words(t: &str) -> &str {
    match t {
        "integer" => "a whole number",
        "number" => "a number",
        "string" => "text",
        "boolean" => "true or false",
        "array" => "a list",
        "object" => "an object",
        "null" => "null",
        other => other,
    }
}

fn list(values: &[Value]) -> String {
    values
        .iter()
        .map(|v| {
            v.as_str()
                .map(String::from)
                .unwrap_or_else(|| v.to_string())
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn check(
    doc: &Value,
    schema: &Value,
    v: &Value,
    at: &mut String,
    out: &mut Vec<FieldError>,
    depth: u8,
) {
    if depth > 32 {
        return;
    }
    let schema = resolve(doc, schema);
    check_composition(doc, schema, v, at, out, depth);
    // A value of the wrong type, or not one of the allowed values, has no limits to check.
    if let Some(message) = type_error(schema, v).or_else(|| allowed_values_error(schema, v)) {
        out.push(FieldError::new(at.clone(), message));
        return;
    }
    match v {
        Value::String(s) => check_string(schema, s, at, out),
        Value::Number(n) => check_number(schema, n.as_f64().unwrap_or(0.0), at, out),
        Value::Array(items) => check_array(doc, schema, items, at, out, depth),
        Value::Object(map) => check_object(doc, schema, map, at, out, depth),
        _ => {}
    }
}

/// `allOf`: every schema's problems; `oneOf`/`anyOf`: those of the branch with the fewest,
/// the one the client meant.
fn check_composition(
    doc: &Value,
    schema: &Value,
    v: &Value,
    at: &mut String,
    out: &mut Vec<FieldError>,
    depth: u8,
) {
    if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
        for s in all {
            check(doc, s, v, at, out, depth + 1);
        }
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(branches) = schema.get(key).and_then(Value::as_array) {
            let best = branches
                .iter()
                .map(|b| {
                    let mut errs = Vec::new();
                    check(doc, b, v, &mut at.clone(), &mut errs, depth + 1);
                    errs
                })
                .min_by_key(Vec::len)
                .unwrap_or_default();
            out.extend(best);
        }
    }
}

/// The problem when `v` is none of the schema's types (a whole number is also a number).
fn type_error(schema: &Value, v: &Value) -> Option<String> {
    let ty = types(schema);
    if ty.is_empty() {
        return None;
    }
    let actual = type_of(v);
    if ty
        .iter()
        .any(|t| t == actual || (t == "number" && actual == "integer"))
    {
        return None;
    }
    let wanted: Vec<&str> = ty
        .iter()
        .filter(|t| *t != "null")
        .map(|t| type_words(t))
        .collect();
    Some(if actual == "null" {
        format!("must not be null; expected {}", wanted.join(" or "))
    } else {
        format!("must be {}", wanted.join(" or "))
    })
}

/// The problem when `v` is not in the schema's `enum`, or not its `const`.
fn allowed_values_error(schema: &Value, v: &Value) -> Option<String> {
    if let Some(options) = schema.get("enum").and_then(Value::as_array) {
        if !options.contains(v) {
            return Some(format!("must be one of: {}", list(options)));
        }
    }
    match schema.get("const") {
        Some(c) if c != v => Some(format!("must be {}", list(std::slice::from_ref(c)))),
        _ => None,
    }
}

fn check_array(
    doc: &Value,
    schema: &Value,
    items: &[Value],
    at: &mut String,
    out: &mut Vec<FieldError>,
    depth: u8,
) {
    let n = items.len() as u64;
    if let Some(min) = schema.get("minItems").and_then(Value::as_u64) {
        if n < min {
            out.push(FieldError::new(
                at.clone(),
                format!("must have at least {min} items"),
            ));
        }
    }
    if let Some(max) = schema.get("maxItems").and_then(Value::as_u64) {
        if n > max {
            out.push(FieldError::new(
                at.clone(),
                format!("must have at most {max} items"),
            ));
            return;
        }
    }
    if let Some(item_schema) = schema.get("items") {
        for (i, item) in items.iter().enumerate() {
            let len = at.len();
            at.push_str(&format!("/{i}"));
            check(doc, item_schema, item, at, out, depth + 1);
            at.truncate(len);
        }
    }
}

fn check_string(schema: &Value, s: &str, at: &str, out: &mut Vec<FieldError>) {
    let chars = s.chars().count() as u64;
    if let Some(min) = schema.get("minLength").and_then(Value::as_u64) {
        if chars < min {
            let message = if min == 1 {
                "must not be empty".to_owned()
            } else {
                format!("must be at least {min} characters")
            };
            out.push(FieldError::new(at, message));
            return;
        }
    }
    if let Some(max) = schema.get("maxLength").and_then(Value::as_u64) {
        if chars > max {
            out.push(FieldError::new(
                at,
                format!("must be at most {max} characters"),
            ));
            return;
        }
    }
    match schema.get("format").and_then(Value::as_str) {
        Some("uuid") if uuid::Uuid::parse_str(s).is_err() => {
            out.push(FieldError::new(at, "must be a UUID"));
            return;
        }
        Some("date") if chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_err() => {
            out.push(FieldError::new(at, "must be a date (YYYY-MM-DD)"));
            return;
        }
        Some("date-time") if chrono::DateTime::parse_from_rfc3339(s).is_err() => {
            out.push(FieldError::new(at, "must be a date and time (RFC 3339)"));
            return;
        }
        _ => {}
    }
    if let Some(p) = schema.get("pattern").and_then(Value::as_str) {
        if regex::Regex::new(p).is_ok_and(|re| !re.is_match(s)) {
            out.push(FieldError::new(at, format!("must match the pattern {p}")));
        }
    }
}

fn check_number(schema: &Value, n: f64, at: &str, out: &mut Vec<FieldError>) {
    let bound = |k: &str| schema.get(k).and_then(Value::as_f64);
    let show = |x: f64| {
        if x.fract() == 0.0 && x.abs() < 1e15 {
            format!("{}", x as i64)
        } else {
            x.to_string()
        }
    };
    if let Some(min) = bound("minimum").filter(|m| n < *m) {
        out.push(FieldError::new(
            at,
            format!("must be at least {}", show(min)),
        ));
    } else if let Some(max) = bound("maximum").filter(|m| n > *m) {
        out.push(FieldError::new(
            at,
            format!("must be at most {}", show(max)),
        ));
    } else if let Some(min) = bound("exclusiveMinimum").filter(|m| n <= *m) {
        out.push(FieldError::new(
            at,
            format!("must be greater than {}", show(min)),
        ));
    } else if let Some(max) = bound("exclusiveMaximum").filter(|m| n >= *m) {
        out.push(FieldError::new(
            at,
            format!("must be less than {}", show(max)),
        ));
    }
}

fn check_object(
    doc: &Value,
    schema: &Value,
    map: &Map<String, Value>,
    at: &mut String,
    out: &mut Vec<FieldError>,
    depth: u8,
) {
    let escape = |k: &str| k.replace('~', "~0").replace('/', "~1");
    let properties = schema.get("properties").and_then(Value::as_object);
    for name in schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let name = name.as_str().unwrap_or("");
        if !map.contains_key(name) {
            out.push(FieldError::new(
                format!("{at}/{}", escape(name)),
                "is required",
            ));
        }
    }
    for (k, item) in map {
        let len = at.len();
        at.push('/');
        at.push_str(&escape(k));
        match properties.and_then(|p| p.get(k)) {
            Some(s) => check(doc, s, item, at, out, depth + 1),
            None if properties.is_some()
                && schema.get("additionalProperties") == Some(&Value::Bool(false)) =>
            {
                let known: Vec<Value> = properties
                    .map(|p| p.keys().map(|k| Value::String(k.clone())).collect())
                    .unwrap_or_default();
                out.push(FieldError::new(
                    at.clone(),
                    format!("is not a field here; the fields are: {}", list(&known)),
                ));
            }
            None => {
                if let Some(extra) = schema.get("additionalProperties").filter(|a| a.is_object()) {
                    check(doc, extra, item, at, out, depth + 1);
                }
            }
        }
        at.truncate(len);
    }
}

/// serde's first error, in the API's words, for when the schema finds nothing to say.
pub fn serde_message(message: &str) -> String {
    let quoted =
        |s: &str| -> Vec<String> { s.split('`').skip(1).step_by(2).map(String::from).collect() };
    if message.starts_with("missing field") {
        return "is required".into();
    }
    if let Some(rest) = message.strip_prefix("unknown field") {
        let q = quoted(rest);
        return match q.split_first() {
            Some((_, expected)) if !expected.is_empty() => {
                format!(
                    "is not a field here; the fields are: {}",
                    expected.join(", ")
                )
            }
            _ => "is not a field here".into(),
        };
    }
    if let Some(rest) = message.strip_prefix("unknown variant") {
        let q = quoted(rest);
        if let Some((_, expected)) = q.split_first() {
            return format!("must be one of: {}", expected.join(", "));
        }
    }
    if message.starts_with("invalid type") || message.starts_with("invalid value") {
        let expected = message.rsplit("expected ").next().unwrap_or("").trim();
        let words = if [
            "i8", "i16", "i32", "i64", "u8", "u16", "u32", "u64", "usize",
        ]
        .iter()
        .any(|t| expected.contains(t))
        {
            "a whole number"
        } else if expected.contains("f64") || expected.contains("f32") {
            "a number"
        } else if expected.contains("string") || expected.contains("UUID") {
            "text"
        } else if expected.contains("bool") {
            "true or false"
        } else if expected.contains("sequence") {
            "a list"
        } else if expected.contains("struct") || expected.contains("map") {
            "an object"
        } else {
            return "has the wrong type".into();
        };
        return format!("must be {words}");
    }
    if message.starts_with("invalid length") {
        return message.replace("invalid length", "has the wrong length");
    }
    "is not valid here".into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_messages_in_the_apis_words() {
        assert_eq!(serde_message("missing field `title`"), "is required");
        assert_eq!(
            serde_message("unknown field `titel`, expected one of `title`, `description`"),
            "is not a field here; the fields are: title, description"
        );
        assert_eq!(
            serde_message("unknown variant `ja`, expected `accepted` or `rejected`"),
            "must be one of: accepted, rejected"
        );
        assert_eq!(
            serde_message("invalid type: string \"x\", expected i32"),
            "must be a whole number"
        );
    }
}
