//! A per-caller rate limit: a token bucket per token subject (and organisation), shared by
//! every worker of the process. `Config.rate_limit_per_minute` is both the bucket's size (a
//! burst) and its refill per minute; 0 turns the limiter off. A request over the limit is a
//! 429 problem with `Retry-After` (whole seconds until a token is back). Requests without a
//! valid token are not counted (they are refused with 401 before doing any work).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpResponse, ResponseError};

use crate::auth::authenticate;
use crate::error::ApiError;

/// Buckets beyond this many are pruned (full ones first) so the map cannot grow without bound.
const MAX_BUCKETS: usize = 100_000;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// The buckets of all callers; clone it to share it between workers.
#[derive(Clone)]
pub struct RateLimiter {
    per_minute: u32,
    buckets: Arc<Mutex<HashMap<String, Bucket>>>,
}

impl RateLimiter {
    pub fn new(per_minute: u32) -> RateLimiter {
        RateLimiter {
            per_minute,
            buckets: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    pub fn enabled(&self) -> bool {
        self.per_minute > 0
    }

    /// What is left of `caller`'s budget: (whole tokens, seconds until the next token when
    /// none is left).
    pub fn remaining(&self, caller: &str, now: Instant) -> Option<(u32, u64)> {
        let per_second = f64::from(self.per_minute) / 60.0;
        let buckets = self
            .buckets
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let b = buckets.get(caller)?;
        let tokens = (b.tokens
            + now.saturating_duration_since(b.updated).as_secs_f64() * per_second)
            .min(f64::from(self.per_minute));
        let reset = if tokens >= 1.0 {
            0
        } else {
            ((1.0 - tokens) / per_second).ceil() as u64
        };
        Some((tokens.floor() as u32, reset))
    }

    /// Takes a token for `caller` at `now`: `Ok(remaining)`, or `Err(seconds to wait)`.
    pub fn take(&self, caller: &str, now: Instant) -> Result<u32, u64> {
        let capacity = f64::from(self.per_minute);
        let per_second = capacity / 60.0;
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if buckets.len() >= MAX_BUCKETS && !buckets.contains_key(caller) {
            buckets.retain(|_, b| {
                b.tokens + now.duration_since(b.updated).as_secs_f64() * per_second < capacity
            });
        }
        let b = buckets.entry(caller.to_owned()).or_insert(Bucket {
            tokens: capacity,
            updated: now,
        });
        let elapsed = now.saturating_duration_since(b.updated).as_secs_f64();
        b.tokens = (b.tokens + elapsed * per_second).min(capacity);
        b.updated = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(b.tokens.floor() as u32)
        } else {
            Err(((1.0 - b.tokens) / per_second).ceil().max(1.0) as u64)
        }
    }
}

fn rate_headers(headers: &mut HeaderMap, limit: u32, remaining: u32, reset: u64) {
    for (name, value) in [
        ("ratelimit-limit", u64::from(limit)),
        ("ratelimit-remaining", u64::from(remaining)),
        ("ratelimit-reset", reset),
    ] {
        headers.insert(HeaderName::from_static(name), HeaderValue::from(value));
    }
}

/// The middleware (`from_fn`, with a clone of the limiter): takes a token for an
/// authenticated caller, refuses with 429 when none is left, and tells the caller its budget.
pub async fn limit<B: MessageBody>(
    limiter: RateLimiter,
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, Error> {
    let mut budget = None;
    if let Some(who) = counted_caller(&limiter, &req) {
        if let Err(wait) = limiter.take(&who, Instant::now()) {
            return Ok(req
                .into_response(limiter.refusal(wait))
                .map_into_right_body());
        }
        budget = limiter.remaining(&who, Instant::now());
    }
    let mut res = next.call(req).await?;
    if let Some((remaining, reset)) = budget {
        rate_headers(res.headers_mut(), limiter.per_minute, remaining, reset);
    }
    Ok(res.map_into_left_body())
}

/// The bucket key of a request that counts: one with a valid token, while the limiter is on.
fn counted_caller(limiter: &RateLimiter, req: &ServiceRequest) -> Option<String> {
    if !limiter.enabled() || !req.headers().contains_key("authorization") {
        return None;
    }
    let caller = authenticate(req.request()).ok()?;
    Some(format!(
        "{}\u{1f}{}",
        caller.subject,
        caller.org_number.as_deref().unwrap_or("")
    ))
}

impl RateLimiter {
    /// The 429 for a caller who must wait `wait` seconds.
    fn refusal(&self, wait: u64) -> HttpResponse {
        crate::metrics::rate_limited();
        let err = ApiError::TooManyRequests {
            detail: format!(
                "more than {} requests per minute; retry after {wait} seconds",
                self.per_minute
            ),
            retry_after_seconds: wait,
        };
        let mut res = err.error_response();
        rate_headers(res.headers_mut(), self.per_minute, 0, wait);
        res
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_bucket_allows_a_burst_then_refills() {
        let l = RateLimiter::new(60);
        let t0 = Instant::now();
        for i in 0..60 {
            assert_eq!(l.take("a", t0), Ok(59 - i));
        }
        assert_eq!(l.take("a", t0), Err(1));
        assert!(l.take("b", t0).is_ok(), "callers have their own buckets");
        assert!(l.take("a", t0 + Duration::from_millis(1000)).is_ok());
        assert!(l.take("a", t0 + Duration::from_millis(1000)).is_err());
    }

    #[test]
    fn retry_after_is_the_time_until_a_token_is_back() {
        let l = RateLimiter::new(6); // one token per 10 s
        let t0 = Instant::now();
        for _ in 0..6 {
            assert!(l.take("a", t0).is_ok());
        }
        assert_eq!(l.take("a", t0), Err(10));
        assert_eq!(l.take("a", t0 + Duration::from_secs(4)), Err(6));
    }
}
