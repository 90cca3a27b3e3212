//! Operational metrics in the Prometheus text format, served on a listener of their own
//! (`PORTFOLIO_METRICS_BIND`), never on the public port.
//!
//! One process-wide registry: any module counts what it does with a free function here
//! (`metrics::idempotent_replay()`, `metrics::audit_checkpoint()` …) without plumbing. The
//! counters are atomics; the per-request middleware is installed only when metrics are served.

use std::sync::LazyLock;
use std::time::{Duration, Instant};

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, App, Error, HttpResponse, HttpServer};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::db::Db;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
    commit: &'static str,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 0.5 ms … ~4 s.
    Histogram::new(exponential_buckets(0.0005, 2.0, 14))
}

struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: HistogramFamily<RouteLabels>,
    pool_in_use: Gauge,
    pool_idle: Gauge,
    pool_wait: Histogram,
    transaction: Histogram,
    db_unavailable: Counter,
    idempotent_replays: Counter,
    rate_limited: Counter,
    jwks_fetches: Family<ResultLabels, Counter>,
    audit_checkpoints: Counter,
    webhook_attempts: Family<OutcomeLabels, Counter>,
    webhook_attempt_duration: Histogram,
    webhook_claim_size: Histogram,
}

/// The commit the binary was built from (`PORTFOLIO_GIT_COMMIT` at build time).
pub const GIT_COMMIT: &str = match option_env!("PORTFOLIO_GIT_COMMIT") {
    Some(c) => c,
    None => "unknown",
};

static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    let mut registry = Registry::with_prefix("portfolio");
    let m = Metrics {
        registry: Registry::default(),
        requests: Family::default(),
        latency: Family::new_with_constructor(latency_histogram),
        pool_in_use: Gauge::default(),
        pool_idle: Gauge::default(),
        pool_wait: latency_histogram(),
        transaction: latency_histogram(),
        db_unavailable: Counter::default(),
        idempotent_replays: Counter::default(),
        rate_limited: Counter::default(),
        jwks_fetches: Family::default(),
        audit_checkpoints: Counter::default(),
        webhook_attempts: Family::default(),
        webhook_attempt_duration: latency_histogram(),
        // 1, 2, 4, 8, 16 subscriptions.
        webhook_claim_size: Histogram::new(exponential_buckets(1.0, 2.0, 5)),
    };
    registry.register(
        "http_requests",
        "Requests by method, route template and status",
        m.requests.clone(),
    );
    registry.register(
        "http_request_duration_seconds",
        "Time to answer, by route template",
        m.latency.clone(),
    );
    registry.register(
        "db_pool_connections_in_use",
        "Pooled database connections checked out",
        m.pool_in_use.clone(),
    );
    registry.register(
        "db_pool_connections_idle",
        "Pooled database connections idle",
        m.pool_idle.clone(),
    );
    registry.register(
        "db_pool_wait_seconds",
        "Time a database job waited for a connection",
        m.pool_wait.clone(),
    );
    registry.register(
        "db_transaction_duration_seconds",
        "Duration of database transactions",
        m.transaction.clone(),
    );
    registry.register(
        "db_unavailable",
        "Requests answered 503 because the database was not reachable",
        m.db_unavailable.clone(),
    );
    registry.register(
        "idempotent_replays",
        "Answers replayed for a repeated Idempotency-Key",
        m.idempotent_replays.clone(),
    );
    registry.register(
        "rate_limited",
        "Requests refused by the rate limiter",
        m.rate_limited.clone(),
    );
    registry.register(
        "jwks_fetches",
        "Fetches of the issuer's signing keys, by result (ok, failed)",
        m.jwks_fetches.clone(),
    );
    registry.register(
        "audit_checkpoints",
        "Audit log checkpoints written",
        m.audit_checkpoints.clone(),
    );
    registry.register(
        "webhook_attempts",
        "Webhook delivery attempts, by outcome (delivered, failed, retrying, gave_up)",
        m.webhook_attempts.clone(),
    );
    registry.register(
        "webhook_attempt_duration_seconds",
        "Time a receiver took to answer a webhook (or to time out)",
        m.webhook_attempt_duration.clone(),
    );
    registry.register(
        "webhook_claim_subscriptions",
        "Subscriptions served by one claim of the delivery worker",
        m.webhook_claim_size.clone(),
    );
    let build: Family<BuildLabels, Gauge> = Family::default();
    build
        .get_or_create(&BuildLabels {
            version: env!("CARGO_PKG_VERSION"),
            commit: GIT_COMMIT,
        })
        .set(1);
    registry.register("build_info", "Version and commit of this build", build);
    Metrics { registry, ..m }
});

