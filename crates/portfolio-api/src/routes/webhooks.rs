//! `/api/v1/webhook-subscriptions`: an organisation's webhooks on the change feed, their
//! signing secrets, delivery attempts, redeliveries and pings. A subscription belongs to the
//! caller's organisation; another organisation's is "not found".

use actix_web::{delete, get, patch, post, web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use validator::Validate;

use crate::auth::{Caller, Permission};
use crate::changes::Actor;
use crate::config::Config;
use crate::db::Db;
use crate::error::{ApiError, FieldError};
use crate::etag::{json_with_etag, IfMatch};
use crate::extract::{no_nul, ValidJson};
use crate::pagination::{paginate, PageQuery};
use crate::store::webhooks::{self as store, DeliveryRow, Edit, NewSubscription, Subscription};
use crate::webhooks::{signature, target};

/// How long the previous secret keeps signing after a rotation.
pub const ROTATION_OVERLAP_HOURS: i64 = 24;

/// A webhook subscription.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"id": "3f1c2b7a-9d4e-4f0a-8b6c-1d2e3f4a5b6c", "url": "https://integrations.example.org/portfolio/events",
    "entity_types": ["need", "measure"], "description": "Sykehuspartner integration platform", "enabled": true,
    "disabled_reason": null, "delivered_seq": 42, "failed_attempts": 0, "next_attempt_at": "2026-12-01T10:00:00.000000Z",
    "previous_secret_expires_at": null, "created_at": "2026-12-01T09:00:00.000000Z", "updated_at": "2026-12-01T09:00:00.000000Z", "version": 1}))]
pub struct WebhookSubscription {
    pub id: Uuid,
    /// Where events are POSTed (`https://`, public addresses only).
    #[schema(
        max_length = 2048,
        example = "https://integrations.example.org/portfolio/events"
    )]
    pub url: String,
    /// Only events of these entity types; empty: all.
    #[schema(max_items = 50)]
    pub entity_types: Vec<String>,
    #[schema(max_length = 500)]
    pub description: String,
    /// False after the retry schedule was used up (see `disabled_reason`) or when turned off;
    /// set it to true to resume from the event that failed.
    pub enabled: bool,
    /// Why delivery stopped.
    pub disabled_reason: Option<String>,
    /// The feed position delivered (or skipped by the entity-type filter) so far.
    #[schema(minimum = 0, maximum = 9007199254740991_i64)]
    pub delivered_seq: i64,
    /// Failed attempts so far at the next event.
    #[schema(minimum = 0, maximum = 100)]
    pub failed_attempts: i32,
    /// When the next event is tried (again).
    #[serde(serialize_with = "crate::timestamp::serialize")]
    pub next_attempt_at: DateTime<Utc>,
    /// After a rotation: until when the previous secret signs too.
    #[serde(serialize_with = "crate::timestamp::serialize_option")]
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "crate::timestamp::serialize")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::timestamp::serialize")]
    pub updated_at: DateTime<Utc>,
    /// Version of this representation (also its ETag).
    pub version: i32,
    /// The signing secret (`whsec_` + base64 of 32 random bytes). Only in the answer to create
    /// and rotate-secret: store it then, it cannot be read again.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(
        max_length = 100,
        example = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwJ9XyZ1b2c3d="
    )]
    pub secret: Option<String>,
}

impl From<Subscription> for WebhookSubscription {
    fn from(s: Subscription) -> Self {
        let (r, c) = (s.row, s.cursor);
        WebhookSubscription {
            id: r.id,
            url: r.url,
            entity_types: r.entity_types,
            description: r.description,
            enabled: r.enabled,
            disabled_reason: r.disabled_reason,
            delivered_seq: c.delivered_seq,
            failed_attempts: c.failed_attempts,
            next_attempt_at: c.next_attempt_at,
            previous_secret_expires_at: r.previous_secret_expires_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
            version: r.version,
            secret: None,
        }
    }
}

crate::page_type!(
    WebhookSubscriptionPage,
    WebhookSubscription,
    "A page of the organisation's webhook subscriptions."
);

/// One delivery attempt.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"id": 7, "event_seq": 42, "webhook_id": "msg_3f1c2b7a9d4e4f0a8b6c1d2e3f4a5b6c_42", "kind": "feed",
    "attempt": 2, "attempted_at": "2026-12-01T10:00:05.000000Z", "duration_ms": 31, "http_status": 503, "error": null, "outcome": "retrying"}))]
