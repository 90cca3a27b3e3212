//! `X-Request-Id` on every response (echoed when the caller sent a sane one), and the id of the
//! request being served available anywhere below the middleware (problem bodies, audit entries).

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage};

pub const HEADER: &str = "x-request-id";

tokio::task_local! {
    static CURRENT: String;
}

/// The id of the request being served on this task, or a fresh one outside a request.
pub fn current() -> String {
    CURRENT
        .try_with(|id| id.clone())
        .unwrap_or_else(|_| uuid::Uuid::new_v4().to_string())
}

/// The request id, as stored in the request's extensions.
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

fn accept_incoming(v: &HeaderValue) -> Option<String> {
    let s = v.to_str().ok()?;
    let ok = !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b));
    ok.then(|| s.to_owned())
}

/// A new request id in UUID v4 form.
///
/// `Uuid::new_v4` asks the kernel for randomness on every call (a `getrandom` syscall per
/// request, ~2 % of a cheap request's CPU). Ids need to be unique, not secret: each thread
/// draws 64 random bits once and numbers its requests, mixing the counter so ids don't look
/// sequential.
fn fresh() -> String {
    thread_local! {
        static STATE: std::cell::Cell<(u64, u64)> = std::cell::Cell::new({
            let (hi, lo) = uuid::Uuid::new_v4().as_u64_pair();
            (hi, lo)
        });
    }
    let (prefix, counter) = STATE.with(|s| {
        let (prefix, counter) = s.get();
        s.set((prefix, counter.wrapping_add(1)));
        (prefix, counter)
    });
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&prefix.to_le_bytes());
    bytes[8..].copy_from_slice(&splitmix64(counter).to_le_bytes());
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .to_string()
}

/// A bijection on u64 (SplitMix64's finaliser): distinct counters give distinct ids.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The middleware (`from_fn`): names the request, serves it inside that name's scope and
/// answers with the id in `X-Request-Id`.
pub async fn request_id<B: MessageBody>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<B>, Error> {
    let id = req
        .headers()
        .get(HEADER)
        .and_then(accept_incoming)
        .unwrap_or_else(fresh);
    req.extensions_mut().insert(RequestId(id.clone()));
    let header_value = HeaderValue::from_str(&id).ok();
    CURRENT
        .scope(id, async move {
            let mut res = next.call(req).await?;
            if let Some(v) = header_value {
                res.headers_mut().insert(HeaderName::from_static(HEADER), v);
            }
            Ok(res)
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_ids_are_distinct_uuids() {
        let ids: std::collections::HashSet<String> = (0..10_000).map(|_| fresh()).collect();
        assert_eq!(ids.len(), 10_000);
        for id in ids.iter().take(5) {
            let u = uuid::Uuid::parse_str(id).expect("a UUID");
            assert_eq!(u.get_version_num(), 4);
        }
        let other_thread = std::thread::spawn(fresh).join().expect("thread");
        assert!(!ids.contains(&other_thread));
    }
}
