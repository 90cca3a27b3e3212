//! Configuration, read once from the environment.

use std::path::PathBuf;

/// Development-only HS256 secret used when no signing material is configured at all,
/// so that a fresh checkout works without setup. Never valid in production: the log says so.
pub const DEV_DEFAULT_SECRET: &str = "portfolio-dev-secret-not-for-production";
pub const DEFAULT_ORG_CLAIM: &str = "helseid://claims/client/claims/orgnr_parent";

#[derive(Debug, Clone)]
pub struct Config {
    /// The serving role's URL (`DATABASE_URL`); none: a private cluster.
    pub database_url: Option<String>,
    /// The schema owner's URL for migrations (`PORTFOLIO_MIGRATION_DATABASE_URL`).
    pub migration_database_url: Option<String>,
    /// Serve even as a superuser or table owner (`PORTFOLIO_ALLOW_SUPERUSER=1`).
    pub allow_superuser: bool,
    /// The keys of the audit trail's chain (`PORTFOLIO_AUDIT_KEY`, `…_KEYS_RETIRED`).
    pub audit_keys: crate::audit_key::AuditKeys,
    /// Publish a signed audit checkpoint this often when the chain's head moved
    /// (`PORTFOLIO_AUDIT_CHECKPOINT_MINUTES`, default 60; fractions allowed, so `0.05` is
    /// every 3 s; 0 turns it off: `None`).
    pub audit_checkpoint_every: Option<std::time::Duration>,
    pub bind: String,
    pub data_dir: PathBuf,
    pub jwt: JwtConfig,
    pub pool_size: u32,
    /// Default limit for JSON bodies, in bytes.
    pub body_limit: usize,
    /// Limit for bulk endpoints (the delivery-status sync batch), in bytes.
    pub bulk_body_limit: usize,
    pub workers: usize,
    /// Requests per minute per caller; 0 turns the limiter off.
    pub rate_limit_per_minute: u32,
    /// Load demo data (built from the seed page's public figures) at start.
    pub demo: bool,
    /// Where `/metrics` is served (a separate listener); `None` turns metrics off.
    pub metrics_bind: Option<String>,
    /// `json`: one JSON object per log line; otherwise text.
    pub log_json: bool,
    pub webhooks: WebhookConfig,
}

/// Webhook delivery (see `webhooks`).
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// Allow `http://` and loopback/private addresses: development and tests only.
    pub allow_local: bool,
    /// Delivery threads of this replica; 0 delivers nothing here (other replicas do).
    pub workers: usize,
    /// The safety net: how often an idle worker looks for work without being woken (it is
    /// woken by a notification when events commit, and when a retry it scheduled falls due).
    pub poll_interval: std::time::Duration,
    /// Niceness of the delivery threads (0–19): background delivery yields the CPU to
    /// request threads when both want it. Off (0) by default: on a saturated machine a niced
    /// worker falls behind without bound (bench/README.md, issue 15).
    pub nice: i32,
    /// Waits before the 2nd, 3rd, … attempt of one event; when they are used up, the
    /// subscription is disabled.
    pub retry_schedule: Vec<std::time::Duration>,
    /// Per attempt, connecting and reading included.
    pub timeout: std::time::Duration,
    /// The shortest time between two claims of one delivery thread. Under a steady stream of
    /// changes a claim then carries the events of this long, instead of one event per claim
    /// (a claim's statements cost more than the deliveries of one event, bench/README.md,
    /// issue 15); an event after a quiet spell is claimed at once. 0: no waiting.
    pub linger: std::time::Duration,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        WebhookConfig {
            allow_local: false,
            workers: 2,
            poll_interval: std::time::Duration::from_millis(1000),
            nice: 0,
            retry_schedule: DEFAULT_RETRY_SCHEDULE
                .iter()
                .map(|s| std::time::Duration::from_secs(*s))
                .collect(),
            timeout: std::time::Duration::from_secs(10),
            linger: std::time::Duration::from_millis(25),
        }
    }
}

/// 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h: a receiver may be away for about a day.
pub const DEFAULT_RETRY_SCHEDULE: [u64; 7] = [5, 300, 1800, 7200, 18000, 36000, 36000];