pub struct WebhookDelivery {
    /// Pass to `…/deliveries/{delivery_id}/redeliver`.
    #[schema(minimum = 1, maximum = 9007199254740991_i64)]
    pub id: i64,
    /// The feed event sent; absent for a ping.
    #[schema(minimum = 1, maximum = 9007199254740991_i64)]
    pub event_seq: Option<i64>,
    /// The `webhook-id` header: the same for every attempt at one event.
    #[schema(max_length = 100)]
    pub webhook_id: String,
    /// `feed`, `redelivery` or `ping`.
    #[schema(max_length = 20, example = "feed")]
    pub kind: String,
    /// 1 for the first attempt at an event.
    #[schema(minimum = 1, maximum = 100)]
    pub attempt: i32,
    #[serde(serialize_with = "crate::timestamp::serialize")]
    pub attempted_at: DateTime<Utc>,
    #[schema(minimum = 0, maximum = 2147483647)]
    pub duration_ms: i32,
    /// The receiver's HTTP status, when it answered.
    #[schema(minimum = 100, maximum = 599)]
    pub http_status: Option<i32>,
    /// Why there was no answer (timeout, connection error, refused address).
    #[schema(max_length = 500)]
    pub error: Option<String>,
    /// `delivered` (2xx), `retrying`, `failed` (3xx/4xx, not retried) or `gave_up`.
    #[schema(max_length = 20, example = "delivered")]
    pub outcome: String,
}

impl From<DeliveryRow> for WebhookDelivery {
    fn from(r: DeliveryRow) -> Self {
        WebhookDelivery {
            id: r.id,
            event_seq: r.event_seq,
            webhook_id: r.webhook_id,
            kind: r.kind,
            attempt: r.attempt,
            attempted_at: r.attempted_at,
            duration_ms: r.duration_ms,
            http_status: r.http_status,
            error: r.error,
            outcome: r.outcome,
        }
    }
}

crate::page_type!(
    WebhookDeliveryPage,
    WebhookDelivery,
    "A page of delivery attempts, newest first."
);

/// A one-off delivery queued for the delivery worker.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"job_id": 3, "event_seq": 42}))]
pub struct QueuedDelivery {
    #[schema(minimum = 1, maximum = 9007199254740991_i64)]
    pub job_id: i64,
    /// The event that will be sent again; absent for a ping.
    #[schema(minimum = 1, maximum = 9007199254740991_i64)]
    pub event_seq: Option<i64>,
}

fn entity_types_rule(types: &[String]) -> Result<(), validator::ValidationError> {
    let ok = types.len() <= 50
        && types.iter().all(|s| {
            !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
        });
    if ok {
        Ok(())
    } else {
        let mut e = validator::ValidationError::new("entity_types");
        e.message = Some("at most 50 entity types of 1–64 characters a–z or _".into());
        Err(e)
    }
}

/// A new subscription.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"url": "https://integrations.example.org/portfolio/events", "entity_types": ["need", "measure"],
    "description": "Sykehuspartner integration platform"}))]
pub struct NewWebhookSubscription {
    #[validate(length(min = 1, max = 2048), custom(function = "no_nul"))]
    #[schema(min_length = 1, max_length = 2048)]
    pub url: String,
    /// Entity types to receive (e.g. `need`, `measure`); empty or absent: all.
    #[serde(default)]
    #[validate(custom(function = "entity_types_rule"))]
    #[schema(max_items = 50)]
    pub entity_types: Vec<String>,
    #[serde(default)]
    #[validate(length(max = 500), custom(function = "no_nul"))]
    #[schema(max_length = 500)]
    pub description: String,
    /// Start after this feed `seq` (replay from there) instead of the end of the feed.
    #[validate(range(min = 0, max = 9007199254740991_i64))]
    #[schema(minimum = 0, maximum = 9007199254740991_i64)]
    pub after: Option<i64>,
}

/// Changes to a subscription; absent fields stay as they are.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"enabled": true}))]
pub struct WebhookSubscriptionEdit {
    #[validate(length(min = 1, max = 2048), custom(function = "no_nul"))]
    #[schema(min_length = 1, max_length = 2048)]
    pub url: Option<String>,
    #[validate(custom(function = "entity_types_rule"))]
    #[schema(max_items = 50)]
    pub entity_types: Option<Vec<String>>,
    #[validate(length(max = 500), custom(function = "no_nul"))]
    #[schema(max_length = 500)]
    pub description: Option<String>,
    /// True resumes delivery (from the event that failed); false pauses it.
    pub enabled: Option<bool>,
}

