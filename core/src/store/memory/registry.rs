//! The memory store's registries (see [`crate::store::RegistryStore`]).

use std::collections::BTreeMap;
use std::ops::Bound;

use parking_lot::Mutex;

use super::MemoryStore;
use crate::error::Result;
use crate::store::{IssuerRecord, PassportFilter, PassportRecord, Registered, RegistryStore};

/// Passports by id, issuers by did and the issuers' generation.
#[derive(Debug, Default)]
pub(super) struct MemRegistry {
    passports: Mutex<BTreeMap<String, PassportRecord>>,
    issuers: Mutex<(u64, BTreeMap<String, IssuerRecord>)>,
}

impl MemRegistry {
    /// The issuers' generation (every `issuer_put` bumps it).
    pub(super) fn generation(&self) -> u64 {
        self.issuers.lock().0
    }
}

/// The most records one page looks at (a filtered page may end early).
const SCAN: usize = 10_000;

impl RegistryStore for MemoryStore {
    fn passport_register(&self, record: &PassportRecord) -> Result<Registered> {
        let mut map = self.registry.passports.lock();
        if let Some(found) = map.get(&record.passport_id) {
            return Ok(Registered::Existing(Box::new(found.clone())));
        }
        map.insert(record.passport_id.clone(), record.clone());
        Ok(Registered::Inserted)
    }

    fn passport_get(&self, id: &str) -> Result<Option<PassportRecord>> {
        Ok(self.registry.passports.lock().get(id).cloned())
    }

    fn passports_page(
        &self,
        filter: &PassportFilter,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<PassportRecord>, Option<String>)> {
        let map = self.registry.passports.lock();
        let start = match after {
            Some(a) => Bound::Excluded(a.to_string()),
            None => Bound::Unbounded,
        };
        let mut out = Vec::new();
        let mut last = None;
        for (scanned, (id, r)) in map.range((start, Bound::Unbounded)).enumerate() {
            if out.len() >= limit || scanned >= SCAN {
                return Ok((out, last));
            }
            last = Some(id.clone());
            if filter.matches(r) {
                out.push(r.clone());
            }
        }
        Ok((out, None))
    }

    fn issuer_put(&self, record: &IssuerRecord) -> Result<u64> {
        let mut guard = self.registry.issuers.lock();
        guard.0 = guard.0.wrapping_add(1);
        guard.1.insert(record.did.clone(), record.clone());
        Ok(guard.0)
    }

    fn issuers(&self) -> Result<(u64, Vec<IssuerRecord>)> {
        let guard = self.registry.issuers.lock();
        Ok((guard.0, guard.1.values().cloned().collect()))
    }

    fn issuers_generation(&self) -> Result<u64> {
        Ok(self.registry.issuers.lock().0)
    }

    fn revoked_ids(&self) -> Result<Vec<String>> {
        let mut ids: Vec<String> = self.state.lock().revoked.iter().cloned().collect();
        ids.sort();
        Ok(ids)
    }
}
