//! What a store keeps for consumption attestations and settlements (see
//! [`crate::commerce::settlement`]).
//!
//! - **Consumption claims**: one consumption attestation per evaluation.
//!   [`SettlementStore::consumption_claim`] records `evaluation id → record id` only if the
//!   evaluation has none (memory: under one lock; SQLite: `INSERT OR IGNORE` on the primary key of
//!   table `consumptions`, migration 11; Redis: `HSETNX` on `{prefix}:consumptions`), so two
//!   engines consuming one evaluation at once never both succeed. The engine claims before it
//!   appends the record to its chain and gives the claim back if the append fails.
//! - **Settlements**: the signed statement (JSON text), the consumption records it includes (a
//!   JSON array, so the statement can be exported and re-verified even after the records were
//!   pruned from the log) and its status. The statement is written once
//!   ([`SettlementStore::settlement_insert`]); its status moves only by compare-and-swap
//!   ([`SettlementStore::settlement_set_status`]: SQLite `UPDATE … WHERE status = ?`; Redis one
//!   Lua script; memory under one lock), so two concurrent transitions from one status never both
//!   happen.

use crate::error::{Error, Result};

/// A stored settlement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSettlement {
    /// `stl_…`.
    pub id: String,
    /// The current status (`draft`, `issued`, `disputed`, `paid`, `void`).
    pub status: String,
    /// The signed statement (JSON text).
    pub document: String,
    /// The consumption records it includes (a JSON array, as text).
    pub records: String,
    /// When it was generated (ms).
    pub created_ms: i64,
}

/// What [`SettlementStore::settlement_set_status`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusSwap {
    /// The status was `from`; it is now `to`.
    Swapped,
    /// No settlement has that id.
    Unknown,
    /// The status was not `from` (another transition came first): the current status.
    Current(String),
}

/// Consumption claims and settlements (see the module docs).
pub trait SettlementStore: Send + Sync {
    /// Claims `evaluation_id` for the consumption record `record_id`: `None` when claimed now,
    /// else the record id that holds it.
    fn consumption_claim(&self, evaluation_id: &str, record_id: &str) -> Result<Option<String>>;

    /// Gives back a claim of `evaluation_id` held by `record_id` (nothing if another holds it).
    fn consumption_unclaim(&self, evaluation_id: &str, record_id: &str) -> Result<()>;

    /// Stores a settlement unless one with its id exists; whether it stored it.
    fn settlement_insert(&self, s: &StoredSettlement) -> Result<bool>;

    /// The settlement `id`.
    fn settlement_get(&self, id: &str) -> Result<Option<StoredSettlement>>;

    /// Sets settlement `id`'s status to `to` if it is `from` (compare-and-swap).
    fn settlement_set_status(&self, id: &str, from: &str, to: &str) -> Result<StatusSwap>;
}

/// The error of a store that keeps no settlements.
pub(crate) fn no_settlements() -> Error {
    Error::StoreUnavailable("this store keeps no consumption claims or settlements".into())
}
