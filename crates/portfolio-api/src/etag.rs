//! Strong ETags from resource versions, and the `If-Match` rule: every change to one resource
//! names the version it was based on (missing → 428, stale → 412), so no update is lost.

use std::future::{ready, Ready};

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, HttpResponse};
use serde::Serialize;

use crate::error::ApiError;
use crate::store::StoreError;

/// The ETag of a representation at `version`.
pub fn etag(version: i32) -> String {
    format!("\"v{version}\"")
}

/// `201 Created` pointing at the new resource; finish it with the body (e.g. `json_with_etag`).
pub fn created_at(location: impl Into<String>) -> actix_web::HttpResponseBuilder {
    let mut builder = HttpResponse::Created();
    builder.insert_header((header::LOCATION, location.into()));
    builder
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

/// What `IfMatch::any` holds: a tag no header can produce (headers give `*` or quoted tags).
const INTERNAL_ANY: &str = "<any>";

impl IfMatch {
    /// Any version: for the service's own changes (demo data), never from a request.
    pub fn any() -> IfMatch {
        IfMatch(Some(vec![INTERNAL_ANY.into()]))
    }

    /// Whether the request carried an `If-Match` header at all.
    pub fn present(&self) -> bool {
        self.0.is_some()
    }

    /// Whether `If-Match` is `*` (any current version).
    pub fn is_any(&self) -> bool {
        self.0
            .as_ref()
            .is_some_and(|t| t.iter().any(|t| t == "*" || t == INTERNAL_ANY))
    }

    /// For updates: 428 when the header is missing or `*` (which would silently opt out of
    /// lost-update protection), 412 when it names another version.
    pub fn check(&self, current_version: i32) -> Result<(), StoreError> {
        if self.0.as_ref().is_some_and(|t| t.iter().any(|t| t == "*")) {
            return Err(StoreError::VersionRequired(
                "If-Match: * is not accepted for this change: send the resource's current ETag (read it first)"
                    .into(),
            ));
        }
        self.check_or_any(current_version)
    }

    /// For create-or-replace (the contract says so): like `check`, but `*` replaces any
    /// existing version.
    pub fn check_or_any(&self, current_version: i32) -> Result<(), StoreError> {
        let Some(tags) = &self.0 else {
            return Err(StoreError::VersionRequired(
                "this change needs an If-Match header with the resource's current ETag (read it first)".into(),
            ));
        };
        let current = etag(current_version);
        if tags
            .iter()
            .any(|t| t == "*" || t == INTERNAL_ANY || *t == current)
        {
            Ok(())
        } else {
            Err(StoreError::Stale(format!(
                "the resource has changed: its current ETag is {current}; read it again and reapply your change"
            )))
        }
    }
}

/// `*` or a comma-separated list of (optionally weak) entity tags, as in the contract.
pub const IF_MATCH_PATTERN: &str = r#"^(\*|(W/)?"[!#-~]*"( *, *(W/)?"[!#-~]*")*)$"#;
/// `If-Match` of a change that is not a create-or-replace: entity tags only, never `*`
/// (which would opt out of lost-update protection; the server answers it with 428).
pub const IF_MATCH_TAGS_PATTERN: &str = r#"^(W/)?"[!#-~]*"( *, *(W/)?"[!#-~]*")*$"#;

/// Parses `If-Match` exactly as [`IF_MATCH_PATTERN`] declares it (so a value the contract
/// allows is never refused as malformed): `*`, or entity tags `(W/)?"…"` separated by a comma
/// with optional spaces. An entity tag may itself contain commas (RFC 9110 `etagc`), so the
/// list is scanned tag by tag rather than split on `,`.
fn parse_if_match(raw: &str) -> Option<Vec<String>> {
    if raw.is_empty() || raw.len() > IF_MATCH_MAX_LENGTH {
        return None;
    }
    if raw == "*" {
        return Some(vec!["*".into()]);
    }
    let b = raw.as_bytes();
    let mut tags = Vec::new();
    let mut i = 0;
    loop {
        let start = i;
        if b[i..].starts_with(b"W/") {
            i += 2;
        }
        if b.get(i) != Some(&b'"') {
            return None;
        }
        i += 1;
        while i < b.len() && (b[i] == 0x21 || (0x23..=0x7e).contains(&b[i])) {
            i += 1;
        }
        if b.get(i) != Some(&b'"') {
            return None;
        }
        i += 1;
        tags.push(raw[start..i].to_owned());
        if i == b.len() {
            return Some(tags);
        }
        while b.get(i) == Some(&b' ') {
            i += 1;
        }
        if b.get(i) != Some(&b',') {
            return None;
        }
        i += 1;
        while b.get(i) == Some(&b' ') {
            i += 1;
        }
        if i == b.len() {
            return None;
        }
    }
}

/// Longest `If-Match` accepted (declared as the header's `maxLength`).
pub const IF_MATCH_MAX_LENGTH: usize = 256;

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

#[cfg(test)]
mod tests {
    use super::parse_if_match;

    #[test]
    fn accepts_what_the_pattern_accepts() {
        for v in [
            "*",
            "\"v3\"",
            "W/\"v3\"",
            "\"\"",
            "\"a,b\" , W/\"c\"",
            "\"*\",\"v1\"",
            "W/\"aJ|_8G,cc%@s6TtvzWn^\"     ,  W/\"i3\"",
        ] {
            assert!(pattern_matches(v), "pattern should accept {v}");
            assert!(parse_if_match(v).is_some(), "parser should accept {v}");
        }
        assert_eq!(
            parse_if_match("\"a,b\" , W/\"c\""),
            Some(vec!["\"a,b\"".to_string(), "W/\"c\"".to_string()])
        );
    }

    #[test]
    fn refuses_what_the_pattern_refuses() {
        for v in [
            "",
            "v3",
            "\"v3",
            "\"v3\",",
            ", \"v3\"",
            "\"v3\" \"v4\"",
            "w/\"v3\"",
            "* ",
            "\"a\"b\"",
            "\"é\"",
            "\"v3\"\t,\"v4\"",
            "*,\"v3\"",
        ] {
            assert!(!pattern_matches(v), "pattern should refuse {v:?}");
            assert!(parse_if_match(v).is_none(), "parser should refuse {v:?}");
        }
        assert!(parse_if_match(&format!("\"{}\"", "a".repeat(255))).is_none());
        assert!(parse_if_match(&format!("\"{}\"", "a".repeat(254))).is_some());
    }

    fn pattern_matches(v: &str) -> bool {
        regex::Regex::new(super::IF_MATCH_PATTERN).is_ok_and(|re| re.is_match(v))
    }
}
