//! The OpenAPI contract, generated from the handlers registered in `app::configure`.
//!
//! Conventions that hold for every operation are added here once rather than repeated on
//! every handler: the bearer scheme, and the error responses that follow from an
//! operation's shape (authenticated → 401/403/429; has a body → 400/413/415/422;
//! has path parameters → 400/404; takes `If-Match` → 412/428; everything → 431/500/503).

use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr};
use utoipa::OpenApi as _;

use serde_json::{json, Value};

use crate::error::{FieldError, Problem};

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "Regional ICT Portfolio API",
        version = "0.2.0",
        description = "The system of record for how a regional health authority turns reported needs into funded \
concept studies, concepts and delivered improvements.\n\n\
Every endpoint except health and documentation needs a bearer token (JWT). Permissions come from the \
`scope` claim (`portfolio:read`, `portfolio:submit`, `portfolio:score`, `portfolio:manage`, `portfolio:decide`, \
`portfolio:sync`) and the caller's organisation from the organisation claim. For local development, \
`portfolio-api token --scope \"portfolio:read portfolio:manage\" --org 991324968` prints a token to paste into \
**Authorize**.\n\nErrors are `application/problem+json` (RFC 9457) with a field-level `errors` list for invalid input. \
Changes to one resource need `If-Match` with its `ETag`; lists use cursor pagination (`limit`, `cursor` → `next_cursor`).",
        license(name = "MIT", identifier = "MIT"),
        contact(name = "Regional ICT portfolio team", email = "portfolio@example.org")
    ),
    servers((url = "/", description = "This server: the same origin as this document (local, staging or production)")),
    components(schemas(Problem, FieldError)),
    tags(
        (name = "health", description = "Liveness and readiness"),
        (name = "reference data", description = "Organisations and service areas"),
        (name = "change log", description = "The change feed (every committed change, in commit order) and the hash-chained audit trail"),
        (name = "webhooks", description = "Signed push notifications of the change feed (Standard Webhooks), per organisation"),
        (name = "improvement portfolio", description = "Measures (tiltak) of the improvement portfolio and their delivery status"),
        (name = "delivery status sync", description = "The IT partner's systems push delivery status for many measures at once"),
        (name = "tertial reports", description = "Board reports per tertial; frozen once published"),
        (name = "portfolio overview", description = "Dashboard numbers of a year, cheap to poll"),
        (name = "budget frames", description = "Yearly budget frames per sub-portfolio, their allocations and history; never overbooked"),
        (name = "cycles", description = "The yearly needs cycle (intake → first assessment → prioritisation → decided) and its criteria set"),
        (name = "needs", description = "Reported needs (behov): intake, first assessment, reopening"),
        (name = "prioritisation", description = "The trusts' score sheets, the ranking, closing the round, and the funnel"),
        (name = "concept studies", description = "Concept studies started by the board, the concept portfolio, and the need → study → concept lineage"),
        (name = "decision cases", description = "Board decision cases, decided and applied all-or-nothing"),
        (name = "selection scenarios", description = "The accepted needs with the highest total priority that fit a budget, solved exactly and stored"),
        (name = "benefits realisation", description = "Benefits (gevinster) of concept studies, concepts and measures: owner, indicator, baseline, target, lifecycle, and the owners' measurements, with realised share, expected share, RAG and staleness derived as of today")
    )
)]
pub struct ApiDoc;

const PROBLEM: &str = "application/problem+json";

fn problem_response(
    description: &str,
    status: u16,
    title: &str,
    detail: &str,
) -> utoipa::openapi::response::Response {
    let example = serde_json::json!({
        "type": crate::error::PROBLEM_TYPES
            .iter()
            .find(|t| t.status == status)
            .map(|t| t.uri())
            .unwrap_or_default(),
        "title": title,
        "status": status,
        "detail": detail,
        "instance": "urn:request:5f0c6c1e-8d0b-4a53-9a52-8e0f3c4f2a10",
        "request_id": "5f0c6c1e-8d0b-4a53-9a52-8e0f3c4f2a10"
    });
    ResponseBuilder::new()
        .description(description)
        .content(
            PROBLEM,
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Problem")))
                .example(Some(example))
                .build(),
        )
        .build()
}

