//! Strong ETags from resource versions, and the `If-Match` rule: every change to one resource
//! names the version it was based on (missing → 428, stale → 412), so no update is lost.

use std::future::{ready, Ready};

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, HttpResponse};
use serde::Serialize;

use crate::error::ApiError;

/// The ETag of a representation at `version`.
pub fn etag(version: i32) -> String {
    format!("\"v{version}\"")
}

/// A JSON response carrying the resource's ETag.
pub fn json_with_etag<T: Serialize>(
    mut builder: actix_web::HttpResponseBuilder,
    body: &T,
    version: i32,
) -> HttpResponse {
    builder
        .insert_header((header::ETAG, etag(version)))
        .json(body)
}

/// The `If-Match` precondition of a request, checked against the stored version inside the
/// transaction that changes the resource.
#[derive(Debug, Clone)]
pub struct IfMatch(Option<Vec<String>>);

impl IfMatch {
    pub fn any() -> IfMatch {
        IfMatch(Some(vec!["*".into()]))
    }

    /// Whether the request carried an `If-Match` header at all.
    pub fn present(&self) -> bool {
        self.0.is_some()
    }

    /// Whether `If-Match` is `*` (any current version).
    pub fn is_any(&self) -> bool {
        self.0.as_ref().is_some_and(|t| t.iter().any(|t| t == "*"))
    }

    /// 428 when the header is missing, 412 when it names another version.
    pub fn check(&self, current_version: i32) -> Result<(), ApiError> {
        let Some(tags) = &self.0 else {
            return Err(ApiError::PreconditionRequired(
                "this change needs an If-Match header with the resource's current ETag (read it first)".into(),
            ));
        };
        let current = etag(current_version);
        if tags.iter().any(|t| t == "*" || *t == current) {
            Ok(())
        } else {
            Err(ApiError::PreconditionFailed(format!(
                "the resource has changed: its current ETag is {current}; read it again and reapply your change"
            )))
        }
    }
}

/// `*` or a comma-separated list of (optionally weak) entity tags, as in the contract.
pub const IF_MATCH_PATTERN: &str = r#"^(\*|(W/)?"[!#-~]*"( *, *(W/)?"[!#-~]*")*)$"#;

fn parse_if_match(raw: &str) -> Option<Vec<String>> {
    if raw.is_empty() || raw.len() > 256 {
        return None;
    }
    if raw.trim() == "*" {
        return Some(vec!["*".into()]);
    }
    let mut tags = Vec::new();
    for t in raw.split(',') {
        let t = t.trim();
        let quoted = t.strip_prefix("W/").unwrap_or(t);
        let ok = quoted.len() >= 2
            && quoted.starts_with('"')
            && quoted.ends_with('"')
            && quoted[1..quoted.len() - 1]
                .bytes()
                .all(|b| b == 0x21 || (0x23..=0x7e).contains(&b));
        if !ok {
            return None;
        }
        tags.push(t.to_owned());
    }
    Some(tags)
}

impl FromRequest for IfMatch {
    type Error = ApiError;
    type Future = Ready<Result<IfMatch, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let Some(v) = req.headers().get(header::IF_MATCH) else {
            return ready(Ok(IfMatch(None)));
        };
        match v.to_str().ok().and_then(parse_if_match) {
            Some(tags) => ready(Ok(IfMatch(Some(tags)))),
            None => ready(Err(ApiError::BadRequest(
                "If-Match must be `*` or a list of ETags such as \"v3\" (at most 256 characters)"
                    .into(),
            ))),
        }
    }
}