#[derive(Debug, Clone)]
pub struct JwtConfig {
    /// HS256 secret; development and tests only.
    pub secret: Option<String>,
    /// True when `secret` is the built-in development default.
    pub secret_is_default: bool,
    pub public_key_pem: Option<PathBuf>,
    pub jwks: Option<PathBuf>,
    pub issuer: String,
    pub audience: String,
    pub org_claim: String,
    pub leeway_seconds: u64,
    /// Keys from the issuer: `<authority>/.well-known/openid-configuration` → `jwks_uri`.
    pub authority: Option<String>,
    /// Keys from a JWKS URL, for an issuer without discovery.
    pub jwks_url: Option<String>,
    /// How often the issuer's keys are fetched again (shortened by `Cache-Control: max-age`).
    pub refresh_seconds: u64,
    /// At most one fetch per this many seconds because of an unknown `kid`.
    pub unknown_kid_interval_seconds: u64,
    /// Accept only `typ: at+jwt` (RFC 9068), not plain `JWT`.
    pub require_at_jwt: bool,
    /// Refuse bearer tokens: every token must be DPoP-bound (RFC 9449).
    pub require_dpop: bool,
    /// How far a DPoP proof's `iat` may be from now, in seconds.
    pub dpop_window_seconds: u64,
}

impl JwtConfig {
    /// True when keys come from the issuer over HTTP.
    pub fn remote_keys(&self) -> bool {
        self.authority.is_some() || self.jwks_url.is_some()
    }
}