/// The HTTP layer's (actix-http) bound on a request head: request line and headers together.
pub const REQUEST_HEAD_MAX_BYTES: usize = 128 * 1024;
/// The HTTP layer's bound on the number of header fields of one request.
pub const REQUEST_HEADERS_MAX: usize = 96;

/// A problem answer every operation may give: component name, status, description, and the
/// example's title and detail.
struct StandardProblem {
    name: &'static str,
    status: u16,
    description: &'static str,
    title: &'static str,
    detail: &'static str,
}

const fn problem(
    name: &'static str,
    status: u16,
    description: &'static str,
    title: &'static str,
    detail: &'static str,
) -> StandardProblem {
    StandardProblem {
        name,
        status,
        description,
        title,
        detail,
    }
}

/// The problem answers, in status order (431 has no problem body: see `head_too_large`).
const STANDARD_PROBLEMS: [StandardProblem; 13] = [
    problem(
        "BadRequest",
        400,
        "Malformed request: the body is not JSON, a path parameter is malformed, or the query names a parameter this operation does not declare (the detail names it and the accepted ones)",
        "Bad request",
        "the request body is not valid JSON",
    ),
    problem(
        "Unauthorized",
        401,
        "Missing or invalid bearer token",
        "Authentication required",
        "the bearer token is invalid: expired",
    ),
    problem(
        "Forbidden",
        403,
        "The token lacks the permission, or the caller's organisation may not do this",
        "Not permitted",
        "this operation needs the scope portfolio:manage",
    ),
    problem(
        "NotFound",
        404,
        "No such resource",
        "Not found",
        "the resource was not found",
    ),
    problem(
        "Conflict",
        409,
        "Conflicts with the current state, or a request with the same Idempotency-Key is still running",
        "Conflict with the current state",
        "a request with this Idempotency-Key is still being processed; retry shortly",
    ),
    problem(
        "PreconditionFailed",
        412,
        "If-Match names an older version",
        "Precondition failed",
        "the resource has changed: its current ETag is \"v3\"",
    ),
    problem(
        "PayloadTooLarge",
        413,
        "Request body too large",
        "Request body too large",
        "the request body is larger than 262144 bytes",
    ),
    problem(
        "UnsupportedMediaType",
        415,
        "The body is not JSON",
        "Unsupported media type",
        "the request body must be JSON (Content-Type: application/json)",
    ),
    problem(
        "UnprocessableEntity",
        422,
        "Invalid input; `errors` lists each field",
        "Invalid request",
        "/title: must not be empty",
    ),
    problem(
        "PreconditionRequired",
        428,
        "If-Match is missing",
        "Precondition required",
        "this change needs an If-Match header",
    ),
    problem(
        "TooManyRequests",
        429,
        "Rate limit exceeded; see Retry-After",
        "Too many requests",
        "retry after 10 seconds",
    ),
    problem(
        "InternalError",
        500,
        "Unexpected failure; quote the request id",
        "Internal error",
        "an unexpected error occurred; quote the request id when reporting it",
    ),
    problem(
        "ServiceUnavailable",
        503,
        "The database is not reachable; see Retry-After",
        "Service temporarily unavailable",
        "the database is not reachable right now; retry shortly",
    ),
];

/// 431 is answered by the HTTP layer before the request reaches the application (so without
/// a problem body): header values over their declared `maxLength` but within these bounds get
/// a 400 problem from the application instead.
fn head_too_large() -> utoipa::openapi::response::Response {
    ResponseBuilder::new()
        .description(format!(
            "The request head is too large (over {} KiB of request line and headers, or \
more than {} header fields); answered by the HTTP layer, with an empty body",
            REQUEST_HEAD_MAX_BYTES / 1024,
            REQUEST_HEADERS_MAX
        ))
        .build()
}

