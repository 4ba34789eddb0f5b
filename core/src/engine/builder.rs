//! Building an engine: policy, trusted issuers, signing key, store, retention, clock.

use std::num::NonZeroUsize;
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use serde_json::Value;

use super::{retention, Engine};
use crate::attestation::ChainWriter;
use crate::cache::WeighedLru;
use crate::clock::{Clock, SystemClock};
use crate::commerce::TrustLevel;
use crate::error::{Error, Result};
use crate::keys::KeyPair;
use crate::passport::{Verifier, VerifierOptions};
use crate::policy::Policy;
use crate::store::{self, Store};

/// How many (passport, gate) caveat compilations the engine remembers.
const CAVEAT_CACHE_ENTRIES: usize = 1024;

/// The most memory compiled caveats may hold, estimated.
const CAVEAT_CACHE_BYTES: usize = 16 << 20;

/// Builds an [`Engine`].
///
/// ```
/// use passgate::{Engine, Issuer};
/// let issuer = Issuer::generate().unwrap();
/// let engine = Engine::builder()
///     .policy_json(r#"{"version": 1, "gates": {}}"#)
///     .trusted_issuer(issuer.did())
///     .build()
///     .unwrap();
/// assert!(engine.signer_did().starts_with("did:key:z6Mk"));
/// ```
#[derive(Debug, Default)]
pub struct EngineBuilder {
    policy: Option<Result<Policy>>,
    trusted: Vec<String>,
    signing_key: Option<KeyPair>,
    store: Option<Result<Arc<dyn Store>>>,
    /// The engine's options the store URL carried (retention).
    store_options: store::StoreOptions,
    retention: Option<store::Retention>,
    retention_export: Option<std::path::PathBuf>,
    clock: Option<Arc<dyn Clock>>,
    verifier: VerifierOptions,
    policy_source: Option<store::PolicySource>,
    issuer_levels: Vec<(String, TrustLevel)>,
    pop_leeway_secs: Option<i64>,
    fee_bps: u64,
    signing: super::Signing,
}

impl EngineBuilder {
    /// The platform fee taken from each consumption attestation's price, in basis points
    /// (`0 ..= 10000`, default 0): ⌊price × bps / 10 000⌋ (see [`crate::commerce::settlement`]).
    /// Above 10 000, `build` fails with `INVALID_ARGUMENT`.
    pub fn platform_fee_bps(mut self, bps: u64) -> Self {
        self.fee_bps = bps;
        self
    }
    /// How decisions are signed (default [`Signing::Each`](super::Signing::Each)): with
    /// [`Signing::Checkpoint`](super::Signing::Checkpoint), decision records are Merkle leaves
    /// covered by signed tree heads (see [`crate::merkle`] and [`Engine::checkpoint`]). An
    /// `every` outside 1 to 2^20 or an `interval_ms` above a day is `INVALID_ARGUMENT` at
    /// `build`.
    pub fn signing(mut self, signing: super::Signing) -> Self {
        self.signing = signing;
        self
    }
    /// The policy, already compiled.
    pub fn policy(mut self, policy: Policy) -> Self {
        self.policy = Some(Ok(policy));
        self
    }
    /// The policy as JSON text, or a path to a JSON file (see [`Policy::load`]).
    pub fn policy_json(mut self, text_or_path: &str) -> Self {
        self.policy = Some(Policy::load(text_or_path));
        self
    }
    /// The policy as a JSON value.
    pub fn policy_value(mut self, doc: Value) -> Self {
        self.policy = Some(Policy::from_value(doc));
        self
    }
    /// Trusts passports issued by `did` (in addition to the policy's `issuers`).
    pub fn trusted_issuer(mut self, did: impl Into<String>) -> Self {
        self.trusted.push(did.into());
        self
    }
    /// Trusts every issuer in `dids`.
    pub fn trusted_issuers<I: IntoIterator<Item = S>, S: Into<String>>(mut self, dids: I) -> Self {
        self.trusted.extend(dids.into_iter().map(Into::into));
        self
    }
    /// The key attestations are signed with (default: a fresh one, see [`Engine::signer_did`]).
    pub fn signing_key(mut self, key: KeyPair) -> Self {
        self.signing_key = Some(key);
        self
    }
    /// The state store.
    pub fn store(mut self, store: Arc<dyn Store>) -> Self {
        self.store = Some(Ok(store));
        self
    }
    /// The state store by URL: `memory:`, `sqlite:///path/to/file.db`, `redis://host:port/db`
    /// (see [`store::open`]).
    pub fn store_url(mut self, url: &str) -> Self {
        match store::open_with_options(url) {
            Ok((store, options)) => {
                self.store = Some(Ok(store));
                self.store_options = options;
            }
            Err(e) => self.store = Some(Err(e)),
        }
        self
    }
    /// How long the store keeps attestation records (wins over the store URL's
    /// `retention_age` / `retention_records`; see [`store::Retention`] and [`Engine::prune`]).
    pub fn retention(mut self, retention: store::Retention) -> Self {
        self.retention = Some(retention);
        self
    }
    /// A JSONL file pruned records are appended (and fsynced) to before they are deleted (wins
    /// over the store URL's `retention_export`).
    pub fn retention_export(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.retention_export = Some(path.into());
        self
    }
    /// The clock (default: the system clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }
    /// Leeway for passport time checks, in seconds (default 60).
    pub fn leeway_secs(mut self, secs: i64) -> Self {
        self.verifier.leeway_secs = secs;
        self
    }
    /// Where the policy document is kept (wins over the store URL's `policy_source`; default
    /// [`PolicySource::Local`](store::PolicySource::Local)). With
    /// [`PolicySource::Store`](store::PolicySource::Store), every engine on one store enforces
    /// one policy: see [`Engine::upsert_gate`] and the other edits.
    pub fn policy_source(mut self, source: store::PolicySource) -> Self {
        self.policy_source = Some(source);
        self
    }
    /// Raises the trust class of issuer `did` to `level` (default class `L1`): gates at `L2`
    /// and `L3` admit only passports whose root issuer has class `L2` or higher (see
    /// [`crate::pop`]). Merged with the policy's `issuer_levels` (the higher wins). It does not
    /// trust the issuer: trust it as well ([`EngineBuilder::trusted_issuer`]). A did that does
    /// not decode is `KEY_INVALID` at `build`.
    pub fn issuer_level(mut self, did: impl Into<String>, level: TrustLevel) -> Self {
        self.issuer_levels.push((did.into(), level));
        self
    }
    /// The clock skew allowed on a proof of possession's `ts`, in seconds (default 60, at most
    /// [`crate::pop::MAX_POP_LEEWAY_SECS`]; 1 to that, else `INVALID_ARGUMENT` at
    /// `/pop_leeway_secs` when building). Nonces are remembered for twice this after their `ts`.
    pub fn pop_leeway_secs(mut self, secs: i64) -> Self {
        self.pop_leeway_secs = Some(secs);
        self
    }
    /// Passport verification options.
    pub fn verifier_options(mut self, opts: VerifierOptions) -> Self {
        self.verifier = opts;
        self
    }

