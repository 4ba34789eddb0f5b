//! Trust levels and proof of possession in a decision: the `trust_level` and `pop` checks (see
//! [`crate::pop`] for the rules).

use serde_json::{json, Value};

use super::decide::Caller;
use super::request::Request;
use super::Engine;
use crate::commerce::TrustLevel;
use crate::decision::Check;
use crate::error::{CheckCode, Error, Result};
use crate::policy::Policy;
use crate::pop::{self, Failure, Pop};

/// What the trust rules add to an evaluation.
#[derive(Debug, Default)]
pub(super) struct Trust {
    /// The `trust_level` and `pop` checks, in order (empty at an L1 gate without a `pop`).
    pub(super) checks: Vec<Check>,
    /// The nonce a verified proof uses up: (store key, until when).
    pub(super) nonce: Option<(String, i64)>,
    /// `{nonce, ts, agent}` of a verified proof, for the decision record.
    pub(super) record: Option<Value>,
}

fn level_str(l: TrustLevel) -> &'static str {
    match l {
        TrustLevel::L1 => "L1",
        TrustLevel::L2 => "L2",
        TrustLevel::L3 => "L3",
    }
}

impl Engine {
    /// The gate's effective trust level: the policy's, raised by its current catalog's. Only
    /// gates the policy names (its gates, its anonymous section) are looked up in the catalogs:
    /// any other name is denied anyway, and reads nothing for it.
    fn effective_level(&self, policy: Option<&Policy>, gate: &str, now: i64) -> Result<TrustLevel> {
        let Some(policy) = policy else {
            return Ok(TrustLevel::L1);
        };
        let defined = policy.gate(gate);
        let anonymous = policy
            .anonymous
            .as_ref()
            .is_some_and(|a| a.gates.iter().any(|g| g == gate));
        if defined.is_none() && !anonymous {
            return Ok(TrustLevel::L1);
        }
        let own = defined.map_or(TrustLevel::L1, |g| g.trust_level);
        let advertised = self.catalog_trust_level(gate, now)?;
        Ok(advertised.map_or(own, |a| a.max(own)))
    }

    /// The class of issuer `did`: the higher of the builder's and the policy's (default L1).
    fn issuer_class(&self, policy: Option<&Policy>, did: &str) -> TrustLevel {
        let built = self.issuer_levels.get(did).copied();
        let declared = policy.and_then(|p| p.issuer_levels.get(did).copied());
        built
            .into_iter()
            .chain(declared)
            .max()
            .unwrap_or(TrustLevel::L1)
    }

    /// The `trust_level` and `pop` checks of `req` (see [`crate::pop`]). The proof binds the
    /// content hash of the passport's catalog pin for the gate, if it has one.
    pub(super) fn trust(
        &self,
        policy: Option<&Policy>,
        caller: &Caller,
        req: &Request,
        request_hash: Option<&str>,
        now: i64,
        dry_run: bool,
    ) -> Result<Trust> {
        let mut out = Trust::default();
        if matches!(caller, Caller::Refused(_)) {
            return Ok(out);
        }
        let level = self.effective_level(policy, &req.gate, now)?;
        let fail = |msg: String, code: CheckCode| {
            Check::new("pop", "pop", false, msg).with_code(code.as_str())
        };
        if level >= TrustLevel::L2 {
            let check = match caller {
                Caller::Agent(v) => {
                    let class = self.issuer_class(policy, &v.root_issuer);
                    let passed = class >= TrustLevel::L2;
                    let mut c = Check::new(
                        "trust_level",
                        "trust_level",
                        passed,
                        match passed {
                            true => format!(
                                "gate {:?} is {}; root issuer {} has class {}",
                                req.gate,
                                level_str(level),
                                v.root_issuer,
                                level_str(class)
                            ),
                            false => format!(
                                "gate {:?} is {} and needs a root issuer of class L2; {} has \
                                 class {}",
                                req.gate,
                                level_str(level),
                                v.root_issuer,
                                level_str(class)
                            ),
                        },
                    );
                    c.observed = Some(level_str(class).into());
                    c.limit = Some(level_str(level).into());
                    if !passed {
                        c = c.with_code(CheckCode::TrustLevel.as_str());
                    }
                    c
                }
                _ => Check::new(
                    "trust_level",
                    "trust_level",
                    false,
                    format!(
                        "gate {:?} is {}: an anonymous caller has no issuer and no key",
                        req.gate,
                        level_str(level)
                    ),
                )
                .with_code(CheckCode::TrustLevel.as_str()),
            };
            let passed = check.passed;
            out.checks.push(check);
            if !passed {
                return Ok(out);
            }
        }
        let presented = req.pop.as_ref().map(Pop::from_value).transpose()?;
        let Some(p) = presented else {
            if level == TrustLevel::L3 {
                out.checks.push(fail(
                    format!(
                        "gate {:?} is L3: the request must carry a proof of possession (pop) \
                         of the passport's key",
                        req.gate
                    ),
                    CheckCode::PopRequired,
                ));
            }
            return Ok(out);
        };
        let Caller::Agent(v) = caller else {
            out.checks.push(fail(
                "a pop needs a passport: an anonymous caller has no key to prove".into(),
                CheckCode::PopInvalid,
            ));
            return Ok(out);
        };
        let catalog_hash = v.pin_for(&req.gate).map(|p| p.content_hash.as_str());
        let leeway = self.pop_leeway_ms;
        match pop::verify(
            &p,
            &v.agent_did,
            &req.gate,
            request_hash.ok_or_else(|| Error::Internal("request hash not computed".into()))?,
            catalog_hash,
            now,
            leeway,
        ) {
            Err(Failure::Stale(m)) => {
                out.checks.push(fail(m, CheckCode::PopStale));
                return Ok(out);
            }
            Err(Failure::Invalid(m)) => {
                out.checks.push(fail(m, CheckCode::PopInvalid));
                return Ok(out);
            }
            Ok(()) => {}
        }
        let key = pop::nonce_key(&v.agent_did, &p.nonce);
        if dry_run && self.store.nonce_seen(&key, now)? {
            out.checks.push(replayed(&p.nonce));
            return Ok(out);
        }
        out.checks.push(Check::new(
            "pop",
            "pop",
            true,
            format!(
                "proof of possession by {} verified (nonce {}, ts {})",
                v.agent_did, p.nonce, p.ts
            ),
        ));
        // Remembered until every ts still acceptable has passed (see crate::pop).
        let until = p.ts.saturating_add(leeway.saturating_mul(2));
        out.nonce = Some((key, until.max(now.saturating_add(1))));
        out.record = Some(json!({"nonce": p.nonce, "ts": p.ts, "agent": v.agent_did}));
        Ok(out)
    }
}

/// The failed `pop` check of a nonce used already.
pub(super) fn replayed(nonce: &str) -> Check {
    Check::new(
        "pop",
        "pop",
        false,
        format!("pop nonce {nonce} was used already"),
    )
    .with_code(CheckCode::PopReplayed.as_str())
}