/// Standard responses, referenced by name from operations.
fn standard_responses() -> Vec<(&'static str, u16, utoipa::openapi::response::Response)> {
    let mut responses: Vec<_> = STANDARD_PROBLEMS
        .iter()
        .map(|p| {
            (
                p.name,
                p.status,
                problem_response(p.description, p.status, p.title, p.detail),
            )
        })
        .collect();
    responses.push(("RequestHeaderFieldsTooLarge", 431, head_too_large()));
    responses
}

/// Adds the conventions to a generated document.
pub fn apply_conventions(mut api: OpenApi) -> OpenApi {
    let components = api.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("JWT")
                .description(Some("A JWT access token (HelseID in production; `portfolio-api token` in development), profile RFC 9068: `typ` `at+jwt` (or `JWT` unless the deployment requires `at+jwt`), `scope` as a space-separated string or an array, `aud` a string or an array containing this API's audience. Verified following RFC8725 (JWT best current practices): the algorithm is pinned per key (asymmetric RS256/PS256/ES256 in production, never `none`), keys from the issuer's published key set, exact `iss`, `exp`/`nbf` with a few seconds of leeway. A token bound to a key (`cnf.jkt`) is refused with this scheme: use `dpop`."))
                .build(),
        ),
    );
    for (name, _, resp) in standard_responses() {
        components.responses.insert(name.to_owned(), RefOr::T(resp));
    }
    let codes: std::collections::HashMap<u16, &str> = standard_responses()
        .into_iter()
        .map(|(n, c, _)| (c, n))
        .collect();

    for (path, item) in api.paths.paths.iter_mut() {
        let api_path = path.starts_with("/api/");
        for op in [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ]
        .into_iter()
        .flatten()
        {
            add_standard(op, api_path, &codes);
        }
    }
    api
}

/// The contract as served and committed: the generated document with `harden` applied.
pub fn document(api: &OpenApi) -> Value {
    let mut doc = serde_json::to_value(api).unwrap_or(Value::Null);
    harden(&mut doc);
    doc
}

/// Largest array accepted anywhere in a JSON body unless the schema declares a smaller
/// `maxItems` (`ValidJson` enforces it); the contract states it on every array without its own.
pub const DEFAULT_MAX_ITEMS: u64 = 10_000;
/// No string in a request can be longer than the default body limit; the contract states this
/// bound on every string that declares no narrower one.
pub const DEFAULT_MAX_LENGTH: u64 = 262_144;

/// Makes limits and cross-cutting headers explicit everywhere in the document, so that every
/// operation added later gets them too: string, integer and array limits where a schema
/// declares none; rate-limit headers on 2xx/4xx responses, `Retry-After` on 429/503;
/// the optional `Idempotency-Key` header (with its 409/422) on every `POST`; the server's
/// audience; and the token profile in the bearer scheme.
fn harden(doc: &mut Value) {
    if let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) {
        for (path, item) in paths.iter_mut() {
            if let Some(post) = item.get_mut("post").filter(|_| path.starts_with("/api/")) {
                add_idempotency_key(post);
            }
            if !path.starts_with("/api/") {
                declare_unauthenticated(item);
            }
        }
    }
    // After the header is added, so its limits come from the same place as every other
    // parameter's.
    limit_parameters(doc);
    limit_schemas(doc);
    if let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) {
        for item in paths.values_mut() {
            let Some(item) = item.as_object_mut() else {
                continue;
            };
            for op in item.values_mut() {
                if let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) {
                    for (code, resp) in responses.iter_mut() {
                        if resp.get("$ref").is_none() {
                            add_response_headers(code, resp);
                        }
                    }
                }
            }
        }
    }
    if let Some(responses) = doc
        .pointer_mut("/components/responses")
        .and_then(Value::as_object_mut)
    {
        for resp in responses.values_mut() {
            let code = resp
                .pointer("/content/application~1problem+json/example/status")
                .and_then(Value::as_u64)
                .map(|c| c.to_string())
                .unwrap_or_default();
            add_response_headers(&code, resp);
        }
    }
    // Drop standard responses that no operation refers to.
    let text = doc.get("paths").map(|p| p.to_string()).unwrap_or_default();
    if let Some(responses) = doc
        .pointer_mut("/components/responses")
        .and_then(Value::as_object_mut)
    {
        responses.retain(|name, _| text.contains(&format!("#/components/responses/{name}\"")));
    }
    if let Some(servers) = doc.get_mut("servers").and_then(Value::as_array_mut) {
        for server in servers {
            server["x-internal"] = Value::Bool(false);
        }
    }
    add_dpop_scheme(doc);
}

