//! Verifying a passport: its form, its signature, its chain of delegation up to a trusted issuer,
//! and its times — with a bounded cache of what does not change between requests.
//!
//! The checks, in order (the first failure is reported):
//! 1. size: more than [`crate::json::Limits::TOKEN_BYTES`] is `LIMIT_EXCEEDED`;
//! 2. form, for the token and then each `prf` ancestor: three base64url parts, JSON header and
//!    claims (strict parser), `alg` = `EdDSA` (else `PASSPORT_ALGORITHM`, before anything else
//!    about the signature), `typ`, `kid` = `iss`, claim types (else `PASSPORT_MALFORMED`, naming
//!    the claim); more than `max_depth` ancestors is `DELEGATION_WIDENS`;
//! 3. the root: its `iss` must be a trusted issuer (`ISSUER_UNTRUSTED`; without a trusted key
//!    there is nothing to verify its signature with), then its signature (`PASSPORT_SIGNATURE`);
//! 4. each sub-agent passport, root to leaf: it must be signed (`iss`/`kid` and the signature) by
//!    its parent's `cnf` key, else `PASSPORT_SIGNATURE`; its `perms` covered by its parent's and
//!    its `exp` not later, else `DELEGATION_WIDENS`;
//! 5. times, for every link root to leaf: `PASSPORT_EXPIRED` when `now >= exp + leeway`,
//!    `PASSPORT_NOT_YET_VALID` when `now < nbf - leeway` or `now < iat - leeway`.
//!
//! Steps 2–4 are cached by the exact token (a keyed SipHash lookup of its signature part, then a
//! byte comparison of the whole token: hashing the whole token, with SHA-256 or even SipHash, on
//! every call cost more than the rest of a cache hit); step 5 runs on every call. Revocation is
//! not checked here: the engine checks its store for every id of [`Verified::chain_ids`].

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::token::{check_token_size, clip, parse_token, Claims};
use super::{
    delegated_passport_id, perm_matches, perms_cover, MAX_CAVEATS_PER_CHAIN,
    MAX_CAVEATS_PER_PASSPORT, MAX_DELEGATION_DEPTH,
};
use crate::cache::WeighedLru;
use crate::decision::Text;
use crate::error::{Error, Result};
use crate::keys::{did_from_public, PublicKey};

/// The most memory the verification cache may hold, estimated (see [`Verifier::verify`]).
pub const CACHE_BYTES: usize = 64 << 20;

/// The largest clock leeway an engine accepts for passport times: one hour.
pub const MAX_LEEWAY_SECS: i64 = 3600;

/// How a [`Verifier`] judges time and bounds its work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifierOptions {
    /// Clock skew allowed on `exp`, `nbf` and `iat`, in seconds (default 60; not negative).
    pub leeway_secs: i64,
    /// The most `prf` ancestors a passport may have (default [`MAX_DELEGATION_DEPTH`]).
    pub max_depth: usize,
    /// How many verified tokens to remember (default 10,000; 0 disables the cache).
    pub cache_size: usize,
}

impl Default for VerifierOptions {
    fn default() -> VerifierOptions {
        VerifierOptions {
            leeway_secs: 60,
            max_depth: MAX_DELEGATION_DEPTH,
            cache_size: 10_000,
        }
    }
}

/// Verifies passports against a replaceable set of trusted issuers. Shareable across threads.
#[derive(Debug)]
pub struct Verifier {
    /// Trusted issuer did:key → its parsed key.
    trusted: RwLock<HashMap<String, PublicKey>>,
    options: VerifierOptions,
    /// A verified token's signature part → the token and its verified chain; `None` when
    /// `cache_size` is 0. Bounded in bytes too ([`CACHE_BYTES`], entries weighed by their
    /// token's length). See [`Cached`] for why the key is the signature alone.
    cache: Option<Mutex<WeighedLru<Box<str>, Arc<Cached>>>>,
}

/// A cache entry: the whole token, compared on every hit, and what verifying it gave.
///
/// Keyed by the token's signature part (its last 86 characters), not the whole token: hashing
/// a token of several kilobytes (a delegation chain carries its ancestors) on every call was a
/// tenth of a dry run. Only verified tokens are cached, and two different verified tokens have
/// different signatures (an Ed25519 signature covers the header and claims), so agent-chosen
/// tokens cannot pile up under one key; a lookup is a hit only if the whole token is equal.
#[derive(Debug)]
struct Cached {
    token: Box<str>,
    verified: Arc<Verified>,
}

/// The length of an Ed25519 signature in base64url without padding: a token's last part.
const SIGNATURE_CHARS: usize = 86;

