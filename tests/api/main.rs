//! Black-box tests of the HTTP API, against a real PostgreSQL (one integration binary).

mod support;

mod audit_chain;
mod auth;
mod benefits;
mod binary;
mod budget_frames;
mod certificates;
mod change_log;
mod contract;
mod contract_conformance;
mod contract_truth;
mod crash_idempotency;
mod crash_restart;
mod decisions;
mod demo;
mod dpop;
mod drafts;
mod idempotency;
mod issuer;
mod least_privilege;
mod lost_updates;
mod measures;
mod needs_cycle;
mod needs_support;
mod operations;
mod pinned_responses;
mod problems;
mod rate_limit;
mod read_cache;
mod reference_data;
mod resilience;
mod seed_picture;
mod selection;
mod strict_input;
mod webhooks;
