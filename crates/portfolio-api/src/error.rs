//! The one error type of the HTTP layer, rendered once as `application/problem+json` (RFC 9457).

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use portfolio_domain::{DomainError, FieldIssue};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::request_id;
use crate::store::StoreError;

pub const PROBLEM_JSON: &str = "application/problem+json";

/// One invalid field of a request.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct FieldError {
    /// JSON Pointer (RFC 6901) to the offending value in the request body, or `/query/<name>`, `/path/<name>`, `/header/<name>`.
    #[schema(example = "/title")]
    pub pointer: String,
    /// What is wrong with it.
    #[schema(example = "must not be empty")]
    pub message: String,
}

impl FieldError {
    pub fn new(pointer: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            pointer: pointer.into(),
            message: message.into(),
        }
    }
}

/// An error response (RFC 9457 problem details).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "type": "/problems/validation",
    "title": "Invalid request",
    "status": 422,
    "detail": "2 fields are invalid",
    "instance": "urn:request:5f0c6c1e-8d0b-4a53-9a52-8e0f3c4f2a10",
    "request_id": "5f0c6c1e-8d0b-4a53-9a52-8e0f3c4f2a10",
    "errors": [{"pointer": "/title", "message": "must not be empty"}]
}))]
pub struct Problem {
    /// Names the kind of problem: a URI reference relative to this API (e.g.
    /// `/problems/validation`); `GET` on it returns a short page explaining the problem type.
    #[serde(rename = "type")]
    #[schema(format = "uri-reference")]
    pub kind: String,
    /// Short summary of the kind of problem.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong in this occurrence, for a human.
    pub detail: String,
    /// Identifies this occurrence (the request id as a URN).
    pub instance: String,
    /// The request id, also sent as `X-Request-Id`; quote it when reporting a problem.
    pub request_id: String,
    /// Field-level errors, for validation failures.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub errors: Vec<FieldError>,
}

/// A kind of problem: the last segment of its `type` URI, its title and what it means.
pub struct ProblemType {
    pub kind: &'static str,
    pub status: u16,
    pub title: &'static str,
    /// What the problem means and what the client can do about it (served at the type URI).
    pub explanation: &'static str,
}

impl ProblemType {
    /// The `type` of a problem: relative to the API, so it resolves against whichever server
    /// answered (local, staging, production) to the page `GET /problems/{kind}` serves.
    pub fn uri(&self) -> String {
        format!("{PROBLEM_TYPE_BASE}{}", self.kind)
    }
}

/// Where problem type pages are served.
pub const PROBLEM_TYPE_BASE: &str = "/problems/";