/// The owning organisation of the caller's subscriptions: `portfolio:read` and an
/// organisation claim are needed.
fn owner(caller: &Caller) -> Result<String, ApiError> {
    caller.require(Permission::Read)?;
    caller.org_number.clone().ok_or_else(|| {
        ApiError::Forbidden("webhook subscriptions need a token with an organisation claim".into())
    })
}

/// Checks a subscription URL (DNS included) off the async executor.
async fn check_url(config: &Config, url: String, pointer: &str) -> Result<String, ApiError> {
    let allow_local = config.webhooks.allow_local;
    let checked = web::block(move || target::check(&url, allow_local).map(|_| url))
        .await
        .map_err(ApiError::internal)?;
    checked.map_err(|e| ApiError::validation(vec![FieldError::new(pointer, e.to_string())]))
}

fn respond(sub: Subscription, secret: Option<String>) -> HttpResponse {
    let version = sub.row.version;
    let mut body = WebhookSubscription::from(sub);
    body.secret = secret;
    json_with_etag(HttpResponse::Ok(), &body, version)
}

/// List webhook subscriptions
///
/// The caller's organisation's subscriptions. Needs `portfolio:read` and an organisation claim.
#[utoipa::path(
    tag = "webhooks",
    params(PageQuery),
    responses((status = 200, description = "A page of subscriptions", body = WebhookSubscriptionPage)),
    security(("bearer" = ["portfolio:read"]))
)]
#[get("")]
pub async fn list_subscriptions(
    caller: Caller,
    db: web::Data<Db>,
    page: web::Query<PageQuery>,
) -> Result<web::Json<WebhookSubscriptionPage>, ApiError> {
    let org = owner(&caller)?;
    page.check()?;
    let after = page.after::<Uuid>()?;
    let limit = page.limit();
    let rows = db
        .run(move |conn| store::list(conn, &org, after, limit))
        .await?;
    let (rows, next_cursor) = paginate(rows, limit, |s| s.row.id);
    Ok(web::Json(WebhookSubscriptionPage {
        items: rows.into_iter().map(WebhookSubscription::from).collect(),
        next_cursor,
    }))
}

/// Create a webhook subscription
///
/// Committed changes are POSTed to `url` as signed Standard Webhooks messages (body: the event
/// exactly as `GET /api/v1/events` lists it), at least once and in feed order, from the end of
/// the feed (or from `after`). The answer carries the signing `secret` — only this once.
/// `url` must be `https://` and resolve to public addresses. Needs `portfolio:read` and an
/// organisation claim; the subscription belongs to that organisation.
#[utoipa::path(
    tag = "webhooks",
    request_body = NewWebhookSubscription,
    responses(
        (status = 201, description = "Created; `secret` is shown only here", body = WebhookSubscription,
         headers(("ETag" = String, description = "Version of the representation"), ("Location" = String, description = "The new subscription"))),
        (status = 409, description = "The organisation holds the most subscriptions allowed", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = ["portfolio:read"]))
)]
#[post("")]
pub async fn create_subscription(
    caller: Caller,
    db: web::Data<Db>,
    config: web::Data<std::sync::Arc<Config>>,
    body: ValidJson<NewWebhookSubscription>,
) -> Result<HttpResponse, ApiError> {
    let org = owner(&caller)?;
    let new = body.0;
    let url = check_url(&config, new.url, "/url").await?;
    let secret = signature::new_secret().map_err(ApiError::internal)?;
    let actor = Actor::of(&caller);
    let stored = secret.clone();
    let sub = db
        .transaction(move |conn| {
            let new = NewSubscription {
                url,
                entity_types: new.entity_types,
                description: new.description.trim().to_owned(),
                after: new.after,
            };
            store::create(conn, &actor, &org, new, &stored)
        })
        .await?;
    let version = sub.row.version;
    let mut body = WebhookSubscription::from(sub);
    body.secret = Some(secret);
    let resp = crate::etag::created_at(format!("/api/v1/webhook-subscriptions/{}", body.id));
    Ok(json_with_etag(resp, &body, version))
}

