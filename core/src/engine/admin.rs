//! Administration: passports (verifying, revoking, reissuing), host events, the
//! chain head and reading attestations.

use std::sync::Arc;

use serde_json::{json, Value};

use super::request::name_ok;
use super::{check_page_limit, foreign_cursor, Engine, Event};
use crate::attestation;
use crate::error::{Error, Result};
use crate::passport::{IssuedPassport, Issuer, PassportRequest, Verified};
use crate::store::AttestationFilter;

/// What an attestation cursor starts with (a version, should the encoding change). `c2.` cursors
/// hold a store position (an append number: keyset paging that survives pruning); `c1.` cursors
/// (a count of records, before retention) are refused with a message saying so.
const CURSOR_PREFIX: &str = "c2.";

impl Engine {
    pub(super) fn verify(&self, token: &str, now: i64) -> Result<Arc<Verified>> {
        self.verify_as(token, now, true)
    }

    /// Verifies `token` at `now`: the store's issuers (re-read if changed), the verifier, the
    /// issuer's trust window, revocation; then, if `register`, records the chain in the
    /// passport registry (see `registry`).
    pub(super) fn verify_as(&self, token: &str, now: i64, register: bool) -> Result<Arc<Verified>> {
        self.sync_issuers()?;
        let v = self.verifier.verify(token, now)?;
        self.check_issuer_window(&v)?;
        self.check_revoked(&v)?;
        if register {
            self.register_seen(&v)?;
        }
        Ok(v)
    }

    /// `PASSPORT_REVOKED` if `v` or an ancestor is revoked (one store read).
    pub(super) fn check_revoked(&self, v: &Verified) -> Result<()> {
        // A delegation chain is short: its ids on the stack.
        let ids: smallvec::SmallVec<[&str; 4]> = v.chain_ids().collect();
        if let Some(id) = self.store.first_revoked(&ids)? {
            let whose = if id == v.passport_id {
                "this passport".to_string()
            } else {
                format!("its ancestor {id}")
            };
            return Err(Error::PassportRevoked(format!(
                "{} ({whose} was revoked)",
                v.passport_id
            )));
        }
        Ok(())
    }

    /// Verifies a passport (signature, time, issuer, delegation chain, revocation) and returns its
    /// claims.
    pub fn verify_passport(&self, token: &str) -> Result<Value> {
        Ok(self.verify(token, self.clock.now_ms())?.claims.clone())
    }

    /// Whose passport this is: verifies it (signature, validity, trust, delegation, revocation)
    /// and returns its principal (the trusted issuer and the root passport's agent id).
    pub fn principal_of(&self, token: &str) -> Result<crate::passport::Principal> {
        Ok(self.verify(token, self.clock.now_ms())?.principal.clone())
    }

    /// Revokes a passport id; every passport delegated from it is revoked with it. Writes an
    /// attestation of kind `revocation`. A malformed id (not `psp_`/`psd_` and 26 base32
    /// characters) is `INVALID_ARGUMENT` at `/passport_id`; a well-formed id this engine has not
    /// seen is revoked ahead of use (an engine does not know every passport its issuers sign).
    pub fn revoke_passport(&self, passport_id: &str) -> Result<()> {
        if !crate::passport::is_any_passport_id(passport_id) {
            return Err(Error::argument(
                "/passport_id",
                format!(
                    "{passport_id:?} is not a passport id (psp_ or psd_ and 26 characters, \
                     as IssuedPassport.passport_id)"
                ),
            ));
        }
        let now = self.clock.now_ms();
        self.store.revoke(passport_id, now)?;
        self.append_event(
            "revocation",
            &json!({ "passport_id": passport_id }),
            Event::default(),
        )?;
        Ok(())
    }

    /// Issues a new passport for the agent of `token` with the same permissions, name and caveats
    /// (and a fresh agent key), and revokes the old one. Root passports only: a delegated
    /// passport is `INVALID_ARGUMENT` (minting a root in its place would drop its ancestors'
    /// caveats, their expiry bound and the revocation link; its parent re-delegates instead).
    pub fn reissue(
        &self,
        token: &str,
        issuer: &Issuer,
        expires_in_secs: Option<i64>,
    ) -> Result<IssuedPassport> {
        self.reissue_accepting(token, issuer, expires_in_secs, &[])
    }

