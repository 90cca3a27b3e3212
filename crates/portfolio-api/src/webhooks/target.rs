//! Where a webhook may be sent (SSRF safety): `https://` to public addresses only, checked when
//! a subscription is created or changed and again on every connection, after DNS resolution,
//! by the resolver the delivery client connects through (so a name that later resolves to a
//! private address — DNS rebinding — is refused, and the client connects to the address that
//! was checked; a checked lookup is reused for 30 s). `PORTFOLIO_WEBHOOK_ALLOW_LOCAL=1` lifts
//! both rules for development and tests.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Why a URL is refused.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum TargetError {
    #[error("must be an absolute https:// URL")]
    NotHttps,
    #[error("must be an absolute http:// or https:// URL")]
    NotHttp,
    #[error("must not contain user name or password")]
    Credentials,
    #[error("must not contain a fragment")]
    Fragment,
    #[error("is not a valid URL: {0}")]
    Malformed(String),
    #[error("host {0} could not be resolved")]
    Unresolvable(String),
    #[error("resolves to {0}, which is not a public address (loopback, private, link-local, multicast or metadata addresses are refused)")]
    NotPublic(IpAddr),
}

/// Checks the form of `raw` (scheme, no credentials) without resolving it.
pub fn check_form(raw: &str, allow_local: bool) -> Result<url::Url, TargetError> {
    let url = url::Url::parse(raw).map_err(|e| TargetError::Malformed(e.to_string()))?;
    match url.scheme() {
        "https" => {}
        "http" if allow_local => {}
        _ if allow_local => return Err(TargetError::NotHttp),
        _ => return Err(TargetError::NotHttps),
    }
    if url.host().is_none() {
        return Err(TargetError::Malformed("no host".into()));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(TargetError::Credentials);
    }
    if url.fragment().is_some() {
        return Err(TargetError::Fragment);
    }
    Ok(url)
}

/// Checks form and resolved addresses. Blocks on DNS: call it off the async executor.
pub fn check(raw: &str, allow_local: bool) -> Result<url::Url, TargetError> {
    let url = check_form(raw, allow_local)?;
    let host = url.host_str().unwrap_or_default();
    let port = url.port_or_known_default().unwrap_or(443);
    resolve_public(host, port, allow_local)?;
    Ok(url)
}

/// The addresses of `host`, all of them public (unless `allow_local`).
pub fn resolve_public(
    host: &str,
    port: u16,
    allow_local: bool,
) -> Result<Vec<SocketAddr>, TargetError> {
    // `[::1]` arrives with its brackets from a URL.
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<SocketAddr> = (bare, port)
        .to_socket_addrs()
        .map_err(|_| TargetError::Unresolvable(host.to_owned()))?
        .collect();
    if addrs.is_empty() {
        return Err(TargetError::Unresolvable(host.to_owned()));
    }
    if !allow_local {
        // Every address must be public: the client may try any of them.
        if let Some(bad) = addrs.iter().find(|a| !is_public(a.ip())) {
            return Err(TargetError::NotPublic(bad.ip()));
        }
    }
    Ok(addrs)
}

/// True for globally routable unicast addresses.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            let s = v6.segments();
            !(v6.is_unspecified()
                || v6.is_loopback()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (s[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
                || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated)
                || (s[0] == 0x0064 && s[1] == 0xff9b) // NAT64 64:ff9b::/96 (embeds IPv4)
                || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
                || (s[0] == 0x2002) // 6to4 (embeds IPv4)
                || (s[0] == 0x2001 && s[1] == 0) // Teredo
                || s[..6] == [0, 0, 0, 0, 0, 0]) // IPv4-compatible ::a.b.c.d
        }
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local() // 169.254/16, with the cloud metadata address 169.254.169.254
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_documentation()
        || o[0] == 0 // "this network"
        || (o[0] == 100 && (o[1] & 0xc0) == 64) // carrier-grade NAT 100.64/10
        || (o[0] == 192 && o[1] == 0 && o[2] == 0) // IETF protocol assignments
        || (o[0] == 198 && (o[1] & 0xfe) == 18) // benchmarking 198.18/15
        || o[0] >= 240) // reserved
}