/// Get a webhook subscription
///
/// Needs `portfolio:read`; another organisation's subscription is not found.
#[utoipa::path(
    tag = "webhooks",
    params(("id" = Uuid, Path, description = "Subscription id", example = "46296fff-d59c-c90f-47c5-49411c7389f2")),
    responses(
        (status = 200, description = "The subscription (without its secret)", body = WebhookSubscription, headers(("ETag" = String, description = "Version of the representation"))),
        (status = 404, description = "No such subscription of the caller's organisation", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = ["portfolio:read"]))
)]
#[get("/{id}")]
pub async fn get_subscription(
    caller: Caller,
    db: web::Data<Db>,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let org = owner(&caller)?;
    let id = path.into_inner();
    let sub = db.run(move |conn| store::find(conn, &org, id)).await?;
    Ok(respond(sub, None))
}

/// Change a webhook subscription
///
/// URL, entity types, description, or `enabled` (true resumes a disabled subscription at the
/// event that failed, with a fresh retry schedule). Needs `portfolio:read` and `If-Match`.
#[utoipa::path(
    tag = "webhooks",
    params(
        ("id" = Uuid, Path, description = "Subscription id", example = "46296fff-d59c-c90f-47c5-49411c7389f2"),
        ("If-Match" = String, Header, description = "The ETag the change is based on", example = "\"v1\"")
    ),
    request_body = WebhookSubscriptionEdit,
    responses(
        (status = 200, description = "Changed", body = WebhookSubscription, headers(("ETag" = String, description = "Version of the representation"))),
        (status = 404, description = "No such subscription of the caller's organisation", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = ["portfolio:read"]))
)]
#[patch("/{id}")]
pub async fn update_subscription(
    caller: Caller,
    db: web::Data<Db>,
    config: web::Data<std::sync::Arc<Config>>,
    path: web::Path<Uuid>,
    if_match: IfMatch,
    body: ValidJson<WebhookSubscriptionEdit>,
) -> Result<HttpResponse, ApiError> {
    let org = owner(&caller)?;
    let id = path.into_inner();
    let e = body.0;
    let url = match e.url {
        Some(u) => Some(check_url(&config, u, "/url").await?),
        None => None,
    };
    let edit = Edit {
        url,
        entity_types: e.entity_types,
        description: e.description.map(|d| d.trim().to_owned()),
        enabled: e.enabled,
    };
    let actor = Actor::of(&caller);
    let sub = db
        .transaction(move |conn| store::update(conn, &actor, &org, id, &if_match, edit))
        .await?;
    Ok(respond(sub, None))
}

