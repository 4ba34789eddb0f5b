//! The memory store's consumption claims and settlements (see
//! [`crate::store::SettlementStore`]).

use std::collections::HashMap;

use parking_lot::Mutex;

use super::MemoryStore;
use crate::error::Result;
use crate::store::{SettlementStore, StatusSwap, StoredSettlement};

/// Claims by evaluation id; settlements by id.
#[derive(Debug, Default)]
pub(super) struct MemSettlements {
    claims: Mutex<HashMap<String, String>>,
    settlements: Mutex<HashMap<String, StoredSettlement>>,
}

impl SettlementStore for MemoryStore {
    fn consumption_claim(&self, evaluation_id: &str, record_id: &str) -> Result<Option<String>> {
        let mut claims = self.settlements.claims.lock();
        if let Some(held) = claims.get(evaluation_id) {
            return Ok(Some(held.clone()));
        }
        claims.insert(evaluation_id.to_string(), record_id.to_string());
        Ok(None)
    }

    fn consumption_unclaim(&self, evaluation_id: &str, record_id: &str) -> Result<()> {
        let mut claims = self.settlements.claims.lock();
        if claims.get(evaluation_id).map(String::as_str) == Some(record_id) {
            claims.remove(evaluation_id);
        }
        Ok(())
    }

    fn settlement_insert(&self, s: &StoredSettlement) -> Result<bool> {
        let mut map = self.settlements.settlements.lock();
        if map.contains_key(&s.id) {
            return Ok(false);
        }
        map.insert(s.id.clone(), s.clone());
        Ok(true)
    }

    fn settlement_get(&self, id: &str) -> Result<Option<StoredSettlement>> {
        Ok(self.settlements.settlements.lock().get(id).cloned())
    }

    fn settlement_set_status(&self, id: &str, from: &str, to: &str) -> Result<StatusSwap> {
        let mut map = self.settlements.settlements.lock();
        Ok(match map.get_mut(id) {
            None => StatusSwap::Unknown,
            Some(s) if s.status == from => {
                s.status = to.to_string();
                StatusSwap::Swapped
            }
            Some(s) => StatusSwap::Current(s.status.clone()),
        })
    }
}
