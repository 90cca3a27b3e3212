//! Everything tests share, so that no test file imports from another:
//! - this module: the harness ([`TestApp`], [`Req`], [`TestResponse`]);
//! - [`tokens`]: the scopes a caller can hold; [`orgs`]: organisation numbers;
//! - [`requests`]: typed responses (`.returns::<T>(status)`, `.problem(status)`);
//! - [`fixtures`]: request bodies, setup requests and rows, grouped by resource;
//! - [`snapshots`]: insta settings that redact ids, times and versions;
//! - [`tables`]: looking at the tables behind the API.
//!
//! The harness: a private PostgreSQL cluster per test process (started on first use,
//! gone with the process), one database per test cloned from a migrated template, and the
//! application called in-process.
//!
//! Why a database per test rather than a never-committed transaction: writers serialise the
//! hash-chained audit log and the change feed on one transaction-scoped lock, which an
//! open test transaction would hold for the whole test and so block every other test.
//! Cloning the template costs ~0.1–0.2 s and gives each test real commits and many connections.

#![allow(dead_code)]

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use actix_http::Request;
use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::test;
use actix_web::web::Bytes;
use diesel::{Connection, PgConnection, RunQueryDsl};
use portfolio_api::app::{build_app, AppState};
use portfolio_api::config::Config;
use portfolio_api::db::{self, Db};
use portfolio_api::pg_cluster::{
    create_database_if_missing, ensure_login_role, quote_ident, ClusterOptions, PrivateCluster,
    SERVING_ROLE,
};
use serde_json::Value;

pub mod audit;
pub mod fixtures;
pub mod orgs;
pub mod requests;
pub mod snapshots;
pub mod tables;
pub mod tokens;

// One import line for a test: `use crate::support::{TestApp, READ, HSO, open_cycle, ...}`.
pub use fixtures::*;
pub use orgs::*;
pub use requests::{assert_needs_if_match, etag, pointers, read, wire};
pub use tables::snapshot;
pub use tokens::*;

struct Server {
    /// URL of a database on the server, given a name.
    base: Box<dyn Fn(&str) -> String + Send + Sync>,
    /// The same, as the least-privileged serving role the application connects as.
    serving: Box<dyn Fn(&str) -> String + Send + Sync>,
    template: String,
    prefix: String,
}

static SERVER: OnceLock<Server> = OnceLock::new();
static COUNTER: AtomicUsize = AtomicUsize::new(0);

fn server() -> &'static Server {
    SERVER.get_or_init(|| {
        let pid = std::process::id();
        let prefix = format!("t{pid}_");
        let base: Box<dyn Fn(&str) -> String + Send + Sync> = match std::env::var("DATABASE_URL") {
            Ok(url) if !url.is_empty() => {
                // Replace the database name in the URL's path.
                let (head, tail) = url.split_once("://").expect("DATABASE_URL is a URL");
                let (authority, rest) = tail.split_once('/').unwrap_or((tail, ""));
                let query = rest
                    .split_once('?')
                    .map(|(_, q)| format!("?{q}"))
                    .unwrap_or_default();
                let head = head.to_owned();
                let authority = authority.to_owned();
                Box::new(move |db: &str| format!("{head}://{authority}/{db}{query}"))
            }
            _ => {
                let cluster = start_private_cluster();
                Box::new(move |db: &str| cluster.replace("/postgres?", &format!("/{db}?")))
            }
        };
        let serving = serving_urls(&base("{db}"));
        let template = format!("{prefix}template");
        let mut admin =
            PgConnection::establish(&base("postgres")).expect("connect to the test server");
        // The application serves as a least-privileged role, as in production.
        ensure_login_role(&mut admin, SERVING_ROLE, Some(SERVING_ROLE))
            .expect("create the serving role");
        diesel::sql_query(format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            quote_ident(&template)
        ))
        .execute(&mut admin)
        .expect("drop old template");
        create_database_if_missing(&mut admin, &template, None).expect("create template");
        let mut conn = PgConnection::establish(&base(&template)).expect("connect to template");
        db::run_migrations(&mut conn).expect("migrate template");
        drop(conn);
        Server {
            base,
            serving,
            template,
            prefix,
        }
    })
}

