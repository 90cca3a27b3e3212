//! Black-box tests of the HTTP API, against a real PostgreSQL (one integration binary).

mod support;

mod auth;
mod budget_frames;
mod contract;
mod decisions;
mod measures;
mod needs_cycle;
mod needs_support;
mod problems;
mod reference_data;
mod selection;