/// Every problem type the API answers with; each has a page at its `type` URI.
pub const PROBLEM_TYPES: &[ProblemType] = &[
    ProblemType { kind: "bad-request", status: 400, title: "Bad request",
        explanation: "The request could not be read: the body is not valid JSON, a path parameter is malformed, a header value is unusable, or a query names a parameter the operation does not accept (the detail names it and the accepted ones). Fix the request; repeating it unchanged fails the same way." },
    ProblemType { kind: "unauthorized", status: 401, title: "Authentication required",
        explanation: "No usable bearer token was sent. Send `Authorization: Bearer <token>` with a JWT whose signature verifies, whose `iss` and `aud` are the values this server expects (the detail names them when they differ), and which has not expired. The `WWW-Authenticate` header repeats the reason." },
    ProblemType { kind: "forbidden", status: 403, title: "Not permitted",
        explanation: "The token is valid but lacks the scope this operation needs, or the organisation in the token may not act on this resource (for example, a trust writing another trust's score sheet). The detail names what is missing. Denied attempts are recorded in the audit trail." },
    ProblemType { kind: "not-found", status: 404, title: "Not found",
        explanation: "No resource exists at this path (or no route does). Check the identifier; identifiers are never reused." },
    ProblemType { kind: "method-not-allowed", status: 405, title: "Method not allowed",
        explanation: "The path exists but not with this HTTP method. The `Allow` header lists the methods it has." },
    ProblemType { kind: "conflict", status: 409, title: "Conflict with the current state",
        explanation: "The request is well-formed but the resource's state does not allow it (a rule of the process, such as a closed prioritisation round or an overbooked budget frame), or a request with the same Idempotency-Key is still running. Read the resource again; retry only after the state has changed, or after the first request with that key finished." },
    ProblemType { kind: "precondition-failed", status: 412, title: "Precondition failed",
        explanation: "`If-Match` names an older version than the resource has now: someone changed it since you read it. Read it again (its `ETag`), reapply your change, and send the new ETag." },
    ProblemType { kind: "precondition-required", status: 428, title: "Precondition required",
        explanation: "Changing this resource needs `If-Match` with the `ETag` you last read, so that no update is lost. Read the resource and send its ETag." },
    ProblemType { kind: "payload-too-large", status: 413, title: "Request body too large",
        explanation: "The body is larger than this route accepts (the detail gives the limit). Send less, or split a bulk request." },
    ProblemType { kind: "unsupported-media-type", status: 415, title: "Unsupported media type",
        explanation: "The body must be JSON, sent with `Content-Type: application/json`." },
    ProblemType { kind: "not-acceptable", status: 406, title: "Not acceptable",
        explanation: "The `Accept` header asks for a representation this operation does not offer. Ask for `application/json` (or the other media types the operation lists)." },
    ProblemType { kind: "validation", status: 422, title: "Invalid request",
        explanation: "The request is readable but breaks the operation's rules. `errors` lists every problem at once, each with a JSON Pointer (`pointer`) to the field (`/title` in the body, `/query/year` for a query parameter, `/path/id`, `/header/idempotency-key`) and a message. Fix them all and send again. An Idempotency-Key reused with a different request is answered this way too." },
    ProblemType { kind: "rate-limited", status: 429, title: "Too many requests",
        explanation: "This caller sent more requests per minute than allowed. Wait the seconds given in `Retry-After` (the `RateLimit-*` headers show the budget)." },
    ProblemType { kind: "unavailable", status: 503, title: "Service temporarily unavailable",
        explanation: "The database is not reachable right now. Nothing was changed; retry after `Retry-After` seconds (with the same Idempotency-Key for a POST)." },
    ProblemType { kind: "internal", status: 500, title: "Internal error",
        explanation: "An unexpected failure. Nothing internal is disclosed; quote the `request_id` when reporting it, so the operators can find its log line." },
];

/// The problem type with this kind, if there is one.
pub fn problem_type(kind: &str) -> Option<&'static ProblemType> {
    PROBLEM_TYPES.iter().find(|t| t.kind == kind)
}