/// The cache key of `token`: its last [`SIGNATURE_CHARS`] bytes, which in a token that verified
/// are its signature part, taken without scanning the token for its last `.` (that scan was ≈ 1.4%
/// of a dry run). Any other token gets some key too (the whole token if those bytes do not start
/// on a character); a lookup is a hit only if the whole token is equal.
fn cache_key(token: &str) -> &str {
    token
        .get(token.len().saturating_sub(SIGNATURE_CHARS)..)
        .unwrap_or(token)
}

impl Verifier {
    /// A verifier trusting the issuers `trusted` (their `did:key`s; one that does not decode is
    /// `KEY_INVALID`). A leeway outside `0..=`[`MAX_LEEWAY_SECS`] is `INVALID_ARGUMENT` at
    /// `/leeway_secs` (a huge one would accept any expired passport).
    pub fn new(
        trusted: impl IntoIterator<Item = String>,
        options: VerifierOptions,
    ) -> Result<Verifier> {
        if !(0..=MAX_LEEWAY_SECS).contains(&options.leeway_secs) {
            return Err(Error::argument(
                "/leeway_secs",
                format!(
                    "must be 0 to {MAX_LEEWAY_SECS} seconds, got {}",
                    options.leeway_secs
                ),
            ));
        }
        Ok(Verifier {
            trusted: RwLock::new(parse_trusted(trusted)?),
            options,
            cache: NonZeroUsize::new(options.cache_size)
                .map(|n| Mutex::new(WeighedLru::new(n, CACHE_BYTES))),
        })
    }

    /// Replaces the trusted issuers (all or nothing) and forgets every cached verification.
    pub fn set_trusted(&self, trusted: impl IntoIterator<Item = String>) -> Result<()> {
        let parsed = parse_trusted(trusted)?;
        let mut guard = self.trusted.write();
        *guard = parsed;
        // Cleared while the write lock is held: no verification under the old set can be
        // cached after this point (see `verify`).
        if let Some(cache) = &self.cache {
            cache.lock().clear();
        }
        Ok(())
    }

    /// The trusted issuers' `did:key`s, sorted.
    pub fn trusted(&self) -> Vec<String> {
        let mut dids: Vec<String> = self.trusted.read().keys().cloned().collect();
        dids.sort();
        dids
    }

    /// The options this verifier was built with.
    pub fn options(&self) -> &VerifierOptions {
        &self.options
    }

    /// Verifies `token` at `now_ms` (milliseconds since the epoch): everything but revocation
    /// (see the module documentation for the order of the checks and their error codes).
    /// Verifying a token seen before returns the same `Arc`, after checking its times again.
    pub fn verify(&self, token: &str, now_ms: i64) -> Result<Arc<Verified>> {
        check_token_size(token)?;
        if let Some(cache) = &self.cache {
            let hit = cache.lock().get(cache_key(token));
            if let Some(hit) = hit.filter(|c| *c.token == *token) {
                hit.verified.check_time(now_ms, self.options.leeway_secs)?;
                return Ok(Arc::clone(&hit.verified));
            }
        }
        let verified = {
            // Held until the result is cached, so `set_trusted` cannot slip in between.
            let trusted = self.trusted.read();
            let chain = self.verify_chain(&trusted, token, 0)?;
            let hash: [u8; 32] = Sha256::digest(token.as_bytes()).into();
            let verified = Arc::new(Verified::from_chain(chain, hash)?);
            if let Some(cache) = &self.cache {
                // A verified chain holds its tokens' claims: a few times the token's size.
                // The entry keeps the token (one more copy of it) and its signature part.
                let weight = token.len().saturating_mul(5).saturating_add(1024);
                let entry = Cached {
                    token: token.into(),
                    verified: Arc::clone(&verified),
                };
                cache
                    .lock()
                    .put(cache_key(token).into(), Arc::new(entry), weight);
            }
            verified
        };
        verified.check_time(now_ms, self.options.leeway_secs)?;
        Ok(verified)
    }

