//! Starting and stopping the service: database (own cluster or `DATABASE_URL`), migrations,
//! HTTP server, clean shutdown on SIGINT/SIGTERM.

use actix_web::HttpServer;

use crate::app::{build_app, AppState};
use crate::config::Config;
use crate::db::{self, Db};
use crate::pg_cluster::{ClusterOptions, PrivateCluster};

/// The database the service uses: configured, or a private cluster this process owns.
pub struct Database {
    pub url: String,
    pub cluster: Option<PrivateCluster>,
}

pub fn open_database(config: &Config) -> Result<Database, String> {
    if let Some(url) = &config.database_url {
        return Ok(Database {
            url: url.clone(),
            cluster: None,
        });
    }
    log::info!(
        "DATABASE_URL is not set: starting a private PostgreSQL cluster in {} (set PORTFOLIO_DATA_DIR to move it)",
        config.data_dir.display()
    );
    let options = ClusterOptions {
        throwaway: false,
        database: "portfolio".into(),
        max_connections: 100,
    };
    let cluster = PrivateCluster::start(&config.data_dir, &options).map_err(|e| e.to_string())?;
    Ok(Database {
        url: cluster.database_url.clone(),
        cluster: Some(cluster),
    })
}

pub fn migrate(url: &str) -> Result<usize, String> {
    use diesel::Connection;
    let mut conn = diesel::PgConnection::establish(url)
        .map_err(|e| format!("connecting to PostgreSQL: {e}"))?;
    db::run_migrations(&mut conn)
}

pub fn serve(config: Config) -> Result<(), String> {
    crate::memory::limit_arenas();
    let mut database = open_database(&config)?;
    let applied = migrate(&database.url)?;
    log::info!("database ready ({applied} migrations applied)");
    let pool = db::build_pool(&database.url, config.pool_size)?;
    let db = Db::new(pool);
    if config.demo {
        let summary = crate::demo::load(&db).map_err(|e| format!("loading demo data: {e}"))?;
        log::info!("demo data: {summary}");
    }
    if config.jwt.secret_is_default {
        log::warn!(
            "no token keys configured: accepting HS256 tokens signed with the built-in DEVELOPMENT secret. \
             Never run like this in production; configure PORTFOLIO_JWT_JWKS or PORTFOLIO_JWT_PUBLIC_KEY."
        );
    }
    let bind = config.bind.clone();
    let workers = if config.workers == 0 {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
    } else {
        config.workers
    };
    let blocking = (config.pool_size as usize).div_ceil(workers).max(2);
    // Webhook delivery on threads and connections of its own: it never waits for (or holds up)
    // a request's database thread or an HTTP worker. Stopped after the server.
    let webhook_worker = if config.webhooks.workers > 0 {
        let pool = db::build_pool(&database.url, config.webhooks.workers as u32)?;
        Some(crate::webhooks::worker::Worker::start(
            pool,
            config.webhooks.clone(),
        ))
    } else {
        log::info!("PORTFOLIO_WEBHOOK_WORKERS=0: this replica delivers no webhooks");
        None
    };
    let state = AppState::new(db, config)?;

    let system = actix_web::rt::System::new();
    let result = system.block_on(async move {
        let server = HttpServer::new(move || build_app(state.clone()))
            .workers(workers)
            .worker_max_blocking_threads(blocking)
            .shutdown_timeout(10)
            .bind(&bind)
            .map_err(|e| format!("binding {bind}: {e}"))?;
        let addr = server.addrs().first().map(|a| a.to_string()).unwrap_or(bind.clone());
        log::info!("serving on http://{addr}");
        log::info!("Swagger UI: http://{addr}/swagger-ui/  (contract: http://{addr}/api-docs/openapi.json)");
        log::info!(
            "a development token: cargo run --release -- token --scope \"portfolio:read portfolio:manage\" --org 991324968"
        );
        server.run().await.map_err(|e| format!("server: {e}"))
    });
    drop(webhook_worker);
    if let Some(cluster) = database.cluster.as_mut() {
        log::info!("stopping the private PostgreSQL cluster");
        cluster.stop();
    }
    result
}