/// Everything a handler can fail with. Mapped to HTTP in exactly one place (`ResponseError`).
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    /// 401 for a DPoP-bound token (RFC 9449 §7.1): challenged with the `DPoP` scheme.
    /// `error` is `invalid_token` or `invalid_dpop_proof`.
    #[error("{detail}")]
    UnauthorizedDpop { error: &'static str, detail: String },
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{allowed:?}")]
    MethodNotAllowed { allowed: Vec<String> },
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    PreconditionFailed(String),
    #[error("{0}")]
    PreconditionRequired(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    NotAcceptable(String),
    #[error("{detail}")]
    Validation {
        detail: String,
        errors: Vec<FieldError>,
    },
    #[error("{detail}")]
    TooManyRequests {
        detail: String,
        retry_after_seconds: u64,
    },
    #[error("{0}")]
    Unavailable(String),
    /// Internal failure: the cause is logged with the request id, never sent to the client.
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    pub fn not_found(what: impl std::fmt::Display) -> Self {
        ApiError::NotFound(format!("{what} was not found"))
    }
    pub fn invalid(pointer: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::Validation {
            detail: "the request is invalid".into(),
            errors: vec![FieldError::new(pointer, message)],
        }
    }
    pub fn validation(errors: Vec<FieldError>) -> Self {
        let detail = match errors.len() {
            1 => format!("{}: {}", errors[0].pointer, errors[0].message),
            n => format!("{n} fields are invalid"),
        };
        ApiError::Validation { detail, errors }
    }
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        ApiError::Internal(cause.to_string())
    }

    /// This error's entry in [`PROBLEM_TYPES`].
    fn problem_type(&self) -> &'static ProblemType {
        let kind = match self {
            ApiError::BadRequest(_) => "bad-request",
            ApiError::Unauthorized(_) | ApiError::UnauthorizedDpop { .. } => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "not-found",
            ApiError::MethodNotAllowed { .. } => "method-not-allowed",
            ApiError::Conflict(_) => "conflict",
            ApiError::PreconditionFailed(_) => "precondition-failed",
            ApiError::PreconditionRequired(_) => "precondition-required",
            ApiError::PayloadTooLarge(_) => "payload-too-large",
            ApiError::UnsupportedMediaType(_) => "unsupported-media-type",
            ApiError::NotAcceptable(_) => "not-acceptable",
            ApiError::Validation { .. } => "validation",
            ApiError::TooManyRequests { .. } => "rate-limited",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Internal(_) => "internal",
        };
        problem_type(kind).unwrap_or(&PROBLEM_TYPES[0])
    }

    pub fn to_problem(&self) -> Problem {
        let kind = self.problem_type();
        let request_id = request_id::current();
        let detail = match self {
            ApiError::Internal(_) => {
                "an unexpected error occurred; quote the request id when reporting it".to_owned()
            }
            ApiError::MethodNotAllowed { allowed } => {
                format!("this resource allows {}", allowed.join(", "))
            }
            other => other.to_string(),
        };
        let errors = match self {
            ApiError::Validation { errors, .. } => errors.clone(),
            _ => Vec::new(),
        };
        Problem {
            kind: kind.uri(),
            title: kind.title.to_owned(),
            status: self.status_code().as_u16(),
            detail,
            instance: format!("urn:request:{request_id}"),
            request_id,
            errors,
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) | ApiError::UnauthorizedDpop { .. } => {
                StatusCode::UNAUTHORIZED
            }
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
            ApiError::PreconditionRequired(_) => StatusCode::PRECONDITION_REQUIRED,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::NotAcceptable(_) => StatusCode::NOT_ACCEPTABLE,
            ApiError::Validation { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let problem = self.to_problem();
        if let ApiError::Internal(cause) = self {
            log::error!("request {} failed: {cause}", problem.request_id);
        }
        let mut resp = HttpResponse::build(self.status_code());
        resp.insert_header((header::CONTENT_TYPE, PROBLEM_JSON));
        match self {
            ApiError::Unauthorized(msg) => {
                let msg = msg.replace('"', "'");
                resp.insert_header((
                    header::WWW_AUTHENTICATE,
                    format!("Bearer realm=\"portfolio\", error=\"invalid_token\", error_description=\"{msg}\""),
                ));
            }
            ApiError::UnauthorizedDpop { error, detail } => {
                let detail = detail.replace('"', "'");
                resp.insert_header((
                    header::WWW_AUTHENTICATE,
                    format!(
                        "DPoP algs=\"{}\", error=\"{error}\", error_description=\"{detail}\"",
                        crate::auth::dpop::ALGORITHMS
                    ),
                ));
            }
            ApiError::Forbidden(_) => {
                resp.insert_header((
                    header::WWW_AUTHENTICATE,
                    "Bearer realm=\"portfolio\", error=\"insufficient_scope\"",
                ));
            }
            ApiError::MethodNotAllowed { allowed } => {
                resp.insert_header((header::ALLOW, allowed.join(", ")));
            }
            ApiError::TooManyRequests {
                retry_after_seconds,
                ..
            } => {
                resp.insert_header((header::RETRY_AFTER, retry_after_seconds.to_string()));
            }
            ApiError::Unavailable(_) => {
                resp.insert_header((header::RETRY_AFTER, "2"));
            }
            _ => {}
        }
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        resp.body(body)
    }
}