    /// Steps 2–4 for `token`, `hops` links below the token first given; returns the chain's
    /// claims, root first.
    fn verify_chain(
        &self,
        trusted: &HashMap<String, PublicKey>,
        token: &str,
        hops: usize,
    ) -> Result<Vec<(Claims, [u8; 32])>> {
        let link = parse_token(token)?;
        let token_hash: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let Some(prf) = link.claims.prf.as_deref() else {
            let key = trusted.get(&link.claims.iss).ok_or_else(|| {
                Error::IssuerUntrusted(format!(
                    "passport {} is issued by {}, which is not a trusted issuer",
                    link.claims.jti, link.claims.iss
                ))
            })?;
            key.verify_strict(link.signing_input.as_bytes(), &link.signature)
                .map_err(|e| {
                    Error::PassportSignature(format!("passport {}: {e}", link.claims.jti))
                })?;
            return Ok(vec![(link.claims, token_hash)]);
        };
        if hops >= self.options.max_depth {
            return Err(Error::DelegationWidens(format!(
                "delegation chain of passport {} is deeper than {} levels",
                link.claims.jti, self.options.max_depth
            )));
        }
        let mut chain = self.verify_chain(trusted, prf, hops + 1)?;
        let parent = chain
            .last()
            .map(|(c, _)| c)
            .ok_or_else(|| Error::Internal("empty delegation chain".to_string()))?;
        if chain.iter().any(|(c, _)| c.jti == link.claims.jti) {
            return Err(Error::PassportMalformed(format!(
                "passport id {} appears twice in its delegation chain",
                link.claims.jti
            )));
        }
        check_delegation(parent, &link.claims)?;
        let parent_key = PublicKey::from_bytes(&parent.agent_key).map_err(|e| {
            Error::PassportSignature(format!(
                "passport {}: the agent key of its parent is unusable: {e}",
                link.claims.jti
            ))
        })?;
        parent_key
            .verify_strict(link.signing_input.as_bytes(), &link.signature)
            .map_err(|e| Error::PassportSignature(format!("passport {}: {e}", link.claims.jti)))?;
        check_narrowing(parent, &link.claims)?;
        chain.push((link.claims, token_hash));
        Ok(chain)
    }
}

fn parse_trusted(trusted: impl IntoIterator<Item = String>) -> Result<HashMap<String, PublicKey>> {
    trusted
        .into_iter()
        .map(|did| {
            let key = PublicKey::from_did(&did)?;
            Ok((did, key))
        })
        .collect()
}

/// A sub-agent passport must be signed by its parent's agent (`cnf`) key: its `iss` names that key.
fn check_delegation(parent: &Claims, child: &Claims) -> Result<()> {
    let delegate = did_from_public(&parent.agent_key);
    if child.iss != delegate {
        return Err(Error::PassportSignature(format!(
            "passport {} is signed by {}, not by the agent key {} of its parent {}",
            child.jti,
            clip(&child.iss),
            delegate,
            parent.jti
        )));
    }
    Ok(())
}

/// A sub-agent passport may only narrow its parent: permissions covered, expiry not later.
fn check_narrowing(parent: &Claims, child: &Claims) -> Result<()> {
    if let Some(p) = perms_cover(&parent.perms, &child.perms) {
        return Err(Error::DelegationWidens(format!(
            "passport {} grants {p:?}, which its parent {} does not cover",
            child.jti, parent.jti
        )));
    }
    if child.exp > parent.exp {
        return Err(Error::DelegationWidens(format!(
            "passport {} expires at {}, after its parent {} (at {})",
            child.jti, child.exp, parent.jti, parent.exp
        )));
    }
    Ok(())
}

/// Who a passport chain speaks for: its root — the trusted issuer and the root passport's agent.
/// Everything a delegate does is done for its principal, so `scope: "agent"` counts the principal
/// and a sub-agent can never escape (or spend) an agent's limits by choosing its own `sub`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Principal {
    /// The trusted issuer's did:key.
    pub issuer: String,
    /// The root passport's agent id (`sub`).
    pub agent_id: String,
}

impl Principal {
    /// The principal as one string, `<agent id>@<issuer did>` (a did:key holds no `@`): the value
    /// of `scope: "agent"` counters (`agent:<this>`).
    pub fn key(&self) -> String {
        format!("{}@{}", self.agent_id, self.issuer)
    }
}

