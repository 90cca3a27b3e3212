//! Starting and stopping the service: database (own cluster or `DATABASE_URL`), migrations,
//! HTTP server, clean shutdown on SIGINT/SIGTERM.

use actix_web::HttpServer;

use crate::app::{build_app, AppState};
use crate::config::Config;
use crate::db::{self, Db};
use crate::pg_cluster::{ClusterOptions, PrivateCluster};

/// The database the service uses: configured, or a private cluster this process owns.
pub struct Database {
    /// The serving role's URL.
    pub url: String,
    /// The schema owner's URL, when known: migrations run with it.
    pub migration_url: Option<String>,
    pub cluster: Option<PrivateCluster>,
}

impl Database {
    /// The URL migrations and data generation run with: the owner's, else the serving one.
    pub fn owner_url(&self) -> &str {
        self.migration_url.as_deref().unwrap_or(&self.url)
    }
}

pub fn open_database(config: &Config) -> Result<Database, String> {
    if let Some(url) = &config.database_url {
        return Ok(Database {
            url: url.clone(),
            migration_url: config.migration_database_url.clone(),
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
        url: cluster.serving_url_for(&options.database),
        migration_url: Some(cluster.database_url.clone()),
        cluster: Some(cluster),
    })
}

pub fn migrate(url: &str) -> Result<usize, String> {
    use diesel::Connection;
    let mut conn = diesel::PgConnection::establish(url)
        .map_err(|e| format!("connecting to PostgreSQL: {e}"))?;
    db::run_migrations(&mut conn)
}

/// Refuses to serve as a superuser or as the owner of the tables (either can switch the audit
/// trail's append-only protection off), unless `PORTFOLIO_ALLOW_SUPERUSER=1` says so.
fn check_serving_role(pool: &db::PgPool, allow: bool) -> Result<(), String> {
    let role = db::serving_role(pool)?;
    if !(role.superuser || role.owns_tables) {
        log::info!("serving as database role {:?} (least privilege)", role.name);
        return Ok(());
    }
    let what = if role.superuser {
        "a PostgreSQL superuser"
    } else {
        "the owner of the tables"
    };
    if !allow {
        return Err(format!(
            "refusing to serve as database role {:?}, {what}: it could rewrite or empty the audit trail. \
             Serve as a least-privileged role (DATABASE_URL) and migrate as the owner \
             (PORTFOLIO_MIGRATION_DATABASE_URL); see README \"Database roles\". \
             PORTFOLIO_ALLOW_SUPERUSER=1 overrides this.",
            role.name
        ));
    }
    log::warn!(
        "!!! SERVING AS DATABASE ROLE {:?}, {what} (PORTFOLIO_ALLOW_SUPERUSER=1): the audit trail is NOT \
         protected against this process. Never run like this in production. !!!",
        role.name
    );
    Ok(())
}

pub fn serve(config: Config) -> Result<(), String> {
    crate::memory::limit_arenas();
    let mut database = open_database(&config)?;
    let db = prepare_database(&config, &database)?;
    warn_about_development_keys(&config);
    let listen = Listen::from_config(&config);
    // Webhook delivery on threads and connections of its own: it never waits for (or holds up)
    // a request's database thread or an HTTP worker. Stopped after the server.
    let webhook_worker = start_webhook_worker(&config, &database)?;
    // Periodic signed checkpoints of the audit chain; stopped after the server.
    let checkpointer =
        crate::audit_checkpointer::Checkpointer::start(db.clone(), config.audit_checkpoint_every);
    let state = AppState::new(db, config)?;
    let result = run_http(state, listen);
    drop(webhook_worker);
    drop(checkpointer);
    if let Some(cluster) = database.cluster.as_mut() {
        log::info!("stopping the private PostgreSQL cluster");
        cluster.stop();
    }
    result
}

/// Migrates (when the owner's URL is known), checks the serving role, and loads the demo
/// data when asked: the database ready to serve.
fn prepare_database(config: &Config, database: &Database) -> Result<Db, String> {
    if database.migration_url.is_some() {
        let applied = migrate(database.owner_url())?;
        log::info!("database ready ({applied} migrations applied)");
    }
    let pool = db::build_pool(&database.url, db::pool_size_for(config.pool_size))?;
    check_serving_role(&pool, config.allow_superuser)?;
    if database.migration_url.is_none() {
        db::require_migrated(&pool)?;
    }
    let db = Db::new(pool);
    db.set_audit_keys(config.audit_keys.clone());
    if config.demo {
        let summary = crate::demo::load(&db).map_err(|e| format!("loading demo data: {e}"))?;
        log::info!("demo data: {summary}");
    }
    Ok(db)
}

/// Says loudly when the audit trail or the tokens use the built-in development keys.
fn warn_about_development_keys(config: &Config) {
    if config.audit_keys.is_default {
        log::warn!(
            "PORTFOLIO_AUDIT_KEY is not set: the audit trail is chained with a DEVELOPMENT key derived from a \
             public constant (key id \"dev\"), so anyone could recompute it. Set PORTFOLIO_AUDIT_KEY=<id>:<secret> \
             in production."
        );
    } else {
        log::info!(
            "audit trail keyed with key id {:?}",
            config.audit_keys.current_id()
        );
    }
    if config.jwt.secret_is_default {
        log::warn!(
            "no token keys configured: accepting HS256 tokens signed with the built-in DEVELOPMENT secret. \
             Never run like this in production; configure PORTFOLIO_JWT_JWKS or PORTFOLIO_JWT_PUBLIC_KEY."
        );
    }
}

/// Where and with how many threads the HTTP server (and the metrics endpoint) listen.
struct Listen {
    bind: String,
    workers: usize,
    /// Blocking (database) threads per worker.
    blocking: usize,
    metrics_bind: Option<String>,
}

impl Listen {
    fn from_config(config: &Config) -> Listen {
        let workers = if config.workers == 0 {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
        } else {
            config.workers
        };
        Listen {
            bind: config.bind.clone(),
            workers,
            blocking: (config.pool_size as usize).div_ceil(workers).max(2),
            metrics_bind: config.metrics_bind.clone(),
        }
    }
}

fn start_webhook_worker(
    config: &Config,
    database: &Database,
) -> Result<Option<crate::webhooks::worker::Worker>, String> {
    if config.webhooks.workers == 0 {
        log::info!("PORTFOLIO_WEBHOOK_WORKERS=0: this replica delivers no webhooks");
        return Ok(None);
    }
    // Named, so that its sessions are told apart in pg_stat_activity. Generic plans: the
    // worker runs a handful of fixed statements over a few small rows, and PostgreSQL kept
    // re-planning one of them for every claim (custom plans, ~115 µs each; bench/README.md).
    // (A URL that sets `options` itself keeps them.)
    let sep = if database.url.contains('?') { '&' } else { '?' };
    let mut url = format!("{}{sep}application_name=portfolio-webhooks", database.url);
    if !database.url.contains("options=") {
        url.push_str("&options=-c%20plan_cache_mode%3Dforce_generic_plan");
    }
    let pool = db::build_pool(&url, config.webhooks.workers as u32)?;
    Ok(Some(crate::webhooks::worker::Worker::start(
        pool,
        &url,
        config.webhooks.clone(),
    )))
}

/// Runs the HTTP server (and the metrics endpoint, when configured) until SIGINT/SIGTERM.
fn run_http(state: AppState, listen: Listen) -> Result<(), String> {
    let metrics_db = state.db.clone();
    let Listen {
        bind,
        workers,
        blocking,
        metrics_bind,
    } = listen;
    let system = actix_web::rt::System::new();
    system.block_on(async move {
        let metrics = match &metrics_bind {
            Some(bind) => {
                let (server, addr) = crate::metrics::serve(bind, metrics_db)?;
                log::info!("metrics on http://{addr}/metrics");
                let handle = server.handle();
                actix_web::rt::spawn(server);
                Some(handle)
            }
            None => None,
        };
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
        let result = server.run().await.map_err(|e| format!("server: {e}"));
        if let Some(m) = metrics {
            m.stop(true).await;
        }
        result
    })
}