/// Sender-constrained tokens (RFC 9449): the `DPoP` scheme, accepted wherever `bearer` is
/// (with the same scopes). utoipa has no `DPoP` HTTP scheme, so it is added to the JSON.
fn add_dpop_scheme(doc: &mut Value) {
    if let Some(schemes) = doc
        .pointer_mut("/components/securitySchemes")
        .and_then(Value::as_object_mut)
    {
        schemes.insert(
            "dpop".into(),
            json!({
                "type": "http",
                "scheme": "DPoP",
                "description": "A key-bound access token (RFC 9449) as HelseID issues it when the client uses DPoP:                     `Authorization: DPoP <token>` plus a `DPoP` header holding a proof JWT (`typ` `dpop+jwt`, ES256/RS256/PS256)                     signed by the key whose RFC 7638 thumbprint is the token's `cnf.jkt`, with `htm` and `htu` equal to this                     request's method and URL (no query), `iat` within a minute of now, `ath` the base64url SHA-256 of the token,                     and a `jti` never used before. A failure is 401 with `WWW-Authenticate: DPoP error=\"invalid_dpop_proof\"`                     (or `invalid_token`). Deployments may refuse plain bearer tokens altogether."
            }),
        );
    }
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for item in paths.values_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for op in item.values_mut() {
            let Some(security) = op.get_mut("security").and_then(Value::as_array_mut) else {
                continue;
            };
            let alternatives: Vec<Value> = security
                .iter()
                .filter_map(|req| req.get("bearer"))
                .map(|scopes| json!({ "dpop": scopes }))
                .collect();
            security.extend(alternatives);
        }
    }
}

/// Operations outside `/api/` (the health probes) take no token: an explicit empty `security`
/// list says so. (`[{}]`, what an empty requirement generates, reads as "authentication is
/// optional", and generated clients then ask for credentials.)
fn declare_unauthenticated(item: &mut Value) {
    let Some(item) = item.as_object_mut() else {
        return;
    };
    for op in item.values_mut() {
        if let Some(op) = op.as_object_mut() {
            op.insert("security".into(), json!([]));
        }
    }
}

fn header_spec(description: &str, schema: Value) -> Value {
    json!({"description": description, "schema": schema})
}

fn add_response_headers(code: &str, resp: &mut Value) {
    let Some(obj) = resp.as_object_mut() else {
        return;
    };
    let headers = obj
        .entry("headers")
        .or_insert_with(|| json!({}))
        .as_object_mut();
    let Some(headers) = headers else { return };
    let seconds = json!({"type": "integer", "format": "int64", "minimum": 0, "maximum": 86400});
    if code.starts_with('2') || code.starts_with('4') {
        headers.entry("RateLimit-Limit").or_insert_with(|| {
            header_spec(
                "Requests per minute allowed to this caller (sent when rate limiting is on)",
                json!({"type": "integer", "format": "int64", "minimum": 1, "maximum": 1000000}),
            )
        });
        headers.entry("RateLimit-Remaining").or_insert_with(|| {
            header_spec(
                "Requests left in the caller's current budget (sent when rate limiting is on)",
                json!({"type": "integer", "format": "int64", "minimum": 0, "maximum": 1000000}),
            )
        });
        headers.entry("RateLimit-Reset").or_insert_with(|| {
            header_spec(
                "Seconds until the next request is allowed again after the budget is used up (sent when rate limiting is on)",
                seconds.clone(),
            )
        });
    }
    if code == "429" || code == "503" {
        headers
            .entry("Retry-After")
            .or_insert_with(|| header_spec("Seconds to wait before retrying", seconds.clone()));
    }
    if headers.is_empty() {
        obj.remove("headers");
    }
}