/// A verified passport: the leaf's claims, and every link of its chain.
#[derive(Debug, Clone, PartialEq)]
pub struct Verified {
    /// The agent id (`sub`) of this passport, as its signer wrote it. For a delegated passport
    /// this is the delegating agent's choice: who is counted is [`Verified::principal`].
    pub agent_id: String,
    /// The agent's display name (`name`).
    pub agent_name: Option<String>,
    /// The id the engine knows this passport by: the `jti` of a root passport, the id derived
    /// from the chain for a delegated one ([`super::delegated_passport_id`]).
    pub passport_id: String,
    /// The `jti` claim as written (for a delegated passport, chosen by its delegating agent).
    pub jti: String,
    /// `agent_id` and `passport_id`, shared into every decision without a copy.
    pub(crate) ids: (Text, Text),
    /// The root of the chain: whom this passport speaks for.
    pub principal: Principal,
    /// The scope value of its `scope: "agent"` counters, written once
    /// ([`crate::store::CounterKey::agent_of`] of [`Self::principal`]).
    pub(crate) agent_scope: crate::store::KeyPart,
    /// SHA-256 of the exact token: what caches of per-token work are keyed by.
    pub token_hash: [u8; 32],
    /// The permissions (`perms`) of this passport. Those of its ancestors cover them.
    pub perms: Vec<String>,
    /// The agent's `did:key` (from `cnf`).
    pub agent_did: String,
    /// Who signed this passport (`iss`): the trusted issuer for a root passport, the parent
    /// agent's key for a sub-agent passport.
    pub issuer: String,
    /// The trusted issuer at the root of the chain.
    pub root_issuer: String,
    /// `iat`, seconds since the epoch.
    pub iat: i64,
    /// `nbf`, seconds since the epoch.
    pub nbf: i64,
    /// `exp`, seconds since the epoch.
    pub exp: i64,
    /// The claims of this (the leaf) token, as parsed.
    pub claims: Value,
    /// The chain, root first, this passport last.
    pub chain: Vec<Link>,
}

/// One passport of a verified chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// Its id: the `jti` of the root, the derived id of a delegated link.
    pub passport_id: String,
    /// Its `jti` claim as written.
    pub jti: String,
    /// Its agent (`sub`).
    pub agent_id: String,
    /// The caveats it declares (its ancestors' are in their own links).
    pub caveats: Vec<Value>,
    /// `nbf`, seconds since the epoch.
    pub nbf: i64,
    /// `exp`, seconds since the epoch.
    pub exp: i64,
    /// `iat`, seconds since the epoch.
    pub iat: i64,
    /// Its permissions (`perms`).
    pub perms: Vec<String>,
    /// Its agent's display name (`name`).
    pub agent_name: Option<String>,
    /// Who signed it (`iss`).
    pub issuer: String,
    /// SHA-256 of its exact token.
    pub token_hash: [u8; 32],
    /// The catalog pins it declares (its ancestors' are in their own links).
    pub pins: Vec<super::Pin>,
}

impl Verified {
    fn from_chain(chain: Vec<(Claims, [u8; 32])>, token_hash: [u8; 32]) -> Result<Verified> {
        let mut links: Vec<Link> = Vec::with_capacity(chain.len());
        let mut caveats = 0;
        let (mut chain, hashes): (Vec<Claims>, Vec<[u8; 32]>) = chain.into_iter().unzip();
        for (c, link_hash) in chain.iter().zip(hashes) {
            if c.caveats.len() > MAX_CAVEATS_PER_PASSPORT {
                return Err(Error::PassportMalformed(format!(
                    "passport {} declares {} caveats, more than {MAX_CAVEATS_PER_PASSPORT}",
                    c.jti,
                    c.caveats.len()
                )));
            }
            if let Some(id) = super::duplicate_caveat_id(&c.caveats) {
                return Err(Error::PassportMalformed(format!(
                    "passport {} declares caveat id {id:?} twice (one id, one counter)",
                    c.jti
                )));
            }
            caveats += c.caveats.len();
            if caveats > MAX_CAVEATS_PER_CHAIN {
                return Err(Error::PassportMalformed(format!(
                    "the delegation chain of passport {} declares more than \
                     {MAX_CAVEATS_PER_CHAIN} caveats",
                    c.jti
                )));
            }
            let passport_id = match links.last() {
                None => c.jti.clone(),
                Some(parent) => delegated_passport_id(&parent.passport_id, &c.iss, &c.jti),
            };
            links.push(Link {
                passport_id,
                jti: c.jti.clone(),
                agent_id: c.sub.clone(),
                caveats: c.caveats.clone(),
                nbf: c.nbf,
                exp: c.exp,
                iat: c.iat,
                perms: c.perms.clone(),
                agent_name: c.name.clone(),
                issuer: c.iss.clone(),
                token_hash: link_hash,
                pins: c.pins.clone(),
            });
        }
        super::merge_pins(
            links
                .iter()
                .map(|l| (l.passport_id.as_str(), l.pins.as_slice())),
        )?;
        let principal = chain.first().map(|c| Principal {
            issuer: c.iss.clone(),
            agent_id: c.sub.clone(),
        });
        let passport_id = links.last().map(|l| l.passport_id.clone());
        let (Some(leaf), Some(principal), Some(passport_id)) =
            (chain.pop(), principal, passport_id)
        else {
            return Err(Error::Internal("empty delegation chain".to_string()));
        };
        let root_issuer = principal.issuer.clone();
        let agent_scope =
            crate::store::CounterKey::agent_of(&principal.agent_id, &principal.issuer).into();
        Ok(Verified {
            agent_scope,
            ids: (
                Text::shared(Arc::from(leaf.sub.as_str())),
                Text::shared(Arc::from(passport_id.as_str())),
            ),
            agent_did: did_from_public(&leaf.agent_key),
            agent_id: leaf.sub,
            agent_name: leaf.name,
            passport_id,
            jti: leaf.jti,
            principal,
            token_hash,
            perms: leaf.perms,
            issuer: leaf.iss,
            root_issuer,
            iat: leaf.iat,
            nbf: leaf.nbf,
            exp: leaf.exp,
            claims: leaf.raw,
            chain: links,
        })
    }