/// Delete a webhook subscription
///
/// Stops delivery at once (an attempt under way finishes) and forgets its attempts. Needs
/// `portfolio:read` and `If-Match`.
#[utoipa::path(
    tag = "webhooks",
    params(
        ("id" = Uuid, Path, description = "Subscription id", example = "46296fff-d59c-c90f-47c5-49411c7389f2"),
        ("If-Match" = String, Header, description = "The ETag the change is based on", example = "\"v1\"")
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such subscription of the caller's organisation", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = ["portfolio:read"]))
)]
#[delete("/{id}")]
pub async fn delete_subscription(
    caller: Caller,
    db: web::Data<Db>,
    path: web::Path<Uuid>,
    if_match: IfMatch,
) -> Result<HttpResponse, ApiError> {
    let org = owner(&caller)?;
    let id = path.into_inner();
    let actor = Actor::of(&caller);
    db.transaction(move |conn| store::delete(conn, &actor, &org, id, &if_match))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Rotate the signing secret
///
/// A new secret, shown only in this answer. For 24 hours deliveries carry two signatures
/// (`v1,…` with the new secret and `v1,…` with the old one), so receivers can switch over
/// without losing a message; then only the new one. Needs `portfolio:read` and `If-Match`.
#[utoipa::path(
    tag = "webhooks",
    params(
        ("id" = Uuid, Path, description = "Subscription id", example = "46296fff-d59c-c90f-47c5-49411c7389f2"),
        ("If-Match" = String, Header, description = "The ETag the change is based on", example = "\"v1\"")
    ),
    responses(
        (status = 200, description = "The subscription with its new `secret`", body = WebhookSubscription, headers(("ETag" = String, description = "Version of the representation"))),
        (status = 404, description = "No such subscription of the caller's organisation", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = ["portfolio:read"]))
)]
#[post("/{id}/rotate-secret")]
pub async fn rotate_secret(
    caller: Caller,
    db: web::Data<Db>,
    path: web::Path<Uuid>,
    if_match: IfMatch,
) -> Result<HttpResponse, ApiError> {
    let org = owner(&caller)?;
    let id = path.into_inner();
    let secret = signature::new_secret().map_err(ApiError::internal)?;
    let until = Utc::now() + chrono::Duration::hours(ROTATION_OVERLAP_HOURS);
    let actor = Actor::of(&caller);
    let stored = secret.clone();
    let sub = db
        .transaction(move |conn| {
            store::rotate_secret(conn, &actor, &org, id, &if_match, &stored, until)
        })
        .await?;
    Ok(respond(sub, Some(secret)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct DeliveryPath {
    /// Subscription id
    #[param(example = "46296fff-d59c-c90f-47c5-49411c7389f2")]
    pub id: Uuid,
    /// Delivery attempt id
    #[param(minimum = 1, maximum = 9007199254740991_i64, example = 1)]
    pub delivery_id: i64,
}

/// List delivery attempts
///
/// Every attempt (feed deliveries, retries, redeliveries, pings), newest first: event `seq`,
/// attempt number, time, HTTP status or error, duration. Needs `portfolio:read`.
#[utoipa::path(
    tag = "webhooks",
    params(("id" = Uuid, Path, description = "Subscription id", example = "46296fff-d59c-c90f-47c5-49411c7389f2"), PageQuery),
    responses(
        (status = 200, description = "A page of attempts", body = WebhookDeliveryPage),
        (status = 404, description = "No such subscription of the caller's organisation", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = ["portfolio:read"]))
)]
#[get("/{id}/deliveries")]
pub async fn list_deliveries(
    caller: Caller,
    db: web::Data<Db>,
    path: web::Path<Uuid>,
    page: web::Query<PageQuery>,
) -> Result<web::Json<WebhookDeliveryPage>, ApiError> {
    let org = owner(&caller)?;
    page.check()?;
    let before = page.after::<i64>()?;
    let limit = page.limit();
    let id = path.into_inner();
    let rows = db
        .run(move |conn| store::list_deliveries(conn, &org, id, before, limit))
        .await?;
    let (rows, next_cursor) = paginate(rows, limit, |r| r.id);
    Ok(web::Json(WebhookDeliveryPage {
        items: rows.into_iter().map(WebhookDelivery::from).collect(),
        next_cursor,
    }))
}

/// Redeliver an event
///
/// Queues the event of this attempt for one more delivery (same `webhook-id`, so a receiver
/// that already has it can recognise it). Not retried; see the deliveries list for the
/// outcome. Needs `portfolio:read`.
#[utoipa::path(
    tag = "webhooks",
    params(DeliveryPath),
    responses(
        (status = 202, description = "Queued", body = QueuedDelivery),
        (status = 404, description = "No such subscription or attempt", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = ["portfolio:read"]))
)]
#[post("/{id}/deliveries/{delivery_id}/redeliver")]
pub async fn redeliver(
    caller: Caller,
    db: web::Data<Db>,
    path: web::Path<DeliveryPath>,
) -> Result<HttpResponse, ApiError> {
    let org = owner(&caller)?;
    let DeliveryPath { id, delivery_id } = path.into_inner();
    let (job_id, event_seq) = db
        .transaction(move |conn| store::enqueue(conn, &org, id, Some(delivery_id)))
        .await?;
    Ok(HttpResponse::Accepted().json(QueuedDelivery { job_id, event_seq }))
}

/// Send a test event
///
/// Queues a ping: a message shaped like a feed event with `seq` 0, `entity_type`
/// `webhook_subscription` and `action` `ping` (not on the feed). Works on a disabled
/// subscription too, to check a receiver before resuming. Needs `portfolio:read`.
#[utoipa::path(
    tag = "webhooks",
    params(("id" = Uuid, Path, description = "Subscription id", example = "46296fff-d59c-c90f-47c5-49411c7389f2")),
    responses(
        (status = 202, description = "Queued", body = QueuedDelivery),
        (status = 404, description = "No such subscription of the caller's organisation", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = ["portfolio:read"]))
)]
#[post("/{id}/ping")]
pub async fn ping(
    caller: Caller,
    db: web::Data<Db>,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let org = owner(&caller)?;
    let id = path.into_inner();
    let (job_id, event_seq) = db
        .transaction(move |conn| store::enqueue(conn, &org, id, None))
        .await?;
    Ok(HttpResponse::Accepted().json(QueuedDelivery { job_id, event_seq }))
}
