//! The passport registry and the trusted issuers (see [`crate::store::RegistryStore`]).
//!
//! **Passports.** [`Engine::issue_passport`] and [`Engine::issue_sub_passport`] sign with the
//! engine's clock, record the passport (`source: "issued"`) and write an `issuance`
//! attestation; a passport made elsewhere is recorded when this engine first verifies it
//! (`source: "seen"`), every link of its chain. Registration is insert-if-absent: the first
//! record of an id stays. A second token under a registered id (an agent re-using a `jti` for
//! two children: a delegated id derives from its parent, its signer and its `jti`, so an agent
//! can only ever collide with its own delegates) never rewrites the record: the engine writes a
//! `passport.conflict` attestation naming both token hashes and goes on. A bounded in-process
//! set of the tokens already registered keeps this to one store write per new token. A dry run
//! registers nothing. A registry write that fails fails the call like any store error
//! (`STORE_UNAVAILABLE`): never an allow.
//!
//! **Issuers.** The trusted issuers are the builder's, the policy's and those trusted through
//! the store (`trust_issuer`), less those untrusted through the store: `untrust_issuer` writes a
//! deny-list entry that wins over the builder and the policy (an incident cannot wait for a
//! redeploy), and `trust_issuer` on the same did lifts it. A stored issuer may carry a window
//! (`not_before`, `not_after`, ms): a passport whose **root** `iat` falls outside its issuer's
//! window is `ISSUER_UNTRUSTED` (the root's `iat` is the issuer's own claim: a delegate cannot
//! move it). Every verification checks the store's issuer generation (one small read) and
//! re-reads the issuers when another engine changed them, so a fleet sharing a store agrees on
//! its issuers from its next decision.
//!
//! **Export and import.** [`Engine::export_trust`] signs `{issuers, revoked, exported_at,
//! signer}` with the engine's key under its own domain (`passgate-trust-export-v1\n`: a trust
//! document can never pass for an attestation, nor the reverse); [`Engine::import_trust`]
//! checks it against the signer the caller names (never the document's own claim), checks every
//! entry, and only then merges (trust windows, revocations), attested as `trust.imported`. A
//! locally untrusted issuer stays untrusted (reported as skipped).

use std::collections::BTreeSet;

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::{json, Value};

use super::{Engine, Event};
use crate::attestation;
use crate::error::{Error, Result};
use crate::keys::PublicKey;
use crate::passport::{IssuedPassport, Issuer, PassportRequest, Verified};
use crate::policy::Policy;
use crate::store::{
    IssuerRecord, PassportFilter, PassportRecord, PassportSource, Registered, RegistryStore,
};

/// The signature domain of a trust export.
pub const TRUST_DOMAIN: &[u8] = b"passgate-trust-export-v1\n";

/// The largest page of `list_passports`.
pub const MAX_PASSPORT_PAGE: usize = 1000;

/// How many tokens the engine remembers as registered.
pub(super) const REGISTERED_ENTRIES: usize = 10_000;

/// What a `list_passports` cursor starts with.
const CURSOR_PREFIX: &str = "pp1.";

/// The most store pages one `list_passports` call reads (a status or permission filter that
/// matches little ends the page early, with a cursor).
const MAX_STORE_PAGES: usize = 10;

/// The issuers trusted through the store, as this engine last read them.
#[derive(Debug, Default)]
pub(super) struct IssuerState {
    /// The store's generation they were read at (`None`: never read).
    generation: Option<u64>,
    stored: Vec<IssuerRecord>,
}

impl IssuerState {
    /// The store's generation the issuers were read at (`None`: never read).
    pub(super) fn generation(&self) -> Option<u64> {
        self.generation
    }
}

/// A passport's live status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PassportStatus {
    /// Valid now (not expired, neither it nor an ancestor revoked).
    Active,
    /// Past its `exp`.
    Expired,
    /// Revoked.
    Revoked,
    /// An ancestor was revoked.
    RevokedAncestor,
}

/// A registered passport with its live status.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct PassportView {
    /// The record.
    #[serde(flatten)]
    pub record: PassportRecord,
    /// active, expired, revoked or revoked_ancestor.
    pub status: PassportStatus,
}

/// Which passports `list_passports` lists: every field optional, all combined.
#[derive(Debug, Clone, Default)]
pub struct PassportQuery {
    /// Those of this agent.
    pub agent: Option<String>,
    /// The children of this passport id.
    pub parent: Option<String>,
    /// Those with this status now.
    pub status: Option<PassportStatus>,
    /// Those whose permissions cover this permission (as delegation judges it).
    pub permission: Option<String>,
}

