//! Building the application: the same construction serves `main` and the tests.

use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{ResourceDef, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::{header, Method};
use actix_web::middleware::{from_fn, Condition, DefaultHeaders};
use actix_web::{web, App, HttpRequest, HttpResponse};
use utoipa::openapi::OpenApi;
use utoipa_actix_web::{scope, AppExt};
use utoipa_swagger_ui::SwaggerUi;

use crate::auth::{wait_for_keys, TokenVerifier};
use crate::config::Config;
use crate::db::Db;
use crate::denied::audit_denied;
use crate::error::ApiError;
use crate::extract::{path_config, query_config, BodyLimit};
use crate::idempotency::Idempotency;
use crate::logging::access_log;
use crate::metrics::count_request;
use crate::rate_limit::{self, RateLimiter};
use crate::request_id::request_id;
use crate::strict_query::refuse_undeclared;
use crate::{openapi, routes};

/// What every worker shares.
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub verifier: Arc<TokenVerifier>,
    pub config: Arc<Config>,
    pub openapi: Arc<OpenApi>,
    /// The contract as served (`openapi::document`).
    pub openapi_doc: Arc<serde_json::Value>,
    pub routes: Arc<RouteTable>,
    /// Each operation's declared query parameters (undeclared ones are refused).
    pub queries: Arc<crate::strict_query::QueryTable>,
    /// Per-caller request budgets, shared by every worker.
    pub rate_limiter: RateLimiter,
    /// Read models served until the next committed change.
    pub read_cache: crate::read_cache::ReadCache,
}

impl AppState {
    pub fn new(db: Db, config: Config) -> Result<AppState, String> {
        let verifier = TokenVerifier::from_config(&config.jwt).map_err(|e| e.to_string())?;
        db.set_audit_keys(config.audit_keys.clone());
        let api = contract();
        let routes = RouteTable::from_openapi(&api);
        let queries = crate::strict_query::QueryTable::from_openapi(&api);
        let config_rate = config.rate_limit_per_minute;
        Ok(AppState {
            db,
            verifier: Arc::new(verifier),
            config: Arc::new(config),
            openapi_doc: Arc::new(openapi::document(&api)),
            openapi: Arc::new(api),
            routes: Arc::new(routes),
            queries: Arc::new(queries),
            rate_limiter: RateLimiter::new(config_rate),
            read_cache: Default::default(),
        })
    }
}

fn register(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(routes::health::live)
        .service(routes::health::ready)
        .service(scope::scope("/api/v1").configure(routes::configure_api));
}

/// The contract as generated from the handlers (what `openapi/openapi.json` must equal).
pub fn contract() -> OpenApi {
    let (_, api) = App::new()
        .into_utoipa_app()
        .openapi(openapi::base())
        .configure(register)
        .split_for_parts();
    openapi::apply_conventions(api)
}

/// The contract as served and committed (JSON), what `openapi/openapi.json` holds.
pub fn contract_json() -> serde_json::Value {
    openapi::document(&contract())
}

