//! Cursor pagination: `limit` and an opaque `cursor` that encodes the last row's sort key, so
//! pages are stable under inserts and cost the same at any depth (keyset, no OFFSET, no COUNT).

use base64::Engine;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::IntoParams;
use validator::Validate;

use crate::error::{ApiError, FieldError};

pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 200;

/// `limit` and `cursor` of a list request.
#[derive(Debug, Deserialize, IntoParams, Validate, Default)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Items per page (1–200, default 50).
    #[param(minimum = 1, maximum = 200, example = 50)]
    #[validate(range(min = 1, max = 200))]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page; omit for the first page.
    #[param(max_length = 512)]
    #[validate(length(max = 512))]
    pub cursor: Option<String>,
}

impl PageQuery {
    pub fn limit(&self) -> i64 {
        self.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT)
    }

    /// Decodes the cursor into the sort key it carries.
    pub fn after<K: DeserializeOwned>(&self) -> Result<Option<K>, ApiError> {
        let Some(c) = &self.cursor else {
            return Ok(None);
        };
        let bad = || {
            ApiError::validation(vec![FieldError::new(
                "/query/cursor",
                "is not a cursor this API issued",
            )])
        };
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(c)
            .map_err(|_| bad())?;
        serde_json::from_slice(&bytes).map(Some).map_err(|_| bad())
    }

    pub fn check(&self) -> Result<(), ApiError> {
        self.validate().map_err(ApiError::from)
    }
}

pub fn encode_cursor<K: Serialize>(key: &K) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(serde_json::to_vec(key).unwrap_or_default())
}

/// Splits the `limit + 1` rows fetched into a page and the cursor to the next one.
pub fn paginate<T, K: Serialize>(
    mut rows: Vec<T>,
    limit: i64,
    key: impl Fn(&T) -> K,
) -> (Vec<T>, Option<String>) {
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let next = if more {
        rows.last().map(|r| encode_cursor(&key(r)))
    } else {
        None
    };
    (rows, next)
}

/// Defines a page type `$name` of `$item` for the contract.
#[macro_export]
macro_rules! page_type {
    ($name:ident, $item:ty, $doc:literal) => {
        #[doc = $doc]
        #[derive(Debug, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
        pub struct $name {
            pub items: Vec<$item>,
            /// Pass as `cursor` to get the next page; absent on the last page.
            #[serde(skip_serializing_if = "Option::is_none")]
            pub next_cursor: Option<String>,
        }
    };
}
