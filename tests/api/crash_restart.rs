//! The server's private PostgreSQL survives a `kill -9` of the server: the next start finds
//! the orphaned postmaster of its data directory, stops it cleanly and serves again, with no
//! committed data lost.

use std::time::Duration;

use crate::binary::{dev_token, free_addr, http, start};
use crate::support::HSO;

#[test]
fn a_killed_server_starts_again_on_the_same_data_directory() {
    let dir = std::env::temp_dir().join(format!("portfolio-test-pg-{}-crash", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let data = dir.join("postgres");
    let log = dir.join("server.log");
    let env = [("PORTFOLIO_DATA_DIR", data.to_str().expect("utf-8"))];
    let addr = free_addr();
    let token = dev_token(&["portfolio:read", "portfolio:manage"], Some(HSO));
    let show_log = || std::fs::read_to_string(&log).unwrap_or_default();

    let mut first = start(&addr, &env, &log);
    first
        .wait_ready(Duration::from_secs(120))
        .unwrap_or_else(|| panic!("first start failed:\n{}", show_log()));
    let (status, head, body) = http(
        &addr,
        "POST",
        "/api/v1/service-areas",
        Some(&token),
        Some(r#"{"year": 2031, "name": "Overlever krasj", "kind": "clinical"}"#),
    );
    assert_eq!(status, 201, "{body}");
    let location = head
        .lines()
        .find_map(|l| l.strip_prefix("location: "))
        .expect("Location")
        .trim()
        .to_owned();

    first.kill9();

    // At once, as a developer would after a crash: no manual cleanup.
    let mut second = start(&addr, &env, &log);
    second
        .wait_ready(Duration::from_secs(120))
        .unwrap_or_else(|| {
            panic!(
                "the restart after kill -9 failed (exit {:?}):\n{}",
                second.child.try_wait(),
                show_log()
            )
        });
    let (status, _, body) = http(&addr, "GET", &location, Some(&token), None);
    assert_eq!(status, 200, "committed data survives: {body}");
    assert!(body.contains("Overlever krasj"), "{body}");
    second.stop();
    drop(second);
    let _ = std::fs::remove_dir_all(&dir);
}