/// The application with all its routes, middleware and error handling.
pub fn build_app(
    state: AppState,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let body_limit = state.config.body_limit;
    let remote_keys = state.verifier.remote_keys().is_some();
    let metrics = state.config.metrics_bind.is_some();
    let log_json = state.config.log_json;
    let queries = Arc::clone(&state.queries);
    let limiter = state.rate_limiter.clone();
    let (app, _) = App::new()
        .app_data(web::Data::new(state.db.clone()))
        .app_data(web::Data::new(Arc::clone(&state.verifier)))
        .app_data(web::Data::new(Arc::clone(&state.config)))
        .app_data(web::Data::new(Arc::clone(&state.routes)))
        .app_data(web::Data::new(state.read_cache.clone()))
        .app_data(BodyLimit(body_limit))
        // The byte extractor stops reading at this limit; the sync batch route raises both.
        .app_data(web::PayloadConfig::new(body_limit))
        .app_data(query_config())
        .app_data(path_config())
        .app_data(
            web::JsonConfig::default()
                .limit(body_limit)
                .error_handler(|err, _| {
                    ApiError::BadRequest(format!("the request body is not valid JSON: {err}"))
                        .into()
                }),
        )
        .into_utoipa_app()
        .configure(register)
        .split_for_parts();
    app.service(
        SwaggerUi::new("/swagger-ui/{_:.*}")
            .external_url_unchecked("/api-docs/openapi.json", (*state.openapi_doc).clone()),
    )
    .service(web::resource("/swagger-ui").route(web::get().to(|| async {
        HttpResponse::PermanentRedirect()
            .insert_header((header::LOCATION, "/swagger-ui/"))
            .finish()
    })))
    .service(web::resource("/problems/").route(web::get().to(crate::problem_pages::index)))
    .service(web::resource("/problems/{kind}").route(web::get().to(crate::problem_pages::page)))
    .default_service(web::to(unmatched))
    .wrap(from_fn(move |req, next| {
        refuse_undeclared(Arc::clone(&queries), req, next)
    }))
    .wrap(Idempotency)
    .wrap(from_fn(refuse_nul))
    .wrap(from_fn(audit_denied))
    .wrap(from_fn(move |req, next| {
        rate_limit::limit(limiter.clone(), req, next)
    }))
    // Outside everything that authenticates: a token with a new `kid` may wait for the keys.
    .wrap(Condition::new(remote_keys, from_fn(wait_for_keys)))
    .wrap(
        DefaultHeaders::new()
            .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
            .add((header::CACHE_CONTROL, "no-store")),
    )
    // The access line renders parts of every request; skip it when its lines would be
    // discarded anyway (decided once, at start-up, from RUST_LOG).
    .wrap(Condition::new(
        log::log_enabled!(target: crate::logging::ACCESS_TARGET, log::Level::Info),
        from_fn(move |req, next| access_log(log_json, req, next)),
    ))
    .wrap(Condition::new(metrics, from_fn(count_request)))
    .wrap(from_fn(request_id))
}

/// A NUL character (`%00`) in the path or query is refused before routing: no path parameter
/// or query value may carry one (PostgreSQL text cannot hold it, and no identifier has one).
async fn refuse_nul<B: MessageBody + 'static>(
    req: ServiceRequest,
    next: actix_web::middleware::Next<B>,
) -> Result<ServiceResponse<actix_web::body::EitherBody<B>>, actix_web::Error> {
    use actix_web::ResponseError;
    let has_nul = |s: &str| s.as_bytes().windows(3).any(|w| w == b"%00");
    if has_nul(req.uri().path()) || req.uri().query().is_some_and(has_nul) {
        let err =
            ApiError::BadRequest("the request path or query contains a NUL character (%00)".into());
        return Ok(req
            .into_response(err.error_response())
            .map_into_right_body());
    }
    next.call(req)
        .await
        .map(ServiceResponse::map_into_left_body)
}

/// Path patterns of the contract with their methods: unmatched requests on a known path are
/// 405 with `Allow`, not 404.
pub struct RouteTable {
    routes: Vec<(ResourceDef, Vec<&'static str>)>,
}

impl RouteTable {
    pub fn from_openapi(api: &OpenApi) -> RouteTable {
        let mut routes = Vec::new();
        for (path, item) in &api.paths.paths {
            let mut methods = Vec::new();
            if item.get.is_some() {
                methods.push("GET");
            }
            for (op, name) in [
                (&item.post, "POST"),
                (&item.put, "PUT"),
                (&item.patch, "PATCH"),
                (&item.delete, "DELETE"),
            ] {
                if op.is_some() {
                    methods.push(name);
                }
            }
            routes.push((ResourceDef::new(path.as_str()), methods));
        }
        RouteTable { routes }
    }

    pub fn allowed(&self, path: &str) -> Option<Vec<String>> {
        self.routes
            .iter()
            .find(|(def, _)| def.is_match(path))
            .map(|(_, m)| m.iter().map(|s| s.to_string()).collect())
    }
}

async fn unmatched(
    req: HttpRequest,
    table: web::Data<Arc<RouteTable>>,
) -> Result<HttpResponse, ApiError> {
    match table.allowed(req.path()) {
        Some(mut allowed) if req.method() == Method::OPTIONS => {
            allowed.push("OPTIONS".into());
            Ok(HttpResponse::NoContent()
                .insert_header((header::ALLOW, allowed.join(", ")))
                .finish())
        }
        Some(allowed) => Err(ApiError::MethodNotAllowed { allowed }),
        None => Err(ApiError::NotFound(format!("no resource at {}", req.path()))),
    }
}
