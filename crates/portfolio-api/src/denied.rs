//! Denied attempts are part of the audit trail: when a request from an authenticated caller is
//! refused with 403, a `denied` entry (entity = the endpoint) is appended in its own
//! transaction. Unauthenticated requests (401) are not logged: nobody is known to attribute
//! them to.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{web, Error, HttpMessage, HttpRequest};

use crate::auth::Caller;
use crate::changes::{self, Actor, Change};
use crate::db::Db;

/// The middleware (`from_fn`): records every 403 answered to a known caller.
pub async fn audit_denied<B: MessageBody>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<B>, Error> {
    let res = next.call(req).await?;
    if res.status() == StatusCode::FORBIDDEN {
        record(res.request()).await;
    }
    Ok(res)
}

/// Appends the `denied` entry; a failure to write it is logged, never turned into an error
/// (the caller gets the 403 either way).
async fn record(http: &HttpRequest) {
    let caller = http.extensions().get::<Caller>().cloned();
    let (Some(caller), Some(db)) = (caller, http.app_data::<web::Data<Db>>().cloned()) else {
        return;
    };
    let method = http.method().to_string();
    let path = http.path().to_owned();
    let actor = Actor::of(&caller);
    let change =
        Change::new("endpoint", format!("{method} {path}"), "denied").after(&serde_json::json!({
            "method": method,
            "path": path,
            "status": 403,
        }));
    let written = db
        .transaction(move |conn| changes::record(conn, &actor, &[change]))
        .await;
    if let Err(e) = written {
        log::warn!("could not record a denied attempt in the audit trail: {e}");
    }
}