/// Where a trusted issuer's trust comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum IssuerSource {
    /// The engine's builder (`trusted_issuers`).
    Builder,
    /// The policy's `issuers`.
    Policy,
    /// `trust_issuer` (or an import), through the store.
    Store,
}

/// A trusted issuer.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct IssuerView {
    /// Its did:key.
    pub did: String,
    /// Its public key as an RFC 8037 JWK.
    pub public_jwk: Value,
    /// builder, policy or store (the first that trusts it).
    pub source: IssuerSource,
    /// Passports it issued before this time (ms) are refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_before: Option<i64>,
    /// Passports it issued after this time (ms) are refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_after: Option<i64>,
    /// When it was trusted through the store (ms).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trusted_at: Option<i64>,
}

/// What `untrust_issuer` did.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Untrusted {
    /// The issuer's did.
    pub did: String,
    /// Where it was trusted from before (none: it was not trusted).
    pub was: Option<IssuerSource>,
}

/// What `import_trust` merged.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct TrustImport {
    /// The issuers trusted (with the document's windows).
    pub issuers: Vec<String>,
    /// How many passport ids were revoked.
    pub revoked: usize,
    /// Issuers of the document left untrusted because this store untrusted them.
    pub skipped: Vec<String>,
}

fn no_registry() -> Error {
    Error::StoreUnavailable("this store keeps no passport or issuer registry".into())
}

fn hex_hash(h: &[u8; 32]) -> String {
    hex::encode(h)
}

/// The trusted set: builder ∪ policy ∪ stored-trusted, less stored-untrusted; sorted.
fn effective(builder: &[String], policy: Option<&Policy>, stored: &[IssuerRecord]) -> Vec<String> {
    let denied: BTreeSet<&str> = stored
        .iter()
        .filter(|r| !r.trusted)
        .map(|r| r.did.as_str())
        .collect();
    let mut all: BTreeSet<String> = builder.iter().cloned().collect();
    if let Some(p) = policy {
        all.extend(p.issuers.iter().cloned());
    }
    // A stored did that does not decode trusts nothing (the builder's and the policy's are
    // checked when set, and refused there): a bad stored entry never breaks every verification.
    all.extend(
        stored
            .iter()
            .filter(|r| r.trusted && PublicKey::from_did(&r.did).is_ok())
            .map(|r| r.did.clone()),
    );
    all.into_iter()
        .filter(|d| !denied.contains(d.as_str()))
        .collect()
}

/// Checks a did argument (`INVALID_ARGUMENT` at `path`).
fn check_did(did: &str, path: &str) -> Result<()> {
    PublicKey::from_did(did)
        .map(|_| ())
        .map_err(|e| Error::argument(path, format!("{did:?} is not an Ed25519 did:key: {e}")))
}

/// Checks a trust window.
fn check_window(not_before: Option<i64>, not_after: Option<i64>, path: &str) -> Result<()> {
    if let (Some(nb), Some(na)) = (not_before, not_after) {
        if nb >= na {
            return Err(Error::argument(
                path,
                format!("not_after ({na}) must be after not_before ({nb})"),
            ));
        }
    }
    Ok(())
}

impl Engine {
    fn registry(&self) -> Result<&dyn RegistryStore> {
        self.store.registry().ok_or_else(no_registry)
    }

    /// The trusted issuers with `policy` as the policy and the stored issuers as last read.
    pub(super) fn trusted_with(&self, policy: Option<&Policy>) -> Vec<String> {
        effective(&self.builder_trusted, policy, &self.issuers.read().stored)
    }

    /// Re-reads the stored issuers if another engine (or this one) changed them since.
    pub(super) fn sync_issuers(&self) -> Result<()> {
        let Some(reg) = self.store.registry() else {
            return Ok(());
        };
        let g = reg.issuers_generation()?;
        if self.issuers.read().generation == Some(g) {
            return Ok(());
        }
        self.reload_issuers(reg)
    }

    fn reload_issuers(&self, reg: &dyn RegistryStore) -> Result<()> {
        let _one = self.issuers_sync.lock();
        let (g, stored) = reg.issuers()?;
        let policy = self.policy();
        let trusted = effective(&self.builder_trusted, policy.as_deref(), &stored);
        self.verifier.set_trusted(trusted)?;
        *self.issuers.write() = IssuerState {
            generation: Some(g),
            stored,
        };
        Ok(())
    }

