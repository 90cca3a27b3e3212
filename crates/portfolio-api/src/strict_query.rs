//! Query parameters an operation does not declare are refused (400, naming the parameter and
//! the accepted ones) instead of being ignored: a misspelt filter (`?service_area=` where the
//! operation takes `service_area_id`) would otherwise return everything, unfiltered, with 200.
//!
//! The accepted names come from the contract itself (each operation's declared query
//! parameters), so a new operation is covered without anyone remembering to list them.

use std::collections::HashMap;
use std::sync::Arc;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ResourceDef, ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::Error;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::{OpenApi, RefOr};

use crate::error::ApiError;

/// One path of the contract: its pattern and, per method, the query parameters it declares.
struct Route {
    pattern: String,
    def: ResourceDef,
    methods: Vec<(Method, Vec<String>)>,
}

/// The declared query parameters of every operation, grouped by the path's first segment
/// after `/api/v1/` so a request is matched against a few patterns, not all of them.
#[derive(Default)]
pub struct QueryTable {
    by_segment: HashMap<String, Vec<Route>>,
}

fn segment(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("/api/v1/")?;
    Some(rest.split('/').next().unwrap_or(rest))
}

fn query_names(op: &Operation) -> Vec<String> {
    op.parameters
        .iter()
        .flatten()
        .filter_map(|p| match p {
            RefOr::T(p) if p.parameter_in == ParameterIn::Query => Some(p.name.clone()),
            _ => None,
        })
        .collect()
}

impl QueryTable {
    pub fn from_openapi(api: &OpenApi) -> QueryTable {
        let mut by_segment: HashMap<String, Vec<Route>> = HashMap::new();
        for (path, item) in &api.paths.paths {
            let Some(seg) = segment(path) else { continue };
            let methods = [
                (Method::GET, &item.get),
                (Method::POST, &item.post),
                (Method::PUT, &item.put),
                (Method::PATCH, &item.patch),
                (Method::DELETE, &item.delete),
            ]
            .into_iter()
            .filter_map(|(m, op)| op.as_ref().map(|op| (m, query_names(op))))
            .collect();
            by_segment.entry(seg.to_owned()).or_default().push(Route {
                pattern: path.clone(),
                def: ResourceDef::new(path.as_str()),
                methods,
            });
        }
        QueryTable { by_segment }
    }

    /// `Err` naming the first parameter `method path` does not declare; `Ok` when all are
    /// declared, or when no operation matches (the router answers 404/405 then).
    pub fn check(&self, method: &Method, path: &str, query: &str) -> Result<(), ApiError> {
        let Some(routes) = segment(path).and_then(|s| self.by_segment.get(s)) else {
            return Ok(());
        };
        let Some((route, accepted)) = routes.iter().find_map(|r| {
            if !r.def.is_match(path) {
                return None;
            }
            let accepted = r.methods.iter().find(|(m, _)| m == method)?;
            Some((r, &accepted.1))
        }) else {
            return Ok(());
        };
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let name = decode(pair.split('=').next().unwrap_or(pair));
            if !accepted.contains(&name) {
                let list = if accepted.is_empty() {
                    "no query parameters".to_owned()
                } else {
                    accepted.join(", ")
                };
                return Err(ApiError::BadRequest(format!(
                    "unknown query parameter {name:?}; {method} {} accepts: {list}",
                    route.pattern
                )));
            }
        }
        Ok(())
    }
}

/// Percent-decodes a query name or value (`+` is a space); invalid escapes are kept as
/// written.
pub(crate) fn decode(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = |b: u8| (b as char).to_digit(16);
                match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The middleware (`from_fn`, with the table): checks requests that carry a query string.
pub async fn refuse_undeclared<B: MessageBody>(
    table: Arc<QueryTable>,
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, Error> {
    if !req.query_string().is_empty() {
        if let Err(e) = table.check(req.method(), req.path(), req.query_string()) {
            // Rendered here, inside the request-id scope, so the problem carries the id.
            return Ok(req.error_response(e).map_into_right_body());
        }
    }
    Ok(next.call(req).await?.map_into_left_body())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_percent_decoded() {
        assert_eq!(decode("service%5Farea"), "service_area");
        assert_eq!(decode("a+b"), "a b");
        assert_eq!(decode("bad%zz"), "bad%zz");
        assert_eq!(decode("end%"), "end%");
        assert_eq!(decode("%C3%A5r"), "år");
        assert_eq!(decode("å%"), "å%");
    }
}
