//! Request extractors that turn every kind of bad input into a problem+json 4xx:
//! JSON bodies (content type, size, syntax, types, NUL characters, field rules), query strings
//! and path parameters.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};
use serde::de::DeserializeOwned;
use serde_json::Value;
use validator::Validate;

use crate::error::{ApiError, FieldError};

/// A JSON body, parsed and validated: content type checked, size limited (see `BodyLimit`),
/// text free of NUL characters, every field rule of `T` satisfied.
pub struct ValidJson<T>(pub T);

/// The body limit for a route, in bytes, set with `.app_data(BodyLimit(..))`.
#[derive(Clone, Copy)]
pub struct BodyLimit(pub usize);

impl<T: DeserializeOwned + Validate + utoipa::ToSchema + 'static> FromRequest for ValidJson<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let content_type_ok = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|ct| {
                let essence = ct
                    .split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase();
                essence == "application/json"
                    || (essence.starts_with("application/") && essence.ends_with("+json"))
            })
            .unwrap_or(false);
        let limit = req
            .app_data::<BodyLimit>()
            .map(|l| l.0)
            .unwrap_or(256 * 1024);
        let bytes = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            if !content_type_ok {
                return Err(ApiError::UnsupportedMediaType(
                    "the request body must be JSON (Content-Type: application/json)".into(),
                ));
            }
            let body = bytes.await.map_err(|e| {
                if e.as_response_error().status_code()
                    == actix_web::http::StatusCode::PAYLOAD_TOO_LARGE
                {
                    ApiError::PayloadTooLarge(format!(
                        "the request body is larger than {limit} bytes"
                    ))
                } else {
                    ApiError::BadRequest(format!("the request body could not be read: {e}"))
                }
            })?;
            if body.len() > limit {
                return Err(ApiError::PayloadTooLarge(format!(
                    "the request body is larger than {limit} bytes"
                )));
            }
            parse_json_as(&body, Some(T::name().as_ref())).map(ValidJson)
        })
    }
}

/// Reads a JSON body from the raw payload with a route-specific `limit` (bulk routes), checking
/// the content type, size, syntax and NUL characters; the caller deserialises the value (e.g.
/// item by item, to report every bad item at once).
pub async fn read_json_value(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<Value, ApiError> {
    use futures_util::StreamExt;
    if !is_json(req) {
        return Err(ApiError::UnsupportedMediaType(
            "the request body must be JSON (Content-Type: application/json)".into(),
        ));
    }
    let too_large =
        || ApiError::PayloadTooLarge(format!("the request body is larger than {limit} bytes"));
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let mut body = web::BytesMut::with_capacity(declared.unwrap_or(0).min(limit));
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::BadRequest(format!("the request body could not be read: {e}"))
        })?;
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    let value: Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest(format!("the request body is not valid JSON: {e}")))?;
    let mut nul = Vec::new();
    find_nul(&value, &mut String::new(), &mut nul);
    if !nul.is_empty() {
        return Err(ApiError::validation(nul));
    }
    Ok(value)
}

fn is_json(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|ct| {
            let essence = ct
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            essence == "application/json"
                || (essence.starts_with("application/") && essence.ends_with("+json"))
        })
        .unwrap_or(false)
}

/// Parses and validates a JSON document into `T`.
pub fn parse_json<T: DeserializeOwned + Validate>(body: &[u8]) -> Result<T, ApiError> {
    parse_json_as(body, None)
}

/// Parses and validates a JSON document into `T`, whose contract schema is `schema`: when
/// serde refuses the document, the schema names every problem of it at once.
pub fn parse_json_as<T: DeserializeOwned + Validate>(
    body: &[u8],
    schema: Option<&str>,
) -> Result<T, ApiError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("the request body is not valid JSON: {e}")))?;
    let mut nul = Vec::new();
    find_nul(&value, &mut String::new(), &mut nul);
    find_long_arrays(&value, &mut String::new(), &mut nul);
    if !nul.is_empty() {
        return Err(ApiError::validation(nul));
    }
    let parsed: T = match serde_path_to_error::deserialize(&value) {
        Ok(parsed) => parsed,
        Err(e) => {
            let mut errors = schema
                .map(|name| crate::schema_check::body_errors(name, &value))
                .unwrap_or_default();
            // The schema cannot say everything (e.g. a date's range): what serde refused is
            // named too, unless the schema already named that field.
            let mut pointer = to_pointer(&e.path().to_string());
            let message = e.inner().to_string();
            // serde names a missing field in its message, at the object that lacks it.
            if let Some(field) = message
                .strip_prefix("missing field `")
                .and_then(|r| r.split('`').next())
            {
                pointer = format!("{pointer}/{field}");
            }
            if !errors.iter().any(|f| f.pointer == pointer) {
                errors.push(FieldError::new(
                    pointer,
                    crate::schema_check::serde_message(&message),
                ));
            }
            return Err(ApiError::validation(errors));
        }
    };
    parsed.validate()?;
    Ok(parsed)
}