    /// A root `iat` outside its issuer's stored window is `ISSUER_UNTRUSTED`.
    pub(super) fn check_issuer_window(&self, v: &Verified) -> Result<()> {
        let state = self.issuers.read();
        let Some(rec) = state
            .stored
            .iter()
            .find(|r| r.trusted && r.did == v.root_issuer)
        else {
            return Ok(());
        };
        let Some(root) = v.chain.first() else {
            return Ok(());
        };
        let iat_ms = root.iat.saturating_mul(1000);
        let before = rec.not_before.is_some_and(|nb| iat_ms < nb);
        let after = rec.not_after.is_some_and(|na| iat_ms > na);
        if before || after {
            return Err(Error::IssuerUntrusted(format!(
                "passport {} was issued at {iat_ms} ms by {}, outside that issuer's trust window \
                 [{}, {}]",
                root.passport_id,
                v.root_issuer,
                rec.not_before.map_or("-".into(), |t| t.to_string()),
                rec.not_after.map_or("-".into(), |t| t.to_string()),
            )));
        }
        Ok(())
    }

    /// Registers every link of `v`'s chain not registered yet (`source: "seen"`).
    pub(super) fn register_seen(&self, v: &Verified) -> Result<()> {
        let Some(reg) = self.store.registry() else {
            return Ok(());
        };
        if self.registered.lock().get(&v.token_hash).is_some() {
            return Ok(());
        }
        let now = self.clock.now_ms();
        let mut ancestors: Vec<String> = Vec::new();
        for link in &v.chain {
            if self.registered.lock().get(&link.token_hash).is_some() {
                // An ancestor registered with an earlier delegate of it.
                ancestors.push(link.passport_id.clone());
                continue;
            }
            let record = PassportRecord {
                passport_id: link.passport_id.clone(),
                agent: link.agent_id.clone(),
                name: link.agent_name.clone(),
                perms: link.perms.clone(),
                caveats: link.caveats.clone(),
                parent: ancestors.last().cloned(),
                ancestors: ancestors.clone(),
                issuer: link.issuer.clone(),
                exp: link.exp,
                issued_at: link.iat,
                token_hash: hex_hash(&link.token_hash),
                registered_at: now,
                source: PassportSource::Seen,
            };
            self.register(reg, &record)?;
            self.registered.lock().put(link.token_hash, (), 64);
            ancestors.push(link.passport_id.clone());
        }
        Ok(())
    }

    /// Insert-if-absent; a different token under a registered id is attested, never stored.
    fn register(&self, reg: &dyn RegistryStore, record: &PassportRecord) -> Result<()> {
        match reg.passport_register(record)? {
            Registered::Inserted => Ok(()),
            Registered::Existing(found) if found.token_hash == record.token_hash => Ok(()),
            Registered::Existing(found) => {
                let data = json!({
                    "passport_id": record.passport_id,
                    "registered_token_hash": found.token_hash,
                    "presented_token_hash": record.token_hash,
                    "registered_agent": found.agent,
                    "presented_agent": record.agent,
                });
                let about = Event {
                    agent_id: Some(&record.agent),
                    ..Event::default()
                };
                self.append_event("passport.conflict", &data, about)?;
                Ok(())
            }
        }
    }

    /// Issues a root passport signed by `issuer` at this engine's clock, records it in the
    /// registry (`source: "issued"`: never the agent's key) and writes an `issuance`
    /// attestation `{passport_id, agent, perms, parent, exp, token_hash}`.
    pub fn issue_passport(&self, issuer: &Issuer, req: &PassportRequest) -> Result<IssuedPassport> {
        self.same_process()?;
        let issued = issuer.issue_passport_at(req, self.clock.now_ms().div_euclid(1000))?;
        self.record_issued(&issued)?;
        Ok(issued)
    }

    /// Delegates from `parent` (a passport and its agent key) at this engine's clock, recorded
    /// and attested as [`Engine::issue_passport`] is.
    pub fn issue_sub_passport(
        &self,
        parent: &IssuedPassport,
        req: &PassportRequest,
    ) -> Result<IssuedPassport> {
        self.same_process()?;
        let issued = parent.issue_sub_passport_at(req, self.clock.now_ms().div_euclid(1000))?;
        self.record_issued(&issued)?;
        Ok(issued)
    }

