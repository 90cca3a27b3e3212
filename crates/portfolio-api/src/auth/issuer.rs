//! The issuer's signing keys, kept in memory and refreshed on a thread of their own.
//!
//! - Discovery (`<authority>/.well-known/openid-configuration` → `jwks_uri`) or a JWKS URL.
//! - Refreshed every `refresh` (sooner when the issuer's `Cache-Control: max-age` says so).
//! - A token with an unknown `kid` may ask for a fetch, granted at most once per
//!   `unknown_kid_interval` however many such tokens arrive: made-up `kid`s cannot make the
//!   service hammer the issuer.
//! - A failed fetch keeps the keys already loaded (warning + metric) and is retried with
//!   backoff; before the first success the service is not ready.

use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::time::{Duration, Instant};

use serde::Deserialize;

use super::fetch;
use super::keys::{self, VerificationKey};

/// Where the keys come from.
#[derive(Debug, Clone)]
pub enum Source {
    /// An OpenID Connect issuer: discovery gives `issuer` and `jwks_uri`.
    Authority(String),
    /// A key set without discovery.
    JwksUrl(String),
}

/// The keys in force, replaced whole on every successful fetch (a key the issuer removed is
/// gone with the next fetch).
pub(crate) struct Loaded {
    pub keys: Vec<VerificationKey>,
    /// The issuer named by discovery: `iss` must equal it exactly.
    pub issuer: Option<String>,
}

struct Control {
    /// A fetch was asked for by an unknown `kid`.
    on_demand: bool,
    last_on_demand: Option<Instant>,
    fetching: bool,
    shutdown: bool,
    last_error: Option<String>,
}

struct Shared {
    source: Source,
    refresh: Duration,
    unknown_kid_interval: Duration,
    loaded: RwLock<Option<Arc<Loaded>>>,
    /// Counts fetches that changed `loaded`; 0 until the first success. Verified-token cache
    /// entries remember it, so a removed key stops verifying at once.
    generation: std::sync::atomic::AtomicU64,
    control: Mutex<Control>,
    wake: Condvar,
    /// Ticks after every fetch attempt, for requests waiting on an on-demand fetch.
    done: tokio::sync::watch::Sender<u64>,
}

/// Handle to the refresher; dropping it stops the thread.
pub struct RemoteKeys {
    shared: Arc<Shared>,
}

#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
}

/// Retry delays after failures: 1 s, 2 s, 4 s … at most a minute (and never more than the
/// refresh interval).
fn backoff(failures: u32, refresh: Duration) -> Duration {
    let secs = 1u64 << failures.saturating_sub(1).min(6);
    Duration::from_secs(secs)
        .min(Duration::from_secs(60))
        .min(refresh)
}

impl RemoteKeys {
    pub fn start(source: Source, refresh: Duration, unknown_kid_interval: Duration) -> RemoteKeys {
        let (done, _) = tokio::sync::watch::channel(0);
        let shared = Arc::new(Shared {
            source,
            refresh,
            unknown_kid_interval,
            loaded: RwLock::new(None),
            generation: Default::default(),
            control: Mutex::new(Control {
                on_demand: false,
                last_on_demand: None,
                fetching: false,
                shutdown: false,
                last_error: None,
            }),
            wake: Condvar::new(),
            done,
        });
        let worker = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("jwks-refresh".into())
            .spawn(move || run(&worker))
            .expect("spawn the key refresher");
        RemoteKeys { shared }
    }

    pub(crate) fn loaded(&self) -> Option<Arc<Loaded>> {
        self.shared.loaded.read().ok()?.clone()
    }

    pub fn generation(&self) -> u64 {
        self.shared
            .generation
            .load(std::sync::atomic::Ordering::Acquire)
    }

    /// `Err(reason)` until keys were loaded once.
    pub fn readiness(&self) -> Result<(), String> {
        if self.generation() > 0 {
            return Ok(());
        }
        let why = self
            .shared
            .control
            .lock()
            .ok()
            .and_then(|c| c.last_error.clone())
            .unwrap_or_else(|| "the first fetch is under way".into());
        Err(format!(
            "the token signing keys have not been loaded from the issuer yet: {why}"
        ))
    }

