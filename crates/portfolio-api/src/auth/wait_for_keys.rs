//! A request whose token names a `kid` the service does not know may wait for one fetch of
//! the issuer's keys (the issuer rotated), without blocking the executor: the fetch runs on
//! the refresher's thread and the request awaits its end. The refresher grants such fetches
//! at most once per interval; other requests with unknown keys are refused at once.

use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, Error};

use super::{credentials, Rejection, TokenVerifier};

/// Longer than one fetch can take (discovery + key set, each bounded by the fetch timeout).
const WAIT: std::time::Duration = std::time::Duration::from_secs(11);

/// The middleware (`from_fn`): waits for a granted fetch, then passes the request on.
pub async fn wait_for_keys<B: MessageBody>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<B>, Error> {
    if let Some(mut done) = unknown_key_fetch(&req) {
        // Either way the request goes on: the handler verifies the token again.
        let _ = tokio::time::timeout(WAIT, done.changed()).await;
    }
    next.call(req).await
}

/// A receiver for the end of a granted fetch, when the request's token has an unknown `kid`.
fn unknown_key_fetch(req: &ServiceRequest) -> Option<tokio::sync::watch::Receiver<u64>> {
    let verifier = req.app_data::<web::Data<Arc<TokenVerifier>>>()?;
    let remote = verifier.remote_keys()?;
    let (_, token) = credentials(req.request()).ok()?;
    match verifier.check(token) {
        Err(Rejection::UnknownKey) => remote.request_fetch(),
        _ => None,
    }
}
