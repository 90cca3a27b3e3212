//! Helpers for tests that run the real server binary: start it on a free port, talk plain
//! HTTP/1.1 to it, kill it.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Server {
    pub child: Child,
    pub addr: String,
}

/// A free TCP port on 127.0.0.1 (bound and released).
pub fn free_addr() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").to_string()
}

/// Starts `portfolio-api serve` with `env` (nothing inherited from the test's `DATABASE_URL`
/// or token settings); its log goes to `log`.
pub fn start(addr: &str, env: &[(&str, &str)], log: &Path) -> Server {
    start_with(addr, &[], env, log)
}

/// [`start`] with more arguments after `serve` (e.g. `--demo`).
pub fn start_with(addr: &str, args: &[&str], env: &[(&str, &str)], log: &Path) -> Server {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .expect("log file");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_portfolio-api"));
    cmd.arg("serve")
        .args(args)
        .env_remove("DATABASE_URL")
        .env_remove("PORTFOLIO_MIGRATION_DATABASE_URL")
        .env_remove("PORTFOLIO_JWT_SECRET")
        .env_remove("PORTFOLIO_JWT_PUBLIC_KEY")
        .env_remove("PORTFOLIO_JWT_JWKS")
        .env_remove("PORTFOLIO_ALLOW_SUPERUSER")
        .env("PORTFOLIO_BIND", addr)
        .env("PORTFOLIO_WORKERS", "1")
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log"))
        .stderr(log);
    for (k, v) in env {
        cmd.env(k, v);
    }
    Server {
        child: cmd.spawn().expect("start the server binary"),
        addr: addr.to_owned(),
    }
}

/// Starts `portfolio-api serve` on a test's own database (`url`, the owner's: a test, not a
/// deployment, so serving as the superuser is allowed) on an ephemeral port, with nothing
/// inherited from the environment but `PATH`, quiet logs, and `env` on top. Dropping the
/// answer stops the server.
pub fn serve_database(url: &str, env: &[(&str, &str)]) -> Server {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_portfolio-api"));
    cmd.arg("serve")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", url)
        .env("PORTFOLIO_ALLOW_SUPERUSER", "1")
        .env("PORTFOLIO_BIND", "127.0.0.1:0")
        .env("PORTFOLIO_WORKERS", "1")
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    Server {
        child: cmd.spawn().expect("start the server binary"),
        addr: String::new(),
    }
}

impl Server {
    /// Waits until `/health/ready` answers 200; None when the process exited first.
    pub fn wait_ready(&mut self, timeout: Duration) -> Option<()> {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if let Ok(Some(_)) = self.child.try_wait() {
                return None;
            }
            if http(&self.addr, "GET", "/health/ready", None, None).0 == 200 {
                return Some(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("the server was not ready within {timeout:?}");
    }

    pub fn kill9(&mut self) {
        self.child.kill().expect("kill -9");
        let _ = self.child.wait();
    }

    /// SIGTERM and wait: a clean stop.
    pub fn stop(&mut self) {
        // SAFETY: signalling our own child.
        #[allow(unsafe_code)]
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(30) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.kill9();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.stop();
        }
    }
}

/// One HTTP/1.1 request; returns the status, the headers (lower-case names) and the body.
pub fn http(
    addr: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> (u16, String, String) {
    let auth = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth
        .as_deref()
        .map(|a| ("Authorization", a))
        .into_iter()
        .collect();
    let (status, head, body) = http_with(addr, method, path, &headers, body);
    (status, head.to_ascii_lowercase(), body)
}

/// One HTTP/1.1 request with these headers; returns the status, the head as sent (names and
/// values keep their case: ETags are compared exactly) and the body.
pub fn http_with(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> (u16, String, String) {
    let Ok(mut s) = std::net::TcpStream::connect(addr) else {
        return (0, String::new(), String::new());
    };
    s.set_read_timeout(Some(Duration::from_secs(30))).ok();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        req.push_str(&format!("{name}: {value}\r\n"));
    }
    let body = body.unwrap_or("");
    if !body.is_empty() {
        req.push_str("Content-Type: application/json\r\n");
    }
    req.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    if s.write_all(req.as_bytes()).is_err() {
        return (0, String::new(), String::new());
    }
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    (status, head.to_owned(), body.to_owned())
}

/// A development token (the binary runs with the built-in development secret).
pub fn dev_token(scopes: &[&str], org: Option<&str>) -> String {
    let config = portfolio_api::config::JwtConfig::default();
    portfolio_api::auth::TokenVerifier::from_config(&config)
        .expect("verifier")
        .mint("crash-tester", scopes, org, 600)
        .expect("mint")
}