    fn record_issued(&self, issued: &IssuedPassport) -> Result<()> {
        use sha2::{Digest, Sha256};
        let reg = self.registry()?;
        let claims = crate::passport::decode_unverified(&issued.token)?;
        let mut ancestors = crate::passport::chain_ids_of(&issued.token)?;
        ancestors.pop();
        let text = |k: &str| claims.get(k).and_then(Value::as_str).map(str::to_string);
        let int = |k: &str| claims.get(k).and_then(Value::as_i64).unwrap_or_default();
        let hash: [u8; 32] = Sha256::digest(issued.token.as_bytes()).into();
        let record = PassportRecord {
            passport_id: issued.passport_id.clone(),
            agent: issued.agent_id.clone(),
            name: text("name"),
            perms: serde_json::from_value(claims.get("perms").cloned().unwrap_or_default())
                .unwrap_or_default(),
            caveats: serde_json::from_value(claims.get("caveats").cloned().unwrap_or_default())
                .unwrap_or_default(),
            parent: ancestors.last().cloned(),
            ancestors,
            issuer: text("iss").unwrap_or_default(),
            exp: int("exp"),
            issued_at: int("iat"),
            token_hash: hex_hash(&hash),
            registered_at: self.clock.now_ms(),
            source: PassportSource::Issued,
        };
        self.register(reg, &record)?;
        let data = json!({
            "passport_id": record.passport_id, "agent": record.agent, "perms": record.perms,
            "parent": record.parent, "exp": record.exp, "token_hash": record.token_hash,
        });
        let about = Event {
            agent_id: Some(&record.agent),
            ..Event::default()
        };
        self.append_event("issuance", &data, about)?;
        self.registered.lock().put(hash, (), 64);
        Ok(())
    }

    /// A passport's live status.
    fn passport_status(&self, r: &PassportRecord) -> Result<PassportStatus> {
        let mut ids: Vec<&str> = vec![r.passport_id.as_str()];
        ids.extend(r.ancestors.iter().map(String::as_str));
        if let Some(id) = self.store.first_revoked(&ids)? {
            return Ok(match id == r.passport_id {
                true => PassportStatus::Revoked,
                false => PassportStatus::RevokedAncestor,
            });
        }
        if self.clock.now_ms() >= r.exp.saturating_mul(1000) {
            return Ok(PassportStatus::Expired);
        }
        Ok(PassportStatus::Active)
    }

    /// The registered passport `passport_id` with its live status. A malformed id is
    /// `INVALID_ARGUMENT` at `/passport_id`; an unregistered one `PASSPORT_UNKNOWN`.
    pub fn get_passport(&self, passport_id: &str) -> Result<PassportView> {
        self.same_process()?;
        if !crate::passport::is_any_passport_id(passport_id) {
            return Err(Error::argument(
                "/passport_id",
                format!("{passport_id:?} is not a passport id (psp_ or psd_ and 26 characters)"),
            ));
        }
        let record = self.registry()?.passport_get(passport_id)?.ok_or_else(|| {
            Error::PassportUnknown(format!("no registered passport {passport_id:?}"))
        })?;
        let status = self.passport_status(&record)?;
        Ok(PassportView { record, status })
    }

    /// One page of registered passports by id: at most `limit` (1–1000) matching `query`
    /// after `cursor` (`None`: the first page), and the next page's cursor (`None`: no more).
    /// A page filtered by status or permission may hold fewer than `limit` with a cursor.
    pub fn list_passports(
        &self,
        query: &PassportQuery,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<PassportView>, Option<String>)> {
        self.same_process()?;
        if !(1..=MAX_PASSPORT_PAGE).contains(&limit) {
            return Err(Error::argument(
                "/limit",
                format!("limit must be 1 to {MAX_PASSPORT_PAGE}, not {limit}"),
            ));
        }
        let mut after = match cursor {
            None => None,
            Some(c) => Some(
                c.strip_prefix(CURSOR_PREFIX)
                    .filter(|id| crate::passport::is_any_passport_id(id))
                    .map(str::to_string)
                    .ok_or_else(|| {
                        Error::argument(
                            "/cursor",
                            format!("cursor {c:?} was not returned by list_passports"),
                        )
                    })?,
            ),
        };
        if let Some(p) = &query.permission {
            crate::passport::validate_permission(p)
                .map_err(|e| Error::argument("/permission", e.to_string()))?;
        }
        let reg = self.registry()?;
        let filter = PassportFilter {
            agent: query.agent.clone(),
            parent: query.parent.clone(),
        };
        let mut out = Vec::new();
        for _ in 0..MAX_STORE_PAGES {
            let (page, next) = reg.passports_page(&filter, after.as_deref(), limit)?;
            for record in page {
                let id = record.passport_id.clone();
                let status = self.passport_status(&record)?;
                let wanted = query.status.is_none_or(|s| s == status)
                    && query.permission.as_ref().is_none_or(|p| {
                        crate::passport::perms_cover(&record.perms, std::slice::from_ref(p))
                            .is_none()
                    });
                if wanted {
                    out.push(PassportView { record, status });
                }
                after = Some(id);
                if out.len() >= limit {
                    return Ok((out, after.map(|a| format!("{CURSOR_PREFIX}{a}"))));
                }
            }
            match next {
                Some(n) => after = Some(n),
                None => return Ok((out, None)),
            }
        }
        Ok((out, after.map(|a| format!("{CURSOR_PREFIX}{a}"))))
    }