pub fn jwks_refreshed(ok: bool) {
    METRICS
        .jwks_fetches
        .get_or_create(&ResultLabels {
            result: if ok { "ok" } else { "failed" },
        })
        .inc();
}

pub fn idempotent_replay() {
    METRICS.idempotent_replays.inc();
}

pub fn rate_limited() {
    METRICS.rate_limited.inc();
}

/// A request answered 503 because the database was away.
pub fn db_unavailable() {
    METRICS.db_unavailable.inc();
}

/// An audit checkpoint was written (the audit log's signed checkpoints count here).
pub fn audit_checkpoint() {
    METRICS.audit_checkpoints.inc();
}

/// A webhook attempt was made (feed, ping or redelivery).
pub fn webhook_attempt(outcome: &'static str, took: Duration) {
    METRICS
        .webhook_attempts
        .get_or_create(&OutcomeLabels { outcome })
        .inc();
    METRICS.webhook_attempt_duration.observe(took.as_secs_f64());
}

/// A claim of the delivery worker served `subscriptions` subscriptions.
pub fn webhook_claim(subscriptions: usize) {
    METRICS.webhook_claim_size.observe(subscriptions as f64);
}

pub fn pool_wait(waited: Duration) {
    METRICS.pool_wait.observe(waited.as_secs_f64());
}

pub fn transaction(took: Duration) {
    METRICS.transaction.observe(took.as_secs_f64());
}

/// The exposition, with the pool gauges read now.
pub fn render(db: Option<&Db>) -> String {
    if let Some(db) = db {
        let state = db.pool().state();
        let idle = i64::from(state.idle_connections);
        METRICS.pool_idle.set(idle);
        METRICS.pool_in_use.set(i64::from(state.connections) - idle);
    }
    let mut out = String::new();
    if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &METRICS.registry) {
        log::error!("encoding metrics: {e}");
    }
    out
}

/// Serves `GET /metrics` on `bind`, on the running actix system; returns the bound address.
pub fn serve(bind: &str, db: Db) -> Result<(actix_web::dev::Server, String), String> {
    let server = HttpServer::new(move || {
        let db = db.clone();
        App::new().route(
            "/metrics",
            web::get().to(move || {
                let body = render(Some(&db));
                async move {
                    HttpResponse::Ok()
                        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
                        .body(body)
                }
            }),
        )
    })
    .workers(1)
    .disable_signals()
    .bind(bind)
    .map_err(|e| format!("binding the metrics listener {bind}: {e}"))?;
    let addr = server
        .addrs()
        .first()
        .map(|a| a.to_string())
        .unwrap_or_else(|| bind.to_owned());
    Ok((server.run(), addr))
}

/// The middleware (`from_fn`): counts every request by method, route template (never the raw
/// path: ids would make a series per resource) and status, and times it by route.
pub async fn count_request<B: MessageBody>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<B>, Error> {
    let started = Instant::now();
    let method = method_label(req.method());
    let res = next.call(req).await?;
    let route = route_label(res.request());
    let status = res.status().as_u16();
    METRICS
        .latency
        .get_or_create(&RouteLabels {
            route: route.clone(),
        })
        .observe(started.elapsed().as_secs_f64());
    METRICS
        .requests
        .get_or_create(&RequestLabels {
            method,
            route,
            status,
        })
        .inc();
    Ok(res)
}

/// The method as a static label (anything unusual is `other`, so a client cannot mint series).
pub fn method_label(m: &actix_web::http::Method) -> &'static str {
    use actix_web::http::Method;
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// The route template that matched (`/api/v1/needs/{id}`), or `unmatched`.
pub fn route_label(req: &actix_web::HttpRequest) -> String {
    req.match_pattern().unwrap_or_else(|| "unmatched".into())
}
