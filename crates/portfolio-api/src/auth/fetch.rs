//! Fetching the issuer's documents (discovery, key set): HTTPS only — plain HTTP only to a
//! loopback address, for tests — no redirect to another host, bounded in size and time.
//!
//! Blocking on purpose: it runs on the key refresher's own thread, never on the async executor.

use std::net::IpAddr;
use std::time::Duration;

use ureq::http::Uri;

/// Larger than any real discovery document or key set (HelseID's are a few kilobytes).
pub const MAX_BYTES: u64 = 256 * 1024;
/// The whole exchange (connect, TLS, headers, body).
pub const TIMEOUT: Duration = Duration::from_secs(5);
const MAX_SAME_HOST_REDIRECTS: usize = 3;

/// A fetched document and how long the issuer says it may be cached.
pub struct Fetched {
    pub body: String,
    pub max_age: Option<Duration>,
}

/// Accepts `https://…`, or `http://` to a loopback address.
pub fn check_url(url: &str) -> Result<Uri, String> {
    let uri: Uri = url
        .parse()
        .map_err(|e| format!("{url:?} is not a URL: {e}"))?;
    let host = uri.host().ok_or_else(|| format!("{url:?} has no host"))?;
    match uri.scheme_str() {
        Some("https") => Ok(uri),
        Some("http") if is_loopback(host) => Ok(uri),
        _ => Err(format!(
            "{url:?}: the issuer must be reached over https (plain http only to a loopback address)"
        )),
    }
}

fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(TIMEOUT))
        // Redirects are followed here, after checking they stay on the same host.
        .max_redirects(0)
        .http_status_as_error(false)
        .user_agent("portfolio-api")
        .build()
        .into()
}

/// GETs `url` as described in the module documentation.
pub fn get(url: &str) -> Result<Fetched, String> {
    let first = check_url(url)?;
    let mut current = first.clone();
    let agent = agent();
    for _ in 0..=MAX_SAME_HOST_REDIRECTS {
        let mut resp = agent
            .get(current.to_string())
            .header("accept", "application/json")
            .call()
            .map_err(|e| format!("GET {current}: {e}"))?;
        let status = resp.status();
        if status.is_redirection() {
            let location = resp
                .headers()
                .get("location")
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| format!("GET {current}: {status} without Location"))?;
            let next = resolve(&current, location)?;
            if next.host() != first.host() || next.port_u16() != first.port_u16() {
                return Err(format!(
                    "GET {current}: redirected to another host ({location}); not followed"
                ));
            }
            current = next;
            continue;
        }
        if !status.is_success() {
            return Err(format!("GET {current}: HTTP {status}"));
        }
        let max_age = resp
            .headers()
            .get("cache-control")
            .and_then(|v| v.to_str().ok())
            .and_then(max_age);
        let body = resp
            .body_mut()
            .with_config()
            .limit(MAX_BYTES)
            .read_to_string()
            .map_err(|e| format!("GET {current}: reading the body: {e}"))?;
        return Ok(Fetched { body, max_age });
    }
    Err(format!("GET {url}: too many redirects"))
}

/// The target of a `Location` header, absolute or relative to `base`, checked like the first URL.
fn resolve(base: &Uri, location: &str) -> Result<Uri, String> {
    if location.starts_with('/') && !location.starts_with("//") {
        let scheme = base.scheme_str().unwrap_or("https");
        let authority = base.authority().map(|a| a.as_str()).unwrap_or("");
        check_url(&format!("{scheme}://{authority}{location}"))
    } else {
        check_url(location)
    }
}

/// `max-age` of a `Cache-Control` value (`no-store`/`no-cache` count as zero).
pub fn max_age(value: &str) -> Option<Duration> {
    let mut result = None;
    for directive in value.split(',').map(str::trim) {
        let lower = directive.to_ascii_lowercase();
        if lower == "no-store" || lower == "no-cache" {
            return Some(Duration::ZERO);
        }
        if let Some(n) = lower.strip_prefix("max-age=") {
            result = n
                .trim_matches('"')
                .parse::<u64>()
                .ok()
                .map(Duration::from_secs);
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_or_loopback_http() {
        assert!(check_url("https://helseid-sts.nhn.no").is_ok());
        assert!(check_url("http://127.0.0.1:9000/jwks").is_ok());
        assert!(check_url("http://[::1]:9000/jwks").is_ok());
        assert!(check_url("http://localhost:9000").is_ok());
        assert!(check_url("http://helseid-sts.nhn.no").is_err());
        assert!(check_url("http://10.0.0.1/jwks").is_err());
        assert!(check_url("ftp://127.0.0.1/jwks").is_err());
        assert!(check_url("not a url").is_err());
    }

    #[test]
    fn cache_control_max_age() {
        assert_eq!(
            max_age("public, max-age=300"),
            Some(Duration::from_secs(300))
        );
        assert_eq!(max_age("no-store"), Some(Duration::ZERO));
        assert_eq!(max_age("public"), None);
    }
}