    /// The trusted issuers, sorted by did.
    pub fn list_issuers(&self) -> Result<Vec<IssuerView>> {
        self.same_process()?;
        self.sync_issuers()?;
        let policy = self.policy();
        let state = self.issuers.read();
        let trusted = effective(&self.builder_trusted, policy.as_deref(), &state.stored);
        trusted
            .into_iter()
            .map(|did| {
                let stored = state.stored.iter().find(|r| r.trusted && r.did == did);
                let source = if self.builder_trusted.contains(&did) {
                    IssuerSource::Builder
                } else if policy.as_ref().is_some_and(|p| p.issuers.contains(&did)) {
                    IssuerSource::Policy
                } else {
                    IssuerSource::Store
                };
                let key = PublicKey::from_did(&did)?;
                Ok(IssuerView {
                    public_jwk: crate::keys::public_jwk(&key.to_bytes()),
                    source,
                    not_before: stored.and_then(|r| r.not_before),
                    not_after: stored.and_then(|r| r.not_after),
                    trusted_at: stored.map(|r| r.changed_at),
                    did,
                })
            })
            .collect()
    }

    /// Trusts `did` through the store (every engine of the store honours it from its next
    /// verification), optionally only for passports whose root `iat` lies in `[not_before,
    /// not_after]` (ms). Trusting again replaces the window; it also lifts an untrust. Writes an
    /// `issuer.trusted` attestation. A did that is not an Ed25519 did:key is `INVALID_ARGUMENT`
    /// at `/did`.
    pub fn trust_issuer(
        &self,
        did: &str,
        not_before: Option<i64>,
        not_after: Option<i64>,
    ) -> Result<IssuerView> {
        self.same_process()?;
        check_did(did, "/did")?;
        check_window(not_before, not_after, "/not_after")?;
        let reg = self.registry()?;
        let now = self.clock.now_ms();
        reg.issuer_put(&IssuerRecord {
            did: did.to_string(),
            trusted: true,
            not_before,
            not_after,
            changed_at: now,
        })?;
        self.append_event(
            "issuer.trusted",
            &json!({"did": did, "not_before": not_before, "not_after": not_after}),
            Event::default(),
        )?;
        self.reload_issuers(reg)?;
        self.list_issuers()?
            .into_iter()
            .find(|i| i.did == did)
            .ok_or_else(|| Error::Internal(format!("issuer {did} trusted but not listed")))
    }

    /// Untrusts `did` for every engine of the store: a deny-list entry that wins over the
    /// builder's and the policy's issuers (lifted by [`Engine::trust_issuer`]). Writes an
    /// `issuer.untrusted` attestation.
    pub fn untrust_issuer(&self, did: &str) -> Result<Untrusted> {
        self.same_process()?;
        check_did(did, "/did")?;
        let reg = self.registry()?;
        let was = self
            .list_issuers()?
            .into_iter()
            .find(|i| i.did == did)
            .map(|i| i.source);
        reg.issuer_put(&IssuerRecord {
            did: did.to_string(),
            trusted: false,
            not_before: None,
            not_after: None,
            changed_at: self.clock.now_ms(),
        })?;
        self.append_event(
            "issuer.untrusted",
            &json!({"did": did, "was": was}),
            Event::default(),
        )?;
        self.reload_issuers(reg)?;
        Ok(Untrusted {
            did: did.to_string(),
            was,
        })
    }

