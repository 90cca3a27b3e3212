//! Denied attempts are part of the audit trail: when a request from an authenticated caller is
//! refused with 403, a `denied` entry (entity = the endpoint) is appended in its own
//! transaction. Unauthenticated requests (401) are not logged: nobody is known to attribute
//! them to.

use std::future::{ready, Future, Ready};
use std::pin::Pin;
use std::rc::Rc;

use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::http::StatusCode;
use actix_web::{web, Error, HttpMessage};

use crate::auth::Caller;
use crate::changes::{self, Actor, Change};
use crate::db::Db;

pub struct AuditDenied;

impl<S, B> Transform<S, ServiceRequest> for AuditDenied
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<B>;
    type Error = Error;
    type Transform = AuditDeniedService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(AuditDeniedService {
            service: Rc::new(service),
        }))
    }
}

pub struct AuditDeniedService<S> {
    service: Rc<S>,
}

impl<S, B> Service<ServiceRequest> for AuditDeniedService<S>
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
        Box::pin(async move {
            let res = service.call(req).await?;
            if res.status() == StatusCode::FORBIDDEN {
                let http = res.request();
                let caller = http.extensions().get::<Caller>().cloned();
                let db = http.app_data::<web::Data<Db>>().cloned();
                if let (Some(caller), Some(db)) = (caller, db) {
                    let method = http.method().to_string();
                    let path = http.path().to_owned();
                    let actor = Actor::of(&caller);
                    let change = Change::new("endpoint", format!("{method} {path}"), "denied")
                        .after(&serde_json::json!({
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
            }
            Ok(res)
        })
    }
}
