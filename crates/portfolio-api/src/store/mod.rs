//! Database access, one module per aggregate. Functions take a connection and plain values,
//! and are called inside `Db::run` / `Db::transaction`.

pub mod benefits;
pub mod budget;
pub mod certificates;
pub mod changelog;
pub mod checkpoints;
pub mod cycles;
pub mod decisions;
pub mod delivery;
pub mod dependencies;
mod error;
pub mod measures;
pub mod needs;
pub mod prioritisation;
pub mod reference;
pub mod selection;
pub mod sensitivity;
pub mod studies;
pub mod tertial;
pub mod webhooks;

pub use error::{StoreError, StoreResult};
