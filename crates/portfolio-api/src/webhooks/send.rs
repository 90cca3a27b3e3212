//! One HTTP attempt at a receiver: the client every delivery thread shares, the signed
//! request, and what the answer means for the schedule.

use std::io::Read;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use crate::config::WebhookConfig;
use crate::routes::changelog::Event;
use crate::webhooks::signature;
use crate::webhooks::target::CheckedResolver;

/// Response bytes read at most (then the connection is dropped).
const MAX_RESPONSE_BYTES: u64 = 64 * 1024;
/// Idle connections to receivers kept open, in all.
const IDLE_CONNECTIONS: usize = 256;
/// A `Retry-After` longer than this is capped.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);

/// The HTTP client: no redirects, no proxy, a deadline per attempt, and the resolver that
/// refuses non-public addresses (ureq asks it before every request, pooled connection or not;
/// it reuses a checked lookup for 30 s, see `target`). Its pool keeps a connection per
/// receiver and thread: ureq's default (10 idle connections in all) made ten busy receivers
/// evict each other, so deliveries kept opening connections (a TCP handshake each).
pub fn client(config: &WebhookConfig) -> ureq::Agent {
    let cfg = ureq::Agent::config_builder()
        .max_idle_connections(IDLE_CONNECTIONS)
        .max_idle_connections_per_host(config.workers.max(1))
        .timeout_global(Some(config.timeout))
        .max_redirects(0)
        .max_redirects_will_error(false)
        .http_status_as_error(false)
        .https_only(!config.allow_local)
        .proxy(None)
        .user_agent("portfolio-api-webhooks/1")
        .build();
    ureq::Agent::with_parts(
        cfg,
        ureq::unversioned::transport::DefaultConnector::default(),
        CheckedResolver::new(config.allow_local),
    )
}

/// What one HTTP attempt came to.
pub struct Attempt {
    pub at: DateTime<Utc>,
    pub duration: Duration,
    pub status: Option<u16>,
    pub retry_after: Option<Duration>,
    pub error: Option<String>,
}

pub enum Verdict {
    Delivered,
    /// Not retried: a 3xx (redirects are not followed) or a 4xx other than 429.
    Refused,
    /// Timeout, connection error, 429 or 5xx; with the receiver's `Retry-After`.
    Retry(Option<Duration>),
}

impl Attempt {
    pub fn verdict(&self) -> Verdict {
        match self.status {
            Some(s) if (200..300).contains(&s) => Verdict::Delivered,
            Some(s) if s == 429 || s >= 500 => Verdict::Retry(self.retry_after),
            Some(_) => Verdict::Refused,
            None => Verdict::Retry(None),
        }
    }

    pub fn describe(&self) -> String {
        match (&self.status, &self.error) {
            (Some(s), _) => format!("HTTP {s}"),
            (None, Some(e)) => e.clone(),
            (None, None) => "no answer".into(),
        }
    }
}

/// Sends `event` as the body, signed with every secret in `secrets`.
pub fn send(
    agent: &ureq::Agent,
    url: &str,
    webhook_id: &str,
    secrets: &[&str],
    event: &Event,
) -> Attempt {
    let at = Utc::now();
    let started = Instant::now();
    let body = serde_json::to_vec(event).unwrap_or_default();
    let timestamp = at.timestamp();
    let signature = signature::header(secrets, webhook_id, timestamp, &body);
    let result = agent
        .post(url)
        .header("content-type", "application/json")
        .header("webhook-id", webhook_id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .send(&body[..]);
    let (status, retry_after, error) = match result {
        Ok(mut resp) => {
            let retry_after = resp
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(|s| Duration::from_secs(s).min(MAX_RETRY_AFTER));
            // Read (a bounded part of) the answer, so the connection can be reused.
            let mut reader = resp.body_mut().as_reader().take(MAX_RESPONSE_BYTES);
            let _ = std::io::copy(&mut reader, &mut std::io::sink());
            (Some(resp.status().as_u16()), retry_after, None)
        }
        Err(ureq::Error::Timeout(_)) => (None, None, Some("timeout".to_owned())),
        Err(e) => (None, None, Some(truncate(&e.to_string(), 500))),
    };
    Attempt {
        at,
        duration: started.elapsed(),
        status,
        retry_after,
        error,
    }
}

fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}
