//! The pages that problem `type` URIs resolve to: one short HTML page per problem type, and an
//! index of them, served without a token (they are documentation, like Swagger UI).

use actix_web::http::header;
use actix_web::{web, HttpResponse};

use crate::error::{problem_type, ApiError, PROBLEM_TYPES, PROBLEM_TYPE_BASE};

/// `GET /problems/{kind}`: what a problem of this type means and what to do about it.
pub async fn page(kind: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let t = problem_type(&kind).ok_or_else(|| ApiError::not_found("the problem type"))?;
    let body = format!(
        "<h1>{title}</h1>\n<p>HTTP status <strong>{status}</strong>, problem type <code>{uri}</code>.</p>\n<p>{text}</p>\n\
<p><a href=\"{PROBLEM_TYPE_BASE}\">All problem types</a></p>",
        title = t.title,
        status = t.status,
        uri = t.uri(),
        text = code_spans(t.explanation),
    );
    Ok(html(t.title, &body))
}

/// `GET /problems/`: every problem type, with its status.
pub async fn index() -> HttpResponse {
    let items: String = PROBLEM_TYPES
        .iter()
        .map(|t| {
            format!(
                "<li><a href=\"{uri}\"><code>{uri}</code></a> ({status}): {title}</li>\n",
                uri = t.uri(),
                status = t.status,
                title = t.title
            )
        })
        .collect();
    html(
        "Problem types",
        &format!(
            "<h1>Problem types</h1>\n<p>Every error is <code>application/problem+json</code> \
(RFC 9457); its <code>type</code> is one of these.</p>\n<ul>\n{items}</ul>"
        ),
    )
}

fn html(title: &str, body: &str) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
        .body(format!(
            "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title></head>\n<body>\n{body}\n</body></html>\n"
        ))
}

/// The explanations mark code with backticks (they are written once, as in the docs); the
/// texts are ours, hold no markup, and only `<` would need escaping.
fn code_spans(text: &str) -> String {
    let text = text.replace('<', "&lt;").replace('>', "&gt;");
    let mut out = String::new();
    for (i, part) in text.split('`').enumerate() {
        if i % 2 == 1 {
            out.push_str("<code>");
            out.push_str(part);
            out.push_str("</code>");
        } else {
            out.push_str(part);
        }
    }
    out
}