    /// [`Engine::reissue`], the new passport pinned to the catalog versions `accept` names
    /// (`(gate, version)`: that version's content hash, replacing the old passport's pin of the
    /// gate, if any): how an agent's passport moves to new terms after reading their impact. The
    /// old passport's other pins are kept. A version not published is `CATALOG_UNKNOWN`.
    pub fn reissue_accepting(
        &self,
        token: &str,
        issuer: &Issuer,
        expires_in_secs: Option<i64>,
        accept: &[(String, u64)],
    ) -> Result<IssuedPassport> {
        let old = self.verify(token, self.clock.now_ms())?;
        if old.is_delegated() {
            // A root passport minted in its place would drop its ancestors' caveats, their
            // expiry bound and the revocation link to them.
            return Err(Error::InvalidArgument(format!(
                "passport {} is delegated: reissue applies to root passports only (its parent \
                 agent delegates a new one instead)",
                old.passport_id
            )));
        }
        let mut req = PassportRequest::new(old.agent_id.clone(), old.perms.clone());
        req.agent_name = old.agent_name.clone();
        if let Some(secs) = expires_in_secs {
            req.expires_in_secs = secs;
        }
        req.caveats = old
            .chain
            .last()
            .map(|l| l.caveats.clone())
            .unwrap_or_default();
        // Its pins are kept (a reissue never moves a passport to new terms by itself), except
        // those `accept` replaces.
        req.pins = old.chain.last().map(|l| l.pins.clone()).unwrap_or_default();
        for (gate, version) in accept {
            let content_hash = self.catalog_hash(gate, *version)?;
            req.pins.retain(|p| p.gate != *gate);
            req.pins.push(crate::passport::Pin {
                gate: gate.clone(),
                version: *version,
                content_hash,
            });
        }
        let issued = issuer.issue_passport_at(&req, self.clock.now_ms().div_euclid(1000))?;
        self.revoke_passport(&old.passport_id)?;
        Ok(issued)
    }

    /// Appends a host event (`kind`, `data`) to this engine's chain and returns the record.
    pub fn record_attestation(&self, kind: &str, data: &Value) -> Result<Value> {
        let reserved = ["decision", "revocation", "reset", "checkpoint"];
        if !name_ok(kind)
            || reserved.contains(&kind)
            || kind.starts_with("hold.")
            || kind.starts_with("approval.")
            || kind.starts_with("chain.")
            || kind.starts_with("api_key.")
            || kind == "issuance"
            || kind.starts_with("passport.")
            || kind.starts_with("issuer.")
            || kind.starts_with("trust.")
            || kind.starts_with("policy.")
            || kind.starts_with("bundle.")
            || kind == "consumption"
            || kind.starts_with("consumption.")
            || kind.starts_with("settlement.")
            || kind.starts_with("catalog.")
        {
            return Err(Error::InvalidArgument(format!(
                "kind must be 1 to 256 characters and not one passgate writes itself ({kind:?})"
            )));
        }
        self.append_event(kind, data, Event::default())
    }

    /// A signed statement of where this engine's chain ends now: `(chain, seq, hash)` (see
    /// [`attestation::seal_head`]). A verifier that keeps a recent head detects records cut from
    /// the end of the chain ([`crate::verify_chain_with_head`]).
    pub fn chain_head(&self) -> Result<Value> {
        let tail = self.tail()?;
        attestation::seal_head(
            &attestation::ChainHead {
                chain: tail.chain.clone(),
                seq: tail.seq,
                hash: tail.prev.clone(),
                time_ms: self.clock.now_ms(),
            },
            &self.chain.key,
        )
    }

    /// Records in this engine's store (every chain), oldest first.
    pub fn attestations(&self, filter: &AttestationFilter) -> Result<Vec<Value>> {
        Ok(self
            .store
            .attestations(filter)?
            .into_iter()
            .map(|r| r.record.into_value())
            .collect())
    }

    /// One page of the records in this engine's store (every chain), oldest first: at most
    /// `limit` (1–10,000) records matching `filter` (whose own `limit` is ignored) from `cursor`
    /// (`None`: the first page), and the cursor of the next page, `None` after the last. A
    /// cursor is opaque; one that this method did not return is `INVALID_ARGUMENT`.
    pub fn attestations_page(
        &self,
        filter: &AttestationFilter,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<Value>, Option<String>)> {
        check_page_limit(limit)?;
        let after = match cursor {
            None => 0,
            Some(c) if c.starts_with("c1.") => {
                return Err(Error::InvalidArgument(format!(
                    "cursor {c:?} is from an older passgate (c1: counted records, which pruning \
                     invalidates); start again without a cursor"
                )))
            }
            Some(c) => c
                .strip_prefix(CURSOR_PREFIX)
                .and_then(|n| n.parse::<u64>().ok())
                .ok_or_else(|| foreign_cursor(c))?,
        };
        let (records, next) = self.store.attestations_page(filter, after, limit)?;
        Ok((
            records.into_iter().map(|r| r.record.into_value()).collect(),
            next.map(|n| format!("{CURSOR_PREFIX}{n}")),
        ))
    }

    /// Decisions on requests made without a passport, oldest first (`filter` narrows further).
    pub fn anonymous_log(&self, filter: &AttestationFilter) -> Result<Vec<Value>> {
        let f = AttestationFilter {
            anonymous_only: true,
            ..filter.clone()
        };
        self.attestations(&f)
    }
}