/// URLs for the serving role, from an owner's URL with `{db}` where the database name goes.
fn serving_urls(owner: &str) -> Box<dyn Fn(&str) -> String + Send + Sync> {
    let (scheme, rest) = owner.split_once("://").expect("a URL");
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let url = format!("{scheme}://{SERVING_ROLE}:{SERVING_ROLE}@{host}/{path}");
    Box::new(move |db: &str| url.replace("{db}", db))
}

/// Starts the cluster on a thread that lives as long as the process: the postmaster gets a
/// parent-death signal tied to the thread that started it.
fn start_private_cluster() -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        sweep_stale_clusters();
        let dir = std::env::temp_dir().join(format!("portfolio-test-pg-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let options = ClusterOptions {
            throwaway: true,
            database: "postgres".into(),
            max_connections: 300,
        };
        match PrivateCluster::start(&dir, &options) {
            Ok(cluster) => {
                tx.send(Ok(cluster.url_for("postgres"))).ok();
                let _keep = cluster;
                loop {
                    std::thread::park();
                }
            }
            Err(e) => {
                tx.send(Err(e.to_string())).ok();
            }
        }
    });
    match rx.recv().expect("cluster thread") {
        Ok(url) => url,
        Err(e) => panic!("could not start a private PostgreSQL cluster for the tests: {e}"),
    }
}

/// Removes data directories of earlier test runs whose process is gone.
fn sweep_stale_clusters() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        if let Some(pid) = name
            .strip_prefix("portfolio-test-pg-")
            .and_then(|p| p.parse::<u32>().ok())
        {
            if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
}

pub struct TestResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl TestResponse {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    /// Asserts the status, showing the body when it differs.
    #[track_caller]
    pub fn assert_status(&self, expected: u16) -> &Self {
        assert_eq!(
            self.status.as_u16(),
            expected,
            "unexpected status; body: {}",
            self.text()
        );
        self
    }
    /// Asserts a problem+json response with this status; returns the problem.
    #[track_caller]
    pub fn assert_problem(&self, expected: u16) -> Value {
        self.assert_status(expected);
        assert_eq!(
            self.header("content-type").as_deref(),
            Some("application/problem+json"),
            "{}",
            self.text()
        );
        let p = self.json();
        assert_eq!(p["status"], expected);
        assert!(
            p["title"].is_string()
                && p["detail"].is_string()
                && p["type"].is_string()
                && p["instance"].is_string()
        );
        p
    }
}

type Caller = Rc<dyn Fn(Request) -> Pin<Box<dyn Future<Output = TestResponse>>>>;

/// The application on its own database.
pub struct TestApp {
    pub state: AppState,
    pub db_name: String,
    /// The schema owner's URL: for the test's own checks.
    pub url: String,
    /// The URL the application serves with (the least-privileged role).
    pub serving_url: String,
    call: Caller,
}

impl TestApp {
    pub async fn new() -> TestApp {
        Self::with_config(|_| {}).await
    }

    pub async fn with_config(adjust: impl FnOnce(&mut Config)) -> TestApp {
        let server = server();
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let db_name = format!("{}{n}", server.prefix);
        let admin_url = (server.base)("postgres");
        let template = server.template.clone();
        let name = db_name.clone();
        actix_web::rt::task::spawn_blocking(move || {
            let mut admin = PgConnection::establish(&admin_url).expect("connect admin");
            diesel::sql_query(format!(
                "CREATE DATABASE {} TEMPLATE {}",
                quote_ident(&name),
                quote_ident(&template)
            ))
            .execute(&mut admin)
            .expect("create test database");
        })
        .await
        .expect("create database task");
        let url = (server.base)(&db_name);
        let mut app = Self::serving(&(server.serving)(&db_name), &url, adjust).await;
        app.db_name = db_name;
        app
    }

    /// The application on a database the test provides (already migrated): e.g. one on a
    /// separate cluster the test stops and starts. The database is not dropped afterwards.
    pub async fn on_database(url: &str, adjust: impl FnOnce(&mut Config)) -> TestApp {
        Self::serving(url, url, adjust).await
    }

