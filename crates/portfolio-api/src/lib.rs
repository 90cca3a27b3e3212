//! The Regional ICT Portfolio API: HTTP, persistence and the contract around `portfolio-domain`.

pub mod app;
pub mod audit_key;
pub mod auth;
pub mod changes;
pub mod cli;
pub mod config;
pub mod dates;
pub mod db;
pub mod demo;
pub mod denied;
pub mod error;
pub mod etag;
pub mod extract;
pub mod generate;
pub mod idempotency;
pub mod memory;
pub mod openapi;
pub mod pagination;
pub mod pg_cluster;
pub mod rate_limit;
pub mod read_cache;
pub mod request_id;
pub mod routes;
pub mod server;
pub mod store;
pub mod timestamp;
