//! Black-box tests of the HTTP API, against a real PostgreSQL (one integration binary).

mod support;

mod auth;
mod budget_frames;
mod change_log;
mod contract;
mod contract_conformance;
mod contract_truth;
mod decisions;
mod demo;
mod idempotency;
mod lost_updates;
mod measures;
mod needs_cycle;
mod needs_support;
mod problems;
mod rate_limit;
mod read_cache;
mod reference_data;
mod resilience;
mod seed_picture;
mod selection;