    /// The application serving as `serving_url`; `url` (the owner's) is for the test's checks.
    async fn serving(serving_url: &str, url: &str, adjust: impl FnOnce(&mut Config)) -> TestApp {
        let url = url.to_owned();
        let db_name = String::new();
        let mut config = Config::from_lookup(|_| None).expect("default config");
        config.database_url = Some(serving_url.to_owned());
        adjust(&mut config);
        let pool = patient_pool(serving_url, db::pool_size_for(config.pool_size.max(8)));
        let state = AppState::new(Db::new(pool), config).expect("state");
        let svc = Rc::new(test::init_service(build_app(state.clone())).await);
        let call: Caller = Rc::new(move |req: Request| {
            let svc = Rc::clone(&svc);
            Box::pin(async move {
                let resp = test::call_service(&*svc, req).await;
                let status = resp.status();
                let headers = resp.headers().clone();
                let body = test::read_body(resp).await;
                TestResponse {
                    status,
                    headers,
                    body,
                }
            })
        });
        TestApp {
            state,
            db_name,
            url,
            serving_url: serving_url.to_owned(),
            call,
        }
    }

    /// A token with these space-separated scopes for this organisation.
    pub fn token(&self, scopes: &str, org: Option<&str>) -> String {
        let scopes: Vec<&str> = scopes.split_whitespace().collect();
        self.state
            .verifier
            .mint("test-user", &scopes, org, 600)
            .expect("mint")
    }

    pub fn request(&self, method: Method, path: &str) -> Req<'_> {
        Req {
            app: self,
            inner: test::TestRequest::default().method(method).uri(path),
        }
    }
    pub fn get(&self, path: &str) -> Req<'_> {
        self.request(Method::GET, path)
    }
    pub fn post(&self, path: &str) -> Req<'_> {
        self.request(Method::POST, path)
    }
    pub fn put(&self, path: &str) -> Req<'_> {
        self.request(Method::PUT, path)
    }
    pub fn patch(&self, path: &str) -> Req<'_> {
        self.request(Method::PATCH, path)
    }

    /// A plain connection to this test's database, for checking what was (not) written.
    pub fn conn(&self) -> PgConnection {
        PgConnection::establish(&self.url).expect("connect test database")
    }

    /// Counts rows of `table` (for "nothing was written" checks).
    pub fn count(&self, table: &str) -> i64 {
        #[derive(diesel::QueryableByName)]
        struct N {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        diesel::sql_query(format!("SELECT count(*) AS n FROM {}", quote_ident(table)))
            .get_result::<N>(&mut self.conn())
            .expect("count")
            .n
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if self.db_name.is_empty() {
            return;
        }
        let admin_url = (server().base)("postgres");
        if let Ok(mut admin) = PgConnection::establish(&admin_url) {
            let _ = diesel::sql_query(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                quote_ident(&self.db_name)
            ))
            .execute(&mut admin);
        }
    }
}

pub struct Req<'a> {
    app: &'a TestApp,
    inner: test::TestRequest,
}

impl Req<'_> {
    pub fn token(mut self, token: &str) -> Self {
        self.inner = self
            .inner
            .insert_header(("Authorization", format!("Bearer {token}")));
        self
    }
    /// Authenticates with a fresh token for `scopes` and `org`.
    pub fn auth(self, scopes: &str, org: Option<&str>) -> Self {
        let t = self.app.token(scopes, org);
        self.token(&t)
    }
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.inner = self.inner.insert_header((
            HeaderName::from_bytes(name.as_bytes()).expect("header name"),
            HeaderValue::from_str(value).expect("header value"),
        ));
        self
    }
    pub fn json(mut self, body: &Value) -> Self {
        self.inner = self.inner.set_json(body);
        self
    }
    pub fn raw_body(mut self, content_type: &str, body: impl Into<Bytes>) -> Self {
        self.inner = self
            .inner
            .insert_header(("Content-Type", content_type.to_owned()))
            .set_payload(body.into());
        self
    }
    pub async fn send(self) -> TestResponse {
        (self.app.call)(self.inner.to_request()).await
    }
}

pub fn fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures")
        .join(name)
}

/// Shared, immutable value for tests that need an `Arc`.
pub fn arc<T>(v: T) -> Arc<T> {
    Arc::new(v)
}

/// The server's pool gives up on a connection after 2 s (fail fast in production). With the
/// whole suite running in parallel on two cores, a fresh database's first connection can take
/// longer, so the harness tries a few times before calling it a failure.
pub fn patient_pool(url: &str, size: u32) -> db::PgPool {
    let mut last = String::new();
    for _ in 0..5 {
        match db::build_pool(url, size) {
            Ok(pool) => return pool,
            Err(e) => last = e,
        }
    }
    panic!("pool: {last}")
}