/// PostgreSQL text cannot hold NUL: reject it at the edge, naming where it is.
fn find_nul(v: &Value, at: &mut String, out: &mut Vec<FieldError>) {
    match v {
        Value::String(s) if s.contains('\0') => out.push(FieldError::new(
            at.clone(),
            "must not contain NUL characters",
        )),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let len = at.len();
                at.push_str(&format!("/{i}"));
                find_nul(item, at, out);
                at.truncate(len);
            }
        }
        Value::Object(map) => {
            for (k, item) in map {
                let len = at.len();
                if k.contains('\0') {
                    out.push(FieldError::new(
                        at.clone(),
                        "keys must not contain NUL characters",
                    ));
                }
                at.push('/');
                at.push_str(&k.replace('~', "~0").replace('/', "~1"));
                find_nul(item, at, out);
                at.truncate(len);
            }
        }
        _ => {}
    }
}

/// No array in a body may exceed the contract's default `maxItems` (schemas may declare less).
fn find_long_arrays(v: &Value, at: &mut String, out: &mut Vec<FieldError>) {
    let max = crate::openapi::DEFAULT_MAX_ITEMS as usize;
    match v {
        Value::Array(items) => {
            if items.len() > max {
                out.push(FieldError::new(
                    at.clone(),
                    format!("must have at most {max} items"),
                ));
                return;
            }
            for (i, item) in items.iter().enumerate() {
                let len = at.len();
                at.push_str(&format!("/{i}"));
                find_long_arrays(item, at, out);
                at.truncate(len);
            }
        }
        Value::Object(map) => {
            for (k, item) in map {
                let len = at.len();
                at.push('/');
                at.push_str(&k.replace('~', "~0").replace('/', "~1"));
                find_long_arrays(item, at, out);
                at.truncate(len);
            }
        }
        _ => {}
    }
}

/// `items[3].title` (serde_path_to_error) → `/items/3/title`.
pub fn to_pointer(path: &str) -> String {
    portfolio_domain::FieldPath::parse(path).to_pointer()
}

/// Query-string errors become 400 problems naming the parameter.
pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err, req| {
        let pattern = req.match_pattern().unwrap_or_default();
        let mut errors =
            crate::schema_check::query_errors(req.method().as_str(), &pattern, req.query_string());
        if errors.is_empty() {
            // serde's wording, at the parameter it names when it names one.
            let message = err.to_string();
            let name = message
                .split('`')
                .nth(1)
                .filter(|n| !n.is_empty())
                .map(|n| format!("/query/{n}"))
                .unwrap_or_else(|| "/query".into());
            errors.push(FieldError::new(
                name,
                crate::schema_check::serde_message(
                    message.trim_start_matches("Query deserialize error: "),
                ),
            ));
        }
        ApiError::validation(errors).into()
    })
}

/// Malformed path parameters (e.g. a bad UUID) are 400 problems, not a text/plain 404.
pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|err, _req| {
        ApiError::BadRequest(format!("invalid path parameter: {err}")).into()
    })
}

/// A validator rule: no NUL characters (PostgreSQL text cannot hold them).
pub fn no_nul(s: &str) -> Result<(), validator::ValidationError> {
    if s.contains('\0') {
        return Err(validator::ValidationError::new("no_nul"));
    }
    Ok(())
}

/// Validates a query-string struct; field errors point at `/query/<name>` (API-DESIGN.md).
pub fn validate_query<T: Validate>(q: &T) -> Result<(), ApiError> {
    q.validate().map_err(|e| match ApiError::from(e) {
        ApiError::Validation { errors, .. } => ApiError::validation(
            errors
                .into_iter()
                .map(|f| FieldError::new(format!("/query{}", f.pointer), f.message))
                .collect(),
        ),
        other => other,
    })
}

/// A validator rule: the shape of an organisation number, nine digits (the contract's
/// `^[0-9]{9}$`; the mod-11 check is the domain's business).
pub fn nine_digits(s: &str) -> Result<(), validator::ValidationError> {
    if s.len() != 9 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(validator::ValidationError::new("org_number")
            .with_message("must be an organisation number of nine digits".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointers_from_paths() {
        assert_eq!(to_pointer("items[3].title"), "/items/3/title");
        assert_eq!(to_pointer("title"), "/title");
        assert_eq!(to_pointer("."), "");
    }
}
