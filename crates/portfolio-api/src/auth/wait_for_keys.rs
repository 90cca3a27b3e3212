//! A request whose token names a `kid` the service does not know may wait for one fetch of
//! the issuer's keys (the issuer rotated), without blocking the executor: the fetch runs on
//! the refresher's thread and the request awaits its end. The refresher grants such fetches
//! at most once per interval; other requests with unknown keys are refused at once.

use std::future::{ready, Future, Ready};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;

use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::{web, Error};

use super::{credentials, Rejection, TokenVerifier};

/// Longer than one fetch can take (discovery + key set, each bounded by the fetch timeout).
const WAIT: std::time::Duration = std::time::Duration::from_secs(11);

pub struct WaitForKeys;

impl<S, B> Transform<S, ServiceRequest> for WaitForKeys
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<B>;
    type Error = Error;
    type Transform = WaitForKeysService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(WaitForKeysService {
            service: Rc::new(service),
        }))
    }
}

pub struct WaitForKeysService<S> {
    service: Rc<S>,
}

impl<S, B> Service<ServiceRequest> for WaitForKeysService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<B>;
    type Error = Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>>>>;

    actix_web::dev::forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let service = Rc::clone(&self.service);
        let wait = unknown_key_fetch(&req);
        Box::pin(async move {
            if let Some(mut done) = wait {
                // Either way the request goes on: the handler verifies the token again.
                let _ = tokio::time::timeout(WAIT, done.changed()).await;
            }
            service.call(req).await
        })
    }
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
