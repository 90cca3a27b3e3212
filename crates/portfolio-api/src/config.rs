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
}

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
        let public_key_pem = get("PORTFOLIO_JWT_PUBLIC_KEY").map(PathBuf::from);
        let jwks = get("PORTFOLIO_JWT_JWKS").map(PathBuf::from);
        let explicit_secret = get("PORTFOLIO_JWT_SECRET");
        // The built-in secret only applies when nothing else is configured: a deployment that
        // configures real keys must not silently also accept tokens signed with a public secret.
        let (secret, secret_is_default) = match explicit_secret {
            Some(s) => {
                if s.len() < 16 {
                    return Err(ConfigError(
                        "PORTFOLIO_JWT_SECRET must be at least 16 characters".into(),
                    ));
                }
                (Some(s), false)
            }
            None if public_key_pem.is_none() && jwks.is_none() => {
                (Some(DEV_DEFAULT_SECRET.to_owned()), true)
            }
            None => (None, false),
        };
        let defaults = JwtConfig::default();
        let jwt = JwtConfig {
            secret,
            secret_is_default,
            public_key_pem,
            jwks,
            issuer: get("PORTFOLIO_JWT_ISSUER").unwrap_or(defaults.issuer),
            audience: get("PORTFOLIO_JWT_AUDIENCE").unwrap_or(defaults.audience),
            org_claim: get("PORTFOLIO_ORG_CLAIM").unwrap_or(defaults.org_claim),
            leeway_seconds: parse_num(&get, "PORTFOLIO_JWT_LEEWAY_SECONDS", 5)?,
        };
        Ok(Config {
            database_url: get("DATABASE_URL"),
            migration_database_url: get("PORTFOLIO_MIGRATION_DATABASE_URL"),
            allow_superuser: get("PORTFOLIO_ALLOW_SUPERUSER").is_some_and(|v| v == "1"),
            audit_keys: crate::audit_key::AuditKeys::from_settings(
                get("PORTFOLIO_AUDIT_KEY").as_deref(),
                get("PORTFOLIO_AUDIT_KEYS_RETIRED").as_deref(),
            )
            .map_err(ConfigError)?,
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
            demo: get("PORTFOLIO_DEMO").is_some_and(|v| v == "1" || v == "true"),
        })
    }
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