    pub fn build(self) -> Result<Engine> {
        if self.fee_bps > crate::commerce::settlement::MAX_FEE_BPS {
            return Err(crate::error::Error::argument(
                "/platform_fee_bps",
                format!("platform_fee_bps must be 0 to 10000 ({})", self.fee_bps),
            ));
        }
        self.signing.check()?;
        let policy = self.policy.transpose()?.map(Arc::new);
        let pop_leeway_secs = self
            .pop_leeway_secs
            .unwrap_or(crate::pop::DEFAULT_POP_LEEWAY_SECS);
        if !(1..=crate::pop::MAX_POP_LEEWAY_SECS).contains(&pop_leeway_secs) {
            return Err(Error::argument(
                "/pop_leeway_secs",
                format!(
                    "must be 1 to {} seconds, got {pop_leeway_secs}",
                    crate::pop::MAX_POP_LEEWAY_SECS
                ),
            ));
        }
        let mut issuer_levels = std::collections::HashMap::new();
        for (did, level) in &self.issuer_levels {
            crate::keys::public_from_did(did)?;
            let e = issuer_levels.entry(did.clone()).or_insert(*level);
            *e = (*e).max(*level);
        }
        let trusted = trusted_set(&self.trusted, policy.as_deref());
        let verifier = Verifier::new(trusted, self.verifier)?;
        let store = self.store.unwrap_or_else(|| store::open("memory:"))?;
        let key = match self.signing_key {
            Some(k) => k,
            None => {
                let k = KeyPair::generate()?;
                if store.persistent() {
                    // Records outlive this key: after a restart nothing can sign as it again,
                    // and a verifier must be told every key the store was written with.
                    log::warn!(
                        "passgate: persistent store without a configured signing key: this engine \
                         signs with a new key ({}) that ends with the process; configure one \
                         (EngineBuilder::signing_key / signing_key=) and keep it, or verify the \
                         store with verify_store() given every key it was written with",
                        k.did()
                    );
                }
                k
            }
        };
        let retention = self
            .retention
            .or(self.store_options.retention)
            .unwrap_or_else(|| store.default_retention());
        let export = self.retention_export.or(self.store_options.export);
        let source = self
            .policy_source
            .or(self.store_options.policy_source)
            .unwrap_or_default();
        let shared = (source == store::PolicySource::Store).then(super::SharedPolicy::default);
        let cache = NonZeroUsize::new(CAVEAT_CACHE_ENTRIES).unwrap_or(NonZeroUsize::MIN);
        let seed = match shared {
            Some(_) => policy.clone(),
            None => None,
        };
        let engine = Engine {
            policy: RwLock::new(policy),
            shared,
            policy_edit: Mutex::new(()),
            builder_trusted: self.trusted,
            verifier,
            store,
            clock: self.clock.unwrap_or_else(|| Arc::new(SystemClock)),
            chain: ChainWriter::new(key)?,
            caveats: Mutex::new(WeighedLru::new(cache, CAVEAT_CACHE_BYTES)),
            next_sweep_ms: std::sync::atomic::AtomicI64::new(i64::MIN),
            pid: std::process::id(),
            retention: retention::RetentionState::new(retention, export),
            registered: Mutex::new(WeighedLru::new(
                NonZeroUsize::new(super::registry::REGISTERED_ENTRIES).unwrap_or(NonZeroUsize::MIN),
                usize::MAX,
            )),
            issuers: RwLock::new(super::registry::IssuerState::default()),
            issuers_sync: Mutex::new(()),
            subscribers: Default::default(),
            catalog_cache: Default::default(),
            catalog_levels: Default::default(),
            issuer_levels,
            pop_leeway_ms: pop_leeway_secs.saturating_mul(1000),
            terms_cache: Default::default(),
            fee_bps: self.fee_bps,
            signing: self.signing,
            usage_cache: Default::default(),
        };
        if engine.shared.is_some() {
            engine.attach_shared_policy(seed)?;
        }
        Ok(engine)
    }
}

pub(super) fn trusted_set(builder: &[String], policy: Option<&Policy>) -> Vec<String> {
    let mut all: Vec<String> = builder.to_vec();
    if let Some(p) = policy {
        all.extend(p.issuers.iter().cloned());
    }
    all.sort();
    all.dedup();
    all
}
