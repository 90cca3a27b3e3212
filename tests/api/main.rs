//! Black-box tests of the HTTP API, against a real PostgreSQL (one integration binary).

mod support;

mod auth;
mod budget_frames;
mod contract;
mod measures;
mod needs_cycle;
mod problems;
mod reference_data;