impl Default for JwtConfig {
    fn default() -> Self {
        JwtConfig {
            secret: Some(DEV_DEFAULT_SECRET.to_owned()),
            secret_is_default: true,
            public_key_pem: None,
            jwks: None,
            issuer: "portfolio-dev".to_owned(),
            audience: "portfolio-api".to_owned(),
            org_claim: DEFAULT_ORG_CLAIM.to_owned(),
            leeway_seconds: 5,
            authority: None,
            jwks_url: None,
            refresh_seconds: 600,
            unknown_kid_interval_seconds: 60,
            require_at_jwt: false,
            require_dpop: false,
            dpop_window_seconds: 60,
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(pub String);

impl Config {
    pub fn from_env() -> Result<Config, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
    }

    /// Reads the configuration through `get`, so tests can supply their own environment.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let jwt = jwt_config(&get)?;
        Ok(Config {
            database_url: get("DATABASE_URL"),
            migration_database_url: get("PORTFOLIO_MIGRATION_DATABASE_URL"),
            allow_superuser: get("PORTFOLIO_ALLOW_SUPERUSER").is_some_and(|v| v == "1"),
            audit_keys: crate::audit_key::AuditKeys::from_settings(
                get("PORTFOLIO_AUDIT_KEY").as_deref(),
                get("PORTFOLIO_AUDIT_KEYS_RETIRED").as_deref(),
            )
            .map_err(ConfigError)?,
            audit_checkpoint_every: parse_minutes(
                &get,
                "PORTFOLIO_AUDIT_CHECKPOINT_MINUTES",
                60.0,
            )?,
            bind: get("PORTFOLIO_BIND").unwrap_or_else(|| "127.0.0.1:8080".to_owned()),
            data_dir: get("PORTFOLIO_DATA_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(".data/postgres")),
            jwt,
            pool_size: parse_num(&get, "PORTFOLIO_DB_POOL_SIZE", 4)?,
            body_limit: parse_num(&get, "PORTFOLIO_BODY_LIMIT_BYTES", 256 * 1024)?,
            bulk_body_limit: parse_num(&get, "PORTFOLIO_BULK_BODY_LIMIT_BYTES", 16 * 1024 * 1024)?,
            workers: parse_num(&get, "PORTFOLIO_WORKERS", 0)?,
            rate_limit_per_minute: parse_num(&get, "PORTFOLIO_RATE_LIMIT_PER_MINUTE", 0)?,
            demo: flag(&get, "PORTFOLIO_DEMO"),
            metrics_bind: get("PORTFOLIO_METRICS_BIND"),
            log_json: log_json(&get)?,
            webhooks: webhook_config(&get)?,
        })
    }
}

/// The token settings: keys (or the development secret), issuer, audience, DPoP.
fn jwt_config(get: &impl Fn(&str) -> Option<String>) -> Result<JwtConfig, ConfigError> {
    let public_key_pem = get("PORTFOLIO_JWT_PUBLIC_KEY").map(PathBuf::from);
    let jwks = get("PORTFOLIO_JWT_JWKS").map(PathBuf::from);
    let authority = get("PORTFOLIO_JWT_AUTHORITY");
    let jwks_url = get("PORTFOLIO_JWT_JWKS_URL");
    let explicit_secret = get("PORTFOLIO_JWT_SECRET");
    let has_keys =
        public_key_pem.is_some() || jwks.is_some() || authority.is_some() || jwks_url.is_some();
    let (secret, secret_is_default) = token_secret(get, explicit_secret, has_keys)?;
    let defaults = JwtConfig::default();
    let jwt = JwtConfig {
        secret,
        secret_is_default,
        public_key_pem,
        jwks,
        issuer: get("PORTFOLIO_JWT_ISSUER").unwrap_or(defaults.issuer),
        audience: get("PORTFOLIO_JWT_AUDIENCE").unwrap_or(defaults.audience),
        org_claim: get("PORTFOLIO_ORG_CLAIM").unwrap_or(defaults.org_claim),
        leeway_seconds: parse_num(get, "PORTFOLIO_JWT_LEEWAY_SECONDS", 5)?,
        authority,
        jwks_url,
        refresh_seconds: parse_num(get, "PORTFOLIO_JWT_REFRESH_SECONDS", 600)?.max(1),
        unknown_kid_interval_seconds: parse_num(
            get,
            "PORTFOLIO_JWT_UNKNOWN_KID_INTERVAL_SECONDS",
            60,
        )?,
        require_at_jwt: flag(get, "PORTFOLIO_JWT_REQUIRE_AT_JWT"),
        require_dpop: flag(get, "PORTFOLIO_REQUIRE_DPOP"),
        dpop_window_seconds: parse_num(get, "PORTFOLIO_DPOP_WINDOW_SECONDS", 60)?,
    };
    if let Some(a) = jwt.authority.as_deref().or(jwt.jwks_url.as_deref()) {
        crate::auth::fetch::check_url(a).map_err(ConfigError)?;
    }
    Ok(jwt)
}

/// The HS256 secret, and whether it is the built-in development one.
fn token_secret(
    get: &impl Fn(&str) -> Option<String>,
    explicit_secret: Option<String>,
    has_keys: bool,
) -> Result<(Option<String>, bool), ConfigError> {
    // The built-in secret only applies when nothing else is configured: a deployment that
    // configures real keys must not silently also accept tokens signed with a public secret.
    match explicit_secret {
        Some(s) => {
            if s.len() < 16 {
                return Err(ConfigError(
                    "PORTFOLIO_JWT_SECRET must be at least 16 characters".into(),
                ));
            }
            Ok((Some(s), false))
        }
        None if !has_keys => {
            // A deployment (the compose file) says it must never fall back to the
            // publicly known development secret.
            if flag(get, "PORTFOLIO_REQUIRE_KEYS") {
                return Err(ConfigError(
                    "PORTFOLIO_REQUIRE_KEYS=1 but no token keys are configured: set \
                     PORTFOLIO_JWT_AUTHORITY (HelseID), PORTFOLIO_JWT_JWKS_URL, PORTFOLIO_JWT_JWKS or \
                     PORTFOLIO_JWT_PUBLIC_KEY, or opt in to development tokens with PORTFOLIO_JWT_SECRET"
                        .into(),
                ));
            }
            Ok((Some(DEV_DEFAULT_SECRET.to_owned()), true))
        }
        None => Ok((None, false)),
    }
}

/// `PORTFOLIO_LOG_FORMAT`: `json` lines or `text` (the default).
fn log_json(get: &impl Fn(&str) -> Option<String>) -> Result<bool, ConfigError> {
    match get("PORTFOLIO_LOG_FORMAT").as_deref() {
        None | Some("text") => Ok(false),
        Some("json") => Ok(true),
        Some(other) => Err(ConfigError(format!(
            "PORTFOLIO_LOG_FORMAT={other:?}: expected `json` or `text`"
        ))),
    }
}

fn flag(get: &impl Fn(&str) -> Option<String>, key: &str) -> bool {
    get(key).is_some_and(|v| v == "1" || v == "true")
}

fn webhook_config(get: &impl Fn(&str) -> Option<String>) -> Result<WebhookConfig, ConfigError> {
    let defaults = WebhookConfig::default();
    let retry_schedule = match get("PORTFOLIO_WEBHOOK_RETRY_SCHEDULE") {
        None => defaults.retry_schedule,
        Some(list) => parse_seconds_list(&list).ok_or_else(|| {
            ConfigError(format!(
                "PORTFOLIO_WEBHOOK_RETRY_SCHEDULE={list:?} must be seconds separated by commas, e.g. 5,300,1800"
            ))
        })?,
    };
    Ok(WebhookConfig {
        allow_local: flag(get, "PORTFOLIO_WEBHOOK_ALLOW_LOCAL"),
        workers: parse_num(get, "PORTFOLIO_WEBHOOK_WORKERS", defaults.workers)?,
        poll_interval: std::time::Duration::from_millis(parse_num(
            get,
            "PORTFOLIO_WEBHOOK_POLL_MS",
            defaults.poll_interval.as_millis() as u64,
        )?),
        nice: parse_num::<i32>(get, "PORTFOLIO_WEBHOOK_NICE", defaults.nice)?.clamp(0, 19),
        retry_schedule,
        timeout: std::time::Duration::from_millis(parse_num(
            get,
            "PORTFOLIO_WEBHOOK_TIMEOUT_MS",
            defaults.timeout.as_millis() as u64,
        )?),
        // At most a second: the latency goal is p99 ≤ 1 s.
        linger: std::time::Duration::from_millis(
            parse_num(
                get,
                "PORTFOLIO_WEBHOOK_LINGER_MS",
                defaults.linger.as_millis() as u64,
            )?
            .min(1000),
        ),
    })
}

/// `5,300,0.5` → durations; fractions allowed (tests use short schedules).
fn parse_seconds_list(list: &str) -> Option<Vec<std::time::Duration>> {
    list.split(',')
        .map(|s| {
            let secs: f64 = s.trim().parse().ok()?;
            (secs.is_finite() && (0.0..=86_400.0).contains(&secs))
                .then(|| std::time::Duration::from_secs_f64(secs))
        })
        .collect()
}

/// A period in (possibly fractional) minutes; 0 means "never" (`None`).
fn parse_minutes(
    get: &impl Fn(&str) -> Option<String>,
    key: &str,
    default: f64,
) -> Result<Option<std::time::Duration>, ConfigError> {
    let minutes: f64 = parse_num(get, key, default)?;
    if !minutes.is_finite() || !(0.0..=525_600.0).contains(&minutes) {
        return Err(ConfigError(format!(
            "{key}={minutes} must be between 0 and 525600 minutes (one year)"
        )));
    }
    Ok((minutes > 0.0).then(|| std::time::Duration::from_secs_f64(minutes * 60.0)))
}

fn parse_num<T: std::str::FromStr>(
    get: &impl Fn(&str) -> Option<String>,
    key: &str,
    default: T,
) -> Result<T, ConfigError> {
    match get(key) {
        None => Ok(default),
        Some(v) => v
            .parse()
            .map_err(|_| ConfigError(format!("{key}={v:?} is not a valid number"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn checkpoint_period(value: &str) -> Result<Option<Duration>, ConfigError> {
        let env = |k: &str| (k == "PORTFOLIO_AUDIT_CHECKPOINT_MINUTES").then(|| value.to_owned());
        Config::from_lookup(env).map(|c| c.audit_checkpoint_every)
    }

    #[test]
    fn the_checkpoint_period_is_in_minutes_fractions_allowed_and_zero_turns_it_off() {
        assert_eq!(
            checkpoint_period("60").expect("valid"),
            Some(Duration::from_secs(3600))
        );
        assert_eq!(
            checkpoint_period("0.05").expect("valid"),
            Some(Duration::from_secs(3))
        );
        assert_eq!(checkpoint_period("0").expect("valid"), None);
        for bad in ["-1", "NaN", "inf", "soon", "600000"] {
            assert!(checkpoint_period(bad).is_err(), "{bad} must be refused");
        }
        assert_eq!(
            Config::from_lookup(|_| None)
                .expect("valid")
                .audit_checkpoint_every,
            Some(Duration::from_secs(3600)),
            "the default is hourly"
        );
    }

    #[test]
    fn the_webhook_linger_is_milliseconds_at_most_a_second() {
        let linger = |value: &str| {
            let value = value.to_owned();
            Config::from_lookup(move |k| {
                (k == "PORTFOLIO_WEBHOOK_LINGER_MS").then(|| value.clone())
            })
            .map(|c| c.webhooks.linger)
        };
        assert_eq!(linger("0").expect("valid"), Duration::ZERO);
        assert_eq!(linger("40").expect("valid"), Duration::from_millis(40));
        assert_eq!(linger("60000").expect("valid"), Duration::from_secs(1));
        for bad in ["-1", "soon", "2.5"] {
            assert!(linger(bad).is_err(), "{bad} must be refused");
        }
        assert_eq!(
            Config::from_lookup(|_| None)
                .expect("valid")
                .webhooks
                .linger,
            Duration::from_millis(25),
            "the default"
        );
    }
}