impl FieldError {
    /// The wire form of a domain field issue: its path as a JSON Pointer (RFC 6901).
    pub fn of(issue: FieldIssue) -> Self {
        FieldError::new(issue.field.to_pointer(), issue.message)
    }
}

// The one mapping of domain and store errors to problems.

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::Invalid { field, message } => {
                ApiError::validation(vec![FieldError::of(FieldIssue { field, message })])
            }
            other => ApiError::Conflict(other.to_string()),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(_) => ApiError::NotFound(e.to_string()),
            StoreError::Conflict(m) => ApiError::Conflict(m),
            StoreError::Invalid(issues) => {
                ApiError::validation(issues.into_iter().map(FieldError::of).collect())
            }
            StoreError::VersionRequired(m) => ApiError::PreconditionRequired(m),
            StoreError::Stale(m) => ApiError::PreconditionFailed(m),
            StoreError::Domain(e) => e.into(),
            StoreError::Db(e) => e.into(),
            StoreError::Corrupt(m) => ApiError::Internal(m),
        }
    }
}

/// What a violated constraint means to a client. Constraint names stay in the log: a
/// constraint without an entry here is described by its kind only.
const CONSTRAINTS: &[(&str, &str)] = &[
    (
        "service_areas_year_name_key",
        "a service area with this name already exists for the year",
    ),
    (
        "needs_year_seq_key",
        "a need with this reference already exists",
    ),
    (
        "needs_reference_key",
        "a need with this reference already exists",
    ),
    (
        "budget_frames_year_sub_portfolio_key",
        "the year already has a budget frame for this sub-portfolio",
    ),
    (
        "measures_partner_reference_key",
        "a measure with this partner reference already exists",
    ),
    (
        "tertial_reports_year_tertial_key",
        "a report for this tertial already exists",
    ),
    (
        "concept_studies_one_per_need",
        "the need already has a concept study",
    ),
    ("concepts_one_per_study", "the study already has a concept"),
    (
        "budget_frames_allocated_within_amount",
        "the budget frame cannot take that: its allocations would exceed its amount",
    ),
    (
        "budget_frames_spent_within_allocated",
        "the budget frame cannot take that: spending would exceed what is allocated",
    ),
    (
        "budget_allocations_spent_within_amount",
        "the allocation cannot take that: spending would exceed its amount",
    ),
];

fn constraint_conflict(
    info: &dyn diesel::result::DatabaseErrorInformation,
    fallback: &str,
) -> ApiError {
    let name = info.constraint_name().unwrap_or("");
    match CONSTRAINTS.iter().find(|(c, _)| *c == name) {
        Some((_, meaning)) => ApiError::Conflict((*meaning).to_owned()),
        None => {
            log::info!("constraint {name:?} violated: {}", info.message());
            ApiError::Conflict(fallback.to_owned())
        }
    }
}