fn add_idempotency_key(op: &mut Value) {
    let Some(obj) = op.as_object_mut() else {
        return;
    };
    let params = obj
        .entry("parameters")
        .or_insert_with(|| json!([]))
        .as_array_mut();
    let Some(params) = params else { return };
    let declared = params.iter().any(|p| {
        p.get("name")
            .and_then(Value::as_str)
            .is_some_and(|n| n.eq_ignore_ascii_case("idempotency-key"))
    });
    if !declared {
        params.push(json!({
            "name": "Idempotency-Key",
            "in": "header",
            "required": false,
            "description": "Makes a retry of this request safe (IETF httpapi idempotency-key draft). The first answer \
to (caller, key) is stored for at least 24 hours and replayed, marked `Idempotent-Replayed: true`, for a retry with the \
same method, path and body; the same key with a different request is 422; a retry while the first is still running is \
409. The answer is committed in the same transaction as the change, so a retry after a timeout or a 5xx either gets the \
first answer or is processed (when the first changed nothing), never twice. Keys are scoped to the caller (token subject and organisation). Use a fresh random value (e.g. a UUID) per \
logical request: 1–255 visible ASCII characters. No example value is given on purpose: a tool that pre-fills \
it (Swagger UI) would send the same key every time, and every later request would be refused as a reuse.",
            "schema": {"type": "string"}
        }));
    }
    if let Some(responses) = obj.get_mut("responses").and_then(Value::as_object_mut) {
        responses
            .entry("409")
            .or_insert_with(|| json!({"$ref": "#/components/responses/Conflict"}));
        responses
            .entry("422")
            .or_insert_with(|| json!({"$ref": "#/components/responses/UnprocessableEntity"}));
    }
}

/// Longest path, query or header parameter value declared by default (the request head is
/// limited as a whole; a longer value is refused before it reaches a handler).
pub const DEFAULT_PARAM_MAX_LENGTH: u64 = 1024;

/// Parameters: `If-Match` gets its syntax and length; other strings a default length.
fn limit_parameters(doc: &mut Value) {
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for item in paths.values_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for (method, op) in item.iter_mut() {
            // Only a create-or-replace (PUT) may say `If-Match: *`.
            let if_match_pattern = if method == "put" {
                crate::etag::IF_MATCH_PATTERN
            } else {
                crate::etag::IF_MATCH_TAGS_PATTERN
            };
            let Some(params) = op.get_mut("parameters").and_then(Value::as_array_mut) else {
                continue;
            };
            for p in params {
                let located = p.get("in").and_then(Value::as_str).unwrap_or("").to_owned();
                let name = p
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_ascii_lowercase();
                let Some(schema) = p.get_mut("schema").and_then(Value::as_object_mut) else {
                    continue;
                };
                // A parameter is absent or a string, never JSON null: an optional one
                // (`Option<String>`) is declared by `required: false`, not by a null type
                // (which would make the text `null` a valid value).
                let nullable_string =
                    schema
                        .get("type")
                        .and_then(Value::as_array)
                        .is_some_and(|t| {
                            t.iter().any(|x| x == "string")
                                && t.iter().all(|x| x == "string" || x == "null")
                        });
                if nullable_string {
                    schema.insert("type".into(), json!("string"));
                }
                if schema.get("type").and_then(Value::as_str) != Some("string") {
                    continue;
                }
                if name == "idempotency-key" {
                    schema.insert("minLength".into(), json!(1));
                    schema.insert("maxLength".into(), json!(crate::idempotency::KEY_MAX));
                    schema.insert("pattern".into(), json!(crate::idempotency::KEY_PATTERN));
                } else if name == "if-match" {
                    schema.insert("minLength".into(), json!(1));
                    schema.insert("maxLength".into(), json!(crate::etag::IF_MATCH_MAX_LENGTH));
                    schema.insert("pattern".into(), json!(if_match_pattern));
                } else if !schema.contains_key("maxLength") && !schema.contains_key("enum") {
                    schema.insert("maxLength".into(), json!(DEFAULT_PARAM_MAX_LENGTH));
                }
                // The server refuses NUL in a path or query (PostgreSQL text cannot hold it):
                // say so, where nothing stricter is declared.
                let free_text = !["pattern", "enum", "format"]
                    .iter()
                    .any(|k| schema.contains_key(*k));
                if (located == "query" || located == "path") && free_text {
                    schema.insert("pattern".into(), json!("^[^\\u0000]*$"));
                }
            }
        }
    }
}