    /// Whether this passport was delegated (has a parent).
    pub fn is_delegated(&self) -> bool {
        self.chain.len() > 1
    }

    /// The passport ids of the chain, root first: revoking any of them revokes this passport.
    pub fn chain_ids(&self) -> impl Iterator<Item = &str> {
        self.chain.iter().map(|l| l.passport_id.as_str())
    }

    /// Every caveat that applies, with the id of the passport that declared it: the root's first,
    /// this passport's last.
    pub fn caveats(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.chain
            .iter()
            .flat_map(|l| l.caveats.iter().map(move |c| (l.passport_id.as_str(), c)))
    }

    /// The catalog pin that applies to `gate`: the root-most link's (a delegate may not change
    /// one; verification refuses a chain where one does).
    pub fn pin_for(&self, gate: &str) -> Option<&super::Pin> {
        self.chain
            .iter()
            .flat_map(|l| l.pins.iter())
            .find(|p| p.gate == gate)
    }

    /// Whether one of this passport's permissions matches `required` (see
    /// [`super::perm_matches`]).
    pub fn has_permission(&self, required: &str) -> bool {
        self.perms.iter().any(|p| perm_matches(p, required))
    }

    /// Step 5: every link's times at `now_ms`, root first.
    fn check_time(&self, now_ms: i64, leeway_secs: i64) -> Result<()> {
        let ms = |secs: i64| secs.saturating_mul(1000);
        for (i, link) in self.chain.iter().enumerate() {
            // Named only for an error: a valid passport formats nothing here.
            let which = || {
                if i + 1 == self.chain.len() {
                    format!("passport {}", link.passport_id)
                } else {
                    format!(
                        "passport {}'s ancestor {}",
                        self.passport_id, link.passport_id
                    )
                }
            };
            if now_ms >= ms(link.exp.saturating_add(leeway_secs)) {
                return Err(Error::PassportExpired(format!(
                    "{} expired at {} (now {} ms, leeway {leeway_secs} s)",
                    which(),
                    link.exp,
                    now_ms
                )));
            }
            let valid_from = link.nbf.max(link.iat);
            if now_ms < ms(valid_from.saturating_sub(leeway_secs)) {
                return Err(Error::PassportNotYetValid(format!(
                    "{} is valid from {valid_from} (now {now_ms} ms, leeway {leeway_secs} s)",
                    which()
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negative_leeway_is_refused() {
        let opts = VerifierOptions {
            leeway_secs: -1,
            ..VerifierOptions::default()
        };
        let e = Verifier::new(Vec::new(), opts).unwrap_err();
        assert_eq!(e.code(), "INVALID_ARGUMENT");
    }

    #[test]
    fn the_cache_key_of_a_token_is_its_signature_part() {
        let issuer = crate::passport::Issuer::generate().unwrap();
        let req = crate::passport::PassportRequest::new("agent-7", ["pay"]);
        let token = issuer.issue_passport(&req).unwrap().token;
        let (_, sig) = token.rsplit_once('.').unwrap();
        assert_eq!(sig.len(), SIGNATURE_CHARS);
        assert_eq!(cache_key(&token), sig);
        // Short, empty, or ending inside a multi-byte character: some key, never a panic.
        assert_eq!(cache_key("a.b"), "a.b");
        assert_eq!(cache_key(""), "");
        let odd = format!("{}x", "é".repeat(60));
        assert_eq!(cache_key(&odd), odd);
        let even = "é".repeat(60);
        assert_eq!(cache_key(&even), &even[even.len() - SIGNATURE_CHARS..]);
    }

    #[test]
    fn undecodable_trusted_did_is_key_invalid() {
        let e = Verifier::new(["did:key:nope".to_string()], VerifierOptions::default());
        assert_eq!(e.unwrap_err().code(), "KEY_INVALID");
    }
}
