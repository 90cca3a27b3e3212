//! Typed requests and responses: send a request and get the API's own response type back
//! (crates.io's `RequestHelper` in spirit), so a test reads fields instead of indexing JSON.
//!
//! ```ignore
//! let cycle: Cycle = app.post("/api/v1/cycles").auth(MANAGE, Some(HSO))
//!     .json(&json!({"year": 2023})).returns(201).await;
//! let p = app.get("/api/v1/cycles/1999").auth(READ, None).send().await.problem(404);
//! assert!(p.detail.contains("1999"));
//! ```

use portfolio_api::error::Problem;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::tokens::READ;
use super::{Req, TestApp, TestResponse};

/// GETs `path` with a read token, asserting 200; the body as the API's type `T`.
pub async fn read<T: DeserializeOwned>(app: &TestApp, path: &str) -> T {
    app.get(path).auth(READ, None).returns(200).await
}

impl TestResponse {
    /// The body as the API's response type `T`; panics with the body when it does not fit.
    #[track_caller]
    pub fn typed<T: DeserializeOwned>(&self) -> T {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not a {} ({e}): {}",
                std::any::type_name::<T>(),
                self.text()
            )
        })
    }

    /// Asserts a problem+json response with this status (as `assert_problem` does) and
    /// returns it as the API's `Problem`.
    #[track_caller]
    pub fn problem(&self, expected: u16) -> Problem {
        self.assert_problem(expected);
        self.typed()
    }

    /// As [`Self::problem`], and asserts that its `detail` says `needle`.
    #[track_caller]
    pub fn problem_saying(&self, expected: u16, needle: &str) -> Problem {
        let p = self.problem(expected);
        assert!(
            p.detail.contains(needle),
            "detail without {needle:?}: {p:?}"
        );
        p
    }

    /// The entity tag to send back in `If-Match`.
    #[track_caller]
    pub fn etag(&self) -> String {
        self.header("etag").expect("an ETag header")
    }
}

impl Req<'_> {
    /// Sends the request, asserts `status` and returns the body as `T`.
    pub async fn returns<T: DeserializeOwned>(self, status: u16) -> T {
        self.send().await.assert_status(status).typed()
    }

    /// Sends the request and asserts `status` (showing the body when it differs).
    pub async fn responds(self, status: u16) -> TestResponse {
        let r = self.send().await;
        r.assert_status(status);
        r
    }

    /// Sends the request and asserts a problem+json refusal with `status`; returns the problem.
    pub async fn refused(self, status: u16) -> Problem {
        self.send().await.problem(status)
    }

    /// Sends the request and asserts a refusal with `status` whose first field error is at
    /// `pointer`.
    pub async fn refused_at(self, status: u16, pointer: &str) -> Problem {
        let p = self.refused(status).await;
        assert_eq!(pointers(&p).first().copied(), Some(pointer));
        p
    }

    /// A body of any serialisable type (e.g. one of the API's request types).
    pub fn body(self, body: &impl Serialize) -> Self {
        self.json(&serde_json::to_value(body).expect("serialisable body"))
    }

    /// `If-Match` for a representation of this version.
    pub fn if_match(self, version: i32) -> Self {
        self.header("If-Match", &etag(version))
    }
}

/// Asserts the lost-update guard of a change: `change()` is refused 428 without If-Match and
/// 412 with the If-Match of the `stale` version.
pub async fn assert_needs_if_match<'a>(change: impl Fn() -> Req<'a>, stale: i32) {
    change().refused(428).await;
    change().if_match(stale).refused(412).await;
}

/// The entity tag of a representation of this version.
pub fn etag(version: i32) -> String {
    format!("\"v{version}\"")
}

/// The field pointers of a problem, in order.
pub fn pointers(p: &Problem) -> Vec<&str> {
    p.errors.iter().map(|e| e.pointer.as_str()).collect()
}

/// A value as it is written on the wire: `wire(&need.status) == "accepted"` reads the same
/// whether the field is a string or one of the domain's enums.
pub fn wire(v: &impl Serialize) -> String {
    match serde_json::to_value(v).expect("serialisable") {
        serde_json::Value::String(s) => s,
        other => other.to_string(),
    }
}
