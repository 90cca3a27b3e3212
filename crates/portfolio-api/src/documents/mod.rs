//! Documents: what the API keeps as JSON and serves again as it is — a tertial report's
//! content (frozen when published, then served byte for byte), the signed audit checkpoint a
//! report embeds, a decision item's proposal (stored with its case, shown back unchanged) and a
//! selection scenario's result (stored immutable with the scenario).
//!
//! For these the stored shape *is* the contract: a report published last year must still
//! read as its schema says. So one type is both stored and described (it derives `ToSchema`),
//! and it lives here, below `store/` (which writes it) and `routes/` (which serves it), in
//! neither. Everything else the API answers is a wire type in `routes/`, built from the
//! store's rows.

pub mod checkpoint;
pub mod decision_item;
pub mod selection_result;
pub mod tertial_report;
