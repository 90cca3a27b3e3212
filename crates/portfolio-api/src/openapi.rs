//! The OpenAPI contract, generated from the handlers registered in `app::configure`.
//!
//! Conventions that hold for every operation are added here once rather than repeated on
//! every handler: the bearer scheme, and the error responses that follow from an
//! operation's shape (authenticated → 401/403/429; has a body → 400/413/415/422;
//! has path parameters → 400/404; takes `If-Match` → 412/428; everything → 500/503).

use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr};
use utoipa::OpenApi as _;

use crate::error::{FieldError, Problem};

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "Regional ICT Portfolio API",
        version = "0.1.0",
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
    servers((url = "/", description = "This server")),
    components(schemas(Problem, FieldError)),
    tags(
        (name = "health", description = "Liveness and readiness"),
        (name = "reference data", description = "Organisations and service areas"),
        (name = "improvement portfolio", description = "Measures (tiltak) of the improvement portfolio and their delivery status"),
        (name = "delivery status sync", description = "The IT partner's systems push delivery status for many measures at once"),
        (name = "budget frames", description = "Yearly budget frames per sub-portfolio, their allocations and history; never overbooked"),
        (name = "cycles", description = "The yearly needs cycle (intake → first assessment → prioritisation → decided) and its criteria set"),
        (name = "needs", description = "Reported needs (behov): intake, first assessment, reopening"),
        (name = "prioritisation", description = "The trusts' score sheets, the ranking, closing the round, and the funnel"),
        (name = "concept studies", description = "Concept studies started by the board, the concept portfolio, and the need → study → concept lineage"),
        (name = "decision cases", description = "Board decision cases, decided and applied all-or-nothing"),
        (name = "selection scenarios", description = "The accepted needs with the highest total priority that fit a budget, solved exactly and stored")
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
        "type": format!("https://portfolio.example/problems/{}", title.to_lowercase().replace(' ', "-")),
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

/// Standard responses, referenced by name from operations.
fn standard_responses() -> Vec<(&'static str, u16, utoipa::openapi::response::Response)> {
    vec![
        (
            "BadRequest",
            400,
            problem_response(
                "Malformed request (body is not JSON, bad path parameter)",
                400,
                "Bad request",
                "the request body is not valid JSON",
            ),
        ),
        (
            "Unauthorized",
            401,
            problem_response(
                "Missing or invalid bearer token",
                401,
                "Authentication required",
                "the bearer token is invalid: expired",
            ),
        ),
        (
            "Forbidden",
            403,
            problem_response(
                "The token lacks the permission, or the caller's organisation may not do this",
                403,
                "Not permitted",
                "this operation needs the scope portfolio:manage",
            ),
        ),
        (
            "NotFound",
            404,
            problem_response(
                "No such resource",
                404,
                "Not found",
                "the resource was not found",
            ),
        ),
        (
            "PreconditionFailed",
            412,
            problem_response(
                "If-Match names an older version",
                412,
                "Precondition failed",
                "the resource has changed: its current ETag is \"v3\"",
            ),
        ),
        (
            "PayloadTooLarge",
            413,
            problem_response(
                "Request body too large",
                413,
                "Request body too large",
                "the request body is larger than 262144 bytes",
            ),
        ),
        (
            "UnsupportedMediaType",
            415,
            problem_response(
                "The body is not JSON",
                415,
                "Unsupported media type",
                "the request body must be JSON (Content-Type: application/json)",
            ),
        ),
        (
            "UnprocessableEntity",
            422,
            problem_response(
                "Invalid input; `errors` lists each field",
                422,
                "Invalid request",
                "/title: must not be empty",
            ),
        ),
        (
            "PreconditionRequired",
            428,
            problem_response(
                "If-Match is missing",
                428,
                "Precondition required",
                "this change needs an If-Match header",
            ),
        ),
        (
            "TooManyRequests",
            429,
            problem_response(
                "Rate limit exceeded; see Retry-After",
                429,
                "Too many requests",
                "retry after 10 seconds",
            ),
        ),
        (
            "InternalError",
            500,
            problem_response(
                "Unexpected failure; quote the request id",
                500,
                "Internal error",
                "an unexpected error occurred; quote the request id when reporting it",
            ),
        ),
        (
            "ServiceUnavailable",
            503,
            problem_response(
                "The database is not reachable; see Retry-After",
                503,
                "Service temporarily unavailable",
                "the database is not reachable right now; retry shortly",
            ),
        ),
    ]
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
                .description(Some("A JWT access token (HelseID in production; `portfolio-api token` in development)."))
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
    let mut wanted = vec![500, 503];
    if authenticated {
        wanted.extend([401, 403, 429]);
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
    let mut s = serde_json::to_string_pretty(api).unwrap_or_default();
    s.push('\n');
    s
}

pub fn base() -> OpenApi {
    ApiDoc::openapi()
}