    /// Asks for a fetch because a token named an unknown `kid`. Returns a receiver that ticks
    /// when the fetch is over, or `None` when a fetch for this reason was already made within
    /// the interval (the token is then refused at once).
    pub fn request_fetch(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        let mut c = self.shared.control.lock().ok()?;
        if c.fetching || c.on_demand {
            // Waiting for a fetch already under way costs the issuer nothing.
            return Some(self.shared.done.subscribe());
        }
        let now = Instant::now();
        if c.last_on_demand
            .is_some_and(|t| now.duration_since(t) < self.shared.unknown_kid_interval)
        {
            return None;
        }
        c.last_on_demand = Some(now);
        c.on_demand = true;
        let rx = self.shared.done.subscribe();
        self.shared.wake.notify_all();
        Some(rx)
    }
}

impl Drop for RemoteKeys {
    fn drop(&mut self) {
        if let Ok(mut c) = self.shared.control.lock() {
            c.shutdown = true;
        }
        self.shared.wake.notify_all();
    }
}

/// The refresher thread: sleep until due or asked, fetch, repeat.
fn run(shared: &Shared) {
    let mut due = Instant::now();
    let mut failures = 0u32;
    loop {
        {
            let Ok(mut c) = shared.control.lock() else {
                return;
            };
            loop {
                if c.shutdown {
                    return;
                }
                let now = Instant::now();
                if c.on_demand || now >= due {
                    break;
                }
                let Ok((guard, _)) = shared.wake.wait_timeout(c, due - now) else {
                    return;
                };
                c = guard;
            }
            c.on_demand = false;
            c.fetching = true;
        }
        let result = fetch_keys(&shared.source);
        let now = Instant::now();
        let error = match result {
            Ok((loaded, max_age)) => {
                failures = 0;
                let count = loaded.keys.len();
                if let Ok(mut slot) = shared.loaded.write() {
                    *slot = Some(Arc::new(loaded));
                }
                shared
                    .generation
                    .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
                crate::metrics::jwks_refreshed(true);
                log::debug!("token signing keys refreshed ({count} keys)");
                // Honour a shorter cache lifetime, but never spin.
                let next = max_age
                    .map(|a| a.max(Duration::from_secs(1)))
                    .map_or(shared.refresh, |a| a.min(shared.refresh));
                due = now + next;
                None
            }
            Err(e) => {
                failures += 1;
                crate::metrics::jwks_refreshed(false);
                let have = shared.loaded.read().map(|l| l.is_some()).unwrap_or(false);
                if have {
                    log::warn!("refreshing the token signing keys failed (the keys already loaded stay in use): {e}");
                } else {
                    log::warn!("loading the token signing keys failed; the service is not ready until they load: {e}");
                }
                due = now + backoff(failures, shared.refresh);
                Some(e)
            }
        };
        if let Ok(mut c) = shared.control.lock() {
            c.fetching = false;
            if error.is_some() || c.last_error.is_some() {
                c.last_error = error;
            }
        }
        shared.done.send_modify(|n| *n += 1);
    }
}

fn fetch_keys(source: &Source) -> Result<(Loaded, Option<Duration>), String> {
    let (issuer, jwks_uri) = match source {
        Source::JwksUrl(url) => (None, url.clone()),
        Source::Authority(authority) => {
            let base = authority.trim_end_matches('/');
            let doc = fetch::get(&format!("{base}/.well-known/openid-configuration"))?;
            let d: Discovery = serde_json::from_str(&doc.body)
                .map_err(|e| format!("the discovery document is not valid: {e}"))?;
            // OpenID Connect Discovery §4.3: the issuer must be the one we asked.
            if d.issuer.trim_end_matches('/') != base {
                return Err(format!(
                    "the discovery document names issuer {:?}, not {authority:?}",
                    d.issuer
                ));
            }
            (Some(d.issuer), d.jwks_uri)
        }
    };
    let set = fetch::get(&jwks_uri)?;
    let keys = keys::from_jwks_text(&set.body).map_err(|e| format!("{jwks_uri}: {e}"))?;
    Ok((Loaded { keys, issuer }, set.max_age))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_a_minute_at_most() {
        let r = Duration::from_secs(600);
        assert_eq!(backoff(1, r), Duration::from_secs(1));
        assert_eq!(backoff(2, r), Duration::from_secs(2));
        assert_eq!(backoff(4, r), Duration::from_secs(8));
        assert_eq!(backoff(30, r), Duration::from_secs(60));
        assert_eq!(backoff(30, Duration::from_secs(5)), Duration::from_secs(5));
    }
}