    /// The trusted issuers (with their windows) and every revoked passport id, signed by this
    /// engine's key: `{body: {v, kind: "trust.export", issuers, revoked, exported_at, signer},
    /// hash, sig, kid}` (see the module docs).
    pub fn export_trust(&self) -> Result<Value> {
        self.same_process()?;
        let issuers: Vec<Value> = self
            .list_issuers()?
            .into_iter()
            .map(|i| json!({"did": i.did, "not_before": i.not_before, "not_after": i.not_after}))
            .collect();
        let revoked = self.registry()?.revoked_ids()?;
        let body = json!({
            "v": 1, "kind": "trust.export", "issuers": issuers, "revoked": revoked,
            "exported_at": self.clock.now_ms(), "signer": self.signer_did(),
        });
        Ok(attestation::seal_in(TRUST_DOMAIN, body, &self.chain.key)?.0)
    }

    /// Verifies a trust export against `signer` (the did the caller expects; the document's
    /// own `kid` and `signer` are not trusted) and merges it: its issuers trusted with their
    /// windows (except those this store untrusted, returned as skipped), its revocations
    /// revoked. A document that does not verify (`ATTESTATION_KEY`, `ATTESTATION_HASH`,
    /// `ATTESTATION_SIGNATURE`) or whose body is malformed (`ATTESTATION_MALFORMED`) imports
    /// nothing. Writes a `trust.imported` attestation.
    pub fn import_trust(&self, document: &Value, signer: &str) -> Result<TrustImport> {
        self.same_process()?;
        check_did(signer, "/signer")?;
        let key = PublicKey::from_did(signer)?;
        attestation::verify_in(TRUST_DOMAIN, document, signer, &key)?;
        let malformed = |m: String| Error::AttestationMalformed(format!("trust document: {m}"));
        let body = document
            .get("body")
            .ok_or_else(|| malformed("no body".into()))?;
        if body.get("kind").and_then(Value::as_str) != Some("trust.export") {
            return Err(malformed("kind is not trust.export".into()));
        }
        let mut windows = Vec::new();
        let entries = body
            .get("issuers")
            .and_then(Value::as_array)
            .ok_or_else(|| malformed("issuers must be an array".into()))?;
        for (i, e) in entries.iter().enumerate() {
            let did = e
                .get("did")
                .and_then(Value::as_str)
                .filter(|d| PublicKey::from_did(d).is_ok())
                .ok_or_else(|| malformed(format!("issuers[{i}].did is not a did:key")))?;
            let time = |k: &str| match e.get(k) {
                None | Some(Value::Null) => Ok(None),
                Some(v) => v
                    .as_i64()
                    .map(Some)
                    .ok_or_else(|| malformed(format!("issuers[{i}].{k} is not an integer"))),
            };
            let (nb, na) = (time("not_before")?, time("not_after")?);
            check_window(nb, na, "").map_err(|e| malformed(format!("issuers[{i}]: {e}")))?;
            windows.push((did.to_string(), nb, na));
        }
        let revoked: Vec<&str> = body
            .get("revoked")
            .and_then(Value::as_array)
            .ok_or_else(|| malformed("revoked must be an array".into()))?
            .iter()
            .enumerate()
            .map(|(i, v)| {
                v.as_str()
                    .filter(|id| crate::passport::is_any_passport_id(id))
                    .ok_or_else(|| malformed(format!("revoked[{i}] is not a passport id")))
            })
            .collect::<Result<_>>()?;
        let reg = self.registry()?;
        self.sync_issuers()?;
        let denied: BTreeSet<String> = self
            .issuers
            .read()
            .stored
            .iter()
            .filter(|r| !r.trusted)
            .map(|r| r.did.clone())
            .collect();
        let now = self.clock.now_ms();
        let (mut trusted, mut skipped) = (Vec::new(), Vec::new());
        for (did, nb, na) in windows {
            if denied.contains(&did) {
                skipped.push(did);
                continue;
            }
            reg.issuer_put(&IssuerRecord {
                did: did.clone(),
                trusted: true,
                not_before: nb,
                not_after: na,
                changed_at: now,
            })?;
            trusted.push(did);
        }
        for id in &revoked {
            self.store.revoke(id, now)?;
        }
        self.append_event(
            "trust.imported",
            &json!({
                "signer": signer, "document_hash": document.get("hash"),
                "exported_at": body.get("exported_at"), "issuers": trusted,
                "revoked": revoked.len(), "skipped": skipped,
            }),
            Event::default(),
        )?;
        self.reload_issuers(reg)?;
        Ok(TrustImport {
            issuers: trusted,
            revoked: revoked.len(),
            skipped,
        })
    }
}