impl From<diesel::result::Error> for ApiError {
    fn from(e: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match e {
            Error::NotFound => ApiError::NotFound("the resource was not found".into()),
            Error::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
                constraint_conflict(info.as_ref(), "already exists")
            }
            Error::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, info) => {
                constraint_conflict(
                    info.as_ref(),
                    "refers to something that does not exist or is still referenced",
                )
            }
            Error::DatabaseError(DatabaseErrorKind::CheckViolation, info) => {
                constraint_conflict(info.as_ref(), "violates a rule of the data")
            }
            Error::DatabaseError(DatabaseErrorKind::SerializationFailure, _) => {
                ApiError::Conflict("a concurrent change got there first; retry the request".into())
            }
            // SQLSTATE 40P01 arrives as an "unknown" error: PostgreSQL rolled this transaction
            // back to let a concurrent one finish, so a retry is the right answer, as above.
            Error::DatabaseError(_, info) if info.message().starts_with("deadlock detected") => {
                ApiError::Conflict("a concurrent change got there first; retry the request".into())
            }
            Error::DatabaseError(DatabaseErrorKind::ClosedConnection, _)
            | Error::DatabaseError(DatabaseErrorKind::UnableToSendCommand, _) => {
                ApiError::Unavailable(
                    "the database is not reachable right now; retry shortly".into(),
                )
            }
            // A stored value the code cannot read (e.g. an enum text it does not know): a bug
            // or a hand edit of the database, never the client's fault. Logged, never a
            // fallback value.
            Error::DeserializationError(e) => ApiError::internal(format!("reading a row: {e}")),
            // A transaction whose rollback failed: the connection was lost under it.
            Error::BrokenTransactionManager => {
                ApiError::Unavailable("the database connection was lost; retry shortly".into())
            }
            Error::DatabaseError(_, info) if is_connection_loss(info.message()) => {
                ApiError::Unavailable(
                    "the database is not reachable right now; retry shortly".into(),
                )
            }
            other => ApiError::internal(other),
        }
    }
}

/// Messages of a server that went away, is shutting down or is still starting (SQLSTATE
/// classes 08 and 57P0x arrive as "unknown" database errors): the request is a 503, not a 500.
fn is_connection_loss(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    [
        "terminating connection",
        "server closed the connection",
        "no connection to the server",
        "connection to server",
        "could not connect",
        "the database system is shutting down",
        "the database system is starting up",
        "the database system is in recovery mode",
        "could not receive data from server",
        "could not send data to server",
        "connection refused",
        "broken pipe",
        "ssl syscall error",
    ]
    .iter()
    .any(|needle| m.contains(needle))
}

impl From<validator::ValidationErrors> for ApiError {
    fn from(errs: validator::ValidationErrors) -> Self {
        let mut out = Vec::new();
        collect_validation("", &errs, &mut out);
        out.sort_by(|a, b| a.pointer.cmp(&b.pointer));
        ApiError::validation(out)
    }
}

fn collect_validation(prefix: &str, errs: &validator::ValidationErrors, out: &mut Vec<FieldError>) {
    use validator::ValidationErrorsKind;
    for (field, kind) in errs.errors() {
        let pointer = format!("{prefix}/{field}");
        match kind {
            ValidationErrorsKind::Field(list) => {
                for e in list {
                    let message = e
                        .message
                        .as_ref()
                        .map(|m| m.to_string())
                        .unwrap_or_else(|| describe_validation(e));
                    out.push(FieldError::new(pointer.clone(), message));
                }
            }
            ValidationErrorsKind::Struct(inner) => collect_validation(&pointer, inner, out),
            ValidationErrorsKind::List(items) => {
                for (i, inner) in items {
                    collect_validation(&format!("{pointer}/{i}"), inner, out);
                }
            }
        }
    }
}

fn describe_validation(e: &validator::ValidationError) -> String {
    let p = |k: &str| e.params.get(k).map(|v| v.to_string());
    match e.code.as_ref() {
        "length" => match (p("min"), p("max")) {
            (Some(min), Some(max)) => format!("length must be between {min} and {max}"),
            (None, Some(max)) => format!("must be at most {max} characters"),
            (Some(min), None) => format!("must be at least {min} characters"),
            _ => "invalid length".into(),
        },
        "range" => match (p("min"), p("max")) {
            (Some(min), Some(max)) => format!("must be between {min} and {max}"),
            (None, Some(max)) => format!("must be at most {max}"),
            (Some(min), None) => format!("must be at least {min}"),
            _ => "out of range".into(),
        },
        "no_nul" => "must not contain NUL characters".into(),
        code => format!("invalid ({code})"),
    }
}