/// Every string, integer and array schema gets a bound when it declares none.
fn limit_schemas(v: &mut Value) {
    match v {
        Value::Object(map) => {
            let is = |t: &str, m: &serde_json::Map<String, Value>| match m.get("type") {
                Some(Value::String(s)) => s == t,
                Some(Value::Array(a)) => a.iter().any(|x| x == t),
                _ => false,
            };
            if is("string", map)
                && !map.contains_key("maxLength")
                && !map.contains_key("enum")
                && !map.contains_key("const")
            {
                let max = match map.get("format").and_then(Value::as_str) {
                    Some("uuid") => 36,
                    Some("date") => 10,
                    Some("date-time") => 64,
                    _ => DEFAULT_MAX_LENGTH,
                };
                map.insert("maxLength".into(), json!(max));
            }
            if is("integer", map) {
                if !map.contains_key("format") {
                    map.insert("format".into(), json!("int64"));
                }
                let (lo, hi): (i64, i64) = match map.get("format").and_then(Value::as_str) {
                    Some("int32") => (i32::MIN.into(), i32::MAX.into()),
                    _ => (i64::MIN, i64::MAX),
                };
                if !map.contains_key("minimum") && !map.contains_key("exclusiveMinimum") {
                    map.insert("minimum".into(), json!(lo));
                }
                if !map.contains_key("maximum") && !map.contains_key("exclusiveMaximum") {
                    map.insert("maximum".into(), json!(hi));
                }
            }
            if is("array", map) && !map.contains_key("maxItems") {
                map.insert("maxItems".into(), json!(DEFAULT_MAX_ITEMS));
            }
            for child in map.values_mut() {
                limit_schemas(child);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(limit_schemas),
        _ => {}
    }
}

fn add_standard(
    op: &mut Operation,
    authenticated: bool,
    codes: &std::collections::HashMap<u16, &str>,
) {
    let params = op.parameters.as_deref().unwrap_or(&[]);
    let has = |loc: ParameterIn| {
        params
            .iter()
            .any(|p| matches!(p, RefOr::T(p) if p.parameter_in == loc))
    };
    let if_match = params
        .iter()
        .any(|p| matches!(p, RefOr::T(p) if p.name.eq_ignore_ascii_case("if-match")));
    let mut wanted = vec![431, 500, 503];
    if authenticated {
        // 400 too: a query parameter the operation does not declare is refused.
        wanted.extend([400, 401, 403, 429]);
    }
    if op.request_body.is_some() {
        wanted.extend([400, 413, 415, 422]);
    }
    if has(ParameterIn::Path) {
        wanted.extend([400, 404]);
    }
    if has(ParameterIn::Query) {
        wanted.push(422);
    }
    if if_match {
        wanted.extend([412, 428]);
    }
    for code in wanted {
        let name = codes[&code];
        op.responses
            .responses
            .entry(code.to_string())
            .or_insert_with(|| RefOr::Ref(Ref::new(format!("#/components/responses/{name}"))));
    }
}

/// The document as served and committed: pretty JSON with a trailing newline.
pub fn to_pretty_json(api: &OpenApi) -> String {
    let mut s = serde_json::to_string_pretty(&document(api)).unwrap_or_default();
    s.push('\n');
    s
}

pub fn base() -> OpenApi {
    ApiDoc::openapi()
}
