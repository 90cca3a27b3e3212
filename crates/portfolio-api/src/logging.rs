//! Log output: text for a terminal (default), or one JSON object per line
//! (`PORTFOLIO_LOG_FORMAT=json`) for a log collector; and the access line of every request.
//!
//! What is never logged: tokens, the `Authorization`/`DPoP` headers, raw paths or query
//! strings (they may carry names or ids), or the caller's subject (in HelseID user tokens it
//! can be a national identity number). The access line names the route template, the caller's
//! organisation and a keyed hash of the subject that correlates a caller's requests without
//! revealing who it is.

use std::io::Write;
use std::sync::LazyLock;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use crate::auth::Caller;
use crate::request_id::RequestId;

pub const ACCESS_TARGET: &str = "portfolio_api::access";

/// Starts the process's logger; `RUST_LOG` filters as usual.
pub fn init(json: bool) {
    let mut builder = env_logger::Builder::from_env(
        env_logger::Env::default().default_filter_or("info,actix_server=warn"),
    );
    if json {
        builder.format(|buf, record| writeln!(buf, "{}", json_line(record)));
    }
    builder.init();
}

/// The JSON form of a record: `time`, `level`, `target`, `message`. An access line is already
/// a whole JSON object (with its fields) and is written as it is.
pub fn json_line(record: &log::Record) -> String {
    let message = record.args().to_string();
    if record.target() == ACCESS_TARGET && message.starts_with('{') {
        return message;
    }
    json!({
        "time": now(),
        "level": record.level().as_str(),
        "target": record.target(),
        "message": message,
    })
    .to_string()
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Keyed so that a hash cannot be reversed by hashing candidate subjects (national identity
/// numbers are few enough to enumerate): `PORTFOLIO_LOG_ID_KEY`, or a random key per process.
static CALLER_ID_KEY: LazyLock<Vec<u8>> = LazyLock::new(|| {
    std::env::var("PORTFOLIO_LOG_ID_KEY")
        .ok()
        .filter(|k| !k.is_empty())
        .map(String::into_bytes)
        .unwrap_or_else(|| uuid::Uuid::new_v4().as_bytes().to_vec())
});

/// A stable, non-reversible id for the caller with this subject (16 hex digits).
pub fn caller_id(subject: &str) -> String {
    let mut h = Sha256::new();
    h.update(CALLER_ID_KEY.as_slice());
    h.update([0x1f]);
    h.update(subject.as_bytes());
    h.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The middleware (`from_fn`, with the format): one access line per request, after the
/// response.
pub async fn access_log<B: MessageBody>(
    json: bool,
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<B>, Error> {
    let started = Instant::now();
    let res = next.call(req).await?;
    log_access(&res, started, json);
    Ok(res)
}

fn log_access<B>(res: &ServiceResponse<B>, started: Instant, json: bool) {
    let req = res.request();
    let method = crate::metrics::method_label(req.method());
    let route = crate::metrics::route_label(req);
    let status = res.status().as_u16();
    let duration_ms = (started.elapsed().as_secs_f64() * 1000.0 * 100.0).round() / 100.0;
    let request_id = req
        .extensions()
        .get::<RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_default();
    let caller = req.extensions().get::<Caller>().cloned();
    let org = caller.as_ref().and_then(|c| c.org_number.clone());
    let caller_id = caller.as_ref().map(|c| caller_id(&c.subject));
    let message = format!("{method} {route} {status} {duration_ms}ms");
    if json {
        let mut line = Map::new();
        line.insert("time".into(), now().into());
        line.insert("level".into(), "INFO".into());
        line.insert("target".into(), ACCESS_TARGET.into());
        line.insert("message".into(), message.into());
        line.insert("request_id".into(), request_id.into());
        line.insert("method".into(), method.into());
        line.insert("route".into(), route.into());
        line.insert("status".into(), status.into());
        line.insert("duration_ms".into(), duration_ms.into());
        line.insert("caller_org".into(), org.map_or(Value::Null, Value::from));
        line.insert(
            "caller_id".into(),
            caller_id.map_or(Value::Null, Value::from),
        );
        log::info!(target: ACCESS_TARGET, "{}", Value::Object(line));
    } else {
        log::info!(
            target: ACCESS_TARGET,
            "{message} rid={request_id} org={} caller={}",
            org.as_deref().unwrap_or("-"),
            caller_id.as_deref().unwrap_or("-")
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caller_ids_are_stable_and_do_not_contain_the_subject() {
        let a = caller_id("12345678901");
        assert_eq!(a, caller_id("12345678901"));
        assert_ne!(a, caller_id("12345678902"));
        assert_eq!(a.len(), 16);
        assert!(!a.contains("12345678901"));
    }

    #[test]
    fn a_record_becomes_one_json_object() {
        let line = json_line(
            &log::Record::builder()
                .args(format_args!("hello \"world\"\nnext"))
                .level(log::Level::Warn)
                .target("portfolio_api::x")
                .build(),
        );
        assert!(!line.contains('\n'));
        let v: Value = serde_json::from_str(&line).expect("json");
        assert_eq!(v["level"], "WARN");
        assert_eq!(v["target"], "portfolio_api::x");
        assert_eq!(v["message"], "hello \"world\"\nnext");
        assert!(v["time"].as_str().is_some_and(|t| t.ends_with('Z')));
    }
}