/// How long a checked lookup is reused. ureq asks its resolver on every request, before it
/// looks for a pooled connection, and its default resolver runs each lookup on a thread of its
/// own when a timeout is set: a thread and a `getaddrinfo` per delivery (measured: ~1.1 CPU-s
/// per 20,000 deliveries, bench/README.md, issue 15). Reusing a lookup for this long keeps the
/// rule intact: every address the client may connect to passed the check.
const LOOKUP_TTL: Duration = Duration::from_secs(30);
/// Lookups kept at most (then all are dropped and made again).
const LOOKUPS_KEPT: usize = 1024;

/// The delivery client's resolver: the standard lookup, then the same public-address rule as
/// at creation. The client connects only to the addresses returned here.
#[derive(Debug)]
pub struct CheckedResolver {
    allow_local: bool,
    /// `scheme://authority` → when it was looked up, and its checked addresses.
    lookups: Mutex<HashMap<String, (Instant, Vec<SocketAddr>)>>,
}

impl CheckedResolver {
    pub fn new(allow_local: bool) -> CheckedResolver {
        CheckedResolver {
            allow_local,
            lookups: Mutex::new(HashMap::new()),
        }
    }

    fn recent(&self, key: &str) -> Option<Vec<SocketAddr>> {
        let lookups = self.lookups.lock().unwrap_or_else(|e| e.into_inner());
        let (at, addrs) = lookups.get(key)?;
        (at.elapsed() < LOOKUP_TTL).then(|| addrs.clone())
    }

    fn keep(&self, key: String, addrs: Vec<SocketAddr>) {
        let mut lookups = self.lookups.lock().unwrap_or_else(|e| e.into_inner());
        if lookups.len() >= LOOKUPS_KEPT {
            lookups.clear();
        }
        lookups.insert(key, (Instant::now(), addrs));
    }
}

impl ureq::unversioned::resolver::Resolver for CheckedResolver {
    fn resolve(
        &self,
        uri: &ureq::http::Uri,
        config: &ureq::config::Config,
        timeout: ureq::unversioned::transport::NextTimeout,
    ) -> Result<ureq::unversioned::resolver::ResolvedSocketAddrs, ureq::Error> {
        let key = format!(
            "{}://{}",
            uri.scheme_str().unwrap_or(""),
            uri.authority().map_or("", |a| a.as_str())
        );
        if let Some(addrs) = self.recent(&key) {
            let mut out = self.empty();
            for a in addrs {
                out.push(a);
            }
            return Ok(out);
        }
        let addrs = ureq::unversioned::resolver::DefaultResolver::default()
            .resolve(uri, config, timeout)?;
        if !self.allow_local {
            if let Some(bad) = addrs.iter().find(|a| !is_public(a.ip())) {
                return Err(ureq::Error::Io(std::io::Error::new(
                    std::io::ErrorKind::PermissionDenied,
                    TargetError::NotPublic(bad.ip()).to_string(),
                )));
            }
        }
        self.keep(key, addrs.iter().copied().collect());
        Ok(addrs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_special_addresses_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "ff02::1",
            "64:ff9b::a9fe:a9fe",
        ] {
            let ip: IpAddr = ip.parse().expect("ip");
            assert!(!is_public(ip), "{ip} must not count as public");
        }
        for ip in ["8.8.8.8", "151.101.1.1", "2a00:1450:4001::200e"] {
            let ip: IpAddr = ip.parse().expect("ip");
            assert!(is_public(ip), "{ip} is public");
        }
    }

    #[test]
    fn form_rules() {
        assert_eq!(
            check_form("http://example.org/x", false).err(),
            Some(TargetError::NotHttps)
        );
        assert!(check_form("http://127.0.0.1:8080/x", true).is_ok());
        assert_eq!(
            check_form("https://u:p@example.org/", false).err(),
            Some(TargetError::Credentials)
        );
        assert_eq!(
            check_form("ftp://example.org/", true).err(),
            Some(TargetError::NotHttp)
        );
    }

    #[test]
    fn loopback_literals_and_names_are_refused_unless_allowed() {
        assert!(matches!(
            check("https://127.0.0.1/hook", false),
            Err(TargetError::NotPublic(_))
        ));
        assert!(matches!(
            check("https://[::1]/hook", false),
            Err(TargetError::NotPublic(_))
        ));
        assert!(matches!(
            check("https://localhost/hook", false),
            Err(TargetError::NotPublic(_))
        ));
        assert!(check("http://127.0.0.1:9/hook", true).is_ok());
    }
}
